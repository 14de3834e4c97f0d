import math
import os

import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.data import load_fashion_mnist, token_dataset, tokenize_dataset
from keras_vim.models import VIM, VitVQGAN, preset_mixin
from keras_vim.models.vim.vim_presets import VIM_PRESETS
from keras_vim.training.vim_schedules import vim_optimizer

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "micro_vqgan")
GRID = (3, 4)
LENGTH = GRID[0] * GRID[1]
VOCAB = 16
TINY = dict(
    vocabulary_size=VOCAB,
    grid_size=GRID,
    num_layers=1,
    num_heads=2,
    hidden_dim=16,
    mlp_dim=32,
    dropout=0.0,
)


def numpy(x):
    return ops.convert_to_numpy(x)


# Shared, read-only models: their compiled generation functions are reused across tests.
# One block keeps JAX's compilations short; the two-block models cover what depends on depth.
@pytest.fixture(scope="module")
def conditional():
    keras.utils.set_random_seed(1)
    # Class dropout (training only) makes classifier-free guidance legal at sampling.
    return VIM(**TINY, num_classes=3, class_dropout=0.1)


@pytest.fixture(scope="module")
def unconditional():
    keras.utils.set_random_seed(2)
    return VIM(**dict(TINY, num_layers=2))


@pytest.fixture
def tokens(rng):
    return rng.integers(0, VOCAB, (4, *GRID)).astype("int32")


CLASSES = np.array([0, 2, 1, 3], "int32")  # 3 is the null class
SAMPLE_CLASSES = np.array([0, 1, 2, 0], "int32")
TWO = np.array([0, 1], "int32")


def test_logits_shapes_and_prefixes(conditional, tokens):
    logits = numpy(conditional((tokens, CLASSES)))
    assert logits.shape == (4, *GRID, VOCAB) and logits.dtype == np.float32
    flat = tokens.reshape(4, LENGTH)
    prefix = numpy(conditional({"tokens": flat[:, :5], "class_ids": CLASSES}))
    assert prefix.shape == (4, 5, VOCAB)
    np.testing.assert_allclose(prefix, logits.reshape(4, LENGTH, VOCAB)[:, :5], atol=1e-5)
    # One token: only the condition slot goes in.
    first = numpy(conditional((flat[:, :1], CLASSES)))
    np.testing.assert_allclose(first[:, 0], logits[:, 0, 0], atol=1e-5)


@pytest.mark.parametrize("t", [0, 5, LENGTH - 1])
def test_causality(unconditional, tokens, t):
    flat = tokens.reshape(4, LENGTH)
    changed = flat.copy()
    changed[:, t] = (changed[:, t] + 1) % VOCAB
    a = numpy(unconditional(flat))
    b = numpy(unconditional(changed))
    # Logits at positions <= t predict tokens <= t from tokens < t: untouched.
    np.testing.assert_allclose(a[:, : t + 1], b[:, : t + 1], atol=1e-5)
    if t < LENGTH - 1:
        assert np.abs(a[:, t + 1 :] - b[:, t + 1 :]).max() > 1e-4


def test_class_token_conditions_every_position(conditional, tokens):
    a = numpy(conditional((tokens, np.array([0, 0, 0, 0]))))
    b = numpy(conditional((tokens, np.array([1, 1, 1, 1]))))
    assert np.abs(a - b).reshape(4, LENGTH, VOCAB).max(axis=(0, 2)).min() > 1e-5


@pytest.mark.parametrize("conditioned", [True, False])
def test_cached_logits_equal_full_pass(conditional, unconditional, tokens, conditioned):
    model = conditional if conditioned else unconditional
    flat = tokens.reshape(4, LENGTH)
    inputs = (flat, CLASSES) if conditioned else flat
    full = numpy(model(inputs))
    if conditioned:
        first, cache = model.start_cache(class_ids=CLASSES)
    else:
        first, cache = model.start_cache(batch_size=4)
    steps = [numpy(first)[:, None]]
    # A chunk of three tokens, then one token at a time (with a tensor index, as in loops).
    logits, cache = model.call_with_cache(flat[:, :3], cache, 0)
    steps.append(numpy(logits))
    for t in range(3, LENGTH - 1):
        logits, cache = model.call_with_cache(flat[:, t : t + 1], cache, ops.convert_to_tensor(t))
        steps.append(numpy(logits))
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full, atol=1e-5)
    assert len(cache) == model.num_layers
    keys, values = cache[0]
    assert tuple(keys.shape) == tuple(values.shape) == (4, 2, LENGTH, 8)


