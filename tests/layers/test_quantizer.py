import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.layers import VectorQuantizer
from keras_vim.layers.quantizer import argmax_last_axis
from keras_vim.metrics import codebook_perplexity, codebook_usage


def _normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _built(rng, **kwargs):
    quantizer = VectorQuantizer(num_codes=16, code_dim=4, **kwargs)
    inputs = rng.normal(size=(2, 10, 6)).astype("float32")
    outputs = quantizer(inputs)
    return quantizer, inputs, outputs


def test_ids_are_brute_force_cosine_nearest(rng):
    quantizer, inputs, outputs = _built(rng)
    kernel, bias = (ops.convert_to_numpy(w) for w in quantizer.input_projection.weights)
    latents = inputs @ kernel + bias
    codebook = ops.convert_to_numpy(quantizer.codebook)
    cosine = _normalize(latents) @ _normalize(codebook).T
    np.testing.assert_array_equal(ops.convert_to_numpy(outputs["ids"]), cosine.argmax(-1))
    assert outputs["quantized"].shape == (2, 10, 6)


@pytest.mark.parametrize("num_codes", [1024, 40])
def test_grouped_argmax_is_the_first_argmax(rng, num_codes):
    # 1024 columns take the two-pass path (groups of 64), 40 the plain argmax.
    scores = rng.normal(size=(5, num_codes)).astype("float32")
    scores[0, [5, num_codes - 3]] = 9.0  # a tie across groups: the first column wins
    scores[1, [33, 34]] = 9.0  # a tie inside a group
    scores[2, num_codes - 1] = 9.0  # the last group
    scores[3] = -1e30
    scores[3, 0] = -1e29
    ids = ops.convert_to_numpy(argmax_last_axis(ops.convert_to_tensor(scores)))
    assert ids.dtype == np.int32
    np.testing.assert_array_equal(ids, scores.argmax(-1))
    assert ids[0] == 5 and ids[1] == 33 and ids[2] == num_codes - 1 and ids[3] == 0


def test_euclidean_lookup_without_l2_norm(rng):
    quantizer, inputs, outputs = _built(rng, l2_normalize=False)
    kernel, bias = (ops.convert_to_numpy(w) for w in quantizer.input_projection.weights)
    latents = inputs @ kernel + bias
    codebook = ops.convert_to_numpy(quantizer.codebook)
    distances = ((latents[..., None, :] - codebook) ** 2).sum(-1)
    np.testing.assert_array_equal(ops.convert_to_numpy(outputs["ids"]), distances.argmin(-1))


def test_output_is_projected_code_and_vq_loss_value(rng):
    quantizer, inputs, outputs = _built(rng, beta=0.25, loss_reduction="sum")
    ids = ops.convert_to_numpy(outputs["ids"])
    np.testing.assert_allclose(
        ops.convert_to_numpy(outputs["quantized"]),
        ops.convert_to_numpy(quantizer.lookup(ids)),
        rtol=1e-5,
        atol=1e-5,
    )
    latents = ops.convert_to_numpy(outputs["latents"])
    codes = _normalize(ops.convert_to_numpy(quantizer.codebook))[ids]
    squared = ((latents - codes) ** 2).sum(-1).mean()
    np.testing.assert_allclose(float(outputs["vq_loss"]), 1.25 * squared, rtol=1e-4)
    np.testing.assert_allclose(
        ops.convert_to_numpy(outputs["errors"]),
        ((latents - codes) ** 2).sum(-1),
        rtol=1e-4,
        atol=1e-5,
    )


