"""Loading the published FID Inception weights (pytorch-fid's file) into `FIDInception`.

keras_vim never downloads them: the user fetches the file once and passes its path.
"""

import os

import numpy as np

from keras_vim.metrics.fid_inception import FIDInception

FID_WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FID_WEIGHTS_URL = (
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + FID_WEIGHTS_FILENAME
)
FID_WEIGHTS_HELP = (
    "FID and the Inception Score use the published FID Inception-v3 weights, which keras_vim "
    f"never downloads. Download {FID_WEIGHTS_URL} (pytorch-fid's port of TensorFlow's "
    "2015-12-05 Inception graph) on a machine with internet access, then pass its path: "
    f'`keras_vim.metrics.load_fid_inception("path/to/{FID_WEIGHTS_FILENAME}")`, or put it in '
    f"`$KERAS_HOME/models/` (KERAS_HOME defaulting to ~/.keras) and pass nothing. Reading the "
    "`.pth` file needs PyTorch (`pip install torch`, the CPU build is enough); to skip it later, "
    "save the converted model once with `inception.save_weights('fid_inception.weights.h5')` "
    "and pass that file instead."
)

# Entries of a PyTorch state dict that carry no weights.
_IGNORED_SUFFIXES = (".num_batches_tracked",)


def default_fid_weights_path():
    """Where `load_fid_inception` looks without a path: `$KERAS_HOME/models/<file>`, if there."""
    keras_home = os.environ.get("KERAS_HOME")
    homes = [keras_home] if keras_home else [os.path.join("~", ".keras"), "/tmp/.keras"]
    paths = [os.path.join(os.path.expanduser(h), "models", FID_WEIGHTS_FILENAME) for h in homes]
    for path in paths:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"FID Inception weights not found (looked for {', '.join(paths)}). {FID_WEIGHTS_HELP}"
    )


def read_pytorch_state_dict(path):
    """Reads a PyTorch state dict file (`.pth`) as `{name: numpy array}` (needs torch)."""
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            "Reading the `.pth` FID Inception weights needs PyTorch: `pip install torch` (the "
            "CPU build is enough), or pass a `.weights.h5` file saved from a converted "
            f"FIDInception. {FID_WEIGHTS_HELP}"
        ) from error
    state_dict = torch.load(os.fspath(path), map_location="cpu", weights_only=True)
    if not isinstance(state_dict, dict):
        raise ValueError(f"{path!r} does not hold a PyTorch state dict. {FID_WEIGHTS_HELP}")
    return {name: value.detach().cpu().numpy() for name, value in state_dict.items()}


def _assign(variable, value, name):
    if tuple(variable.shape) != value.shape:
        raise ValueError(
            f"Weight {name!r} has shape {value.shape}, the network expects "
            f"{tuple(variable.shape)}: this is not the FID Inception state dict "
            f"(torchvision's ImageNet Inception-v3 differs). {FID_WEIGHTS_HELP}"
        )
    variable.assign(value.astype("float32"))


def set_fid_inception_weights(model, state_dict):
    """Sets `model` (a `FIDInception`) from pytorch-fid's state dict `{name: array}`.

    Convolutions go from PyTorch's `(out, in, h, w)` to Keras' `(h, w, in, out)`, the classifier
    from `(out, in)` to `(in, out)`; batch-norm weights, biases, running means and variances map
    one to one. Every weight of the network must be present and every entry used.

    Raises:
        ValueError: naming the missing, unexpected or misshapen entries.
    """
    if not isinstance(model, FIDInception):
        raise TypeError(f"`model` must be a FIDInception, got {type(model).__name__}.")
    state = {k: np.asarray(v) for k, v in state_dict.items() if not k.endswith(_IGNORED_SUFFIXES)}
    used = set()

    def take(name):
        if name not in state:
            raise ValueError(f"The state dict lacks {name!r}. {FID_WEIGHTS_HELP}")
        used.add(name)
        return state[name]

    for prefix, unit in model.conv_units().items():
        _assign(unit.conv.kernel, take(f"{prefix}.conv.weight").transpose(2, 3, 1, 0), prefix)
        bn = unit.bn
        _assign(bn.gamma, take(f"{prefix}.bn.weight"), f"{prefix}.bn.weight")
        _assign(bn.beta, take(f"{prefix}.bn.bias"), f"{prefix}.bn.bias")
        _assign(bn.moving_mean, take(f"{prefix}.bn.running_mean"), f"{prefix}.bn.running_mean")
        _assign(bn.moving_variance, take(f"{prefix}.bn.running_var"), f"{prefix}.bn.running_var")
    _assign(model.fc.kernel, take("fc.weight").T, "fc.weight")
    _assign(model.fc.bias, take("fc.bias"), "fc.bias")
    unexpected = sorted(set(state) - used)
    if unexpected:
        raise ValueError(
            f"The state dict has entries the FID Inception lacks: {unexpected[:5]}"
            f"{' ...' if len(unexpected) > 5 else ''}. {FID_WEIGHTS_HELP}"
        )
    return model


def load_fid_inception(weights_path=None, resize=True):
    """The FID Inception-v3 with the published weights, ready for FID and Inception Score.

    Args:
        weights_path: pytorch-fid's `pt_inception-2015-12-05-6726825d.pth` (read with torch) or
            a `.weights.h5` file saved from a converted `FIDInception`. `None` looks for the
            `.pth` file in `$KERAS_HOME/models/` (KERAS_HOME defaulting to `~/.keras`).
        resize: see `FIDInception` (keep the default for comparable numbers).

    Returns:
        A `FIDInception`.

    Raises:
        FileNotFoundError: with `FID_WEIGHTS_HELP` (where to download the file) when there is no
            file.

    Example:

    ```python
    inception = keras_vim.metrics.load_fid_inception("pt_inception-2015-12-05-6726825d.pth")
    inception.save_weights("fid_inception.weights.h5")  # reusable without torch
    ```
    """
    if weights_path is None:
        weights_path = default_fid_weights_path()
    weights_path = os.fspath(weights_path)
    if not os.path.isfile(weights_path):
        raise FileNotFoundError(
            f"FID Inception weights file not found: {weights_path!r}. {FID_WEIGHTS_HELP}"
        )
    model = FIDInception(resize=resize)
    if weights_path.endswith(".weights.h5"):
        model.load_weights(weights_path)
    elif weights_path.endswith((".pth", ".pt")):
        set_fid_inception_weights(model, read_pytorch_state_dict(weights_path))
    else:
        raise ValueError(
            "`weights_path` must be a `.pth` (pytorch-fid) or `.weights.h5` file, got "
            f"{weights_path!r}. {FID_WEIGHTS_HELP}"
        )
    return model
