"""The Inception-v3 network of published FID numbers, as a Keras 3 model.

FID (Heusel et al. 2017, TTUR) and most papers since, ViT-VQGAN included, compute features with
TensorFlow's "2015-12-05" Inception-v3 graph. pytorch-fid ported that graph to PyTorch
(`pt_inception-2015-12-05-6726825d.pth`); its blocks differ from torchvision's Inception-v3: the
average pools of the A, C and first E blocks exclude the padding from their counts
(`count_include_pad=False`), the last E block pools its pool branch with a max instead of an
average, and the classifier has 1008 outputs. This module is that network, layer for layer, with
pytorch-fid's layer names (so its state dict maps one to one, see `fid_inception_weights.py`).
"""

import keras
from keras import ops

# Input side of the published network, and the sizes of its two outputs.
FID_INCEPTION_SIZE = 299
FID_FEATURE_DIM = 2048
FID_NUM_LOGITS = 1008
# The smallest input the network admits without resizing (every stride-2 stage stays >= 1 px).
FID_MIN_SIZE = 75


class ConvBN(keras.layers.Layer):
    """Convolution without bias, batch normalization (epsilon 1e-3, inference) and ReLU.

    The `BasicConv2d` unit of Inception-v3. Its sublayers are named `conv` and `bn` like the
    PyTorch module's, so `<prefix>.conv.weight` and `<prefix>.bn.*` map onto them.

    Args:
        filters: output channels.
        kernel_size: int or `(height, width)`.
        strides: int; 2 only in the reducing layers (which use "valid" padding).
        padding: `"valid"` or `"same"` (the published network pads odd kernels symmetrically).
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.conv = keras.layers.Conv2D(
            filters,
            kernel_size,
            strides=strides,
            padding=padding,
            use_bias=False,
            # Zeros: the weights are always loaded, and random initialization of 24M
            # parameters costs ~40 s of compilation on JAX.
            kernel_initializer="zeros",
            name="conv",
            dtype=self.dtype_policy,
        )
        self.bn = keras.layers.BatchNormalization(epsilon=1e-3, name="bn", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.conv.build(input_shape)
        self.bn.build((*input_shape[:-1], self.filters))

    def call(self, inputs):
        # Always inference: the statistics are the published network's.
        return ops.relu(self.bn(self.conv(inputs), training=False))

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
            }
        )
        return config


class _InceptionBlock(keras.layers.Layer):
    """A block of parallel branches of `ConvBN` units, concatenated along channels.

    Subclasses list their units in `_units()` as `(name, filters, kernel, strides, padding)`;
    `call` wires them. The names are pytorch-fid's (`branch1x1`, `branch3x3dbl_2`, ...).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.unit_names = []
        for name, filters, kernel, strides, padding in self._units():
            unit = ConvBN(filters, kernel, strides, padding, name=name, dtype=self.dtype_policy)
            setattr(self, name, unit)
            self.unit_names.append(name)

    def units(self):
        """`{name: ConvBN}` of this block's units."""
        return {name: getattr(self, name) for name in self.unit_names}

    def build(self, input_shape):
        # Building by a symbolic pass sets every unit's input shape, whatever the wiring.
        self.call(keras.KerasTensor(input_shape))
        self.built = True

    def _run(self, x, *names):
        for name in names:
            x = getattr(self, name)(x)
        return x


def _average_pool_same(x):
    # "same" average pooling in Keras divides by the number of real (unpadded) pixels on every
    # backend: PyTorch's count_include_pad=False, as in the published network.
    return ops.average_pool(x, 3, strides=1, padding="same")


def _max_pool(x, strides=2, padding="valid"):
    return ops.max_pool(x, 3, strides=strides, padding=padding)