@pytest.mark.parametrize("conditioned", [True, False])
def test_the_decode_step_generate_runs_equals_the_full_pass(
    conditional, unconditional, tokens, conditioned
):
    """`generate` compiles exactly these calls: the condition slot through
    `backbone.start_cache`, then `decode_step` (the sampler's `next`) one token at a time,
    with the transposed decoding kernels and the cache written in place."""
    model = conditional if conditioned else unconditional
    flat = tokens.reshape(4, LENGTH)
    full = numpy(model((flat, CLASSES) if conditioned else flat))
    condition_ids = CLASSES if conditioned else np.zeros(4, "int32")
    weights = model.backbone.decoding_weights()
    logits, cache = model.backbone.start_cache(condition_ids, weights, overwrite_cache=True)
    next = model.decode_step(weights)
    steps = [numpy(logits)]
    for index in range(1, LENGTH):
        logits, cache = next(ops.convert_to_tensor(flat[:, index - 1]), cache, index)
        steps.append(numpy(logits))
    np.testing.assert_allclose(np.stack(steps, axis=1), full, atol=1e-5)


def test_greedy_sampler_set_by_compile_is_greedy_decoding(tokens):
    keras.utils.set_random_seed(1)
    model = VIM(**TINY, num_classes=3)
    model.compile(optimizer="adam", sampler="greedy")
    samples = numpy(model.generate(class_ids=SAMPLE_CLASSES, seed=5))
    np.testing.assert_array_equal(samples, greedy(model, SAMPLE_CLASSES))
    # Keywords a greedy sampler has not are refused by name.
    with pytest.raises(TypeError, match="GreedySampler takes no `temperature`"):
        model.generate(class_ids=SAMPLE_CLASSES, temperature=0.5)


def test_a_compiled_sampler_keeps_what_generate_keywords_leave(conditional):
    from keras_vim.sampling import Sampler

    model = VIM(**TINY, num_classes=3, class_dropout=0.1)
    model.set_weights(conditional.get_weights())
    model.compile(optimizer="adam", sampler=Sampler(temperature=0.5, top_k=3))
    np.testing.assert_array_equal(
        numpy(model.generate(class_ids=SAMPLE_CLASSES, seed=2)),
        numpy(conditional.generate(class_ids=SAMPLE_CLASSES, temperature=0.5, top_k=3, seed=2)),
    )
    np.testing.assert_array_equal(
        numpy(model.generate(class_ids=SAMPLE_CLASSES, top_p=0.7, seed=2)),
        numpy(
            conditional.generate(
                class_ids=SAMPLE_CLASSES, temperature=0.5, top_k=3, top_p=0.7, seed=2
            )
        ),
    )


