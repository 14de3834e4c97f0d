"""`from_preset` / `save_to_preset` for keras_vim models (keras-hub's preset layout).

A preset directory holds:

    config.json             the serialized model (its class and constructor arguments)
    model.weights.h5        the weights needed for inference
    <part>.weights.h5       weights of training-only parts (the tokenizer's discriminator), kept
                            in their own file so a preset also resumes adversarial training
    metadata.json           versions, parameter count, date, and the list of weight files
    README.md               the model card

`save_to_preset` writes the files into a new directory beside the target and moves it into
place when all are written, so a failed save leaves an earlier preset as it was, and a
replaced preset leaves none of its files behind.
"""

import datetime
import json
import os

import h5py
import keras

# Saving a part of a model apart from the rest has no public Keras API; keras_vim pins
# keras < 3.16, and the preset tests cover these two functions on every backend.
from keras.src.saving import saving_lib

from keras_vim import backend_ops
from keras_vim.models.preset_handles import download_preset, is_hub_handle
from keras_vim.utils.replaced_directory import replaced_directory

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"
MODEL_CARD_FILE = "README.md"
# Trained presets shipped inside the package, one directory each.
PACKAGED_PRESETS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "presets")


class PresetMixin:
    """Adds `from_preset(name_or_directory)`, `save_to_preset(directory)` and `presets()`.

    `builtin_presets` maps a name to `{"description": ..., "config": {...}}` (an architecture:
    random weights) or `{"description": ..., "directory": NAME}` (a trained preset shipped in
    `keras_vim/presets/NAME/`). `preset_extra_weights` maps an attribute holding a
    training-only layer to the file its weights are saved in.
    """

    builtin_presets = {}
    preset_extra_weights = {}

    @classmethod
    def presets(cls):
        """Built-in preset names and their descriptions, of this class and its subclasses."""
        return {
            name: entry["description"]
            for owner in cls._family()
            for name, entry in owner.builtin_presets.items()
        }

    @classmethod
    def _family(cls):
        """This class, then its subclasses (depth first): a base class's `from_preset` loads
        any of them, as keras-hub's `Backbone.from_preset` does."""
        family = [cls]
        for subclass in cls.__subclasses__():
            family += [member for member in subclass._family() if member not in family]
        return family

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """Builds a model from a built-in preset, a preset directory or a hub handle.

        Called on a base class (`keras_vim.models.VQGANBase`), it builds whichever subclass
        the preset describes (`VitVQGAN` or `CnnVQGAN`), so code that takes "a tokenizer
        preset" need not know its architecture.

        Args:
            preset: a name from `presets()`, a directory written by `save_to_preset`,
                `hf://OWNER/NAME` (needs `huggingface_hub`) or
                `kaggle://OWNER/MODEL/keras/VARIATION` (needs `kagglehub`).
            load_weights: load the preset's weights (architecture-only built-ins have
                random weights either way).
            **kwargs: overrides of the configuration (e.g. `image_size=64`); weights are
                loaded only when their shapes still match.
        """
        if not isinstance(preset, (str, os.PathLike)):
            raise TypeError(f"`preset` must be a name, a directory or a handle; got {preset!r}.")
        preset = os.fspath(preset)
        owner = next((c for c in cls._family() if preset in c.builtin_presets), cls)
        if owner is not cls:
            return owner.from_preset(preset, load_weights=load_weights, **kwargs)
        if preset in cls.builtin_presets:
            entry = cls.builtin_presets[preset]
            if "config" in entry:
                return cls(**{**entry["config"], **kwargs})
            preset = os.path.join(PACKAGED_PRESETS_DIR, entry["directory"])
        elif is_hub_handle(preset):
            preset = download_preset(preset)
        elif not os.path.isdir(preset):
            names = ", ".join(sorted(cls.presets()))
            raise ValueError(
                f"Unknown {cls.__name__} preset {preset!r}: not a built-in name ({names}), "
                "an hf:// or kaggle:// handle, nor an existing directory."
            )
        class_name, config = cls._read_preset_config(preset, kwargs)
        if class_name != cls.__name__:
            subclass = next((c for c in cls._family() if c.__name__ == class_name), None)
            if subclass is None:
                raise ValueError(
                    f"{os.path.join(preset, CONFIG_FILE)} describes a {class_name}, not a "
                    f"{cls.__name__}: load it with {class_name}.from_preset."
                )
            return subclass.from_preset(preset, load_weights=load_weights, **kwargs)
        model = cls.from_config(config)
        if load_weights:
            model._load_preset_weights(preset)
        return model

    @classmethod
    def _read_preset_config(cls, preset_dir, overrides):
        """The class name a preset directory describes, and its configuration with
        `overrides` applied."""
        config_path = os.path.join(preset_dir, CONFIG_FILE)
        if not os.path.isfile(config_path):
            raise FileNotFoundError(f"Preset directory {preset_dir!r} has no {CONFIG_FILE}.")
        serialized = _read_json_object(config_path)
        class_name = serialized.get("class_name", cls.__name__)
        config = serialized.get("config", serialized)
        if not isinstance(class_name, str) or not isinstance(config, dict):
            raise ValueError(
                f"{config_path} must hold a serialized model: a string `class_name` and a "
                f"`config` object; got class_name {class_name!r} and config {config!r:.80}."
            )
        return class_name, {**config, **overrides}

    def _preset_weights_owner(self):
        """The model whose weights `model.weights.h5` holds: the model itself, or a task's
        backbone (keras-hub's layout for a task without weights of its own)."""
        return self

    def _load_preset_weights(self, preset_dir):
        metadata_path = os.path.join(preset_dir, METADATA_FILE)
        files = [WEIGHTS_FILE]  # a preset without metadata.json (keras-hub writes one)
        if os.path.isfile(metadata_path):
            files = _read_json_object(metadata_path).get("weights_files", files)
        if not isinstance(files, list) or not all(isinstance(name, str) for name in files):
            raise ValueError(
                f"{metadata_path}: `weights_files` must be a list of file names; got {files!r}."
            )
        # Without it the model would keep its random weights, silently.
        if WEIGHTS_FILE not in files:
            raise ValueError(
                f"{metadata_path} lists weights files {files}, without {WEIGHTS_FILE!r}: the "
                f"model would keep random weights. List {WEIGHTS_FILE!r} in `weights_files`, "
                "or pass `load_weights=False` to build the model with random weights."
            )
        extra = {name: attr for attr, name in self.preset_extra_weights.items()}
        for name in files:
            path = os.path.join(preset_dir, name)
            if name == WEIGHTS_FILE:
                parts = [getattr(self, attr) for attr in self.preset_extra_weights]
                _load_weights_file(self._preset_weights_owner(), path, objects_to_skip=parts)
            elif name in extra:
                _load_weights_file(getattr(self, extra[name]), path)
            else:
                raise ValueError(f"{metadata_path} lists an unknown weights file {name!r}.")

    def save_to_preset(self, preset_dir, model_card=None, overwrite=False):
        """Writes the preset files (see the module docstring) into `preset_dir`.

        The files are written beside `preset_dir` and moved into place when all are written:
        a failed save leaves what was there as it was.

        Args:
            preset_dir: the directory (created if needed). A preset of this class there is
                replaced whole; anything else there is refused unless `overwrite`.
            model_card: optional Markdown (how the model was trained, what it scores) added
                to the generated `README.md`.
            overwrite: replace a non-empty `preset_dir` that is not a preset of this class
                (its files are removed).
        """
        preset_dir = self._check_save_target(preset_dir, model_card, overwrite)
        with replaced_directory(preset_dir) as staging:
            self._write_preset(staging, model_card)

    def _check_save_target(self, preset_dir, model_card, overwrite):
        """Checks `save_to_preset`'s arguments before anything is written; returns the path."""
        if not isinstance(preset_dir, (str, os.PathLike)):
            raise TypeError(
                f"`preset_dir` must be a directory path (str or os.PathLike); got "
                f"{type(preset_dir).__name__} {preset_dir!r}."
            )
        if model_card is not None and not isinstance(model_card, str):
            raise TypeError(
                f"`model_card` must be a str of Markdown or None; got "
                f"{type(model_card).__name__} {model_card!r}."
            )
        if not isinstance(overwrite, bool):
            raise TypeError(
                f"`overwrite` must be True or False; got {type(overwrite).__name__} {overwrite!r}."
            )
        preset_dir = os.fspath(preset_dir)
        if os.path.exists(preset_dir) and not os.path.isdir(preset_dir):
            raise NotADirectoryError(f"`preset_dir` {preset_dir!r} is a file, not a directory.")
        if overwrite or not os.path.isdir(preset_dir) or not os.listdir(preset_dir):
            return preset_dir
        held = _preset_class_name(preset_dir)
        if held == type(self).__name__:
            return preset_dir
        names = sorted(os.listdir(preset_dir))
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        what = f"a {held} preset" if held else f"files that are not a preset ({shown})"
        raise FileExistsError(
            f"`preset_dir` {preset_dir!r} holds {what}, not a {type(self).__name__} preset: "
            "pass `overwrite=True` to replace it (its files are removed), or choose another "
            "directory."
        )

    def _write_preset(self, preset_dir, model_card):
        with open(os.path.join(preset_dir, CONFIG_FILE), "w") as f:
            json.dump(keras.saving.serialize_keras_object(self), f, indent=2)
        parts = {attr: getattr(self, attr) for attr in self.preset_extra_weights}
        optimizer = getattr(self, "optimizer", None)  # unset until `compile`
        saving_lib.save_weights_only(
            self._preset_weights_owner(),
            os.path.join(preset_dir, WEIGHTS_FILE),
            # The optimizer's state belongs to checkpoints, not to presets.
            objects_to_skip=[*parts.values(), *([optimizer] if optimizer else [])],
        )
        for attr, layer in parts.items():
            saving_lib.save_weights_only(
                layer, os.path.join(preset_dir, self.preset_extra_weights[attr])
            )
        metadata = {
            "class_name": type(self).__name__,
            "keras_version": keras.__version__,
            "keras_vim_version": __import__("keras_vim").__version__,
            "backend_saved_with": backend_ops.backend_name(),
            "parameter_count": int(self.count_params()),
            "weights_files": [WEIGHTS_FILE, *self.preset_extra_weights.values()],
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        }
        with open(os.path.join(preset_dir, METADATA_FILE), "w") as f:
            json.dump(metadata, f, indent=2)
        with open(os.path.join(preset_dir, MODEL_CARD_FILE), "w") as f:
            f.write(self._model_card(metadata, model_card))

    def _model_card(self, metadata, model_card):
        config = self.get_config()
        lines = [
            f"# {self.name}: a keras_vim {metadata['class_name']} preset",
            "",
            "```python",
            "import keras_vim",
            "",
            f"model = keras_vim.models.{metadata['class_name']}.from_preset(PATH_OR_NAME)",
            "```",
            "",
            f"- parameters: {metadata['parameter_count']:,}",
            f"- saved with keras {metadata['keras_version']}, keras_vim "
            f"{metadata['keras_vim_version']}, backend {metadata['backend_saved_with']}, on "
            f"{metadata['date_saved']}; loads on every backend",
            f"- weights files: {', '.join(metadata['weights_files'])}",
            "",
            "## Configuration",
            "",
            *[f"- `{k}`: {v!r}" for k, v in config.items() if k not in ("name", "trainable")],
        ]
        if model_card:
            lines += ["", model_card.strip()]
        return "\n".join(lines) + "\n"


