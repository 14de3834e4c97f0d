"""Per-image reconstruction errors: L1, L2 (MSE), PSNR and the logit-Laplace NLL.

Each function takes image batches `(B, H, W, C)` (any backend tensor or numpy array) and
returns a float32 tensor `(B,)`, one value per image, so a dataset can be streamed batch by
batch (`evaluate_tokenizer`) and the values averaged over all images.
"""

from keras import ops

from keras_vim.losses.reconstruction import LOGIT_LAPLACE_EPS, logit_laplace_nll


def _pair(images, reconstructions):
    a = ops.cast(ops.convert_to_tensor(images), "float32")
    b = ops.cast(ops.convert_to_tensor(reconstructions), "float32")
    if len(a.shape) < 2 or tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            "`images` and `reconstructions` must be batches of one shape, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}."
        )
    return a, b


def _per_image_mean(x):
    return ops.mean(x, axis=tuple(range(1, len(x.shape))))


def per_image_l1(images, reconstructions):
    """Mean absolute error of each image, `(B,)`."""
    a, b = _pair(images, reconstructions)
    return _per_image_mean(ops.abs(a - b))


def per_image_l2(images, reconstructions):
    """Mean squared error of each image, `(B,)`: the paper's L2."""
    a, b = _pair(images, reconstructions)
    return _per_image_mean(ops.square(a - b))


def psnr(images, reconstructions, max_value=1.0):
    """Peak signal-to-noise ratio in dB of each image, `(B,)`: `10 log10(max_value^2 / MSE)`.

    The MSE is floored at 1e-12 (so identical images give 120 dB for `max_value` 1, not inf).
    """
    mse = per_image_l2(images, reconstructions)
    return 10.0 * ops.log(max_value**2 / ops.maximum(mse, 1e-12)) / ops.log(10.0)


def per_image_logit_laplace_nll(images, location, log_scale, eps=LOGIT_LAPLACE_EPS):
    """Logit-Laplace negative log-likelihood of each image, `(B,)`, in nats per sub-pixel.

    The mean over pixels and channels of `keras_vim.losses.logit_laplace_nll` (the tokenizer's
    training loss, with its pixel squeezing `eps` and log-scale clipping); `location` and
    `log_scale` are a logit-Laplace decoder's outputs (`VitVQGAN.forward_outputs`).
    """
    a, mu = _pair(images, location)
    _, log_b = _pair(images, log_scale)
    return _per_image_mean(logit_laplace_nll(a, mu, log_b, eps=eps))
