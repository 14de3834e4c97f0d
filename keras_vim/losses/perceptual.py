"""LPIPS-style perceptual loss on VGG16 features (ViT-VQGAN, Yu et al. 2021, Sec. 3.2)."""

import os

import keras
from keras import ops

VGG_WEIGHTS_FILENAME = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG_WEIGHTS_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg16/" + VGG_WEIGHTS_FILENAME
)
VGG_WEIGHTS_HELP = (
    "The perceptual loss needs ImageNet VGG16 weights, which keras_vim never downloads. "
    "Either (1) download them once: run `keras.applications.VGG16(include_top=False, "
    'weights="imagenet")` on a machine with internet access (it caches '
    f"`$KERAS_HOME/models/{VGG_WEIGHTS_FILENAME}`, KERAS_HOME defaulting to ~/.keras), or fetch "
    f"{VGG_WEIGHTS_URL} into that folder yourself; or (2) pass `weights=<path>` with a local "
    "`.h5` / `.weights.h5` file of `keras.applications.VGG16(include_top=False)`; or (3) disable "
    "the perceptual term (`perceptual_weight=0` in `VitVQGAN.compile`, `--perceptual-weight 0` "
    "in the recipes)."
)

VGG_FEATURE_LAYERS = (
    "block1_conv2",
    "block2_conv2",
    "block3_conv3",
    "block4_conv3",
    "block5_conv3",
)
# ImageNet channel means in BGR order, as in `keras.applications.vgg16.preprocess_input`.
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
_MIN_VGG_SIZE = 32


def imagenet_vgg16_weights_path():
    """Where Keras caches the no-top VGG16 ImageNet weights (`$KERAS_HOME` or `~/.keras`)."""
    keras_home = os.environ.get("KERAS_HOME")
    if keras_home:
        candidates = [os.path.expanduser(keras_home)]
    else:
        # Keras falls back to /tmp/.keras when the home directory is not writable.
        candidates = [os.path.expanduser(os.path.join("~", ".keras")), "/tmp/.keras"]
    paths = [os.path.join(home, "models", VGG_WEIGHTS_FILENAME) for home in candidates]
    for path in paths:
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"VGG16 ImageNet weights not found (looked for {', '.join(paths)}). {VGG_WEIGHTS_HELP}"
    )


def _resolve_weights(weights):
    if weights is None:
        return None
    weights = os.fspath(weights)
    if weights == "imagenet":
        return imagenet_vgg16_weights_path()
    if not weights.endswith(".h5"):
        raise ValueError(
            "`weights` must be 'imagenet', None or a path to a `.h5` / `.weights.h5` file. "
            f"Received: weights={weights!r}. {VGG_WEIGHTS_HELP}"
        )
    if not os.path.isfile(weights):
        raise FileNotFoundError(f"VGG16 weights file not found: {weights!r}. {VGG_WEIGHTS_HELP}")
    return weights