class FIDInceptionA(_InceptionBlock):
    """Inception-v3 block A (35x35 grid, `Mixed_5b/5c/5d`), padding-excluding average pool.

    Args:
        pool_features: channels of the pool branch (32 in `Mixed_5b`, 64 after).
    """

    def __init__(self, pool_features, **kwargs):
        self.pool_features = pool_features
        super().__init__(**kwargs)

    def _units(self):
        return [
            ("branch1x1", 64, 1, 1, "valid"),
            ("branch5x5_1", 48, 1, 1, "valid"),
            ("branch5x5_2", 64, 5, 1, "same"),
            ("branch3x3dbl_1", 64, 1, 1, "valid"),
            ("branch3x3dbl_2", 96, 3, 1, "same"),
            ("branch3x3dbl_3", 96, 3, 1, "same"),
            ("branch_pool", self.pool_features, 1, 1, "valid"),
        ]

    def call(self, x):
        return ops.concatenate(
            [
                self._run(x, "branch1x1"),
                self._run(x, "branch5x5_1", "branch5x5_2"),
                self._run(x, "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"),
                self._run(_average_pool_same(x), "branch_pool"),
            ],
            axis=-1,
        )

    def get_config(self):
        return {**super().get_config(), "pool_features": self.pool_features}


class FIDInceptionB(_InceptionBlock):
    """Inception-v3 reduction block B (35x35 -> 17x17, `Mixed_6a`)."""

    def _units(self):
        return [
            ("branch3x3", 384, 3, 2, "valid"),
            ("branch3x3dbl_1", 64, 1, 1, "valid"),
            ("branch3x3dbl_2", 96, 3, 1, "same"),
            ("branch3x3dbl_3", 96, 3, 2, "valid"),
        ]

    def call(self, x):
        return ops.concatenate(
            [
                self._run(x, "branch3x3"),
                self._run(x, "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"),
                _max_pool(x),
            ],
            axis=-1,
        )


class FIDInceptionC(_InceptionBlock):
    """Inception-v3 block C (17x17 grid, factorized 7x7, `Mixed_6b..6e`), padding-excluding pool.

    Args:
        channels_7x7: width of the 7x7 branches (128, 160, 160, 192).
    """

    def __init__(self, channels_7x7, **kwargs):
        self.channels_7x7 = channels_7x7
        super().__init__(**kwargs)

    def _units(self):
        c7 = self.channels_7x7
        return [
            ("branch1x1", 192, 1, 1, "valid"),
            ("branch7x7_1", c7, 1, 1, "valid"),
            ("branch7x7_2", c7, (1, 7), 1, "same"),
            ("branch7x7_3", 192, (7, 1), 1, "same"),
            ("branch7x7dbl_1", c7, 1, 1, "valid"),
            ("branch7x7dbl_2", c7, (7, 1), 1, "same"),
            ("branch7x7dbl_3", c7, (1, 7), 1, "same"),
            ("branch7x7dbl_4", c7, (7, 1), 1, "same"),
            ("branch7x7dbl_5", 192, (1, 7), 1, "same"),
            ("branch_pool", 192, 1, 1, "valid"),
        ]

    def call(self, x):
        dbl = ("branch7x7dbl_1", "branch7x7dbl_2", "branch7x7dbl_3", "branch7x7dbl_4")
        return ops.concatenate(
            [
                self._run(x, "branch1x1"),
                self._run(x, "branch7x7_1", "branch7x7_2", "branch7x7_3"),
                self._run(x, *dbl, "branch7x7dbl_5"),
                self._run(_average_pool_same(x), "branch_pool"),
            ],
            axis=-1,
        )

    def get_config(self):
        return {**super().get_config(), "channels_7x7": self.channels_7x7}


class FIDInceptionD(_InceptionBlock):
    """Inception-v3 reduction block D (17x17 -> 8x8, `Mixed_7a`)."""

    def _units(self):
        return [
            ("branch3x3_1", 192, 1, 1, "valid"),
            ("branch3x3_2", 320, 3, 2, "valid"),
            ("branch7x7x3_1", 192, 1, 1, "valid"),
            ("branch7x7x3_2", 192, (1, 7), 1, "same"),
            ("branch7x7x3_3", 192, (7, 1), 1, "same"),
            ("branch7x7x3_4", 192, 3, 2, "valid"),
        ]

    def call(self, x):
        seven = ("branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4")
        return ops.concatenate(
            [self._run(x, "branch3x3_1", "branch3x3_2"), self._run(x, *seven), _max_pool(x)],
            axis=-1,
        )


