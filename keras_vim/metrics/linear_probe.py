"""Linear probes (paper section 4.2): how linearly separable the classes are in a frozen
model's features.

The paper freezes VIM, average-pools the token features of one Transformer block and trains a
linear softmax classifier on them; the middle blocks give the best features. `probe_features`
extracts those features (`VIM.features`) for a whole token dataset; `fit_linear_probe` is the
probe protocol (iGPT's practice): a multinomial logistic regression on standardized features,
fitted to convergence by full-batch (preconditioned) L-BFGS, its L2 strength chosen on a
validation split of the training set, scored on the test set. Any features go through the
same protocol: raw pixels, reconstructions, `bag_of_codes_features` (a histogram of the
tokens) or a prior's features.
"""

import keras
import numpy as np
from keras import ops

from keras_vim.utils.batches import call_padded
from keras_vim.utils.checks import check_id_range, check_integer, check_real
from keras_vim.utils.compiled import compile_function

# Strengths of the L2 penalty `l2 / 2 * ||W||^2` added to the mean cross-entropy, tried on
# the validation split (standardized features: one grid serves any feature scale). Weaker
# strengths (1e-5, 1e-6) scored lower on validation where they were tried on Fashion-MNIST
# (prior features; the pixels, reconstructions and bag of codes chose 1e-2) and took most of
# the L-BFGS time; `l2_grid` reaches lower where a problem needs it.
L2_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)


def probe_features(prior, token_ids, block=None, class_ids=None, batch_size=256):
    """Average-pooled block features `(N, hidden_dim)` (float32 numpy) of a frozen VIM.

    Args:
        prior: a `keras_vim.models.VIM` (run in inference mode).
        token_ids: token ids `(N, h, w)` or `(N, h * w)` (numpy or tensor).
        block: 1-based Transformer block (default the middle one); see `VIM.features`. A
            list or tuple of blocks gives `(len(block), N, hidden_dim)`: every block's
            features from one pass, the cost of the deepest block alone.
        class_ids: `(N,)` classes for a class-conditional VIM; default the null class, so the
            features do not see the label.
        batch_size: grids per call; every call gets this many (the last batch is padded, then
            cut), so the compiled function is built once.
    """
    token_ids = np.asarray(ops.convert_to_numpy(token_ids))
    batch_size = check_integer("batch_size", batch_size, minimum=1)
    if token_ids.ndim not in (2, 3) or not len(token_ids):
        raise ValueError(
            f"`token_ids` must be a non-empty array (N, h, w) or (N, h * w), got shape "
            f"{token_ids.shape}."
        )
    prior.check_tokens(token_ids[:1], "token_ids")  # shape, dtype
    if class_ids is not None:
        class_ids = np.asarray(ops.convert_to_numpy(class_ids)).astype("int32")
        prior.check_class_ids(class_ids, len(token_ids))
    elif prior.num_classes is not None:
        class_ids = np.full((len(token_ids),), prior.null_class_id, "int32")
    if isinstance(block, (list, tuple)):
        block = [check_integer("block", b, minimum=1, maximum=prior.num_layers) for b in block]
    else:
        block = check_integer("block", block, minimum=1, maximum=prior.num_layers, allow_none=True)

    def pooled(tokens, classes):
        features = prior.features(tokens, classes, block)
        # Several blocks: batch first, so that the padded rows are cut along it.
        return ops.transpose(features, (1, 0, 2)) if isinstance(block, list) else features

    function = compile_function(prior, pooled)
    outputs = []

    def call(tokens, classes):
        classes = None if classes is None else ops.convert_to_tensor(classes)
        return function(ops.convert_to_tensor(tokens), classes)

    for start in range(0, len(token_ids), batch_size):
        tokens = token_ids[start : start + batch_size].astype("int32")
        classes = None if class_ids is None else class_ids[start : start + batch_size]
        features = call_padded(call, (tokens, classes), batch_size)
        outputs.append(np.asarray(features, "float32"))
    features = np.concatenate(outputs)
    return np.moveaxis(features, 1, 0) if isinstance(block, list) else features


