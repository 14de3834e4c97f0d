"""Every backend-specific speed path of the library, each with the reason it was measured for.

Layers, sampling and models are pure `keras.ops` and call these functions where one backend
has a faster (or, for TensorFlow's replicas, a needed) way; they branch on nothing themselves.
The measurements are in `benchmarks/README.md` (CPU, small VIM and ViT-VQGAN sizes). The
other places that branch on the backend are `keras_vim.training` (the per-backend train
steps) and `keras_vim.distribution`.
"""

import math

import keras
from keras import ops


def _backend():
    return keras.backend.backend()


def backend_name():
    """The Keras backend's name, for the records runs and presets keep (not a branch)."""
    return _backend()


def steps_take_state():
    """Whether Keras' compiled train/test/predict functions take the model's state as an
    argument and hand a new one back (JAX's stateless steps): a step that fails must then
    give the state back itself, or the model keeps none (`keras_vim.utils.checked_batches`)."""
    return _backend() == "jax"


# --- compiled inference functions ---------------------------------------------------------


def compile_function(model, function):
    """Returns `function(*tensors)` compiled for the current backend, reading `model`'s weights
    (`keras_vim.utils.compiled` keeps such functions per model).

    `function` must be a pure function of tensors (Python constants are baked in) that reads
    no variables other than `model.variables`. JAX: `jax.jit`, with the variables passed in as
    arguments and mapped through a `keras.StatelessScope`, so new weights (after more
    training) need no re-tracing. TensorFlow: `tf.function`. PyTorch: eager under
    `torch.no_grad()` (eager Keras ops dispatch one by one: ~3x slower on JAX and TensorFlow
    for the tokenizer at 64x64).
    """
    backend = _backend()
    if backend == "jax":
        import jax

        def stateless(variable_values, *args):
            mapping = list(zip(model.variables, variable_values))
            with keras.StatelessScope(state_mapping=mapping):
                return function(*args)

        jitted = jax.jit(stateless)

        def run_jax(*args):
            return jitted([variable.value for variable in model.variables], *args)

        return run_jax
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(function)
    if backend == "torch":
        import torch

        def run_torch(*args):
            with torch.no_grad():
                return function(*args)

        return run_torch
    raise NotImplementedError(f"No compiled functions for the {backend!r} backend.")


# --- Transformer layers --------------------------------------------------------------------


def full_attention(query, key, value, causal, einsum_attention):
    """Attention of the full (uncached) pass over `(B, T, heads, head_dim)` inputs.

    `keras.ops.dot_product_attention` on JAX and PyTorch: it dispatches to fused kernels
    (cuDNN flash attention on JAX GPUs, PyTorch's scaled-dot-product attention), takes its
    softmax in float32 under bfloat16 as the einsum path does, and is faster on CPU too
    (0.36-0.92x the einsum path's time at 64-1024 tokens, contended machine).
    TensorFlow keeps `einsum_attention()` (a function of no arguments): its fused op is no
    faster on CPU (0.97-1.30x) and takes the softmax in bfloat16 under a bfloat16 policy
    (max error 2.1 against float32 at 512 tokens, against 0.30 for the einsum path).
    """
    if _backend() == "tensorflow":
        return einsum_attention()
    scale = 1.0 / math.sqrt(query.shape[-1])
    return ops.dot_product_attention(query, key, value, scale=scale, is_causal=causal)


def write_cache(cache, update, cache_index, overwrite):
    """`cache` `(B, heads, S, head_dim)` with `update` `(B, T, heads, head_dim)` written at
    positions `cache_index ...`; with `overwrite`, into `cache` itself where that is faster.

    PyTorch's eager `slice_update` copies the whole cache at every step of a sampling loop;
    assigning into the slice does not. Compiled JAX and TensorFlow loops update their buffers
    in place either way.
    """
    update = ops.cast(ops.transpose(update, (0, 2, 1, 3)), cache.dtype)
    if overwrite and _backend() == "torch":
        index = int(cache_index)
        cache[:, :, index : index + update.shape[2]] = update
        return cache
    return ops.slice_update(cache, [0, 0, cache_index, 0], update)


def project(inputs, kernel):
    """`inputs @ kernel.T` for a kernel stored transposed, `(N, K)`.

    PyTorch's einsum runs this as a batched product at about half the speed of a matmul with
    the transposed view; TensorFlow's matmul would copy the transpose, so einsum elsewhere.
    """
    if _backend() == "torch":
        return ops.matmul(inputs, ops.transpose(kernel))
    return ops.einsum("...k,nk->...n", inputs, kernel)