def test_the_compiled_sampler_survives_saving(tmp_path):
    from keras_vim.sampling import GreedySampler

    model = VIM(**TINY, num_classes=3, class_dropout=0.1)
    model.compile(optimizer="adam", sampler=GreedySampler(guidance_scale=2.0))
    model.save(str(tmp_path / "vim.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "vim.keras"))
    assert type(loaded.sampler) is GreedySampler and loaded.sampler.guidance_scale == 2.0


def test_class_dropout_uses_the_null_class(tokens):
    model = VIM(**TINY, num_classes=3, class_dropout=0.999)
    dropped = numpy(model((tokens, np.array([0, 1, 2, 0])), training=True))
    null = numpy(model((tokens, np.full(4, 3))))
    np.testing.assert_allclose(dropped, null, atol=1e-5)
    kept = numpy(model((tokens, np.array([0, 1, 2, 0])), training=False))
    assert np.abs(kept - null).max() > 1e-5


def greedy(model, class_ids):
    # Causality lets every step run the full-length grid (the not-yet-chosen tokens are zeros
    # and cannot influence position t): one input shape, no re-tracing.
    tokens = np.zeros((len(class_ids), *GRID), "int32")
    for t in range(LENGTH):
        logits = numpy(model((tokens, class_ids))).reshape(len(class_ids), LENGTH, VOCAB)
        tokens.reshape(len(class_ids), LENGTH)[:, t] = logits[:, t].argmax(-1)
    return tokens


def test_generation_top_k_1_is_greedy_decoding(conditional):
    samples = numpy(conditional.generate(class_ids=SAMPLE_CLASSES, top_k=1, seed=5))
    assert samples.shape == (4, *GRID) and samples.dtype == np.int32
    np.testing.assert_array_equal(samples, greedy(conditional, SAMPLE_CLASSES))


def test_generation_is_reproducible(conditional):
    class_ids = SAMPLE_CLASSES
    a = numpy(conditional.generate(class_ids=class_ids, seed=1))
    b = numpy(conditional.generate(class_ids=class_ids, seed=1))
    c = numpy(conditional.generate(class_ids=class_ids, seed=2))
    np.testing.assert_array_equal(a, b)
    assert (a != c).mean() > 0.3
    assert a.min() >= 0 and a.max() < VOCAB
    # Unseeded calls draw fresh seeds.
    d = numpy(conditional.generate(class_ids=class_ids))
    e = numpy(conditional.generate(class_ids=class_ids))
    assert (d != e).mean() > 0.3


def test_unconditional_generation(unconditional):
    a = numpy(unconditional.generate(num_samples=6, seed=3))
    np.testing.assert_array_equal(a, numpy(unconditional.generate(6, seed=3)))
    assert a.shape == (6, *GRID)


def ranks_and_probabilities(model, samples, class_ids):
    """Rank of each sampled token among its logits, and the softmax, under the full pass."""
    logits = numpy(model((samples, class_ids))).reshape(len(samples), LENGTH, VOCAB)
    chosen = samples.reshape(len(samples), LENGTH)
    chosen_logits = np.take_along_axis(logits, chosen[..., None], -1)
    ranks = (logits > chosen_logits).sum(-1)
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    return (
        ranks,
        chosen_logits[..., 0],
        logits,
        probabilities / probabilities.sum(-1, keepdims=True),
    )


def test_top_k_and_top_p_restrict_the_support(conditional):
    class_ids = SAMPLE_CLASSES
    samples = numpy(conditional.generate(class_ids=class_ids, top_k=3, temperature=0.5, seed=0))
    ranks, *_ = ranks_and_probabilities(conditional, samples, class_ids)
    assert ranks.max() < 3
    assert ranks.max() > 0  # not greedy

    samples = numpy(conditional.generate(class_ids=class_ids, top_p=0.3, seed=0))
    ranks, chosen, logits, probabilities = ranks_and_probabilities(conditional, samples, class_ids)
    # Each token's more likely competitors hold < 30% of the mass (the nucleus rule).
    mass_before = np.where(logits > chosen[..., None], probabilities, 0).sum(-1)
    assert mass_before.max() < 0.3 + 1e-5
    # Temperature, top-p and guidance scale are inputs of the compiled sampler, not constants.
    compiled = len(conditional._compiled_functions.functions)
    conditional.generate(class_ids=class_ids, top_p=0.6, temperature=2.0, seed=0)
    assert len(conditional._compiled_functions.functions) == compiled
    unrestricted = numpy(conditional.generate(class_ids=class_ids, seed=0))
    unrestricted_ranks, *_ = ranks_and_probabilities(conditional, unrestricted, class_ids)
    assert unrestricted_ranks.max() > ranks.max()


def test_classifier_free_guidance_endpoints(conditional):
    class_ids = SAMPLE_CLASSES
    null = np.full(4, conditional.null_class_id, "int32")
    # scale 1: the conditional samples; scale 0: the null-class (unconditional) samples.
    np.testing.assert_array_equal(
        numpy(conditional.generate(class_ids=class_ids, guidance_scale=1.0, seed=4)),
        numpy(conditional.generate(class_ids=class_ids, seed=4)),
    )
    np.testing.assert_array_equal(
        numpy(conditional.generate(class_ids=class_ids, guidance_scale=0.0, seed=4)),
        numpy(conditional.generate(class_ids=null, seed=4)),
    )


@pytest.mark.parametrize(
    "call, error, match",
    [
        (
            lambda m: m((np.zeros((2, LENGTH + 1), "int32"), TWO)),
            ValueError,
            "at most 12",
        ),
        (
            lambda m: m((np.zeros((2, 4, 4), "int32"), TWO)),
            ValueError,
            r"\(batch, 3, 4\)",
        ),
        (
            lambda m: m((np.full((2, 3, 4), VOCAB, "int32"), TWO)),
            ValueError,
            r"\[0, 15\]",
        ),
        (
            lambda m: m((np.full((2, 3, 4), -1, "int32"), TWO)),
            ValueError,
            r"\[0, 15\]",
        ),
        (lambda m: m((np.zeros((2, 3, 4), "float32"), TWO)), TypeError, "integer"),
        (
            lambda m: m((np.zeros((2, 3, 4), "int32"), np.array([0, 4]))),
            ValueError,
            r"`class_ids` must be in \[0, 3\] \(num_classes=3: the classes 0..2 and the null "
            r"class 3\), got values in \[0, 4\]",
        ),
        (lambda m: m((np.zeros((2, 3, 4), "int32"), np.array([-1, 0]))), ValueError, r"\[0, 3\]"),
        (lambda m: m((np.zeros((2, 3, 4), "int32"), np.array([0, 1, 2]))), ValueError, "3 entries"),
        (lambda m: m(np.zeros((2, 3, 4), "int32")), ValueError, "class-conditional"),
        (lambda m: m.generate(num_samples=2), ValueError, "class-conditional"),
        (lambda m: m.generate(class_ids=[5]), ValueError, r"\[0, 3\]"),
        (lambda m: m.generate(class_ids=[0], temperature=0), ValueError, "temperature"),
        (lambda m: m.generate(class_ids=[0], top_k=0), ValueError, "top_k"),
        (lambda m: m.generate(class_ids=[0], top_k=VOCAB + 1), ValueError, "top_k"),
        (lambda m: m.generate(class_ids=[0], top_p=1.5), ValueError, "top_p"),
        (lambda m: m.generate(class_ids=[0, 1], num_samples=3), ValueError, "num_samples"),
        (lambda m: m.features(np.zeros((2, 3, 4), "int32"), block=0), ValueError, "block"),
        (lambda m: m.features(np.zeros((2, 3, 4), "int32"), block=3), ValueError, "block"),
        (lambda m: m.features(np.zeros((2, 5), "int32")), ValueError, "whole grids"),
        (
            lambda m: m.call_with_cache(np.zeros((1, 2), "int32"), m.initial_cache(1), 10),
            ValueError,
            "at most 1 tokens",
        ),
    ],
)
def test_bad_inputs_of_a_conditional_model(conditional, call, error, match):
    with pytest.raises(error, match=match):
        call(conditional)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m((np.zeros((2, 3, 4), "int32"), TWO)), "unconditional"),
        (lambda m: m.generate(num_samples=2, class_ids=[0, 1]), "unconditional"),
        (lambda m: m.generate(num_samples=2, guidance_scale=2.0), "guidance_scale"),
        (lambda m: m.generate(), "num_samples"),
        (lambda m: m.features(np.zeros((2, 3, 4), "int32"), class_ids=[0, 0]), "unconditional"),
        (lambda m: m.fit(np.zeros((2, 3, 4), "int32"), np.zeros(2, "int32")), "unconditional"),
        (lambda m: m(np.zeros((2, LENGTH + 1), "int32")), "at most 12"),
    ],
)
def test_bad_inputs_of_an_unconditional_model(unconditional, call, match):
    unconditional.compile(optimizer="adam")
    with pytest.raises(ValueError, match=match):
        call(unconditional)


