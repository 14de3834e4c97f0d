"""`configure`: one place that puts training on many devices, with each backend's own engine.

- JAX: Keras' distribution API. `"data"` is `keras.distribution.DataParallel` over all devices
  (variables replicated, each batch split); `"model"` is `keras.distribution.ModelParallel`
  over a `(batch, model)` device mesh with the model class's `get_layout_map` (kernels split
  over "model", the batch over "batch"). `multi_host=True` first calls
  `keras.distribution.initialize()` (`jax.distributed`), so every process sees the global mesh.
- TensorFlow: `"data"` is a `tf.distribute.MirroredStrategy` over the local GPUs (or CPUs).
  Model parallelism and multi-host training are not offered on TensorFlow.
- PyTorch: one device only; anything else is refused with an error that says so, rather than
  silently training on one device.
"""

import contextlib

import keras

from keras_vim.utils.checks import check_integer

KINDS = ("none", "data", "model")
BATCH_AXIS = "batch"
MODEL_AXIS = "model"

# `jax.distributed.initialize` may run once per process; a recipe can call `configure` twice
# (train_vim trains its tokenizer with train_vit_vqgan in the same process).
_multi_host = {"initialized": False}
# One MirroredStrategy per device list, so models built by two `configure` calls share it.
_tf_strategies = {}


class DistributionSetup:
    """The result of `keras_vim.distribution.configure`: what runs where.

    Attributes:
        kind: "none", "data" or "model".
        backend: the Keras backend.
        num_devices: devices taking part (all processes together).
        num_replicas: data-parallel replicas; each global batch is split between them, so it
            must be divisible by this number.
        mesh_shape: the device mesh (`(devices,)` for "data", `(batch, model)` for "model"),
            or None.
        distribution: the `keras.distribution.Distribution` on JAX, else None.
        strategy: the `tf.distribute.Strategy` on TensorFlow, else None.
    """

    def __init__(
        self,
        kind,
        num_devices=1,
        num_replicas=1,
        mesh_shape=None,
        distribution=None,
        strategy=None,
    ):
        self.kind = kind
        self.backend = keras.backend.backend()
        self.num_devices = num_devices
        self.num_replicas = num_replicas
        self.mesh_shape = mesh_shape
        self.distribution = distribution
        self.strategy = strategy

    def scope(self):
        """A context in which to build, compile and train models under this setup (the
        distribution's scope on JAX, the strategy's on TensorFlow; nothing otherwise)."""
        if self.distribution is not None:
            return self.distribution.scope()
        if self.strategy is not None:
            return self.strategy.scope()
        return contextlib.nullcontext()

    def activate(self):
        """Makes this setup current for the whole process, as if every later line ran in
        `scope()`: `keras.distribution.set_distribution` on JAX,
        `tf.distribute.experimental_set_strategy` on TensorFlow. A "none" setup clears them."""
        if self.backend == "jax":
            keras.distribution.set_distribution(self.distribution)
        elif self.backend == "tensorflow":
            import tensorflow as tf

            tf.distribute.experimental_set_strategy(self.strategy)
        return self

    def check_batch_size(self, batch_size, name="batch_size"):
        """The global `batch_size` as an int: a TypeError unless it is an integer, a ValueError
        unless it is >= 1 and splits evenly over the replicas."""
        batch_size = check_integer(name, batch_size, minimum=1)
        if batch_size % self.num_replicas:
            raise ValueError(
                f"`{name}`={batch_size} is the global batch and must be divisible by the "
                f"{self.num_replicas} data-parallel replicas of this {self.kind!r} setup "
                f"({self.num_devices} devices, mesh {self.mesh_shape}); e.g. "
                f"{self.largest_batch_size(batch_size) or self.num_replicas}."
            )
        return batch_size

    def largest_batch_size(self, limit):
        """The largest batch size `<= limit` that splits evenly over the replicas (0 if none)."""
        return limit - limit % self.num_replicas

    def __repr__(self):
        return (
            f"DistributionSetup(kind={self.kind!r}, backend={self.backend!r}, "
            f"num_devices={self.num_devices}, num_replicas={self.num_replicas}, "
            f"mesh_shape={self.mesh_shape})"
        )


