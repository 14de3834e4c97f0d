"""Analytic FLOP counts, for the utilisation of the prior's training step."""


def transformer_forward_flops(batch, length, num_layers, width, mlp_dim, vocabulary_size):
    """Multiply-add FLOPs (2 per multiply-add) of one forward pass of a decoder-only
    Transformer over `batch` sequences of `length` positions.

    Counted: the query/key/value/output projections (`4 width^2` per position and layer), the
    MLP (`2 width mlp_dim`), the attention scores and weighted sum (`2 length width` per
    position and layer, the full square as computed, not just its causal half) and the
    logits (`width vocabulary_size`). Not counted: embeddings, norms, softmax, biases.
    """
    per_position = num_layers * (4 * width * width + 2 * width * mlp_dim + 2 * length * width)
    per_position += width * vocabulary_size
    return 2.0 * batch * length * per_position


def transformer_train_flops(batch, length, num_layers, width, mlp_dim, vocabulary_size):
    """One training step: the forward pass and a backward pass of twice its cost."""
    return 3.0 * transformer_forward_flops(
        batch, length, num_layers, width, mlp_dim, vocabulary_size
    )