def decoding_weights_help():
    """Whether a sampling loop gains from kernels transposed once before its first step
    (`keras_vim.layers.decoding_weights`): on TensorFlow the products with the kernels as
    they are measured faster."""
    return _backend() != "tensorflow"


# --- sampling ------------------------------------------------------------------------------


def kth_largest(values, k):
    """The `k`-th largest entry of each row of float32 `values` `(..., n)`, as `(..., 1)`.

    `ops.top_k` on every backend but JAX, whose CPU TopK sorts whole rows (~15x slower than
    `kth_largest_by_bisection` for 8 x 8192 logits, and ~20% of a VIM sampling step).
    """
    if _backend() != "jax":
        return ops.top_k(values, k, sorted=True)[0][..., -1:]
    return kth_largest_by_bisection(values, k)


def kth_largest_by_bisection(values, k):
    """`kth_largest` by a 32-step bisection: the largest order-preserving integer key (the
    float's bits, negatives reversed) that at least `k` entries reach is exactly the key of the
    `k`-th largest entry."""
    values = ops.cast(values, "float32")
    bits = ops.view(values, "int32")
    keys = ops.where(bits < 0, -(2**31) - bits, bits)  # -0.0 and 0.0 share the key 0

    def bisect(_, bounds):
        low, high = bounds  # count(keys >= low) >= k > count(keys >= high)
        middle = low // 2 + high // 2 + (low % 2 + high % 2) // 2  # no int32 overflow
        enough = ops.sum(ops.cast(keys >= middle, "int32"), axis=-1, keepdims=True) >= k
        return ops.where(enough, middle, low), ops.where(enough, high, middle)

    bounds = (ops.min(keys, axis=-1, keepdims=True), ops.max(keys, axis=-1, keepdims=True) + 1)
    low, _ = ops.fori_loop(0, 32, bisect, bounds)
    return ops.max(ops.where(keys <= low, values, float("-inf")), axis=-1, keepdims=True)


def draw_categorical(logits, seed_generator):
    """One int32 token per row of `logits` `(B, V)`, drawn from their softmax.

    JAX's `categorical` (Gumbel-max) draws V random numbers per row and takes an argmax, which
    on XLA:CPU costs ~1.2 ms for 8 x 8192 logits, ~5% of a VIM sampling step;
    `inverse_cdf_draw` needs one number per row and short cumulative sums (~0.3 ms).
    """
    if _backend() == "jax":
        uniform = keras.random.uniform((logits.shape[0], 1), seed=seed_generator)
        return inverse_cdf_draw(logits, uniform)
    return keras.random.categorical(logits, 1, dtype="int32", seed=seed_generator)[:, 0]


def inverse_cdf_draw(logits, uniform):
    """Inverse-CDF sampling in two levels: a block of about sqrt(V) entries by the blocks'
    cumulative mass, then an entry of that block by its own cumulative mass.

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


# --- training and replicas -----------------------------------------------------------------


def prepare_train_function(model):
    """Before Keras makes `model`'s train function: on TensorFlow, builds the optimizer now,
    which saves a second trace of the first step (see
    `keras_vim.training.optimizer_build`)."""
    if _backend() == "tensorflow":
        from keras_vim.training.optimizer_build import build_optimizer_before_trace

        build_optimizer_before_trace(model)


def unshare_moving_average(model):
    """After `fit` with an optimizer that keeps a moving average of the weights (`use_ema`).

    JAX: Keras ends `fit` by assigning each average's array to its variable, so the two share
    one buffer; the next compiled step donates the model's state (evaluate, another fit) and
    deletes the average's buffer with it, and saving the optimizer then fails ("Array has been
    deleted"). Each variable gets a copy of its own. The other backends copy on assignment.
    """
    if _backend() != "jax" or not getattr(model.optimizer, "use_ema", False):
        return
    for variable in model.trainable_variables:
        variable.assign(ops.copy(variable.value))


def gather_replicas(x):
    """`x` with the rows (axis 0) of every replica, in replica order; `x` itself elsewhere.

    Only TensorFlow's `MirroredStrategy` (`keras_vim.distribution.configure("data")` on
    TensorFlow) splits the batch into per-replica programs. There, state computed from the batch
    (the quantizer's code usage and dead-code restarts, the codebook metrics) must see the whole
    batch, or the replicas' copies of that state drift apart. JAX's distributions compile one
    program over the global batch, and PyTorch runs on one device: nothing to gather.
    """
    if _backend() != "tensorflow":
        return x
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return x
    gathered = context.all_gather(x, axis=0)
    if x.shape[0] is not None:
        # Keep the batch static, as it was for one replica (the restart's indexing needs it).
        gathered.set_shape((x.shape[0] * context.num_replicas_in_sync, *x.shape[1:]))
    return gathered