@contextlib.contextmanager
def no_distribution():
    """A context in which variables are built as on one device, even while a JAX distribution
    is current for the process (`configure(..., activate=True)`).

    For the networks that only measure (the shipped Fashion-MNIST classifier of the metrics):
    under `ModelParallel` the trained model's layout map would also match their variable paths
    (e.g. `.*/logits/kernel`) and split them over the "model" axis, which fails for widths that
    do not divide by it (the classifier's 10 logits over 4 shards) and otherwise shards every
    eager evaluation call. TensorFlow's strategies are left as they are.
    """
    previous = keras.distribution.distribution()
    if previous is None or keras.backend.backend() != "jax":
        yield
        return
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)


def _check_mesh_shape(mesh_shape, rank, num_devices, what):
    if isinstance(mesh_shape, int) and not isinstance(mesh_shape, bool):
        mesh_shape = (mesh_shape,)
    if not isinstance(mesh_shape, (tuple, list)) or len(mesh_shape) != rank:
        raise ValueError(
            f"`mesh_shape` must be {rank} positive int(s) ({what}), got {mesh_shape!r}."
        )
    mesh_shape = tuple(
        check_integer(f"mesh_shape[{i}]", n, minimum=1) for i, n in enumerate(mesh_shape)
    )
    size = 1
    for n in mesh_shape:
        size *= n
    if size != num_devices:
        raise ValueError(
            f"`mesh_shape`={mesh_shape} holds {size} devices, but there are {num_devices}; "
            "the mesh must use every device."
        )
    return mesh_shape


def _initialize_multi_host():
    if not _multi_host["initialized"]:
        keras.distribution.initialize()
        _multi_host["initialized"] = True


def _configure_jax(kind, model_class, mesh_shape, multi_host):
    if multi_host:
        _initialize_multi_host()
    devices = keras.distribution.list_devices()
    if kind == "data":
        shape = _check_mesh_shape(
            (len(devices),) if mesh_shape is None else mesh_shape, 1, len(devices), "devices"
        )
        mesh = keras.distribution.DeviceMesh(shape, (BATCH_AXIS,), devices)
        distribution = keras.distribution.DataParallel(device_mesh=mesh)
    else:
        shape = _check_mesh_shape(
            (1, len(devices)) if mesh_shape is None else mesh_shape,
            2,
            len(devices),
            "batch, model",
        )
        mesh = keras.distribution.DeviceMesh(shape, (BATCH_AXIS, MODEL_AXIS), devices)
        layout_map = model_class.get_layout_map(mesh, model_axis=MODEL_AXIS, batch_axis=BATCH_AXIS)
        distribution = keras.distribution.ModelParallel(
            layout_map=layout_map, batch_dim_name=BATCH_AXIS
        )
    return DistributionSetup(
        kind,
        num_devices=len(devices),
        num_replicas=shape[0],
        mesh_shape=shape,
        distribution=distribution,
    )


def _configure_tensorflow(mesh_shape):
    import tensorflow as tf

    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    names = tuple(device.name for device in devices)
    shape = _check_mesh_shape(
        (len(names),) if mesh_shape is None else mesh_shape, 1, len(names), "devices"
    )
    if names not in _tf_strategies:
        _tf_strategies[names] = tf.distribute.MirroredStrategy(devices=list(names))
    strategy = _tf_strategies[names]
    return DistributionSetup(
        "data",
        num_devices=len(names),
        num_replicas=strategy.num_replicas_in_sync,
        mesh_shape=shape,
        strategy=strategy,
    )


