"""Sampler objects: the loop they own, driven by a `next` function that is no model."""

import numpy as np
import pytest
from keras import ops

from keras_vim import sampling
from keras_vim.sampling import GreedySampler, Sampler

VOCAB = 7


def one_hot_logits(tokens):
    """Logits `(R, V)` that make `tokens` the most likely, by a wide margin."""
    return 20.0 * ops.one_hot(ops.cast(tokens, "int32"), VOCAB)


def counting_next(seen_rows):
    """A `next` whose most likely token is the previous token plus the index."""

    def next(token_ids, cache, index):
        seen_rows.append(token_ids.shape[0])
        return one_hot_logits((token_ids + index) % VOCAB), cache + 1

    return next


def test_greedy_loop_feeds_each_token_back():
    rows = []
    first = one_hot_logits(np.array([1, 4]))
    sampler = GreedySampler()
    tokens = sampler(counting_next(rows), first, ops.zeros(()), 5, sampler.seed_tensor(0))
    # token i = token (i - 1) + i: 1, 2, 4, 7 % 7 = 0, 4 and 4, 5, 0, 3, 0.
    np.testing.assert_array_equal(ops.convert_to_numpy(tokens), [[1, 2, 4, 0, 4], [4, 5, 0, 3, 0]])
    assert set(rows) == {2}


def test_guided_loop_sends_conditional_then_unconditional_rows():
    rows = []
    # Scale 0 gives the unconditional rows' choice: token 3 then the counting rule.
    first = ops.concatenate([one_hot_logits(np.array([1])), one_hot_logits(np.array([3]))])
    sampler = GreedySampler(guidance_scale=0.0)
    tokens = sampler(counting_next(rows), first, ops.zeros(()), 3, sampler.seed_tensor(0))
    np.testing.assert_array_equal(ops.convert_to_numpy(tokens), [[3, 4, 6]])
    assert set(rows) == {2}


def draw_with(sampler, logits, seed):
    settings, seed = sampler.settings(), sampler.seed_tensor(seed)
    return ops.convert_to_numpy(sampler.next_token(logits, settings, seed, 0))


def test_random_draws_follow_the_seed_and_the_filters():
    logits = ops.convert_to_tensor(np.log(np.full((64, VOCAB), 1.0 / VOCAB, "float32")))
    sampler = Sampler(top_k=2)
    np.testing.assert_array_equal(
        draw_with(sampler, logits, 3), draw_with(Sampler(top_k=2), logits, 3)
    )
    assert not np.array_equal(draw_with(sampler, logits, 3), draw_with(sampler, logits, 4))
    # Ties at the k-th value are all kept: every entry ties here, so all may be drawn.
    peaked = ops.convert_to_tensor(np.tile(np.arange(VOCAB, dtype="float32"), (64, 1)))
    tokens = ops.convert_to_numpy(
        sampler.next_token(peaked, sampler.settings(), sampler.seed_tensor(0), 0)
    )
    assert set(tokens.tolist()) <= {VOCAB - 1, VOCAB - 2} and len(set(tokens.tolist())) == 2


def test_value_settings_share_a_compile_key():
    assert Sampler(temperature=0.5, top_p=0.9).compile_key() == Sampler(top_p=0.3).compile_key()
    assert Sampler(top_k=3).compile_key() != Sampler(top_k=4).compile_key()
    assert Sampler().compile_key() != GreedySampler().compile_key()
    settings = ops.convert_to_numpy(Sampler(temperature=0.5, guidance_scale=3.0).settings())
    np.testing.assert_allclose(settings, [0.5, 1.0, 3.0])


def test_get_serialize_and_with_settings():
    assert type(sampling.get(None)) is Sampler and type(sampling.get("greedy")) is GreedySampler
    sampler = Sampler(temperature=0.7, top_k=5, guidance_scale=1.5)
    assert sampling.get(sampler) is sampler
    restored = sampling.get(sampling.serialize(sampler))
    assert type(restored) is Sampler and restored.get_config() == sampler.get_config()
    changed = sampler.with_settings(top_p=0.8)
    assert changed.get_config() == {**sampler.get_config(), "top_p": 0.8}
    with pytest.raises(ValueError, match="Unknown sampler 'beam'"):
        sampling.get("beam")
    with pytest.raises(TypeError, match="`sampler` must be"):
        sampling.get(3)
    with pytest.raises(TypeError, match="GreedySampler takes no `top_k`"):
        GreedySampler().with_settings(top_k=2)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"temperature": 0}, ValueError, r"`temperature` must be .* > 0"),
        ({"top_k": 0}, ValueError, r"`top_k` must be None or an integer >= 1"),
        ({"top_p": 0.0}, ValueError, r"`top_p`"),
        ({"guidance_scale": "2"}, TypeError, r"`guidance_scale`"),
    ],
)
def test_bad_settings_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        Sampler(**kwargs)
    with pytest.raises(ValueError, match=r"`top_k` must be None or an integer in \[1, 7\]"):
        Sampler(top_k=8).check_vocabulary(VOCAB)
