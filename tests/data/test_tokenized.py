import os

import numpy as np
import pytest
from keras import ops

from keras_vim.data import token_dataset, tokenize_dataset, tokenize_on_the_fly
from keras_vim.data.tokenized import tokenizer_fingerprint
from keras_vim.models import VitVQGAN

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "micro_vqgan")


@pytest.fixture(scope="module")
def tokenizer():
    return VitVQGAN.from_preset(FIXTURE)


@pytest.fixture
def images(rng):
    return rng.random((10, 16, 16, 1)).astype("float32")


def test_ids_equal_encode_and_batches_do_not_matter(tokenizer, images):
    labels = np.arange(10) % 3
    ids, got_labels = tokenize_dataset(tokenizer, images, labels=labels, batch_size=4)
    assert ids.shape == (10, 4, 4) and ids.dtype == np.int32
    np.testing.assert_array_equal(ids, ops.convert_to_numpy(tokenizer.encode(images)))
    np.testing.assert_array_equal(got_labels, labels)
    # The fixture's ids, recorded when it was made.
    expected = np.load(os.path.join(FIXTURE, "images.npy"))
    fixture_ids, none = tokenize_dataset(tokenizer, expected, verbose=False)
    assert none is None
    import json

    with open(os.path.join(FIXTURE, "expected.json")) as f:
        np.testing.assert_array_equal(fixture_ids, json.load(f)["ids"])


def test_tf_datasets_with_and_without_labels(tokenizer, images):
    import tensorflow as tf

    labels = np.arange(10, dtype="int32")
    pairs = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    ids, got = tokenize_dataset(tokenizer, pairs, verbose=False)
    np.testing.assert_array_equal(got, labels)
    alone, none = tokenize_dataset(
        tokenizer, tf.data.Dataset.from_tensor_slices(images).batch(4), verbose=False
    )
    assert none is None
    np.testing.assert_array_equal(ids, alone)


def test_cache_is_reused_and_rebuilt_when_stale(tokenizer, images, tmp_path, capsys):
    path = str(tmp_path / "tokens.npz")
    ids, labels = tokenize_dataset(tokenizer, images, path, labels=np.zeros(10, "int32"), key="a")
    assert os.path.exists(path) and "cached" in capsys.readouterr().out
    again, again_labels = tokenize_dataset(tokenizer, images[::-1], path, key="a")
    # Loaded, not recomputed: the reversed images were never encoded.
    assert "loaded 10" in capsys.readouterr().out
    np.testing.assert_array_equal(again, ids)
    np.testing.assert_array_equal(again_labels, labels)
    # Another data key, or another tokenizer, rebuilds the cache.
    tokenize_dataset(tokenizer, images[::-1], path, key="b")
    assert "other data" in capsys.readouterr().out
    other = VitVQGAN.from_preset(FIXTURE)
    weights = other.get_weights()
    other.set_weights([w + 0.5 for w in weights])
    assert tokenizer_fingerprint(other) != tokenizer_fingerprint(tokenizer)
    rebuilt, _ = tokenize_dataset(other, images, path, key="b")
    assert "different tokenizer" in capsys.readouterr().out
    np.testing.assert_array_equal(rebuilt, ops.convert_to_numpy(other.encode(images)))
    # A corrupt file is rebuilt too.
    with open(path, "wb") as f:
        f.write(b"not a zip")
    tokenize_dataset(tokenizer, images, path, key="b")
    assert "cannot be read" in capsys.readouterr().out


def test_token_dataset_and_on_the_fly_tokens(tokenizer, images):
    import tensorflow as tf

    ids = np.arange(5 * 16).reshape(5, 4, 4) % 32
    batches = list(token_dataset(ids, np.arange(5), batch_size=2, shuffle=False))
    assert [tuple(b[0].shape) for b in batches] == [(2, 4, 4), (2, 4, 4), (1, 4, 4)]
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), ids)
    shuffled = next(iter(token_dataset(ids, batch_size=5, seed=1)))
    assert sorted(np.asarray(shuffled)[:, 0, 0].tolist()) == sorted(ids[:, 0, 0].tolist())

    pairs = tf.data.Dataset.from_tensor_slices((images, np.arange(10))).batch(4)
    streamed = list(tokenize_on_the_fly(tokenizer, pairs))
    assert len(streamed) == 3
    np.testing.assert_array_equal(
        np.concatenate([s[0] for s in streamed]), tokenize_dataset(tokenizer, images)[0]
    )


