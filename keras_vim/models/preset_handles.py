"""Resolves `hf://` and `kaggle://` preset handles to a local directory.

The hub clients are optional dependencies: they are imported only when such a handle is used,
and a missing client is reported with the command that installs it.
"""

import importlib

HF_PREFIX = "hf://"
KAGGLE_PREFIX = "kaggle://"


def is_hub_handle(preset):
    return preset.startswith(HF_PREFIX) or preset.startswith(KAGGLE_PREFIX)


def download_preset(handle):
    """Downloads (or reuses the hub client's cache of) a preset; returns its local directory.

    `hf://OWNER/NAME` uses `huggingface_hub.snapshot_download`;
    `kaggle://OWNER/MODEL/keras/VARIATION[/VERSION]` uses `kagglehub.model_download`.
    """
    if handle.startswith(HF_PREFIX):
        repo_id = handle[len(HF_PREFIX) :].strip("/")
        if repo_id.count("/") != 1:
            raise ValueError(f"A Hugging Face preset handle is 'hf://OWNER/NAME'; got {handle!r}.")
        hub = _import_client("huggingface_hub", handle)
        return hub.snapshot_download(repo_id=repo_id)
    if handle.startswith(KAGGLE_PREFIX):
        model_handle = handle[len(KAGGLE_PREFIX) :].strip("/")
        if model_handle.count("/") not in (3, 4):
            raise ValueError(
                "A Kaggle preset handle is 'kaggle://OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION]'; "
                f"got {handle!r}."
            )
        hub = _import_client("kagglehub", handle)
        return hub.model_download(model_handle)
    raise ValueError(f"{handle!r} is not an hf:// or kaggle:// handle.")


def _import_client(module_name, handle):
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise ImportError(
            f"Loading the preset {handle!r} needs the optional package {module_name!r}: "
            f"`pip install {module_name}`. A preset directory on disk needs nothing extra."
        ) from error