def test_class_ids_in_batches_of_an_unconditional_model_fail_in_fit(unconditional, tokens):
    import tensorflow as tf

    unconditional.compile(optimizer="adam")
    pairs = tf.data.Dataset.from_tensor_slices((tokens, CLASSES)).batch(2)
    with pytest.raises(ValueError, match="unconditional"):
        unconditional.fit(pairs, epochs=1, shuffle=False, verbose=0)
    # The model keeps its weights (JAX's fit had taken them out for the steps).
    assert all(np.isfinite(w).all() for w in unconditional.get_weights())


def test_bad_constructor_args():
    with pytest.raises(ValueError, match="divisible"):
        VIM(**dict(TINY, num_heads=3))
    with pytest.raises(ValueError, match="class_dropout"):
        VIM(**TINY, class_dropout=0.1)
    with pytest.raises(ValueError, match="vocabulary_size"):
        VIM(**dict(TINY, vocabulary_size=0))
    with pytest.raises(TypeError, match="grid_size"):
        VIM(**dict(TINY, grid_size=(2, 3, 4)))
    with pytest.raises(ValueError, match="dropout"):
        VIM(**dict(TINY, dropout=1.0))


def test_features_of_every_block(tokens):
    conditional = VIM(**dict(TINY, num_layers=2), num_classes=3)
    outputs = []
    for block in range(1, conditional.num_layers + 1):
        features = numpy(conditional.features(tokens, block=block))
        assert features.shape == (4, 16) and features.dtype == np.float32
        assert np.isfinite(features).all()
        outputs.append(features)
    assert np.abs(outputs[0] - outputs[1]).max() > 1e-4
    # Default: the middle block, with the null class so the label does not leak in.
    np.testing.assert_allclose(numpy(conditional.features(tokens)), outputs[0], atol=1e-6)
    labelled = numpy(conditional.features(tokens, class_ids=np.zeros(4, "int32"), block=1))
    assert np.abs(labelled - outputs[0]).max() > 1e-6
    # The last token is part of the features (unlike the logits, which never see it).
    changed = tokens.copy()
    changed[:, -1, -1] = (changed[:, -1, -1] + 1) % VOCAB
    assert np.abs(numpy(conditional.features(changed, block=2)) - outputs[1]).max() > 1e-6
    # A list of blocks: one pass, each block's features stacked in the order asked.
    stacked = numpy(conditional.features(tokens, block=[2, 1]))
    np.testing.assert_allclose(stacked, np.stack(outputs[::-1]), atol=1e-6)
    with pytest.raises(ValueError, match="block"):
        conditional.features(tokens, block=[])


