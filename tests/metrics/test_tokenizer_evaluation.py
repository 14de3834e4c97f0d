import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_vim
from keras_vim.losses import logit_laplace_loss
from keras_vim.metrics import CodebookStatistics, evaluate_tokenizer, ssim, tokenizer_report
from keras_vim.models import VitVQGAN


@pytest.fixture(scope="module")
def model():
    from micro_configs import MICRO_VQGAN

    keras.utils.set_random_seed(0)
    return VitVQGAN(**MICRO_VQGAN)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _flat_features(images):
    return np.asarray(images).reshape(len(images), -1)[:, ::16]


def test_streamed_report_matches_a_direct_computation(model, rng):
    # Every model call gets 4 images (on JAX each new shape compiles every op again).
    images = rng.uniform(size=(8, 16, 16, 1)).astype("float32")
    labels = np.arange(8)
    report = evaluate_tokenizer(
        model, images, batch_size=4, usage_batch_size=3, feature_extractor=_flat_features
    )

    ids = np.concatenate([_np(model.encode(images[:4])), _np(model.encode(images[4:]))])
    reconstructions = np.concatenate([_np(model.decode(ids[:4])), _np(model.decode(ids[4:]))])
    halves = [model.forward_outputs(images[:4]), model.forward_outputs(images[4:])]
    outputs = {k: np.concatenate([_np(h[k]) for h in halves]) for k in ("location", "log_scale")}
    assert report["images"] == 8 and report["num_codes"] == 32
    assert report["l2"] == pytest.approx(np.mean((images - reconstructions) ** 2), rel=1e-4)
    assert report["l1"] == pytest.approx(np.mean(np.abs(images - reconstructions)), rel=1e-4)
    mse = np.mean((images - reconstructions) ** 2, axis=(1, 2, 3))
    assert report["psnr"] == pytest.approx(np.mean(10 * np.log10(1 / mse)), rel=1e-4)
    assert report["ssim"] == pytest.approx(np.mean(_np(ssim(images, reconstructions))), abs=1e-5)
    nll = float(_np(logit_laplace_loss(images, outputs["location"], outputs["log_scale"])))
    assert report["logit_laplace_nll"] == pytest.approx(nll, rel=1e-4)
    codes = CodebookStatistics(32, usage_batch_size=3)
    codes.update(ids)
    for name, value in codes.result().items():
        assert report[name] == pytest.approx(value), name
    assert report["codebook_usage_batches"] == 2  # 8 images: two usage batches of 3
    expected_fd = keras_vim.metrics.frechet_distance(
        _flat_features(images), _flat_features(reconstructions)
    )
    assert report["frechet_distance"] == pytest.approx(expected_fd, rel=1e-3)
    assert report["frechet_distance"] > 0.01

    # The same numbers from a tf.data pipeline of (images, labels) batched differently.
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    streamed = evaluate_tokenizer(
        model, dataset, batch_size=4, usage_batch_size=3, feature_extractor=_flat_features
    )
    for name, value in report.items():
        assert streamed[name] == pytest.approx(value, rel=1e-5), name

    # uint8 input, a prefix of the data, and the recipe's short report.
    eight_bit = np.round(images * 255).astype("uint8")
    first = evaluate_tokenizer(model, eight_bit, batch_size=4, max_images=5)
    assert first["images"] == 5 and first["codebook_usage_batches"] == 0
    assert first["l2"] == pytest.approx(
        np.mean((eight_bit[:5] / 255 - reconstructions[:5]) ** 2), abs=1e-3
    )
    assert set(tokenizer_report(model, images[:4], batch_size=4)) >= {
        "l2", "l1", "psnr", "ssim", "codebook_usage", "codebook_usage_total", "perplexity",
        "dead_codes",
    }  # fmt: skip


def test_bad_inputs(model):
    with pytest.raises(TypeError, match="tokenizer"):
        evaluate_tokenizer(object(), np.zeros((2, 16, 16, 1), "float32"))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        evaluate_tokenizer(model, np.full((2, 16, 16, 1), 255.0, "float32"))
    with pytest.raises(ValueError, match="no images"):
        evaluate_tokenizer(model, np.zeros((0, 16, 16, 1), "float32"))
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_tokenizer(model, np.zeros((2, 16, 16, 1), "float32"), batch_size=0)
    with pytest.raises(TypeError, match="feature_extractor"):
        evaluate_tokenizer(model, np.zeros((2, 16, 16, 1), "float32"), feature_extractor=3)


class _HalfTokenizer:
    """A duck-typed tokenizer: one code per 4x4 patch, the patch mean rounded to 1/8."""

    num_codes = 9

    def encode(self, images):
        patches = np.asarray(images).reshape(len(images), 2, 4, 2, 4).mean(axis=(2, 4))
        return np.round(patches * 8).astype("int32")

    def decode(self, ids):
        return np.repeat(np.repeat(ids / 8.0, 4, axis=1), 4, axis=2)[..., None]


def test_any_tokenizer_and_small_images(rng):
    # 8x8 images: too small for SSIM's 11x11 window, so the report leaves SSIM out.
    images = rng.uniform(size=(6, 8, 8, 1)).astype("float32")
    tokenizer = _HalfTokenizer()
    report = evaluate_tokenizer(tokenizer, images, batch_size=4, usage_batch_size=2)
    reconstructions = tokenizer.decode(tokenizer.encode(images))
    assert "ssim" not in report and "logit_laplace_nll" not in report
    assert report["l2"] == pytest.approx(np.mean((images - reconstructions) ** 2), rel=1e-5)
    ids = tokenizer.encode(images)
    used = [len(np.unique(ids[i : i + 2])) / 9 for i in (0, 2, 4)]
    assert report["codebook_usage"] == pytest.approx(np.mean(used))
    assert report["dead_codes"] == 9 - len(np.unique(ids))
