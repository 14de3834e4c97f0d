"""Pixel reconstruction losses of ViT-VQGAN (Yu et al. 2021, Sec. 3.2): L2, L1, logit-Laplace.

All functions compute in float32 (inputs of any float dtype, e.g. bfloat16, are cast first) and
return a float32 scalar averaged over every element.
"""

from keras import ops

# DALL-E (Ramesh et al. 2021, Sec. A.3) squeezes pixels into [eps, 1 - eps] with eps = 0.1 so that
# the logit of a pixel stays finite.
LOGIT_LAPLACE_EPS = 0.1

# log_scale is clipped to this range before exp(): below -5 the scale (~0.0067 in logit space,
# i.e. about half a grey level at mid-grey) is finer than 8-bit pixels can resolve and the loss
# would reward collapsing it towards -inf; above 5 the scale exceeds the whole logit range.
LOG_SCALE_RANGE = (-5.0, 5.0)


def _float32(x):
    return ops.cast(ops.convert_to_tensor(x), "float32")


def l2_loss(x, y):
    """Mean squared error `mean((x - y)**2)` over all elements, in float32.

    Args:
        x: a tensor, e.g. the target images.
        y: a tensor of the same shape, e.g. the reconstructions.

    Returns:
        A float32 scalar.
    """
    return ops.mean(ops.square(_float32(x) - _float32(y)))


def l1_loss(x, y):
    """Mean absolute error `mean(|x - y|)` over all elements, in float32.

    Args:
        x: a tensor, e.g. the target images.
        y: a tensor of the same shape, e.g. the reconstructions.

    Returns:
        A float32 scalar.
    """
    return ops.mean(ops.abs(_float32(x) - _float32(y)))


def _squeeze_pixels(x, eps):
    return (1.0 - 2.0 * eps) * x + eps


def logit_laplace_nll(
    targets, mu, log_scale, eps=LOGIT_LAPLACE_EPS, log_scale_range=LOG_SCALE_RANGE
):
    """Element-wise negative log-likelihood of the logit-Laplace distribution (DALL-E).

    Targets `x` in `[0, 1]` are squeezed to `x' = (1 - 2 eps) x + eps`. The decoder predicts,
    per pixel and channel, a location `mu` (in logit space) and a log-scale `log_b`. The density
    of `x'` is a Laplace density on `logit(x')` times the Jacobian `1 / (x' (1 - x'))`, so

        NLL = log(2 b) + log(x' (1 - x')) + |logit(x') - mu| / b

    (in nats, per element). `log_b` is clipped to `log_scale_range` (default `[-5, 5]`) before
    use for numerical stability: without a floor the loss keeps rewarding an ever smaller scale
    for well-reconstructed pixels (values outside the range get no gradient). Everything is
    computed in float32.

    Args:
        targets: images in `[0, 1]`, shape `(B, H, W, C)` (any shape works).
        mu: predicted locations in logit space, same shape as `targets`.
        log_scale: predicted log-scales `log b`, same shape as `targets`.
        eps: float. Pixel squeezing constant (0.1 as in DALL-E).
        log_scale_range: `(min, max)` clip range of `log_scale`.

    Returns:
        float32 NLL, same shape as `targets`.
    """
    x = _squeeze_pixels(_float32(targets), eps)
    mu = _float32(mu)
    log_b = ops.clip(_float32(log_scale), log_scale_range[0], log_scale_range[1])
    logit_x = ops.log(x) - ops.log1p(-x)
    return log_b + ops.log(2.0) + ops.log(x * (1.0 - x)) + ops.abs(logit_x - mu) * ops.exp(-log_b)


def logit_laplace_loss(
    targets, mu, log_scale, eps=LOGIT_LAPLACE_EPS, log_scale_range=LOG_SCALE_RANGE
):
    """Logit-Laplace negative log-likelihood of ViT-VQGAN, averaged over all elements.

    The mean of `logit_laplace_nll` (see there for the density, the pixel squeezing and the
    clipping of `log_scale`).

    Args:
        targets: images in `[0, 1]`, shape `(B, H, W, C)` (any shape works).
        mu: predicted locations in logit space, same shape as `targets`.
        log_scale: predicted log-scales `log b`, same shape as `targets`.
        eps: float. Pixel squeezing constant (0.1 as in DALL-E).
        log_scale_range: `(min, max)` clip range of `log_scale`.

    Returns:
        A float32 scalar.
    """
    return ops.mean(logit_laplace_nll(targets, mu, log_scale, eps, log_scale_range))


def logit_laplace_mean(mu, eps=LOGIT_LAPLACE_EPS, clip=True):
    """Images reconstructed from logit-Laplace locations (the "sigmoid of the mean").

    Returns `clip((sigmoid(mu) - eps) / (1 - 2 eps), 0, 1)`: the sigmoid of the location (the
    median of the predicted distribution of `x'`) with the pixel squeezing of
    `logit_laplace_loss` undone, so `logit_laplace_mean(logit(x'))` recovers `x`.

    Args:
        mu: predicted locations in logit space, any shape.
        eps: float. Pixel squeezing constant (0.1 as in DALL-E).
        clip: clip to `[0, 1]`. Losses take the unclipped value (in `(-eps / (1 - 2 eps),
            1 + eps / (1 - 2 eps))`): a clipped one gives no gradient to a location outside
            the squeezed range, so a pixel pushed past black or white would never come back.

    Returns:
        float32 images, in `[0, 1]` when clipped, same shape as `mu`.
    """
    x = (ops.sigmoid(_float32(mu)) - eps) / (1.0 - 2.0 * eps)
    return ops.clip(x, 0.0, 1.0) if clip else x