@keras.saving.register_keras_serializable(package="keras_vim")
class PerceptualLoss(keras.layers.Layer):
    """LPIPS-style perceptual distance on frozen VGG16 features (ViT-VQGAN, Sec. 3.2).

    ViT-VQGAN adds `0.1 * L_perceptual` to the tokenizer loss (and trains without it for the
    linear-probe experiments, since VGG saw ImageNet labels). Following LPIPS without its learned
    linear heads (Zhang et al. 2018, "baseline" variant):

    1. both image batches (floats in `[0, 1]`, 1 or 3 channels; 1 channel is tiled to RGB) are
       resized up to at least 32x32 (VGG16's minimum) or to `resize_to`, and preprocessed as
       `keras.applications.vgg16.preprocess_input` does (x255, RGB->BGR, minus the ImageNet BGR
       means);
    2. `keras.applications.VGG16(include_top=False)` features are taken at `block1_conv2`,
       `block2_conv2`, `block3_conv3`, `block4_conv3` and `block5_conv3`;
    3. per layer, features are unit-normalized along channels, and the squared difference is
       averaged over space and channels;
    4. the five layer distances are summed (as LPIPS sums its layers).

    `call(y_true, y_pred)` returns the per-image loss, shape `(B,)`, float32 (take its mean for a
    scalar). It is symmetric and zero for identical images. The VGG is frozen (`trainable=False`)
    and runs under the layer's dtype policy; normalization and differences are float32.

    Weights are loaded when the layer is created; they are also ordinary (non-trainable)
    variables of the layer, so they are saved with a model. No weights are ever downloaded.

    Args:
        weights: `"imagenet"` (default): load Keras' cached file
            `$KERAS_HOME/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5` (KERAS_HOME
            defaulting to `~/.keras`), raising `FileNotFoundError` with `VGG_WEIGHTS_HELP` if it
            is absent; `None`: random initialization (tests); or a path to a `.h5` /
            `.weights.h5` file of `keras.applications.VGG16(include_top=False)`.
        resize_to: `None`, an int or a `(height, width)` pair. When set, images are resized
            (bilinear) to this size before VGG; otherwise only images smaller than 32 on a side
            are resized, each side to `max(side, 32)`.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:

    ```python
    import numpy as np
    import keras_vim

    # weights=None gives a random VGG: only for tests; use "imagenet" or a file path for real use.
    perceptual = keras_vim.losses.PerceptualLoss(weights=None)
    x = np.random.uniform(size=(2, 32, 32, 3)).astype("float32")
    y = np.random.uniform(size=(2, 32, 32, 3)).astype("float32")
    per_image = perceptual(x, y)  # (2,)
    ```
    """

    def __init__(self, weights="imagenet", resize_to=None, **kwargs):
        super().__init__(**kwargs)
        # `self.weights` is Keras' list of variables, hence the different attribute name.
        self.vgg_weights = None if weights is None else os.fspath(weights)
        weights_file = _resolve_weights(weights)
        if resize_to is not None:
            if isinstance(resize_to, int):
                resize_to = (resize_to, resize_to)
            resize_to = tuple(int(v) for v in resize_to)
            if len(resize_to) != 2 or min(resize_to) < _MIN_VGG_SIZE:
                raise ValueError(
                    "`resize_to` must be an int or a (height, width) pair, each >= "
                    f"{_MIN_VGG_SIZE}. Received: resize_to={resize_to}"
                )
        self.resize_to = resize_to

        vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
        if weights_file is not None:
            vgg.load_weights(weights_file)
        for layer in vgg.layers:
            if not isinstance(layer, keras.layers.InputLayer):
                layer.dtype_policy = self.dtype_policy
        self.feature_model = keras.Model(
            vgg.input, [vgg.get_layer(name).output for name in VGG_FEATURE_LAYERS]
        )
        self.feature_model.trainable = False

    @property
    def input_dtype(self):
        # Preprocess in float32; the VGG's own layers cast to the compute dtype.
        return "float32"

    def build(self, y_true_shape=None, y_pred_shape=None):
        self.built = True

    def _target_size(self, height, width):
        if self.resize_to is not None:
            return self.resize_to
        if height is None or width is None:
            return None
        if height >= _MIN_VGG_SIZE and width >= _MIN_VGG_SIZE:
            return None
        return (max(height, _MIN_VGG_SIZE), max(width, _MIN_VGG_SIZE))

    def preprocess(self, images):
        """Images in [0, 1] (1 or 3 channels) -> resized, caffe-preprocessed float32 BGR."""
        images = ops.cast(images, "float32")
        channels = images.shape[-1]
        if channels == 1:
            images = ops.concatenate([images] * 3, axis=-1)
        elif channels != 3:
            raise ValueError(
                "PerceptualLoss expects images with 1 or 3 channels. "
                f"Received images of shape {images.shape}"
            )
        size = self._target_size(images.shape[1], images.shape[2])
        if size is not None and tuple(images.shape[1:3]) != tuple(size):
            images = ops.image.resize(images, size, interpolation="bilinear")
        bgr = ops.flip(images * 255.0, axis=-1)
        return bgr - ops.convert_to_tensor(_CAFFE_BGR_MEAN, dtype="float32")

    def call(self, y_true, y_pred):
        batch = ops.shape(y_true)[0]
        both = ops.concatenate([self.preprocess(y_true), self.preprocess(y_pred)], axis=0)
        features = self.feature_model(both)
        total = 0.0
        for feature in features:
            feature = ops.cast(feature, "float32")
            norm = ops.sqrt(ops.sum(ops.square(feature), axis=-1, keepdims=True))
            feature = feature / (norm + 1e-10)
            diff = ops.square(feature[:batch] - feature[batch:])
            total = total + ops.mean(diff, axis=(1, 2, 3))
        return total

    def compute_output_shape(self, y_true_shape, y_pred_shape=None):
        return (y_true_shape[0],)

    def compute_output_spec(self, y_true, y_pred):
        return keras.KerasTensor((y_true.shape[0],), dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update({"weights": self.vgg_weights, "resize_to": self.resize_to})
        return config
