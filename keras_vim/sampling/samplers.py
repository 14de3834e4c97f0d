"""Sampler objects: they own the token-by-token decode loop of an autoregressive prior.

A sampler knows nothing of the model. The model runs the condition slot into its key/value
cache and hands the sampler the first logits, the cache and a `next(token_ids, cache, index)`
function; the sampler draws each token and feeds it back (keras-hub's sampler design). Its
settings (temperature, top-k, top-p, classifier-free guidance) are what a caller chooses per
`generate` call or once with `VIM.compile(sampler=...)`.

The loop is `keras.ops.fori_loop`, so it compiles with the function that calls it. Settings
that only change values (temperature, top-p, the guidance scale) enter as one tensor
(`sampler.settings()`), so a compiled loop serves every value; `compile_key()` names what is
baked in (the class, `top_k`, whether top-p and guidance are used).
"""

import keras
from keras import ops

from keras_vim.sampling.draw import draw_tokens, seed_for_step
from keras_vim.sampling.filters import (
    check_sampling_args,
    classifier_free_guidance,
    filter_logits,
)
from keras_vim.utils.checks import check_integer, check_real


@keras.saving.register_keras_serializable(package="keras_vim")
class Sampler:
    """Draws each token from the filtered softmax of the logits, with a seed per step.

    Args:
        temperature: logits are divided by it (> 0; the paper samples at 1.0).
        top_k: keep only the `top_k` most likely codes (`keras_vim.sampling.top_k_filter`).
        top_p: nucleus sampling (`keras_vim.sampling.top_p_filter`), after top-k.
        guidance_scale: classifier-free guidance `uncond + s * (cond - uncond)` (Ho &
            Salimans, 2022), for class-conditional priors trained with class dropout; None
            disables it. With guidance the rows `next` receives and returns are twice the
            batch: the conditional rows, then the unconditional ones.

    Call arguments:
        next: `next(token_ids, cache, index) -> (logits, cache)`: feeds the tokens `(R,)` at
            position `index - 1` and returns the logits `(R, V)` of the token at `index`.
        logits: the logits `(R, V)` of token 0 (from the condition slot).
        cache: the cache after the condition slot; threaded through `next` untouched.
        num_tokens: tokens per sample (an int).
        seed: the base seed `[s, 0]` (`seed_tensor(s)`); step `i` draws with `[s, i]`.
        settings: optional `settings()` tensor of a sampler with the same `compile_key()`
            (lets one compiled loop serve every temperature, top-p and scale).

    Returns the int32 tokens `(B, num_tokens)`.

    Example:
    >>> sampler = keras_vim.sampling.Sampler(temperature=0.9, top_k=100)
    >>> prior.compile(sampler=sampler)  # or prior.generate(..., top_k=100, temperature=0.9)
    """

    def __init__(self, temperature=1.0, top_k=None, top_p=None, guidance_scale=None):
        self.temperature, self.top_k, self.top_p = check_sampling_args(
            None, temperature, top_k, top_p
        )
        self.guidance_scale = check_real("guidance_scale", guidance_scale, allow_none=True)
        # Only a vehicle for the per-step seeds (see `draw_tokens`); its state is never used.
        self._seed_generator = keras.random.SeedGenerator(0)

    @property
    def guided(self):
        return self.guidance_scale is not None

    def check_vocabulary(self, vocabulary_size):
        """Checks the settings against a prior's `vocabulary_size` (`top_k` must fit)."""
        check_integer("top_k", self.top_k, minimum=1, maximum=vocabulary_size, allow_none=True)

    def compile_key(self):
        """What a compiled loop bakes in: equal keys can share one."""
        return (type(self).__name__, self.top_k, self.top_p is not None, self.guided)

    def settings(self):
        """The value settings as one float32 tensor: temperature, top-p, guidance scale."""
        top_p = 1.0 if self.top_p is None else self.top_p
        scale = 1.0 if self.guidance_scale is None else self.guidance_scale
        return ops.convert_to_tensor([self.temperature, top_p, scale], "float32")

    def seed_tensor(self, seed):
        """The base seed `[seed, 0]` of an int `seed`, in the dtype the draws take."""
        return ops.convert_to_tensor([seed % 2**31, 0], dtype=self._seed_generator.state.dtype)

    def with_settings(self, **settings):
        """This sampler with some settings replaced (the others kept)."""
        config = self.get_config()
        unknown = sorted(set(settings) - set(config))
        if unknown:
            raise TypeError(
                f"{type(self).__name__} takes no `{unknown[0]}`; its settings are {sorted(config)}."
            )
        return type(self).from_config({**config, **settings})

    def __call__(self, next, logits, cache, num_tokens, seed, settings=None):
        settings = self.settings() if settings is None else settings
        first = self.next_token(logits, settings, seed, 0)
        tokens = ops.slice_update(
            ops.zeros((first.shape[0], num_tokens), "int32"), [0, 0], first[:, None]
        )

        def body(index, state):
            tokens, previous, cache = state
            rows = ops.concatenate([previous, previous]) if self.guided else previous
            logits, cache = next(rows, cache, index)
            token = self.next_token(logits, settings, seed, index)
            tokens = ops.slice_update(tokens, [0, index], token[:, None])
            return tokens, token, cache

        tokens, _, _ = ops.fori_loop(1, num_tokens, body, (tokens, first, cache))
        return tokens

    def next_token(self, logits, settings, seed, step):
        """The tokens `(B,)` of one step from the logits `(R, V)` that `next` returned."""
        if self.guided:
            batch = logits.shape[0] // 2
            logits = classifier_free_guidance(logits[:batch], logits[batch:], settings[2])
        return self.get_next_token(
            self.filter(logits, settings), seed_for_step(seed, step, self._seed_generator)
        )

    def filter(self, logits, settings):
        """Temperature, then top-k, then top-p (`keras_vim.sampling.filter_logits`)."""
        top_p = None if self.top_p is None else settings[1]
        return filter_logits(logits, settings[0], self.top_k, top_p)

    def get_next_token(self, logits, seed):
        """One token per row of the filtered `logits`, drawn with the step's `seed`."""
        return draw_tokens(logits, seed, self._seed_generator)

    def get_config(self):
        return {
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "guidance_scale": self.guidance_scale,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_vim")
class GreedySampler(Sampler):
    """Takes the most likely token at every step (the first of tied ones): deterministic.

    Args:
        guidance_scale: classifier-free guidance as for `Sampler`; None disables it.
    """

    def __init__(self, guidance_scale=None):
        super().__init__(guidance_scale=guidance_scale)

    def filter(self, logits, settings):
        return ops.cast(logits, "float32")

    def get_next_token(self, logits, seed):
        return ops.cast(ops.argmax(logits, axis=-1), "int32")

    def get_config(self):
        return {"guidance_scale": self.guidance_scale}


_BY_NAME = {"random": Sampler, "greedy": GreedySampler}


def serialize(sampler):
    """A sampler's `keras.saving` config (a dict)."""
    return keras.saving.serialize_keras_object(sampler)


def deserialize(config):
    """A sampler from `serialize`'s dict."""
    return keras.saving.deserialize_keras_object(config)


def get(identifier):
    """A sampler from a name (`"random"`, `"greedy"`), a `serialize` dict, or a sampler
    (returned as it is); None gives the default `Sampler()`."""
    if identifier is None:
        return Sampler()
    if isinstance(identifier, Sampler):
        return identifier
    if isinstance(identifier, str):
        if identifier not in _BY_NAME:
            raise ValueError(
                f"Unknown sampler {identifier!r}; the names are {sorted(_BY_NAME)} (or pass "
                "a keras_vim.sampling.Sampler)."
            )
        return _BY_NAME[identifier]()
    if isinstance(identifier, dict):
        sampler = deserialize(identifier)
        if isinstance(sampler, Sampler):
            return sampler
    raise TypeError(
        "`sampler` must be a keras_vim.sampling.Sampler, one of the names "
        f"{sorted(_BY_NAME)} or a serialized sampler; got {identifier!r}."
    )
