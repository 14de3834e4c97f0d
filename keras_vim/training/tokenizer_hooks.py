"""What a model trained by `VQGANTrainer` must provide: the tokenizer's training hooks.

`VQGANTrainer` (this package) is the `keras.Model` whose `fit` trains an image tokenizer with
the paper's losses (section 3.3). It knows nothing of the tokenizer's architecture: everything
it needs from the model is declared here, in `TokenizerHooks`, and checked by
`check_tokenizer_hooks` when the model is compiled, so a model that lacks one fails with the
member's name instead of an AttributeError deep inside a traced train step.
`keras_vim.models.VQGANBase` provides the hooks for `VitVQGAN` and `CnnVQGAN`.
"""

# The attributes (not methods) a trained model holds, and the members each must have.
REQUIRED_LAYERS = {
    "quantizer": ("restart_dead_codes", "restart_dead_codes_from", "trainable_variables"),
    "discriminator": ("trainable_variables",),
}
REQUIRED_ATTRIBUTES = ("logit_laplace", "codebook_usage", "codebook_perplexity")
REQUIRED_METHODS = ("prepare_images", "forward_outputs")


class TokenizerHooks:
    """The members a model trained by `VQGANTrainer` defines (the trainer calls nothing else).

    Methods (override both):
        prepare_images(images): a batch as `fit` receives it (uint8 in [0, 255] or float in
            [0, 1]) -> float images in [0, 1] in the model's compute dtype.
        forward_outputs(images, training=None): one pass over prepared images; a dict of
            `reconstruction` (images clipped to [0, 1], what the discriminator sees),
            `prediction` (float32, the same before the clip: what the pixel losses compare),
            `ids` (the code of each token), `vq_loss` (a scalar), `latents` and `errors`
            (the quantizer's inputs and their distances to the chosen codes, for dead-code
            restarts) and, when `logit_laplace` is True, `location` and `log_scale`.

    Attributes (set in the model's constructor; instance attributes, not class ones, so that
    Keras and PyTorch track the layers):
        quantizer: a layer with `restart_dead_codes` (bool) and
            `restart_dead_codes_from(latents, errors, enabled)`, e.g.
            `keras_vim.layers.VectorQuantizer`.
        discriminator: a layer mapping images to real/fake logits, trained by the second
            optimizer (e.g. `keras_vim.layers.StyleGANDiscriminator`).
        logit_laplace: whether `forward_outputs` returns the logit-Laplace outputs.
        codebook_usage, codebook_perplexity: the codebook metrics, made by calling the
            trainer's `_build_codebook_metrics(num_codes)` before the model is built.
    """

    def prepare_images(self, images):
        raise NotImplementedError

    def forward_outputs(self, images, training=None):
        raise NotImplementedError


def check_tokenizer_hooks(model):
    """Raises a TypeError naming every `TokenizerHooks` member `model` lacks."""
    missing = []
    for name in REQUIRED_METHODS:
        if getattr(type(model), name, None) in (None, getattr(TokenizerHooks, name)):
            missing.append(f"method `{name}`")
    for name, members in REQUIRED_LAYERS.items():
        layer = getattr(model, name, None)
        if layer is None:
            missing.append(f"layer `{name}`")
            continue
        missing += [f"`{name}.{member}`" for member in members if not hasattr(layer, member)]
    missing += [f"attribute `{name}`" for name in REQUIRED_ATTRIBUTES if not hasattr(model, name)]
    if missing:
        raise TypeError(
            f"{type(model).__name__} cannot be trained by VQGANTrainer: it lacks "
            f"{', '.join(missing)} (see keras_vim.training.TokenizerHooks)."
        )
