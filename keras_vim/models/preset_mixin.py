"""`from_preset` / `save_to_preset` for keras_vim models (keras-hub's preset layout)."""

import datetime
import json
import os

import keras

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"


class PresetMixin:
    """Adds `from_preset(name_or_directory)`, `save_to_preset(directory)` and `presets`.

    A preset is a directory holding `config.json` (the serialized model), `model.weights.h5`
    and `metadata.json`, or the name of a built-in configuration in the class's
    `builtin_presets` registry (`{name: {"description": ..., "config": {...}}}`).
    """

    builtin_presets = {}

    @classmethod
    def presets(cls):
        """Built-in preset names and their descriptions."""
        return {name: entry["description"] for name, entry in cls.builtin_presets.items()}

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Builds a model from a built-in preset name or a preset directory.

        Args:
            preset: a name from `presets()` or a directory written by `save_to_preset`.
            load_weights: load the directory's weights (built-in architecture presets have
                random weights).
            **kwargs: overrides of the configuration (e.g. `image_size=64`).
        """
        if not isinstance(preset, (str, os.PathLike)):
            raise TypeError(f"`preset` must be a name or a directory path, got {preset!r}.")
        preset = os.fspath(preset)
        if preset in cls.builtin_presets:
            return cls(**{**cls.builtin_presets[preset]["config"], **kwargs})
        if not os.path.isdir(preset):
            names = ", ".join(sorted(cls.builtin_presets))
            raise ValueError(
                f"Unknown {cls.__name__} preset {preset!r}: not a built-in name ({names}) "
                "nor an existing directory."
            )
        config_path = os.path.join(preset, CONFIG_FILE)
        if not os.path.isfile(config_path):
            raise FileNotFoundError(f"Preset directory {preset!r} has no {CONFIG_FILE}.")
        try:
            with open(config_path) as f:
                serialized = json.load(f)
        except json.JSONDecodeError as error:
            raise ValueError(f"{config_path} is not valid JSON: {error}") from error
        config = dict(serialized.get("config", serialized))
        config.update(kwargs)
        model = cls.from_config(config)
        if load_weights:
            weights_path = os.path.join(preset, WEIGHTS_FILE)
            if not os.path.isfile(weights_path):
                raise FileNotFoundError(f"Preset directory {preset!r} has no {WEIGHTS_FILE}.")
            model.load_weights(weights_path)
        return model

    def save_to_preset(self, preset_dir):
        """Writes `config.json`, `model.weights.h5` and `metadata.json` into `preset_dir`."""
        os.makedirs(preset_dir, exist_ok=True)
        with open(os.path.join(preset_dir, CONFIG_FILE), "w") as f:
            json.dump(keras.saving.serialize_keras_object(self), f, indent=2)
        self.save_weights(os.path.join(preset_dir, WEIGHTS_FILE))
        metadata = {
            "keras_version": keras.__version__,
            "keras_vim_version": __import__("keras_vim").__version__,
            "parameter_count": int(self.count_params()),
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        }
        with open(os.path.join(preset_dir, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2)
