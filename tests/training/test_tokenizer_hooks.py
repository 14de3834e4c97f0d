"""`keras_vim.training` on its own: a model that provides only the `TokenizerHooks` trains."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_vim.layers import VectorQuantizer
from keras_vim.training import TokenizerHooks, VQGANTrainer


class PixelTokenizer(VQGANTrainer):
    """A tokenizer of 4x4 grayscale images, one token per pixel: the hooks and nothing else
    (no keras_vim model class, no presets, no input checks)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.logit_laplace = False
        self.encoder = keras.layers.Dense(4, name="encoder")
        self.quantizer = VectorQuantizer(num_codes=8, code_dim=2, output_dim=4, name="quantizer")
        self.decoder = keras.layers.Dense(1, name="decoder")
        self.discriminator = keras.Sequential(
            [keras.Input((4, 4, 1)), keras.layers.Flatten(), keras.layers.Dense(1)],
            name="discriminator",
        )
        self._build_codebook_metrics(8)
        self.build((None, 4, 4, 1))

    def build(self, input_shape):
        self.encoder.build((None, 16, 1))
        self.quantizer.build((None, 16, 4))
        self.decoder.build((None, 16, 4))
        self.built = True

    def prepare_images(self, images):
        return ops.cast(images, self.compute_dtype)

    def forward_outputs(self, images, training=None):
        latents = self.encoder(ops.reshape(images, (-1, 16, 1)))
        quantized = self.quantizer(latents, training=training)
        prediction = ops.cast(
            ops.reshape(self.decoder(quantized["quantized"]), (-1, 4, 4, 1)), "float32"
        )
        outputs = {k: quantized[k] for k in ("ids", "vq_loss", "latents", "errors")}
        outputs["prediction"] = prediction
        outputs["reconstruction"] = ops.clip(prediction, 0.0, 1.0)
        return outputs


def _compile(model):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        discriminator_optimizer=keras.optimizers.Adam(1e-2),
        logit_laplace_weight=0.0,
        perceptual_weight=0.0,
    )


def test_a_model_with_only_the_hooks_trains_both_networks():
    model = PixelTokenizer()
    _compile(model)
    images = np.random.default_rng(0).random((8, 4, 4, 1)).astype("float32")
    generator = model.encoder.trainable_variables + model.decoder.trainable_variables
    discriminator = model.discriminator.trainable_variables
    before = [ops.convert_to_numpy(v).copy() for v in generator + discriminator]
    history = model.fit(images, batch_size=4, epochs=1, verbose=0)
    after = [ops.convert_to_numpy(v) for v in generator + discriminator]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))
    logs = history.history
    assert {"loss", "l2", "vq", "generator_adversarial", "discriminator_loss"} <= set(logs)
    assert 0 < logs["codebook_usage"][-1] <= 1 and np.isfinite(logs["loss"][-1])


class Incomplete(VQGANTrainer):
    """No forward pass and no discriminator: what compile must name."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.logit_laplace = False
        self.quantizer = VectorQuantizer(num_codes=4, code_dim=2)

    def prepare_images(self, images):
        return images


def test_compile_names_every_missing_hook():
    with pytest.raises(TypeError) as error:
        _compile(Incomplete())
    message = str(error.value)
    assert message.startswith("Incomplete cannot be trained by VQGANTrainer: it lacks ")
    for missing in ("method `forward_outputs`", "layer `discriminator`", "`codebook_usage`"):
        assert missing in message
    assert "prepare_images" not in message and "quantizer" not in message


def test_the_hooks_declare_what_the_models_define():
    from keras_vim.models import VQGANBase

    for name in ("prepare_images", "forward_outputs"):
        assert getattr(VQGANBase, name) is not getattr(TokenizerHooks, name)