def bag_of_codes_features(token_ids, num_codes):
    """The normalized histogram `(N, num_codes)` (float32 numpy) of each image's tokens.

    A control for the probe: what a linear classifier reads from *which* codes an image uses,
    without their positions or any model on top. Each row sums to 1.

    Args:
        token_ids: token ids `(N, h, w)` or `(N, h * w)` (numpy or tensor), in
            `[0, num_codes - 1]`.
        num_codes: the tokenizer's codebook size.

    Example:
    >>> keras_vim.metrics.bag_of_codes_features(np.array([[0, 2, 2, 3]]), num_codes=4)
    array([[0.25, 0.  , 0.5 , 0.25]], dtype=float32)
    """
    num_codes = check_integer("num_codes", num_codes, minimum=1)
    token_ids = np.asarray(ops.convert_to_numpy(token_ids))
    if not np.issubdtype(token_ids.dtype, np.integer):
        raise TypeError(f"`token_ids` must hold integer ids, got dtype {token_ids.dtype}.")
    if token_ids.ndim not in (2, 3) or not token_ids.size:
        raise ValueError(
            f"`token_ids` must be a non-empty array (N, h, w) or (N, h * w), got shape "
            f"{token_ids.shape}."
        )
    check_id_range("token_ids", token_ids, num_codes, f"num_codes={num_codes}")
    token_ids = token_ids.reshape(len(token_ids), -1).astype("int64")
    # One bincount over (image, code) pairs: every row at once.
    rows = np.arange(len(token_ids))[:, None] * num_codes
    counts = np.bincount((rows + token_ids).ravel(), minlength=len(token_ids) * num_codes)
    counts = counts.reshape(len(token_ids), num_codes)
    return (counts / token_ids.shape[1]).astype("float32")


def _check_split(features, labels, name):
    if not isinstance(features, np.ndarray):
        features = ops.convert_to_numpy(features)
    features = np.asarray(features, "float64")  # the fit runs in float64 on every backend
    labels = np.asarray(ops.convert_to_numpy(labels))
    if features.ndim < 2 or not len(features):
        raise ValueError(
            f"`{name}_features` must be a non-empty array (N, ...), got {features.shape}."
        )
    if labels.shape != (len(features),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"`{name}_labels` must be {len(features)} int class ids (one per feature row), got "
            f"shape {labels.shape} and dtype {labels.dtype}."
        )
    if not np.all(np.isfinite(features)):
        raise ValueError(f"`{name}_features` contains NaN or infinite values.")
    return features.reshape(len(features), -1), labels.astype("int64")


def _check_grid(l2_grid):
    try:
        values = list(l2_grid)
    except TypeError:
        raise TypeError(f"`l2_grid` must be a sequence of numbers > 0, got {l2_grid!r}.") from None
    if not values:
        raise ValueError("`l2_grid` must hold at least one L2 strength, got none.")
    values = [check_real("l2_grid", value, minimum=0, include_minimum=False) for value in values]
    return sorted(set(values), reverse=True)  # strongest first: each fit warm-starts the next