def test_features_pool_the_image_tokens_only(tokens):
    """The pooled features average the block's outputs at the h * w token positions; the
    condition (class or start) slot in front is left out."""
    conditional = VIM(**dict(TINY, num_layers=2), num_classes=3)
    classes = np.array([0, 1, 2, 0], "int32")
    backbone = conditional.backbone
    flat = ops.reshape(ops.convert_to_tensor(tokens), (4, LENGTH))
    # A class-conditional model's condition ids are its class ids.
    x = backbone.embed(flat, ops.convert_to_tensor(classes), include_last=True)
    x = numpy(backbone.blocks[0](x, training=False))
    assert x.shape == (4, 1 + LENGTH, TINY["hidden_dim"])
    features = numpy(conditional.features(tokens, classes, block=1))
    np.testing.assert_allclose(features, x[:, 1:].mean(1), atol=1e-5)
    # The check can fail: with the condition slot the average is another one.
    assert np.abs(features - x.mean(1)).max() > 1e-4


def test_config_and_saving_round_trips(tokens, tmp_path, monkeypatch):
    model = VIM(**TINY, num_classes=3, class_dropout=0.25)
    inputs = (tokens, CLASSES)
    expected = numpy(model(inputs))
    clone = VIM.from_config(model.get_config())
    assert clone.get_config() == model.get_config() and clone.class_dropout == 0.25
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(numpy(clone(inputs)), expected, atol=1e-6)

    # Optimizer state to save, without compiling a training step.
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(7)
    for variable in model.optimizer.variables[2:]:
        variable.assign(np.random.default_rng(0).random(variable.shape).astype("float32"))
    path = str(tmp_path / "vim.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, VIM) and loaded.num_classes == 3 and loaded.grid_size == GRID
    np.testing.assert_allclose(numpy(loaded(inputs)), expected, atol=1e-6)
    assert loaded.compiled and int(loaded.optimizer.iterations) == 7
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_allclose(numpy(a), numpy(b))

    weights = str(tmp_path / "vim.weights.h5")
    model.save_weights(weights)
    fresh = VIM(**TINY, num_classes=3)
    fresh.load_weights(weights)
    np.testing.assert_allclose(numpy(fresh(inputs)), expected, atol=1e-6)

    written = []
    save_weights_only = preset_mixin.saving_lib.save_weights_only

    def counted(target, path, **kwargs):
        written.append((target, os.path.basename(path)))
        return save_weights_only(target, path, **kwargs)

    monkeypatch.setattr(preset_mixin.saving_lib, "save_weights_only", counted)
    model.save_to_preset(str(tmp_path / "preset"))
    monkeypatch.undo()
    # One weights file, written once, holding the backbone (keras-hub's task layout).
    assert written == [(model.backbone, "model.weights.h5")]
    preset = VIM.from_preset(str(tmp_path / "preset"))
    np.testing.assert_allclose(numpy(preset(inputs)), expected, atol=1e-6)


def test_presets():
    assert set(VIM.presets()) >= {"vim_base", "vim_large", "vim_tiny"}
    base, large = VIM_PRESETS["vim_base"]["config"], VIM_PRESETS["vim_large"]["config"]
    paper = {"num_layers": 24, "num_heads": 16, "hidden_dim": 1536, "mlp_dim": 6144}
    assert {k: base[k] for k in paper} == paper
    paper = {"num_layers": 36, "num_heads": 32, "hidden_dim": 2048, "mlp_dim": 8192}
    assert {k: large[k] for k in paper} == paper
    for config in (base, large):
        assert (config["vocabulary_size"], config["grid_size"]) == (8192, 32)
        assert config["num_classes"] == 1000 and config["dropout"] == 0.1
    assert "random weights" in VIM.presets()["vim_base"]
    tiny = VIM.from_preset("vim_tiny", num_layers=1)
    assert tiny.grid_size == (8, 8) and tiny.vocabulary_size == 512 and tiny.num_classes == 10
    assert len(tiny.backbone.blocks) == 1


@pytest.fixture(scope="module")
def real_tokens():
    """Tokens of 96 shipped Fashion-MNIST images through the micro tokenizer (16x16, 4x4 ids)."""
    images, labels = load_fashion_mnist("train", source="subset")
    images = images[:96].astype("float32") / 255.0
    images = images.reshape(96, 16, 2, 16, 2).mean(axis=(2, 4))[..., None]
    tokenizer = VitVQGAN.from_preset(FIXTURE)
    ids, labels = tokenize_dataset(tokenizer, images, labels=labels[:96], verbose=False)
    return tokenizer, ids, labels


def test_fit_lowers_the_loss_on_real_tokens(real_tokens):
    tokenizer, ids, labels = real_tokens
    assert ids.shape == (96, 4, 4) and len(np.unique(ids)) > 3
    model = VIM(**dict(TINY, vocabulary_size=32, grid_size=4), num_classes=10)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    # The recipe's input: a tf.data dataset of (tokens, class_ids) pairs.
    dataset = token_dataset(ids, labels, batch_size=32, seed=0, drop_remainder=True)
    history = model.fit(dataset, epochs=8, shuffle=False, verbose=0).history
    assert set(history) == {"loss", "accuracy", "bits_per_token"}
    assert history["loss"][-1] < history["loss"][0] - 0.5
    assert history["accuracy"][-1] > history["accuracy"][0]
    # Bits per token is the cross-entropy in base 2 (no other losses, no dropout).
    np.testing.assert_allclose(
        np.array(history["bits_per_token"]), np.array(history["loss"]) / math.log(2), rtol=1e-4
    )

    images = numpy(model.generate_images(tokenizer, class_ids=1, num_samples=3, seed=0))
    assert images.shape == (3, 16, 16, 1)
    assert 0 <= images.min() and images.max() <= 1


def test_moving_average_weights_evaluate_save_and_load(real_tokens, tmp_path):
    # The recipe's --ema-momentum: fit leaves the average in the model, which then evaluates,
    # samples and saves (on JAX the average once shared its buffer with the weights).
    _, ids, labels = real_tokens
    model = VIM(**dict(TINY, vocabulary_size=32, grid_size=4), num_classes=10)
    model.compile(optimizer=vim_optimizer(total_steps=6, warmup_steps=1, ema_momentum=0.9))
    dataset = token_dataset(ids, labels, batch_size=32, seed=0, drop_remainder=True)
    model.fit(dataset, epochs=2, shuffle=False, verbose=0)
    average = [numpy(v).copy() for v in model.optimizer._model_variables_moving_average]
    assert all(np.array_equal(numpy(v), a) for v, a in zip(model.trainable_variables, average))
    logs = model.evaluate(dataset, verbose=0, return_dict=True)
    tokens = numpy(model.generate(class_ids=[1], seed=0))
    path = str(tmp_path / "vim.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    for want, got in zip(average, loaded.trainable_variables):
        np.testing.assert_array_equal(numpy(got), want)
    assert loaded.evaluate(dataset, verbose=0, return_dict=True) == pytest.approx(logs, rel=1e-5)
    np.testing.assert_array_equal(numpy(loaded.generate(class_ids=[1], seed=0)), tokens)


def test_generate_images_checks_the_tokenizer(real_tokens, conditional):
    with pytest.raises(ValueError, match="grid"):
        conditional.generate_images(real_tokens[0], class_ids=[0])
    model = VIM(**dict(TINY, grid_size=4), num_classes=3)
    with pytest.raises(ValueError, match="32 codes"):
        model.generate_images(real_tokens[0], class_ids=[0])


def test_batches_of_pairs_and_dicts_become_model_inputs(conditional, tokens):
    expected = numpy(conditional((tokens, CLASSES)))
    for batch in [
        (tokens, CLASSES),
        ({"tokens": tokens}, CLASSES),
        {"tokens": tokens, "class_ids": CLASSES},
    ]:
        (inputs,) = conditional._as_model_inputs(batch)
        assert set(inputs) == {"tokens", "class_ids"}
        np.testing.assert_allclose(numpy(conditional(inputs)), expected, atol=1e-6)
    with pytest.raises(ValueError, match="both"):
        conditional._as_model_inputs(({"tokens": tokens, "class_ids": CLASSES}, CLASSES))
    with pytest.raises(ValueError, match="sample_weight"):
        conditional._as_model_inputs((tokens, CLASSES, np.ones(4)))
    with pytest.raises(ValueError, match="Dict inputs"):
        conditional({"tokens": tokens, "labels": CLASSES})


def test_default_optimizer_is_the_papers():
    model = VIM(**TINY)
    model.compile()
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert (model.optimizer.beta_1, model.optimizer.beta_2) == (0.9, 0.96)
    with pytest.raises(ValueError, match="loss"):
        model.compile(loss="mse")


def test_mixed_bfloat16(tokens):
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = VIM(**TINY, num_classes=3, class_dropout=0.1)
    logits = numpy(model((tokens, CLASSES)))
    assert logits.dtype == np.float32 and np.isfinite(logits).all()
    keys, values = model.initial_cache(1)[0]
    assert {keras.backend.standardize_dtype(t.dtype) for t in (keys, values)} == {"bfloat16"}
    samples = numpy(model.generate(class_ids=[0, 1], guidance_scale=2.0, top_p=0.9, seed=0))
    assert samples.shape == (2, *GRID) and samples.max() < VOCAB
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    history = model.fit(tokens, CLASSES, batch_size=4, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


# --- bad values in datasets, generators and PyDatasets (issue 16) ---------------------------


class _Batches(keras.utils.PyDataset):
    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]


def _bad_sources(tokens, bad_tokens, bad_classes):
    """One bad batch, first, in each kind of input Keras takes batch by batch."""
    import tensorflow as tf

    classes = np.array([0, 1, 2, 0], "int32")

    def generator():
        yield tokens, bad_classes
        yield tokens, classes

    return {
        "token_dataset": token_dataset(bad_tokens, classes, batch_size=4, shuffle=False),
        "tf.data dict": tf.data.Dataset.from_tensor_slices(
            {"tokens": bad_tokens, "class_ids": classes}
        ).batch(4),
        "generator": generator(),
        "PyDataset": _Batches([(bad_tokens, classes), (tokens, classes)]),
    }


TOKENS_MESSAGE = r"`tokens` must be in \[0, 15\] \(vocabulary_size=16\), got values in \[0, 16\]"
CLASSES_MESSAGE = r"`class_ids` must be in \[0, 3\] .*null class 3\), got values in \[0, 7\]"


def test_a_bad_id_in_any_input_raises_and_leaves_the_weights(tokens):
    """One token id >= vocabulary_size (or class id above the null class) in a dataset turned
    every weight into NaN on JAX; each input kind now raises before the step."""
    model = VIM(**TINY, num_classes=3)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    bad_tokens = tokens.copy()
    bad_tokens[1, 2, 3] = VOCAB
    bad_classes = np.array([0, 7, 1, 2], "int32")
    before = [np.array(w) for w in model.get_weights()]
    sources = _bad_sources(tokens, bad_tokens, bad_classes)
    for name, source in sources.items():
        message = CLASSES_MESSAGE if name == "generator" else TOKENS_MESSAGE
        with pytest.raises(ValueError, match=message):
            model.fit(source, epochs=1, verbose=0)
        for a, b in zip(before, model.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    for method in (model.evaluate, model.predict):
        with pytest.raises(ValueError, match=TOKENS_MESSAGE):
            method(token_dataset(bad_tokens, CLASSES, batch_size=2, shuffle=False), verbose=0)
    with pytest.raises(ValueError, match=TOKENS_MESSAGE):
        model.predict((bad_tokens, CLASSES), verbose=0)
    with pytest.raises(ValueError, match=TOKENS_MESSAGE):
        model.fit(tokens, CLASSES, validation_data=(bad_tokens, CLASSES), verbose=0)
    with pytest.raises(ValueError, match=TOKENS_MESSAGE):
        model.train_on_batch(bad_tokens, CLASSES)

    # A bad second batch: the first one trained, the weights stay finite, and the model
    # goes on training on clean data.
    ids = np.concatenate([tokens, bad_tokens])
    labels = np.concatenate([CLASSES, CLASSES])
    with pytest.raises(ValueError, match=TOKENS_MESSAGE):
        model.fit(token_dataset(ids, labels, batch_size=4, shuffle=False), epochs=1, verbose=0)
    after = model.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    history = model.fit(token_dataset(tokens, CLASSES, batch_size=4), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert model.predict(token_dataset(tokens, CLASSES, batch_size=4), verbose=0).shape == (
        4,
        *GRID,
        VOCAB,
    )


def test_numpy_scalars_are_accepted(conditional, unconditional):
    python = numpy(conditional.generate(class_ids=SAMPLE_CLASSES, top_k=3, temperature=0.5, seed=0))
    scalars = conditional.generate(
        class_ids=SAMPLE_CLASSES, top_k=np.int64(3), temperature=np.float32(0.5), seed=np.int64(0)
    )
    np.testing.assert_array_equal(numpy(scalars), python)
    one_class = conditional.generate(class_ids=np.int64(1), num_samples=np.int32(2), seed=3)
    assert tuple(one_class.shape) == (2, *GRID)
    guided = conditional.generate(class_ids=TWO, guidance_scale=np.float64(1.0), seed=4)
    np.testing.assert_array_equal(numpy(guided), numpy(conditional.generate(TWO.size, TWO, seed=4)))
    np.testing.assert_array_equal(
        numpy(unconditional.generate(num_samples=np.int64(6), seed=np.int64(3))),
        numpy(unconditional.generate(num_samples=6, seed=3)),
    )
    model = VIM(
        **dict(TINY, vocabulary_size=np.int64(VOCAB)), num_classes=np.int64(3), seed=np.int64(2)
    )
    assert model.get_config()["seed"] == 2 and type(model.num_classes) is int
    flat = np.zeros((1, LENGTH), "int32")
    logits, _ = conditional.call_with_cache(
        flat[:, 2:3], conditional.start_cache(class_ids=[0])[1], np.int64(2)
    )
    assert tuple(logits.shape) == (1, 1, VOCAB)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"class_ids": 3.0}, TypeError, r"`class_ids` must be an int or an integer array"),
        ({"class_ids": "3"}, TypeError, r"`class_ids` must be an int or an integer array"),
        ({"class_ids": np.float32(3)}, TypeError, r"`class_ids` must be integers"),
        ({"class_ids": [0], "temperature": 0}, ValueError, r"`temperature` must be .* > 0, got 0"),
        ({"class_ids": [0], "temperature": True}, TypeError, r"`temperature` must be"),
        ({"class_ids": [0], "top_k": np.int64(0)}, ValueError, r"`top_k` .*\[1, 16\], got 0"),
        ({"class_ids": [0], "seed": -1}, ValueError, r"`seed` must be None or an integer >= 0"),
        ({"class_ids": [0], "seed": 1.5}, TypeError, r"`seed` must be None or an integer"),
        (
            {"class_ids": [0], "guidance_scale": float("nan")},
            ValueError,
            r"`guidance_scale` must be None or a finite real number",
        ),
    ],
)
def test_bad_generate_args_name_the_argument(conditional, kwargs, error, match):
    with pytest.raises(error, match=match):
        conditional.generate(**kwargs)