def _load_weights_file(target, path, objects_to_skip=()):
    """Loads one weights file into `target`, naming the file in every error."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Preset weights file {path!r} is missing.")
    try:
        with h5py.File(path, "r"):
            pass
    except OSError as error:
        raise ValueError(
            f"Preset weights file {path!r} is truncated or not an HDF5 weights file ({error})."
        ) from error
    try:
        saving_lib.load_weights_only(target, path, objects_to_skip=list(objects_to_skip) or None)
    except Exception as error:  # Keras raises ValueError or KeyError on mismatched files.
        raise ValueError(
            f"Preset weights file {path!r} does not match the model built from its "
            f"{CONFIG_FILE} ({type(error).__name__}: {error})."
        ) from error


def _read_json_object(path):
    """The JSON object in `path`; a ValueError naming the file when it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    if not isinstance(value, dict):
        kind = _JSON_KINDS.get(type(value), type(value).__name__)
        raise ValueError(f"{path} must hold a JSON object ({{...}}); got a JSON {kind}.")
    return value


_JSON_KINDS = {
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def _preset_class_name(directory):
    """The class a preset directory's config.json names, or None when it holds no preset."""
    try:
        class_name = _read_json_object(os.path.join(directory, CONFIG_FILE)).get("class_name")
    except (OSError, ValueError):
        return None
    return class_name if isinstance(class_name, str) else None
