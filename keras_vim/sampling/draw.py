"""Drawing tokens from logits with an explicit seed tensor, inside or outside compiled loops."""

import math

import keras
from keras import ops


def seed_for_step(base_seed, step, seed_generator):
    """The seed state `[base_seed[0], base_seed[1] + step]` in `seed_generator`'s dtype.

    Each generation step gets its own seed, derived from the base seed alone, so equal base
    seeds give equal samples and the loop needs no random state in its carry.
    """
    dtype = seed_generator.state.dtype
    step = ops.cast(ops.convert_to_tensor(step), dtype)
    zero = ops.zeros((), dtype)
    return ops.cast(base_seed, dtype) + ops.stack([zero, step])


def draw_tokens(logits, seed, seed_generator):
    """One token id per row of `logits` `(B, V)`, drawn from `softmax(logits)` with `seed`.

    `keras.random` takes seeds as ints or `SeedGenerator`s; a traced seed tensor goes in by
    mapping `seed_generator`'s state to it in a `StatelessScope` (the generator itself is
    left unchanged). Entries with logit `-inf` are never drawn.
    """
    with keras.StatelessScope(state_mapping=[(seed_generator.state, seed)]):
        if keras.backend.backend() == "jax":
            uniform = keras.random.uniform((logits.shape[0], 1), seed=seed_generator)
            return _inverse_cdf_draw(logits, uniform)
        tokens = keras.random.categorical(logits, 1, dtype="int32", seed=seed_generator)
    return tokens[:, 0]


def _inverse_cdf_draw(logits, uniform):
    """Inverse-CDF sampling in two levels: a block of about sqrt(V) entries by the blocks'
    cumulative mass, then an entry of that block by its own cumulative mass.

    JAX's `categorical` (Gumbel-max) draws V random numbers per row and takes an argmax, which
    on XLA:CPU costs ~1.2 ms for 8 x 8192 logits, ~5% of a VIM sampling step; this needs one
    number per row and short cumulative sums (~0.3 ms).

    An entry of zero probability (a logit of `-inf`, e.g. removed by top-k or top-p) is never
    drawn: the mass before the chosen block is read from an exclusive cumulative sum, so the
    in-block target is never negative (`cumulative - block_mass` recomputed in float32 can
    exceed the previous cumulative by one ulp), and each level picks only entries of positive
    mass.
    """
    probabilities = ops.softmax(ops.cast(logits, "float32"), axis=-1)
    batch, vocabulary = probabilities.shape
    width = math.isqrt(vocabulary - 1) + 1
    num_blocks = -(-vocabulary // width)
    probabilities = ops.pad(probabilities, [[0, 0], [0, num_blocks * width - vocabulary]])
    blocks = ops.reshape(probabilities, (-1, num_blocks, width))
    block_mass = ops.sum(blocks, axis=-1)
    cumulative = ops.cumsum(block_mass, axis=-1)
    target = uniform * cumulative[:, -1:]
    block = _first_exceeding(cumulative, target, block_mass)
    # The blocks' cumulative sum shifted by one: exactly the sum the block search compared with.
    exclusive = ops.pad(cumulative[:, :-1], [[0, 0], [1, 0]])
    mass_before = ops.take_along_axis(exclusive, block[:, None], axis=-1)
    entries = ops.take_along_axis(blocks, block[:, None, None], axis=1)[:, 0]
    entry = _first_exceeding(ops.cumsum(entries, axis=-1), target - mass_before, entries)
    return block * width + entry


def _first_exceeding(cumulative, target, masses):
    """Per row, the first index of positive mass whose cumulative mass exceeds `target`; the
    last index of positive mass when rounding left none."""
    positions = ops.arange(masses.shape[-1], dtype="int32")
    positive = masses > 0
    last_positive = ops.max(ops.where(positive, positions, 0), axis=-1, keepdims=True)
    eligible = ops.logical_and(cumulative > target, positive)
    return ops.min(ops.where(eligible, positions, last_positive), axis=-1)