def validation_split(labels, validation_fraction=0.1, seed=0):
    """Indices `(fit, validation)` of a seeded, class-stratified split of a training set.

    Each class gives `round(validation_fraction * count)` of its rows to the validation split
    (at most all but one, so every class stays in the fit part), chosen by a permutation
    seeded with `seed`; both index arrays are sorted. Deterministic: the same labels, fraction
    and seed give the same split on every backend and machine.

    Args:
        labels: `(N,)` int class ids of the training set.
        validation_fraction: the share of each class held out, in (0, 1).
        seed: seed of the permutation.
    """
    labels = np.asarray(ops.convert_to_numpy(labels))
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"`labels` must be a 1-D array of int class ids, got shape {labels.shape} and "
            f"dtype {labels.dtype}."
        )
    fraction = check_real(
        "validation_fraction",
        validation_fraction,
        0,
        1,
        include_minimum=False,
        include_maximum=False,
    )
    seed = check_integer("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    held_out = []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        count = min(int(np.floor(fraction * len(rows) + 0.5)), len(rows) - 1)
        held_out.append(rows[:count])
    validation = np.sort(np.concatenate(held_out)) if held_out else np.zeros((0,), "int64")
    if not len(validation):
        raise ValueError(
            f"`validation_fraction={fraction}` of {len(labels)} training rows leaves no "
            "validation rows; use more training rows or a larger fraction."
        )
    fit = np.setdiff1d(np.arange(len(labels)), validation)
    return fit, validation


def _standardization(features):
    """Per-dimension mean and scale; constant dimensions (e.g. the zero padding of
    Fashion-MNIST) keep scale 1, so they stay constant instead of dividing by zero."""
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    return mean, np.where(std > 1e-6, std, 1.0)


def _kernel_and_bias(parameters, dim, num_classes):
    """The flat L-BFGS vector as the classifier's kernel `(dim, k)` and bias `(k,)`."""
    return parameters[: dim * num_classes].reshape(dim, num_classes), parameters[
        dim * num_classes :
    ]


def _softmax_regression_objective(parameters, features, labels, num_classes, l2, penalty=1.0):
    """The regularized mean softmax cross-entropy and its analytic gradient (float64).

    `parameters` is the kernel `(d, k)` flattened, then the bias `(k,)`; the penalty is
    `l2 / 2 * sum_i penalty_i * ||kernel_i||^2` over the kernel's rows (`penalty` 1: the plain
    `l2 / 2 * ||kernel||^2`). The bias is not penalized (a shift of all logits of a class is no
    complexity of the classifier).
    """
    kernel, bias = _kernel_and_bias(parameters, features.shape[1], num_classes)
    penalty = np.reshape(penalty, (-1, 1))
    logits = features @ kernel + bias
    logits -= logits.max(axis=1, keepdims=True)  # a shift per row: same softmax, no overflow
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    rows = np.arange(len(features))
    loss = -log_probs[rows, labels].mean() + 0.5 * l2 * np.sum(penalty * kernel * kernel)
    # d(mean CE)/d(logits) = (softmax - one_hot) / N.
    residual = np.exp(log_probs)
    residual[rows, labels] -= 1.0
    residual /= len(features)
    gradient = features.T @ residual + l2 * penalty * kernel
    return loss, np.concatenate([gradient.ravel(), residual.sum(0)])


# Above this many dimensions the fit skips the preconditioner: its eigendecomposition
# (~dim^3) would cost more than it saves.
PRECONDITIONED_DIMS = 4096


class _PrincipalAxes:
    """The principal axes of standardized features, in which the fit runs preconditioned.

    At zero weights (a uniform softmax) the objective's Hessian is `cov(x) / k + l2 I` along
    every direction that changes the class probabilities; on correlated features such as
    pixels its eigenvalues span many decades, and L-BFGS crawls. In the axes `u_i` of `cov(x)`
    (variances `v_i`), with the kernel written `W = U diag(s) B`, `s_i = (v_i / k + l2)^-1/2`,
    that Hessian is the identity in `B`. The change of variables is exact, the objective the
    same (`||W||^2 = sum_i s_i^2 ||B_i||^2`); axes without variance (constant or duplicated
    dimensions) are dropped, where the optimum has no weight anyway. Above
    `PRECONDITIONED_DIMS` dimensions nothing changes: `U = I`, `s = 1`.
    """

    def __init__(self, features):
        self.dim = features.shape[1]
        if self.dim > PRECONDITIONED_DIMS:
            self.axes, self.variances, self.scores = None, None, features
            return
        variances, axes = np.linalg.eigh(features.T @ features / len(features))
        kept = variances > 1e-10 * max(variances.max(), 1e-300)
        self.axes, self.variances = axes[:, kept], variances[kept]
        self.scores = features @ self.axes

    def scales(self, num_classes, l2):
        if self.variances is None:
            return np.ones(self.dim)
        return 1.0 / np.sqrt(self.variances / num_classes + l2)

    def features_in_axes(self, scales):
        """The features the fit sees, `x U diag(s)` (the features themselves, uncopied, where
        nothing changes: wide features are the ones a copy would hurt)."""
        return self.scores if self.axes is None else self.scores * scales

    def _rotate(self, matrix, back):
        if self.axes is None:
            return matrix
        return self.axes @ matrix if back else self.axes.T @ matrix

    def kernel_in_axes(self, kernel, scales):
        """`B` of a kernel `W` (of its part in the axes; the rest is zero at any optimum)."""
        return self._rotate(kernel, back=False) / scales[:, None]

    def kernel_from_axes(self, kernel, scales):
        """`W = U diag(s) B`."""
        return self._rotate(kernel * scales[:, None], back=True)

    def gradient_from_axes(self, gradient, scales):
        """`dL/dW = U diag(1/s) dL/dB` (from `dL/dB = diag(s) U^T dL/dW`, as `dL/dW` lies
        in the axes' span)."""
        return self._rotate(gradient / scales[:, None], back=True)


def _fit_softmax_regression(axes, labels, num_classes, l2, initial, max_iterations, tolerance):
    """The regularized softmax regression on the features whose `_PrincipalAxes` are `axes`,
    by L-BFGS in the preconditioned variables, from the flat kernel-and-bias `initial`.

    Converged: no entry of the gradient w.r.t. the kernel and bias (in the features' own
    coordinates) exceeds `tolerance`, or a step no longer changes the loss at float64
    precision. Returns the flat kernel and bias, iterations, converged and the final loss.
    """
    import scipy.optimize  # here: it takes ~0.5 s to import, and `import keras_vim` needs none

    scales = axes.scales(num_classes, l2)
    features, rank = axes.features_in_axes(scales), len(scales)
    kernel, bias = _kernel_and_bias(initial, axes.dim, num_classes)
    arguments = (features, labels, num_classes, l2, scales**2)
    last = {}

    def objective(parameters):
        loss, gradient = _softmax_regression_objective(parameters, *arguments)
        last["parameters"], last["gradient"] = parameters.copy(), gradient
        return loss, gradient

    def stop_when_converged(intermediate_result):
        if not np.array_equal(intermediate_result.x, last["parameters"]):
            objective(intermediate_result.x)
        kernel_gradient, bias_gradient = _kernel_and_bias(last["gradient"], rank, num_classes)
        kernel_gradient = axes.gradient_from_axes(kernel_gradient, scales)
        if max(np.abs(kernel_gradient).max(), np.abs(bias_gradient).max()) <= tolerance:
            last["converged"] = True
            raise StopIteration

    result = scipy.optimize.minimize(
        objective,
        np.concatenate([axes.kernel_in_axes(kernel, scales).ravel(), bias]),
        method="L-BFGS-B",
        jac=True,
        callback=stop_when_converged,
        # The callback stops on the gradient in the features' coordinates (gtol would test
        # the preconditioned one); ftol stops when a step no longer changes the loss.
        options={"maxiter": max_iterations, "gtol": 0.0, "ftol": 1e-14},
    )
    converged = last.get("converged", False) or bool(result.success)
    kernel, bias = _kernel_and_bias(result.x, rank, num_classes)
    parameters = np.concatenate([axes.kernel_from_axes(kernel, scales).ravel(), bias])
    return parameters, int(result.nit), converged, float(result.fun)


def _logits(parameters, features, num_classes):
    kernel, bias = _kernel_and_bias(parameters, features.shape[1], num_classes)
    return features @ kernel + bias


def _accuracy(parameters, features, labels, num_classes):
    return float(np.mean(np.argmax(_logits(parameters, features, num_classes), 1) == labels))


def fit_linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    num_classes=None,
    l2_grid=L2_GRID,
    validation_fraction=0.1,
    max_iterations=1000,
    tolerance=1e-6,
    seed=0,
    verbose=0,
):
    """The linear-probe protocol: L2-regularized softmax regression by full-batch L-BFGS.

    1. A seeded, class-stratified `validation_fraction` of the training rows is held out
       (`validation_split`); the test set plays no part until step 4.
    2. For each L2 strength of `l2_grid`, a multinomial logistic regression is fitted on the
       remaining training rows, standardized with *their* per-dimension mean and standard
       deviation, minimizing `mean cross-entropy + l2 / 2 * ||kernel||^2` (bias unpenalized)
       with scipy's L-BFGS-B on the exact float64 gradient, from the strongest strength to the
       weakest, each fit starting from the previous solution. L-BFGS runs in the features'
       principal axes, each scaled so that the objective's curvature at zero weights is the
       same along all of them: an exact change of variables (the same optimum) that halves the
       iterations on correlated features such as Fashion-MNIST's pixels. The strength with the best
       validation accuracy is chosen (ties: the stronger one).
    3. The classifier is refitted at that strength on *all* training rows (fit part and
       validation split), standardized with their statistics: the validation split has done
       its job once the strength is chosen, and refitting on every training label makes
       the probe use as much data as a protocol without a held-out split, so its numbers can
       be set beside those.
    4. Train (all training rows) and test accuracy of the refitted classifier are reported.

    Everything runs in numpy/scipy (float64), so the numbers are the same under every Keras
    backend. Accuracies are top-1 fractions.

    Args:
        train_features, test_features: `(N, ...)` features (flattened), e.g. from
            `probe_features` or `bag_of_codes_features`, or raw pixels for a baseline.
        train_labels, test_labels: `(N,)` int class ids.
        num_classes: default `max(label) + 1` over both splits.
        l2_grid: the L2 strengths tried (each > 0), on standardized features.
        validation_fraction: the share of each class of the training set held out to choose
            the strength, in (0, 1).
        max_iterations: the most L-BFGS iterations of each fit.
        tolerance: a fit has converged when no entry of its gradient (w.r.t. the kernel and
            bias) exceeds it, or a step no longer changes the loss at float64 precision; one
            stopped by `max_iterations` or a failed line search has not.
        seed: seed of the validation split.
        verbose: 1 prints a line per strength tried.

    Returns:
        `(report, model)`. `report`: `train_accuracy`, `validation_accuracy` (the chosen
        strength's fit on the fit part, scored on the validation split), `test_accuracy`,
        `l2` (the chosen strength), `l2_grid` (per strength: `l2`, `validation_accuracy`,
        `iterations`, `converged`), `iterations` and `converged` of the refit, `final_loss`
        (its regularized objective), `refit_on` ("train+validation"), `feature_dim`,
        `train_examples` (all training rows), `validation_examples`, `test_examples`.
        `model`: a Keras model (the standardization, then one `Dense` layer) mapping
        features to the refitted classifier's logits.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> labels = np.arange(200) % 2
    >>> features = rng.normal(size=(200, 4)) + 4.0 * labels[:, None]
    >>> report, _ = keras_vim.metrics.fit_linear_probe(features, labels, features, labels)
    >>> report["test_accuracy"], report["converged"]
    (1.0, True)
    """
    train_features, train_labels = _check_split(train_features, train_labels, "train")
    test_features, test_labels = _check_split(test_features, test_labels, "test")
    if train_features.shape[1] != test_features.shape[1]:
        raise ValueError(
            f"`train_features` have {train_features.shape[1]} dimensions but `test_features` "
            f"have {test_features.shape[1]}."
        )
    largest = int(max(train_labels.max(), test_labels.max()))
    if num_classes is None:
        num_classes = largest + 1
    num_classes = check_integer("num_classes", num_classes, minimum=1)
    if min(train_labels.min(), test_labels.min()) < 0 or largest >= num_classes:
        raise ValueError(f"Labels must be in [0, {num_classes - 1}].")
    grid = _check_grid(l2_grid)
    max_iterations = check_integer("max_iterations", max_iterations, minimum=1)
    tolerance = check_real("tolerance", tolerance, minimum=0, include_minimum=False)
    fit_rows, validation_rows = validation_split(train_labels, validation_fraction, seed)
    dim = train_features.shape[1]

    # Choosing the strength: the fit part only, standardized with its own statistics.
    fit_features = train_features[fit_rows]
    mean, scale = _standardization(fit_features)
    fit_features = (fit_features - mean) / scale
    validation_features = (train_features[validation_rows] - mean) / scale
    axes = _PrincipalAxes(fit_features)
    parameters = np.zeros(dim * num_classes + num_classes)
    trials, solutions = [], {}
    for l2 in grid:
        parameters, iterations, converged, _ = _fit_softmax_regression(
            axes,
            train_labels[fit_rows],
            num_classes,
            l2,
            parameters,
            max_iterations,
            tolerance,
        )
        solutions[l2] = parameters
        accuracy = _accuracy(
            parameters, validation_features, train_labels[validation_rows], num_classes
        )
        trials.append(
            {
                "l2": l2,
                "validation_accuracy": accuracy,
                "iterations": iterations,
                "converged": converged,
            }
        )
        if verbose:
            print(
                f"l2 {l2:g}: validation top-1 {accuracy:.4f} ({iterations} iterations"
                f"{'' if converged else ', not converged'})",
                flush=True,
            )
    del fit_features, validation_features, axes
    # `grid` runs strongest first, so `max` keeps the strongest of tied strengths.
    chosen = max(trials, key=lambda trial: trial["validation_accuracy"])

    mean, scale = _standardization(train_features)
    train_features = (train_features - mean) / scale
    parameters, iterations, converged, loss = _fit_softmax_regression(
        _PrincipalAxes(train_features),
        train_labels,
        num_classes,
        chosen["l2"],
        solutions[chosen["l2"]],
        max_iterations,
        tolerance,
    )
    report = {
        "train_accuracy": _accuracy(parameters, train_features, train_labels, num_classes),
        "validation_accuracy": chosen["validation_accuracy"],
        "test_accuracy": _accuracy(
            parameters, (test_features - mean) / scale, test_labels, num_classes
        ),
        "l2": chosen["l2"],
        "l2_grid": sorted(trials, key=lambda trial: trial["l2"]),
        "iterations": iterations,
        "converged": converged,
        "final_loss": loss,
        "refit_on": "train+validation",
        "feature_dim": int(dim),
        "train_examples": len(train_features),
        "validation_examples": len(validation_rows),
        "test_examples": len(test_features),
    }
    model = keras.Sequential(
        [
            keras.Input((dim,)),
            keras.layers.Normalization(mean=mean, variance=scale**2),
            keras.layers.Dense(num_classes),
        ],
        name="linear_probe",
    )
    model.layers[-1].set_weights(list(_kernel_and_bias(parameters, dim, num_classes)))
    return report, model