def test_unlabelled_tokens_on_the_fly_train_a_vim(tokenizer, images):
    """Unlabelled batches come as 1-tuples (a bare array from a generator is refused by
    `fit`), and `VIM.fit` trains on them."""
    import keras
    import tensorflow as tf

    from keras_vim.models import VIM

    batches = tf.data.Dataset.from_tensor_slices(images).batch(5)
    streamed = list(tokenize_on_the_fly(tokenizer, batches))
    assert [len(element) for element in streamed] == [1, 1]
    np.testing.assert_array_equal(
        np.concatenate([s[0] for s in streamed]), tokenize_dataset(tokenizer, images)[0]
    )
    prior = VIM(
        vocabulary_size=tokenizer.num_codes,
        grid_size=tuple(tokenizer.grid_size),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
        dropout=0.0,
    )
    prior.compile(optimizer=keras.optimizers.Adam(1e-2))
    before = [np.array(w) for w in prior.get_weights()]
    history = prior.fit(
        tokenize_on_the_fly(tokenizer, batches.repeat()), steps_per_epoch=2, verbose=0
    )
    assert np.isfinite(history.history["loss"]).all()
    assert any(np.abs(a - np.array(b)).max() > 0 for a, b in zip(before, prior.get_weights()))


def test_bad_inputs(tokenizer, images):
    with pytest.raises(ValueError, match="labels"):
        tokenize_dataset(tokenizer, images, labels=np.zeros(3))
    with pytest.raises(ValueError, match="no images"):
        tokenize_dataset(tokenizer, [])
    with pytest.raises(ValueError, match="channel"):
        tokenize_dataset(tokenizer, np.zeros((2, 16, 16, 3), "float32"))
    with pytest.raises(ValueError, match="ids"):
        token_dataset(np.zeros((2, 16)))


@pytest.mark.parametrize(
    "images, match",
    [
        (np.full((2, 16, 16, 1), 255.0, "float32"), r"Float `images` must be in \[0, 1\]"),
        (np.full((2, 16, 16, 1), -1.0, "float32"), r"Float `images` must be in \[0, 1\]"),
        (np.full((2, 16, 16, 1), np.nan, "float32"), r"finite values in \[0, 1\], got NaN"),
        (np.full((2, 16, 16, 1), np.inf, "float32"), r"finite values in \[0, 1\]"),
    ],
)
def test_bad_pixel_values_are_refused(tokenizer, images, match):
    """Floats in [0, 255], negative floats, NaN and inf encoded to wrong ids silently."""
    import tensorflow as tf

    with pytest.raises(ValueError, match=match):
        tokenize_dataset(tokenizer, images, verbose=False)
    with pytest.raises(ValueError, match=match):
        tokenize_dataset(tokenizer, tf.data.Dataset.from_tensor_slices(images).batch(2))
    with pytest.raises(ValueError, match=match):
        next(tokenize_on_the_fly(tokenizer, [images]))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"ids": np.full((2, 4, 4), -1)}, ValueError, r"`ids` must be integers >= 0, got values"),
        ({"ids": np.zeros((2, 4, 4), "float32")}, TypeError, r"`ids` must be integers, got dtype"),
        ({"labels": np.array([0.0, 1.0])}, TypeError, r"`labels` must be integer class ids"),
        ({"labels": np.array([0, -2])}, ValueError, r"`labels` must be integers >= 0"),
        ({"batch_size": 0}, ValueError, r"`batch_size` must be an integer >= 1, got 0"),
        ({"batch_size": 2.0}, TypeError, r"`batch_size` must be an integer >= 1"),
        ({"seed": "0"}, TypeError, r"`seed` must be None or an integer"),
    ],
)
def test_bad_token_dataset_args(kwargs, error, match):
    arguments = {"ids": np.zeros((2, 4, 4), "int32"), "labels": np.array([0, 1]), **kwargs}
    with pytest.raises(error, match=match):
        token_dataset(**arguments)


def test_token_dataset_takes_numpy_integers():
    ids = np.zeros((4, 4, 4), "int32")
    batches = list(token_dataset(ids, batch_size=np.int64(2), seed=np.int32(3)))
    assert [tuple(b.shape) for b in batches] == [(2, 4, 4), (2, 4, 4)]


def test_float_labels_are_refused_by_tokenize_dataset(tokenizer, images):
    with pytest.raises(TypeError, match=r"`labels` must be integer class ids"):
        tokenize_dataset(tokenizer, images, labels=np.linspace(0, 1, 10), verbose=False)
    with pytest.raises(ValueError, match=r"`batch_size` must be an integer >= 1, got 0"):
        tokenize_dataset(tokenizer, images, batch_size=0, verbose=False)
