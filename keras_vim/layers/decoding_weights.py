"""Dense kernels transposed once for token-by-token decoding.

Each step of a cached sampling loop multiplies a handful of rows `(B, 1, K)` by every
`(K, N)` Dense kernel of the model, so a step costs about one read of all the weights. CPU
matmul kernels (XLA's, PyTorch's) read a kernel stored as `(N, K)`, where each output is a
contiguous dot product, about twice as fast in that regime (measured in
`benchmarks/README.md`). A sampling function therefore transposes the kernels once, before its
first step, and projects with `project`; the query, key and value kernels become one `(3N, K)`
matrix, so a step makes one product where it made three.
"""

from keras import ops

from keras_vim import backend_ops


def transposed_weights(*denses):
    """The kernels of `denses` (Dense layers of one input width, built) as one `(sum N, K)`
    matrix in their compute dtype, and their concatenated biases (None without biases)."""
    kernels = [ops.cast(dense.kernel, dense.compute_dtype) for dense in denses]
    kernel = kernels[0] if len(kernels) == 1 else ops.concatenate(kernels, axis=-1)
    weights = {"kernel": ops.transpose(kernel), "bias": None}
    if all(dense.use_bias for dense in denses):
        biases = [ops.cast(dense.bias, dense.compute_dtype) for dense in denses]
        weights["bias"] = biases[0] if len(biases) == 1 else ops.concatenate(biases, axis=-1)
    elif any(dense.use_bias for dense in denses):
        raise ValueError("Dense layers projected together must all have biases or none.")
    return weights


def project(inputs, weights, activation=None):
    """`inputs @ kernel + bias` for `weights` from `transposed_weights` (then `activation`)."""
    outputs = backend_ops.project(inputs, weights["kernel"])
    if weights["bias"] is not None:
        outputs = outputs + weights["bias"]
    return outputs if activation is None else activation(outputs)
