"""Training: the per-backend ViT-VQGAN steps (the one place with backend-specific code).

`VQGANTrainer` trains any model that provides the `TokenizerHooks` (tokenizer_hooks.py).
"""

import keras

from keras_vim.training.gan_optimizer import GANOptimizer
from keras_vim.training.progress import TimeEstimate
from keras_vim.training.resumable_fit import completed_epochs, fit_resumable
from keras_vim.training.schedules import vit_vqgan_optimizer, warmup_cosine_schedule
from keras_vim.training.tokenizer_hooks import TokenizerHooks, check_tokenizer_hooks
from keras_vim.training.vim_schedules import vim_optimizer

_backend = keras.backend.backend()
if _backend == "jax":
    from keras_vim.training.jax_vqgan_trainer import VQGANTrainer
elif _backend == "torch":
    from keras_vim.training.torch_vqgan_trainer import VQGANTrainer
elif _backend == "tensorflow":
    from keras_vim.training.tensorflow_vqgan_trainer import VQGANTrainer
else:
    raise ImportError(
        f"keras_vim supports the jax, torch and tensorflow backends, not {_backend!r}."
    )

__all__ = [
    "GANOptimizer",
    "TimeEstimate",
    "TokenizerHooks",
    "VQGANTrainer",
    "check_tokenizer_hooks",
    "completed_epochs",
    "fit_resumable",
    "vim_optimizer",
    "vit_vqgan_optimizer",
    "warmup_cosine_schedule",
]
