"""The tanh feed-forward head at the end of the ViT encoder and decoder (paper section 3.1)."""

import keras


@keras.saving.register_keras_serializable(package="keras_vim")
class TanhHead(keras.layers.Layer):
    """Two-layer feed-forward head with a tanh in the middle.

    ViT-VQGAN ends both the encoder (before the quantizer) and the decoder (before the pixel
    projection) with this head; the bounded tanh activation keeps the latents well scaled.

    Args:
        hidden_dim: width of the tanh layer.
        output_dim: width of the output.

    Example:
    >>> head = keras_vim.layers.TanhHead(hidden_dim=128, output_dim=32)
    >>> head(np.zeros((2, 16, 64))).shape
    (2, 16, 32)
    """

    def __init__(self, hidden_dim, output_dim, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.output_dim = output_dim
        self.hidden = keras.layers.Dense(
            hidden_dim, activation="tanh", name="hidden", dtype=self.dtype_policy
        )
        self.output_projection = keras.layers.Dense(
            output_dim, name="output_projection", dtype=self.dtype_policy
        )

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.output_projection.build((*input_shape[:-1], self.hidden_dim))

    def call(self, inputs):
        return self.output_projection(self.hidden(inputs))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update({"hidden_dim": self.hidden_dim, "output_dim": self.output_dim})
        return config
