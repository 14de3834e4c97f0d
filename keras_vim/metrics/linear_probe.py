"""Linear probes (paper section 4.2): how linearly separable the classes are in a frozen
model's features.

The paper freezes VIM, average-pools the token features of one Transformer block and trains a
linear softmax classifier on them; the middle blocks give the best features. `probe_features`
extracts those features (`VIM.features`) for a whole token dataset, and `fit_linear_probe`
trains and scores the linear classifier (Keras `fit`) on any features, raw pixels included.
"""

import keras
import numpy as np
from keras import ops

from keras_vim.sampling.loop import compile_function
from keras_vim.utils.checks import check_integer


def probe_features(prior, token_ids, block=None, class_ids=None, batch_size=256):
    """Average-pooled block features `(N, hidden_dim)` (float32 numpy) of a frozen VIM.

    Args:
        prior: a `keras_vim.models.VIM` (run in inference mode).
        token_ids: token ids `(N, h, w)` or `(N, h * w)` (numpy or tensor).
        block: 1-based Transformer block (default the middle one); see `VIM.features`.
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
    block = check_integer("block", block, minimum=1, maximum=prior.num_layers, allow_none=True)

    def pooled(tokens, classes):
        return prior.features(tokens, classes, block)

    function = compile_function(prior, pooled)
    outputs = []
    for start in range(0, len(token_ids), batch_size):
        tokens = token_ids[start : start + batch_size].astype("int32")
        count = len(tokens)
        pad = batch_size - count
        tokens = np.concatenate([tokens, np.repeat(tokens[-1:], pad, axis=0)])
        classes = None
        if class_ids is not None:
            classes = class_ids[start : start + batch_size]
            classes = ops.convert_to_tensor(np.concatenate([classes, np.repeat(classes[-1:], pad)]))
        features = function(ops.convert_to_tensor(tokens), classes)
        outputs.append(np.asarray(ops.convert_to_numpy(features), "float32")[:count])
    return np.concatenate(outputs)


def _check_split(features, labels, name):
    features = np.asarray(ops.convert_to_numpy(features), "float32")
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
    return features.reshape(len(features), -1), labels.astype("int32")


def fit_linear_probe(
    train_features,
    train_labels,
    test_features,
    test_labels,
    num_classes=None,
    epochs=100,
    batch_size=256,
    learning_rate=3e-3,
    weight_decay=1e-4,
    seed=0,
    verbose=0,
):
    """Trains a linear softmax classifier on frozen features; reports top-1 accuracy.

    The features are standardized with the training set's per-dimension mean and variance (a
    fixed affine map, so the classifier stays linear in the features), then one `Dense` layer
    is trained with AdamW and softmax cross-entropy through `fit`.

    Args:
        train_features, test_features: `(N, ...)` features (flattened), e.g. from
            `probe_features`, or raw pixels for a baseline.
        train_labels, test_labels: `(N,)` int class ids.
        num_classes: default `max(label) + 1` over both splits.
        epochs, batch_size, learning_rate, weight_decay: the training settings.
        seed: seed of the classifier's initial weights.
        verbose: `fit`'s verbosity.

    Returns:
        `(report, model)`: `report` has `train_accuracy`, `test_accuracy` (top-1, fractions),
        `final_loss`, `feature_dim`, `train_examples`, `test_examples`; `model` maps
        features to logits.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> labels = np.arange(200) % 2
    >>> features = rng.normal(size=(200, 4)) + 4.0 * labels[:, None]
    >>> report, _ = keras_vim.metrics.fit_linear_probe(features, labels, features, labels)
    >>> report["test_accuracy"]
    1.0
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
    if min(train_labels.min(), test_labels.min()) < 0 or largest >= num_classes:
        raise ValueError(f"Labels must be in [0, {num_classes - 1}].")
    epochs = check_integer("epochs", epochs, minimum=1)
    batch_size = check_integer("batch_size", batch_size, minimum=1)

    mean = train_features.mean(axis=0)
    # Constant dimensions (e.g. the zero padding of Fashion-MNIST) are left unscaled.
    variance = np.where(train_features.var(axis=0) > 1e-12, train_features.var(axis=0), 1.0)
    model = keras.Sequential(
        [
            keras.Input((train_features.shape[1],)),
            keras.layers.Normalization(mean=mean, variance=variance),
            keras.layers.Dense(
                num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed)
            ),
        ],
        name="linear_probe",
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(
        train_features,
        train_labels,
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        verbose=verbose,
    )

    def accuracy(features, labels):
        logits = model.predict(features, batch_size=max(batch_size, 1024), verbose=0)
        return float(np.mean(np.argmax(logits, axis=1) == labels))

    report = {
        "train_accuracy": accuracy(train_features, train_labels),
        "test_accuracy": accuracy(test_features, test_labels),
        "final_loss": float(history.history["loss"][-1]),
        "feature_dim": int(train_features.shape[1]),
        "train_examples": len(train_features),
        "test_examples": len(test_features),
    }
    return report, model
