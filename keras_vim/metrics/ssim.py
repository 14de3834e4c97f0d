"""Structural similarity (SSIM, Wang et al. 2004) with the standard Gaussian window."""

import numpy as np
from keras import ops


def gaussian_window(size=11, sigma=1.5):
    """The normalized `(size, size)` Gaussian window of SSIM, as float32 numpy."""
    offsets = np.arange(size, dtype="float64") - (size - 1) / 2.0
    g = np.exp(-(offsets**2) / (2.0 * sigma**2))
    g /= g.sum()
    return np.outer(g, g).astype("float32")


def ssim(images_a, images_b, max_value=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03):
    """SSIM per image, `(B,)` float32, for image batches `(B, H, W, C)` in `[0, max_value]`.

    The standard definition (Wang et al. 2004; as `tf.image.ssim`, and scikit-image with
    `gaussian_weights=True, use_sample_covariance=False`): local means, variances and the
    covariance are taken under an `11 x 11` Gaussian window (sigma 1.5) at every position where
    the window fits inside the image ("valid"), per channel; with `C1 = (k1 L)^2`,
    `C2 = (k2 L)^2` and `L = max_value`,

        SSIM = (2 mu_a mu_b + C1) (2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1) (s_a^2 + s_b^2 + C2)),

    averaged over positions and channels. 1 for identical images. Computed in float32
    (agrees with a float64 computation to a few 1e-5).

    Args:
        images_a, images_b: image batches of one shape, `H, W >= filter_size`.
        max_value: the dynamic range `L` (1 for images in [0, 1]).
        filter_size, filter_sigma: the Gaussian window.
        k1, k2: the stabilizing constants.
    """
    a = ops.cast(ops.convert_to_tensor(images_a), "float32")
    b = ops.cast(ops.convert_to_tensor(images_b), "float32")
    if len(a.shape) != 4 or tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            "`images_a` and `images_b` must be image batches (batch, height, width, channels) "
            f"of one shape, got {tuple(a.shape)} and {tuple(b.shape)}."
        )
    height, width, channels = a.shape[1:]
    if height < filter_size or width < filter_size:
        raise ValueError(
            f"SSIM needs images of at least {filter_size}x{filter_size} (`filter_size`), "
            f"got {height}x{width}."
        )
    window = ops.convert_to_tensor(gaussian_window(filter_size, filter_sigma)[:, :, None, None])

    def local_mean(x):
        # Channels are folded into the batch so one single-channel convolution filters them all.
        x = ops.reshape(ops.transpose(x, (0, 3, 1, 2)), (-1, height, width, 1))
        return ops.conv(x, window, padding="valid")

    # (Co)variances are E[xy] - E[x]E[y]; centring both images on their joint mean first leaves
    # them unchanged but avoids float32 cancellation (a flat 0.5 image would give ~1e-5 errors).
    shift = ops.mean(a + b, axis=(1, 2), keepdims=True) / 2.0
    a, b = a - shift, b - shift
    mu_a, mu_b = local_mean(a), local_mean(b)
    var_a = local_mean(a * a) - mu_a * mu_a
    var_b = local_mean(b * b) - mu_b * mu_b
    cov = local_mean(a * b) - mu_a * mu_b
    shift = ops.reshape(ops.transpose(shift, (0, 3, 1, 2)), (-1, 1, 1, 1))
    mu_a, mu_b = mu_a + shift, mu_b + shift
    c1 = (k1 * max_value) ** 2
    c2 = (k2 * max_value) ** 2
    luminance = (2.0 * mu_a * mu_b + c1) / (mu_a * mu_a + mu_b * mu_b + c1)
    structure = (2.0 * cov + c2) / (var_a + var_b + c2)
    positions = (height - filter_size + 1) * (width - filter_size + 1)
    ssim_map = ops.reshape(luminance * structure, (-1, channels, positions))
    return ops.mean(ssim_map, axis=(1, 2))