def test_guidance_needs_a_model_trained_with_class_dropout():
    model = VIM(**TINY, num_classes=3)  # class_dropout=0: the null class never trains
    with pytest.raises(ValueError, match=r"`guidance_scale` needs .*`class_dropout` > 0"):
        model.generate(class_ids=[0, 1], guidance_scale=2.0)


def test_cache_index_out_of_range_blames_cache_index(conditional):
    _, cache = conditional.start_cache(class_ids=[0])
    for index in (LENGTH - 1, 63, -1):
        with pytest.raises(ValueError, match=r"`cache_index` must be an integer in \[0, 10\]"):
            conditional.call_with_cache(np.zeros((1, 1), "int32"), cache, index)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"vocabulary_size": True}, TypeError, r"`vocabulary_size` must be an integer >= 2"),
        ({"num_layers": 0}, ValueError, r"`num_layers` must be an integer >= 1, got 0"),
        ({"dropout": -0.1}, ValueError, r"`dropout` must be a finite real number in \[0, 1\)"),
        ({"num_classes": 2.0}, TypeError, r"`num_classes` must be None or an integer >= 1"),
        ({"seed": -3}, ValueError, r"`seed` must be None or an integer >= 0, got -3"),
        ({"layer_norm_epsilon": 0}, ValueError, r"`layer_norm_epsilon` must be .* > 0"),
    ],
)
def test_bad_constructor_scalars(kwargs, error, match):
    with pytest.raises(error, match=match):
        VIM(**dict(TINY, **kwargs))


def test_nested_lists_are_token_ids(conditional, tokens):
    np.testing.assert_allclose(
        numpy(conditional.features(tokens.tolist(), CLASSES.tolist())),
        numpy(conditional.features(tokens, CLASSES)),
        atol=1e-6,
    )


def test_a_dataset_of_the_wrong_grid_fails_before_tracing(conditional):
    """TensorFlow traces its step from the dataset's spec before reading a batch."""
    import tensorflow as tf

    conditional.compile(optimizer="adam")
    pairs = tf.data.Dataset.from_tensor_slices((np.zeros((4, 4, 4), "int32"), np.zeros(4, "int32")))
    with pytest.raises(ValueError, match=r"`tokens` of rank 3 must have shape \(batch, 3, 4\)"):
        conditional.fit(pairs.batch(2), epochs=1, verbose=0)
    floats = tf.data.Dataset.from_tensor_slices(np.zeros((4, 3, 4), "float32")).batch(2)
    with pytest.raises(TypeError, match=r"`tokens` must be an integer array"):
        conditional.predict(floats, verbose=0)