def configure(
    kind="none",
    model_class=None,
    mesh_shape=None,
    multi_host=False,
    batch_size=None,
    activate=True,
):
    """Sets up training on all devices: data parallelism, model parallelism, or one device.

    Call it before building the model. With `activate=True` (the default) the setup is current
    for the rest of the process, so the model built, compiled and fitted afterwards is
    distributed without further changes; with `activate=False`, build, compile and fit inside
    `setup.scope()`.

    Args:
        kind: "none" (one device), "data" (replicate the model, split each batch) or "model"
            (split the Transformer kernels over a "model" mesh axis and the batch over a
            "batch" axis; JAX only).
        model_class: the model to shard with "model": a class with `get_layout_map`
            (`keras_vim.models.VitVQGAN` or `keras_vim.models.VIM`).
        mesh_shape: "data": `(num_devices,)`; "model": `(batch, model)` with
            `batch * model` = the number of devices (default `(1, num_devices)`). The widths
            the layout map splits (hidden, MLP, vocabulary) must be divisible by `model`.
        multi_host: JAX only: call `keras.distribution.initialize()` first (one process per
            host; on Cloud TPU the pod is found automatically, elsewhere set
            `KERAS_DISTRIBUTION_JOB_ADDRESSES`, `_NUM_PROCESSES` and `_PROCESS_ID`).
        batch_size: the global batch size, checked to split evenly over the replicas.
        activate: make the setup current for the process (see above).

    Returns:
        A `DistributionSetup` (`num_replicas`, `scope()`, `check_batch_size`, ...).

    Example:
    >>> setup = keras_vim.distribution.configure("data", batch_size=64)
    >>> model = keras_vim.models.VitVQGAN.from_preset("vit_vqgan_tiny")  # replicated
    """
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}, got {kind!r}.")
    if not isinstance(multi_host, bool):
        raise TypeError(f"`multi_host` must be a bool, got {multi_host!r}.")
    backend = keras.backend.backend()
    if kind == "model" and not hasattr(model_class, "get_layout_map"):
        raise TypeError(
            "`model_class` must be a model class with `get_layout_map` (keras_vim.models."
            f"VitVQGAN or VIM) for model parallelism, got {model_class!r}."
        )
    if kind == "none" and mesh_shape is not None:
        raise ValueError(f"`mesh_shape`={mesh_shape!r} needs kind 'data' or 'model', not 'none'.")
    if backend == "torch" and (kind != "none" or multi_host):
        raise ValueError(
            f"keras_vim on the torch backend trains on one device only: `kind`={kind!r}"
            f"{' with multi_host' if multi_host else ''} is not supported (Keras' "
            "distribution API covers JAX, not PyTorch). Use KERAS_BACKEND=jax for data and "
            "model parallelism on GPUs/TPUs (also multi-host), or KERAS_BACKEND=tensorflow "
            "for data parallelism over the GPUs of one machine."
        )
    if backend == "tensorflow" and (kind == "model" or multi_host):
        raise ValueError(
            f"On the tensorflow backend keras_vim supports kind 'none' and 'data' "
            f"(tf.distribute.MirroredStrategy over one machine's GPUs), not "
            f"{'multi_host' if multi_host else 'kind ' + repr(kind)}. Use KERAS_BACKEND=jax "
            "for model parallelism and multi-host training."
        )
    if backend not in ("jax", "tensorflow", "torch"):
        raise ValueError(f"Unsupported backend {backend!r}.")

    if kind == "none":
        if multi_host:
            raise ValueError("`multi_host` needs kind 'data' or 'model'.")
        setup = DistributionSetup("none")
    elif backend == "jax":
        setup = _configure_jax(kind, model_class, mesh_shape, multi_host)
    else:
        setup = _configure_tensorflow(mesh_shape)
    if batch_size is not None:
        setup.check_batch_size(batch_size)
    if activate:
        setup.activate()
    return setup