def test_vq_loss_mean_reduction_by_hand():
    # The default averages the squared error over the code dimensions (taming-transformers):
    # 4 latents of dim 2 against 2 hand-placed unit codes.
    quantizer = VectorQuantizer(num_codes=2, code_dim=2, beta=0.5)
    quantizer.build((None, 2))
    quantizer.input_projection.set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    quantizer.codebook.assign(np.array([[1.0, 0.0], [0.0, 1.0]], "float32"))
    inputs = np.array([[3.0, 4.0], [1.0, 0.0], [4.0, 3.0], [0.0, 2.0]], "float32")
    outputs = quantizer(inputs)
    # Normalized latents (0.6, 0.8), (1, 0), (0.8, 0.6), (0, 1); nearest codes 1, 0, 0, 1.
    np.testing.assert_array_equal(ops.convert_to_numpy(outputs["ids"]), [1, 0, 0, 1])
    squared = [0.36 + 0.04, 0.0, 0.04 + 0.36, 0.0]  # per latent, summed over the 2 dims
    per_dimension = np.mean(squared) / 2
    np.testing.assert_allclose(float(outputs["vq_loss"]), 1.5 * per_dimension, rtol=1e-5)
    quantizer.loss_reduction = "sum"
    np.testing.assert_allclose(float(quantizer(inputs)["vq_loss"]), 1.5 * 0.2, rtol=1e-5)


def test_latent_norm_normalizes_before_the_projection(rng):
    quantizer, inputs, outputs = _built(rng, latent_norm=True)
    mean = inputs.mean(-1, keepdims=True)
    normed = (inputs - mean) / np.sqrt(inputs.var(-1, keepdims=True) + 1e-6)
    kernel, bias = (ops.convert_to_numpy(w) for w in quantizer.input_projection.weights)
    np.testing.assert_allclose(
        ops.convert_to_numpy(outputs["latents"]),
        _normalize(normed @ kernel + bias),
        rtol=1e-4,
        atol=1e-5,
    )
    # Shifting and scaling the inputs changes nothing.
    shifted = quantizer(3.0 * inputs + 2.0)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(shifted["ids"]), ops.convert_to_numpy(outputs["ids"])
    )


def test_codebook_init_scale(rng):
    quantizer, _, _ = _built(rng, codebook_init_scale=0.01)
    codebook = ops.convert_to_numpy(quantizer.codebook)
    assert 0.005 < codebook.std() < 0.02


def _input_gradient(fn, x):
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(x))
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.gradient(y, x).numpy()
    import torch

    x = torch.tensor(x, requires_grad=True)
    fn(x).backward()
    return x.grad.numpy()


def test_straight_through_gradient(rng):
    quantizer, inputs, _ = _built(rng)
    weights = ops.convert_to_tensor(rng.normal(size=(6,)).astype("float32"))

    def through_quantizer(x):
        return ops.sum(quantizer(x)["quantized"] * weights)

    def identity_path(x):
        # What straight-through means: d quantized / d latents is the identity.
        return ops.sum(quantizer.output_projection(quantizer.project(x)) * weights)

    grad = _input_gradient(through_quantizer, inputs)
    expected = _input_gradient(identity_path, inputs)
    assert np.abs(grad).max() > 0
    np.testing.assert_allclose(grad, expected, rtol=1e-4, atol=1e-6)


def test_usage_and_perplexity_on_hand_made_batch():
    ids = np.array([[0, 0, 1, 1], [2, 2, 3, 3]], "int32")
    assert float(codebook_usage(ids, 8)) == pytest.approx(0.5)
    assert float(codebook_perplexity(ids, 8)) == pytest.approx(4.0, rel=1e-5)
    skewed = np.array([0, 0, 0, 1], "int32")
    p = np.array([0.75, 0.25])
    assert float(codebook_perplexity(skewed, 8)) == pytest.approx(np.exp(-(p * np.log(p)).sum()))


