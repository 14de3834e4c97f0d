"""Drawing tokens from logits with an explicit seed tensor, inside or outside compiled loops."""

import keras
from keras import ops

from keras_vim.backend_ops import draw_categorical


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
        return draw_categorical(logits, seed_generator)
