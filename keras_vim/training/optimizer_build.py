"""Building a model's optimizer before TensorFlow traces its first train step."""


def build_optimizer_before_trace(model):
    """Builds `model.optimizer` now, if the model's layers are built and it is not.

    Without a distribution strategy Keras leaves the optimizer to be built inside the first
    traced step, and TensorFlow then traces that step twice (once creating the optimizer's
    variables, once more without). Built here, a fresh model traces once. A model whose layers
    are not built yet is left to Keras: its variables are made in that trace too.
    """
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        if all(layer.built for layer in model._flatten_layers()):
            optimizer.build(model.trainable_variables)