def test_dead_codes_are_reseeded_with_worst_latents(rng):
    quantizer, inputs, outputs = _built(rng, restart_dead_codes=True, dead_code_threshold=0.5)
    usage = np.ones(16, "float32")
    usage[[3, 7]] = 0.0
    quantizer.code_usage.assign(usage)
    before = ops.convert_to_numpy(quantizer.codebook)
    dead = quantizer.restart_dead_codes_from(outputs["latents"], outputs["errors"])
    after = ops.convert_to_numpy(quantizer.codebook)
    latents = ops.convert_to_numpy(outputs["latents"]).reshape(-1, 4)
    order = np.argsort(-ops.convert_to_numpy(outputs["errors"]).reshape(-1))
    assert float(dead) == 2
    np.testing.assert_allclose(after[3], latents[order[0]], rtol=1e-6)
    np.testing.assert_allclose(after[7], latents[order[1]], rtol=1e-6)
    untouched = [i for i in range(16) if i not in (3, 7)]
    np.testing.assert_array_equal(after[untouched], before[untouched])
    np.testing.assert_array_equal(ops.convert_to_numpy(quantizer.code_usage), np.ones(16))


def test_restart_disabled_changes_nothing(rng):
    quantizer, _, outputs = _built(rng, restart_dead_codes=True, dead_code_threshold=2.0)
    before = ops.convert_to_numpy(quantizer.codebook)
    quantizer.restart_dead_codes_from(outputs["latents"], outputs["errors"], enabled=False)
    np.testing.assert_array_equal(ops.convert_to_numpy(quantizer.codebook), before)


def test_usage_average_tracks_training_batches(rng):
    quantizer, inputs, outputs = _built(rng, restart_dead_codes=True, usage_decay=0.5)
    quantizer(inputs, training=True)
    used = np.bincount(ops.convert_to_numpy(outputs["ids"]).ravel(), minlength=16) > 0
    np.testing.assert_allclose(
        ops.convert_to_numpy(quantizer.code_usage), np.where(used, 1.0, 0.5), rtol=1e-6
    )


def test_config_round_trip_and_bad_args(rng):
    quantizer, inputs, outputs = _built(rng, beta=0.5, l2_normalize=False)
    clone = VectorQuantizer.from_config(quantizer.get_config())
    clone.build(inputs.shape)
    clone.set_weights(quantizer.get_weights())
    np.testing.assert_array_equal(
        ops.convert_to_numpy(clone(inputs)["ids"]), ops.convert_to_numpy(outputs["ids"])
    )
    with pytest.raises(ValueError, match="`num_codes` must be an integer >= 1, got 0"):
        VectorQuantizer(num_codes=0)
    with pytest.raises(TypeError, match="`code_dim` must be an integer"):
        VectorQuantizer(code_dim=2.5)
    with pytest.raises(ValueError, match="`loss_reduction` must be one of"):
        VectorQuantizer(loss_reduction="max")
    with pytest.raises(ValueError, match="`codebook_init_scale` must be a finite real number > 0"):
        VectorQuantizer(codebook_init_scale=0)


def test_seed_codebook_from_data_reseeds_unused_codes_at_the_first_step(rng):
    # usage_decay 0.9: a code used once reaches 0.1, above the threshold 0.03.
    quantizer, inputs, outputs = _built(
        rng, restart_dead_codes=True, seed_codebook_from_data=True, usage_decay=0.9
    )
    np.testing.assert_array_equal(ops.convert_to_numpy(quantizer.code_usage), np.zeros(16))
    before = ops.convert_to_numpy(quantizer.codebook).copy()
    outputs = quantizer(inputs, training=True)
    used = np.unique(ops.convert_to_numpy(outputs["ids"]))
    dead = quantizer.restart_dead_codes_from(outputs["latents"], outputs["errors"])
    assert int(dead) == 16 - len(used)
    after = ops.convert_to_numpy(quantizer.codebook)
    unused = np.setdiff1d(np.arange(16), used)
    np.testing.assert_array_equal(after[used], before[used])
    latents = ops.convert_to_numpy(outputs["latents"]).reshape(-1, 4)
    for code in after[unused]:  # every re-seeded code is one of the batch's latents
        assert np.isclose(np.abs(latents - code).sum(-1), 0, atol=1e-6).any()
    # Without restarts the option does nothing: the usage average starts at 1 as usual.
    plain, _, _ = _built(rng, seed_codebook_from_data=True)
    np.testing.assert_array_equal(ops.convert_to_numpy(plain.code_usage), np.ones(16))