class FIDInceptionE(_InceptionBlock):
    """Inception-v3 block E (8x8 grid, expanded 3x3 branches, `Mixed_7b/7c`).

    Args:
        pool: `"average"` (padding-excluding, `Mixed_7b`) or `"max"` (`Mixed_7c`): the pool of
            the pool branch, the TensorFlow graph's quirk that pytorch-fid reproduces.
    """

    def __init__(self, pool="average", **kwargs):
        if pool not in ("average", "max"):
            raise ValueError(f"`pool` must be 'average' or 'max', got {pool!r}.")
        self.pool = pool
        super().__init__(**kwargs)

    def _units(self):
        return [
            ("branch1x1", 320, 1, 1, "valid"),
            ("branch3x3_1", 384, 1, 1, "valid"),
            ("branch3x3_2a", 384, (1, 3), 1, "same"),
            ("branch3x3_2b", 384, (3, 1), 1, "same"),
            ("branch3x3dbl_1", 448, 1, 1, "valid"),
            ("branch3x3dbl_2", 384, 3, 1, "same"),
            ("branch3x3dbl_3a", 384, (1, 3), 1, "same"),
            ("branch3x3dbl_3b", 384, (3, 1), 1, "same"),
            ("branch_pool", 192, 1, 1, "valid"),
        ]

    def call(self, x):
        b3 = self._run(x, "branch3x3_1")
        dbl = self._run(x, "branch3x3dbl_1", "branch3x3dbl_2")
        if self.pool == "max":
            pooled = _max_pool(x, strides=1, padding="same")
        else:
            pooled = _average_pool_same(x)
        return ops.concatenate(
            [
                self._run(x, "branch1x1"),
                self._run(b3, "branch3x3_2a"),
                self._run(b3, "branch3x3_2b"),
                self._run(dbl, "branch3x3dbl_3a"),
                self._run(dbl, "branch3x3dbl_3b"),
                self._run(pooled, "branch_pool"),
            ],
            axis=-1,
        )

    def get_config(self):
        return {**super().get_config(), "pool": self.pool}


def fid_inception_preprocess(images, resize=True, dtype="float32"):
    """The FID Inception's input: RGB in `[-1, 1]`, resized to 299x299 when `resize`.

    Images `(B, H, W, 1 or 3)` are floats in `[0, 1]` or uint8; one channel is repeated to
    three. The resize is bilinear without antialiasing, with half-pixel centres (PyTorch's
    `interpolate(..., mode="bilinear", align_corners=False)`, as pytorch-fid).
    """
    images = ops.convert_to_tensor(images)
    if len(images.shape) != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(
            f"`images` must have shape (batch, height, width, 1 or 3), got {tuple(images.shape)}."
        )
    if "int" in str(images.dtype):
        images = ops.cast(images, "float32") / 255.0
    x = ops.cast(images, dtype)
    if x.shape[-1] == 1:
        x = ops.repeat(x, 3, axis=-1)
    if resize:
        size = (FID_INCEPTION_SIZE, FID_INCEPTION_SIZE)
        x = ops.image.resize(x, size, interpolation="bilinear", antialias=False)
    elif min(x.shape[1], x.shape[2]) < FID_MIN_SIZE:
        raise ValueError(
            f"Without resizing the network needs images of at least {FID_MIN_SIZE}x"
            f"{FID_MIN_SIZE}, got {tuple(images.shape)}."
        )
    return 2.0 * x - 1.0


# The network in order: (pytorch-fid name, block class, its argument). None marks a 3x3 max pool
# with stride 2. The 1x1 and 3x3 convolutions of the stem are ConvBN units themselves.
_STEM = (
    ("Conv2d_1a_3x3", 32, 3, 2, "valid"),
    ("Conv2d_2a_3x3", 32, 3, 1, "valid"),
    ("Conv2d_2b_3x3", 64, 3, 1, "same"),
    None,
    ("Conv2d_3b_1x1", 80, 1, 1, "valid"),
    ("Conv2d_4a_3x3", 192, 3, 1, "valid"),
    None,
)
_MIXED = (
    ("Mixed_5b", FIDInceptionA, {"pool_features": 32}),
    ("Mixed_5c", FIDInceptionA, {"pool_features": 64}),
    ("Mixed_5d", FIDInceptionA, {"pool_features": 64}),
    ("Mixed_6a", FIDInceptionB, {}),
    ("Mixed_6b", FIDInceptionC, {"channels_7x7": 128}),
    ("Mixed_6c", FIDInceptionC, {"channels_7x7": 160}),
    ("Mixed_6d", FIDInceptionC, {"channels_7x7": 160}),
    ("Mixed_6e", FIDInceptionC, {"channels_7x7": 192}),
    ("Mixed_7a", FIDInceptionD, {}),
    ("Mixed_7b", FIDInceptionE, {"pool": "average"}),
    ("Mixed_7c", FIDInceptionE, {"pool": "max"}),
)


