"""Backend-agnostic part of ViT-VQGAN training: compile options, the two losses, bookkeeping.

The backend files (`jax_vqgan_trainer.py`, `torch_vqgan_trainer.py`,
`tensorflow_vqgan_trainer.py`) only take gradients and apply the two optimizers; everything
they differentiate is defined here once, in `keras.ops`. What the trained model itself must
provide (its forward pass, quantizer, discriminator) is declared in `tokenizer_hooks.py`.
"""

import keras
from keras import ops

from keras_vim.backend_ops import gather_replicas
from keras_vim.losses.adversarial import (
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    r1_penalty,
)
from keras_vim.losses.reconstruction import l1_loss, l2_loss, logit_laplace_loss
from keras_vim.metrics.codebook import CodebookPerplexity, CodebookUsage
from keras_vim.training.gan_optimizer import GANOptimizer
from keras_vim.training.schedules import vit_vqgan_optimizer
from keras_vim.training.tokenizer_hooks import TokenizerHooks, check_tokenizer_hooks
from keras_vim.utils.checks import check_integer, check_real

# Log names of the loss terms, in display order.
GENERATOR_TERMS = ("l2", "l1", "logit_laplace", "perceptual", "vq", "generator_adversarial")
DISCRIMINATOR_TERMS = ("discriminator_adversarial", "r1")


class _Unsaved:
    """Holds loss networks (the VGG of the perceptual loss) outside Keras' tracking.

    They belong to the training recipe, not to the tokenizer: kept out of the model's weights,
    so saved tokenizers do not carry 15M frozen VGG parameters.
    """

    def __init__(self, **networks):
        self.__dict__.update(networks)


def unpack_images(data):
    """`images`, `(images, labels)` or `{"images": ...}` batches -> images."""
    if isinstance(data, dict):
        return data["images"]
    if isinstance(data, (tuple, list)):
        return data[0]
    return data