@keras.saving.register_keras_serializable(package="keras_vim")
class FIDInception(keras.Model):
    """Inception-v3 of published FID / Inception Score numbers (pytorch-fid's FID Inception).

    Images (float in `[0, 1]` or uint8, 1 or 3 channels; one channel is repeated to RGB) are
    resized bilinearly to 299x299 (no antialiasing, half-pixel centres, as PyTorch's
    `interpolate(..., align_corners=False)`), scaled to `[-1, 1]` and run through the network.
    `call` returns a dict: `"pool"`, the 2048-d average-pooled features of the last block (the
    "pool3" features of FID), and `"logits"`, the 1008-way classifier logits (their softmax gives
    the Inception Score).

    The model is created with all-zero weights (`weights_loaded()` is False until weights are
    set). Load the published ones with
    `keras_vim.metrics.load_fid_inception(path)` (from the pytorch-fid file, which you download
    yourself; nothing is ever downloaded here). Use `keras_vim.metrics.inception_outputs` to run
    it over a whole dataset.

    Args:
        resize: resize inputs to 299x299 (the published setting). `False` feeds the images at
            their own size (at least 75x75): only for tests and experiments, since features then
            differ from published ones.
        **kwargs: base `keras.Model` arguments (`name`, `dtype`).

    Example:

    ```python
    inception = keras_vim.metrics.load_fid_inception("pt_inception-2015-12-05-6726825d.pth")
    outputs = inception(np.random.uniform(size=(2, 32, 32, 1)).astype("float32"))
    outputs["pool"].shape, outputs["logits"].shape  # (2, 2048), (2, 1008)
    ```
    """

    def __init__(self, resize=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(resize, bool):
            raise TypeError(f"`resize` must be a bool, got {resize!r}.")
        self.resize = resize
        self.stem = []
        for spec in _STEM:
            if spec is None:
                self.stem.append(None)
                continue
            name, filters, kernel, strides, padding = spec
            unit = ConvBN(filters, kernel, strides, padding, name=name, dtype=self.dtype_policy)
            setattr(self, name, unit)
            self.stem.append(name)
        self.mixed_names = []
        for name, block, arguments in _MIXED:
            setattr(self, name, block(**arguments, name=name, dtype=self.dtype_policy))
            self.mixed_names.append(name)
        self.fc = keras.layers.Dense(
            FID_NUM_LOGITS, kernel_initializer="zeros", name="fc", dtype=self.dtype_policy
        )
        self.build((None, FID_INCEPTION_SIZE, FID_INCEPTION_SIZE, 3))

    def build(self, input_shape):
        self.call(keras.KerasTensor(input_shape))
        self.built = True

    def conv_units(self):
        """`{pytorch-fid name prefix: ConvBN}` for every unit, e.g. `"Mixed_5b.branch1x1"`."""
        units = {name: getattr(self, name) for name in self.stem if name is not None}
        for block_name in self.mixed_names:
            for unit_name, unit in getattr(self, block_name).units().items():
                units[f"{block_name}.{unit_name}"] = unit
        return units

    def weights_loaded(self):
        """False while the model still has its all-zero initial weights."""
        return bool(ops.convert_to_numpy(ops.any(ops.not_equal(self.fc.kernel, 0.0))))

    def preprocess(self, images):
        """Images in `[0, 1]` (or uint8), 1 or 3 channels -> the network's input in `[-1, 1]`."""
        return fid_inception_preprocess(images, self.resize, self.compute_dtype)

    def call(self, images):
        x = self.preprocess(images)
        for name in self.stem:
            x = _max_pool(x) if name is None else getattr(self, name)(x)
        for name in self.mixed_names:
            x = getattr(self, name)(x)
        pool = ops.mean(x, axis=(1, 2))
        return {"pool": pool, "logits": self.fc(pool)}

    def get_config(self):
        return {**super().get_config(), "resize": self.resize}