class VQGANTrainerBase(TokenizerHooks, keras.Model):
    """Training logic shared by the per-backend ViT-VQGAN trainers (see `compile`).

    A subclass is the tokenizer: it provides the `TokenizerHooks` (checked in `compile`).
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._trackers = {
            name: keras.metrics.Mean(name=name)
            for name in ("loss", *GENERATOR_TERMS, "discriminator_loss", *DISCRIMINATOR_TERMS)
        }
        self._loss_terms = _Unsaved(perceptual=None)
        self.loss_weights = None

    def compile(
        self,
        optimizer=None,
        discriminator_optimizer=None,
        l2_weight=1.0,
        l1_weight=0.0,
        logit_laplace_weight=0.1,
        perceptual_weight=0.1,
        perceptual_network_weights="imagenet",
        adversarial_weight=0.1,
        vq_weight=1.0,
        discriminator_start=0,
        r1_weight=0.0,
        dead_code_restart_steps=None,
        **kwargs,
    ):
        """Configures training with the paper's loss (section 3.3).

        Total generator loss: `vq_weight * L_VQ + adversarial_weight * L_adv +
        perceptual_weight * L_perceptual + logit_laplace_weight * L_logit-laplace +
        l2_weight * L_2 + l1_weight * L_1` (L1 is not in the paper; 0 by default). The pixel
        losses compare the decoder's prediction before it is clipped to [0, 1]. The
        discriminator minimises the non-saturating GAN loss plus `r1_weight / 2 * R1`
        (StyleGAN2).

        Args:
            optimizer: the tokenizer's optimizer; default `vit_vqgan_optimizer()` (AdamW
                0.9/0.99, warm-up to 1e-4 over 50k steps, cosine to 5e-5 at 500k, decay 1e-4).
            discriminator_optimizer: the discriminator's own optimizer; same default.
            l2_weight, l1_weight, logit_laplace_weight, perceptual_weight,
                adversarial_weight, vq_weight: the loss weights. `logit_laplace_weight` must
                be 0 for a model built with `logit_laplace=False` (the Parti variant).
            perceptual_network_weights: the VGG16 weights for the perceptual loss: "imagenet"
                (Keras' cached file, never downloaded here), a path to a weights file, or None
                for random weights (tests only). Unused when `perceptual_weight` is 0.
            discriminator_start: generator step from which the adversarial terms count. Before
                it both adversarial losses are multiplied by 0, so the discriminator receives
                zero gradients.
            r1_weight: R1 gradient-penalty weight (gamma); 0 turns it off.
            dead_code_restart_steps: for a quantizer built with `restart_dead_codes=True`,
                re-seed dead codes during the first this many steps (None: always).
            **kwargs: passed to `keras.Model.compile` (e.g. `jit_compile`,
                `steps_per_execution`).
        """
        check_tokenizer_hooks(self)
        weights = {
            "l2": l2_weight,
            "l1": l1_weight,
            "logit_laplace": logit_laplace_weight,
            "perceptual": perceptual_weight,
            "vq": vq_weight,
            "generator_adversarial": adversarial_weight,
        }
        for name, value in weights.items():
            check_real(f"{name}_weight", value, minimum=0)
        if logit_laplace_weight and not self.logit_laplace:
            raise ValueError(
                "`logit_laplace_weight` must be 0 for a model built with logit_laplace=False "
                "(its decoder predicts no scale)."
            )
        discriminator_start = check_integer("discriminator_start", discriminator_start, minimum=0)
        r1_weight = check_real("r1_weight", r1_weight, minimum=0)
        if self.dtype_policy.compute_dtype == "float16":
            # Keras would wrap the optimizer in a LossScaleOptimizer, which cannot hold two.
            raise ValueError(
                "VitVQGAN training supports float32 and mixed_bfloat16, not float16 policies; "
                "use keras.config.set_dtype_policy('mixed_bfloat16')."
            )
        self.loss_weights = weights
        self.perceptual_network_weights = perceptual_network_weights
        self.discriminator_start = discriminator_start
        self.r1_weight = float(r1_weight)
        self.dead_code_restart_steps = dead_code_restart_steps
        self._loss_terms.perceptual = None
        if perceptual_weight:
            from keras_vim.losses.perceptual import PerceptualLoss

            self._loss_terms.perceptual = PerceptualLoss(weights=perceptual_network_weights)

        self._compile_arguments = {
            "l2_weight": l2_weight,
            "l1_weight": l1_weight,
            "logit_laplace_weight": logit_laplace_weight,
            "perceptual_weight": perceptual_weight,
            "perceptual_network_weights": perceptual_network_weights,
            "adversarial_weight": adversarial_weight,
            "vq_weight": vq_weight,
            "discriminator_start": discriminator_start,
            "r1_weight": r1_weight,
            "dead_code_restart_steps": dead_code_restart_steps,
        }
        generator_optimizer = optimizer if optimizer is not None else vit_vqgan_optimizer()
        if isinstance(generator_optimizer, GANOptimizer):
            gan_optimizer = generator_optimizer
            gan_optimizer._discriminator_variables = self._discriminator_trainable_variables
        else:
            gan_optimizer = GANOptimizer(
                generator_optimizer,
                discriminator_optimizer
                if discriminator_optimizer is not None
                else vit_vqgan_optimizer(),
                discriminator_variables=self._discriminator_trainable_variables,
            )
        super().compile(optimizer=gan_optimizer, **kwargs)

    @property
    def trains_discriminator(self):
        """Whether `fit` updates the discriminator (only when the adversarial term is on)."""
        return bool(self.loss_weights and self.loss_weights["generator_adversarial"])

    def _discriminator_trainable_variables(self):
        return self.discriminator.trainable_variables

    def get_compile_config(self):
        if not self.compiled:
            return None
        return {
            "optimizer": keras.optimizers.serialize(self.optimizer),
            **self._compile_arguments,
        }

    def compile_from_config(self, config):
        config = dict(config)
        optimizer = keras.optimizers.deserialize(config.pop("optimizer"))
        self.compile(optimizer=optimizer, **config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        if self.loss_weights is None:
            return []
        names = ["loss"]
        names += [n for n in GENERATOR_TERMS if self.loss_weights[n]]
        if self.loss_weights["generator_adversarial"]:
            names += ["discriminator_loss", "discriminator_adversarial"]
            if self.r1_weight:
                names.append("r1")
        return [self._trackers[n] for n in names] + [self.codebook_usage, self.codebook_perplexity]

    def _build_codebook_metrics(self, num_codes):
        self.codebook_usage = CodebookUsage(num_codes, name="codebook_usage")
        self.codebook_perplexity = CodebookPerplexity(num_codes, name="codebook_perplexity")

    # --- what the backends differentiate -------------------------------------------------

    def _adversarial_active(self):
        """True once the generator has taken `discriminator_start` steps (a bool tensor)."""
        return ops.greater_equal(self.optimizer.iterations, self.discriminator_start)

    def _when_adversarial(self, compute, num_outputs):
        """`compute()` once the adversarial terms count, else zeros; before
        `discriminator_start` the discriminator does not even run (it is most of a tiny
        model's step)."""
        if self.discriminator_start == 0:
            return compute()
        return ops.cond(
            self._adversarial_active(),
            compute,
            lambda: tuple(ops.zeros((), "float32") for _ in range(num_outputs)),
        )

    def generator_losses(self, images, training=True):
        """Total generator loss, its weighted terms and the forward outputs."""
        outputs = self.forward_outputs(images, training=training)
        reconstruction = outputs["reconstruction"]
        targets = ops.cast(images, "float32")
        terms = {"vq": outputs["vq_loss"]}
        # The pixel losses compare the unclipped prediction (see `_decode_tokens`).
        terms["l2"] = l2_loss(targets, outputs["prediction"])
        if self.loss_weights["l1"]:
            terms["l1"] = l1_loss(targets, outputs["prediction"])
        if self.loss_weights["logit_laplace"]:
            terms["logit_laplace"] = logit_laplace_loss(
                targets, outputs["location"], outputs["log_scale"]
            )
        if self.loss_weights["perceptual"]:
            terms["perceptual"] = ops.mean(self._loss_terms.perceptual(targets, reconstruction))
        if self.loss_weights["generator_adversarial"]:

            def adversarial():
                fake_logits = self.discriminator(reconstruction, training=training)
                return (generator_adversarial_loss(fake_logits),)

            (terms["generator_adversarial"],) = self._when_adversarial(adversarial, 1)
        total = 0.0
        for name, value in terms.items():
            total = total + self.loss_weights[name] * ops.cast(value, "float32")
        return total, terms, outputs

    def discriminator_losses(self, images, fake_images):
        """Total discriminator loss and its terms; `fake_images` carry no gradient.

        Before `discriminator_start` everything is 0, so the discriminator gets zero gradients.
        """
        if not self.loss_weights["generator_adversarial"]:
            return ops.zeros(()), {}
        images = ops.cast(images, self.compute_dtype)

        def losses():
            fake_logits = self.discriminator(fake_images, training=True)
            r1 = ops.zeros((), "float32")
            if self.r1_weight:
                real_logits, real_grads = self.value_and_input_gradient(
                    lambda x: self.discriminator(x, training=True), images
                )
                r1 = r1_penalty(ops.cast(real_grads, "float32"))
            else:
                real_logits = self.discriminator(images, training=True)
            adversarial = discriminator_adversarial_loss(
                ops.cast(real_logits, "float32"), ops.cast(fake_logits, "float32")
            )
            return adversarial + 0.5 * self.r1_weight * r1, adversarial, r1

        total, adversarial, r1 = self._when_adversarial(losses, 3)
        terms = {"discriminator_adversarial": adversarial}
        if self.r1_weight:
            terms["r1"] = r1
        return total, terms

    def value_and_input_gradient(self, fn, inputs):
        """`(fn(inputs), d sum(fn(inputs)) / d inputs)`, differentiable again (for R1)."""
        raise NotImplementedError

    # --- after the update -----------------------------------------------------------------

    def after_update(self, images, total, terms, discriminator_total, discriminator_terms, outputs):
        """Dead-code restarts and metric updates; returns the logs. Runs after both updates."""
        if self.quantizer.restart_dead_codes:
            enabled = True
            if self.dead_code_restart_steps is not None:
                enabled = ops.less_equal(self.optimizer.iterations, self.dead_code_restart_steps)
            self.quantizer.restart_dead_codes_from(
                outputs["latents"], outputs["errors"], enabled=enabled
            )
        return self.update_metrics(total, terms, discriminator_total, discriminator_terms, outputs)

    def update_metrics(self, total, terms, discriminator_total, discriminator_terms, outputs):
        self._trackers["loss"].update_state(total)
        for name, value in {**terms, **discriminator_terms}.items():
            self._trackers[name].update_state(value)
        if discriminator_terms:
            self._trackers["discriminator_loss"].update_state(discriminator_total)
        # Usage of the whole batch, also when TensorFlow replicas each hold a part of it.
        ids = gather_replicas(outputs["ids"])
        self.codebook_usage.update_state(ids)
        self.codebook_perplexity.update_state(ids)
        skipped = () if discriminator_terms else ("discriminator_loss", *DISCRIMINATOR_TERMS)
        return {m.name: m.result() for m in self.metrics if m.name not in skipped}
