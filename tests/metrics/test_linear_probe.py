import numpy as np
import pytest
from keras import ops

from keras_vim.metrics import bag_of_codes_features, fit_linear_probe, linear_probe, probe_features
from keras_vim.metrics.linear_probe import L2_GRID, validation_split
from keras_vim.models import VIM


def separable_set(rng, n):
    """Three classes, each in a unit box around 4 * e_k in 3-D: linearly separable."""
    labels = rng.integers(0, 3, n)
    features = rng.uniform(-1, 1, (n, 3)) + 4.0 * np.eye(3)[labels]
    return features.astype("float32"), labels


def overlapping_sets(rng, *sizes, dim=6, classes=3):
    """Splits of one distribution of Gaussian classes whose means are close: no classifier is
    perfect, so the L2 strength matters."""
    means = 0.8 * rng.normal(size=(classes, dim))
    splits = []
    for n in sizes:
        labels = rng.integers(0, classes, n)
        splits += [rng.normal(size=(n, dim)) + means[labels], labels]
    return splits


def kernel_and_bias(model):
    kernel, bias = model.layers[-1].get_weights()
    return kernel.astype("float64"), bias.astype("float64")


def regularized_gradient(features, labels, kernel, bias, l2):
    """The gradient of mean softmax cross-entropy + l2 / 2 * ||kernel||^2, written out
    independently of the library (one-hot targets, explicit softmax)."""
    logits = features @ kernel + bias
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    error = (probs - np.eye(kernel.shape[1])[labels]) / len(features)
    return features.T @ error + l2 * kernel, error.sum(0)


def standardize(features):
    scale = features.std(0)
    return (features - features.mean(0)) / np.where(scale > 1e-6, scale, 1.0)


def test_probe_learns_a_linearly_separable_set(rng):
    train, train_labels = separable_set(rng, 300)
    test, test_labels = separable_set(rng, 150)
    report, model = fit_linear_probe(train, train_labels, test, test_labels)
    assert report["train_accuracy"] == 1.0 and report["test_accuracy"] == 1.0
    assert report["validation_accuracy"] == 1.0 and report["converged"]
    assert report["feature_dim"] == 3 and report["test_examples"] == 150
    assert report["train_examples"] == 300 and report["refit_on"] == "train+validation"
    # 10% of each class, rounded.
    expected = sum(int(np.floor(0.1 * np.sum(train_labels == c) + 0.5)) for c in range(3))
    assert report["validation_examples"] == expected
    logits = ops.convert_to_numpy(model(test))
    assert logits.shape == (150, 3) and np.all(np.argmax(logits, 1) == test_labels)


def test_the_fit_is_the_regularized_optimum(rng):
    features, labels = overlapping_sets(rng, 120)
    report, model = fit_linear_probe(features, labels, features, labels, l2_grid=[0.05])
    assert report["l2"] == 0.05 and report["converged"]
    # Standardized with all training rows (the refit's data), computed here again.
    standardized = standardize(features)
    kernel, bias = kernel_and_bias(model)
    grad_kernel, grad_bias = regularized_gradient(standardized, labels, kernel, bias, 0.05)
    # ~0 at the solution (up to the float32 weights of the Keras model) ...
    assert np.abs(grad_kernel).max() < 1e-5 and np.abs(grad_bias).max() < 1e-5
    # ... and far from 0 a little away from it: the check can fail.
    grad_kernel, _ = regularized_gradient(standardized, labels, 1.2 * kernel, bias, 0.05)
    assert np.abs(grad_kernel).max() > 1e-3
    # The model's accuracy is the report's.
    logits = ops.convert_to_numpy(model(features.astype("float32")))
    assert np.mean(np.argmax(logits, 1) == labels) == pytest.approx(report["train_accuracy"])


def reference_fit(features, labels, l2, tolerance):
    """Plain L-BFGS on the kernel and bias themselves (the objective written out here, with
    `regularized_gradient`), from zero: the optimum the preconditioned fit must reach."""
    import scipy.optimize

    dim, classes = features.shape[1], int(labels.max()) + 1

    def objective(parameters):
        kernel = parameters[: dim * classes].reshape(dim, classes)
        bias = parameters[dim * classes :]
        logits = features @ kernel + bias
        logits = logits - logits.max(1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(1, keepdims=True))
        loss = -log_probs[np.arange(len(features)), labels].mean()
        grad_kernel, grad_bias = regularized_gradient(features, labels, kernel, bias, l2)
        loss += 0.5 * l2 * np.sum(kernel * kernel)
        return loss, np.concatenate([grad_kernel.ravel(), grad_bias])

    result = scipy.optimize.minimize(
        objective,
        np.zeros(dim * classes + classes),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 100000, "gtol": tolerance, "ftol": 0.0},
    )
    return result.x[: dim * classes].reshape(dim, classes), result.x[dim * classes :], result.nit


@pytest.mark.parametrize("preconditioned", [True, False])
def test_correlated_duplicated_and_constant_dimensions_reach_the_plain_optimum(
    rng, monkeypatch, preconditioned
):
    # 40 noisy mixtures of 4 latent dimensions (an ill-conditioned problem, as pixels are),
    # a duplicated column and a constant one (rank-deficient).
    latent, labels = overlapping_sets(rng, 300, dim=4)
    features = latent @ rng.normal(size=(4, 40)) + 0.01 * rng.normal(size=(300, 40))
    features = np.concatenate([features, features[:, :1], np.full((300, 1), 3.0)], 1)
    if not preconditioned:  # the path of features wider than the eigendecomposition is worth
        monkeypatch.setattr(linear_probe, "PRECONDITIONED_DIMS", 0)
    l2 = 1e-3
    report, model = fit_linear_probe(features, labels, features, labels, l2_grid=[l2])
    assert report["converged"] and report["l2_grid"][0]["converged"]
    kernel, bias = kernel_and_bias(model)
    reference_kernel, reference_bias, _ = reference_fit(standardize(features), labels, l2, 1e-9)
    # Both stop at a gradient of 1e-6; on this ill-conditioned problem the plain fit is then
    # ~1e-4 from the optimum along its flattest directions.
    np.testing.assert_allclose(kernel, reference_kernel, atol=5e-4)
    np.testing.assert_allclose(bias, reference_bias, atol=5e-4)
    assert np.abs(reference_kernel).max() > 0.1  # a solution far from the zero start
    # The duplicated pair shares its weight; the constant dimension gets none.
    np.testing.assert_allclose(kernel[0], kernel[40], atol=1e-4)
    np.testing.assert_allclose(kernel[41], 0.0, atol=1e-6)
    # The preconditioner's point: from zero, on the fit part, far fewer L-BFGS iterations
    # than the plain fit to the same tolerance.
    fit, _ = validation_split(labels, 0.1, seed=0)
    _, _, plain_iterations = reference_fit(standardize(features[fit]), labels[fit], l2, 1e-6)
    iterations = report["l2_grid"][0]["iterations"]
    if preconditioned:
        assert iterations < plain_iterations / 2
    else:
        assert iterations > plain_iterations / 2


def test_a_two_class_fit_matches_the_closed_form():
    # Ten points at -1 of class 0, ten at +1 of class 1 (already standardized). By symmetry
    # the logit difference is w * x with the kernel split as (-w/2, w/2) and equal biases, so
    # the objective is log(1 + exp(-w)) + l2 * w^2 / 4: its minimum solves
    # sigmoid(-w) = l2 * w / 2, found here by bisection.
    features = np.repeat([[-1.0], [1.0]], 10, axis=0)
    labels = np.repeat([0, 1], 10)
    l2 = 0.1
    low, high = 0.0, 100.0
    for _ in range(200):
        w = (low + high) / 2
        low, high = (w, high) if 1 / (1 + np.exp(w)) > l2 * w / 2 else (low, w)
    report, model = fit_linear_probe(features, labels, features, labels, l2_grid=[l2])
    kernel, bias = kernel_and_bias(model)
    np.testing.assert_allclose(kernel, [[-w / 2, w / 2]], atol=1e-5)
    np.testing.assert_allclose(bias, [0.0, 0.0], atol=1e-5)
    assert report["final_loss"] == pytest.approx(np.log1p(np.exp(-w)) + l2 * w**2 / 4, 1e-9)


def test_the_choice_never_sees_the_test_set(rng):
    train, train_labels, test, test_labels = overlapping_sets(rng, 200, 100)
    grid = (1e-4, 1e-2, 1.0, 30.0)
    report, model = fit_linear_probe(train, train_labels, test, test_labels, l2_grid=grid)
    # Other test labels, other test features: the same choice and the same classifier.
    for other_features, other_labels in (
        (test, rng.permutation(test_labels)),
        (rng.normal(size=test.shape), (test_labels + 1) % 3),
    ):
        other, other_model = fit_linear_probe(
            train, train_labels, other_features, other_labels, l2_grid=grid
        )
        assert other["l2"] == report["l2"] and other["l2_grid"] == report["l2_grid"]
        assert other["validation_accuracy"] == report["validation_accuracy"]
        for weight, other_weight in zip(model.get_weights(), other_model.get_weights()):
            np.testing.assert_array_equal(weight, other_weight)
    # The chosen strength is one of the grid, the one with the best validation accuracy.
    assert [trial["l2"] for trial in report["l2_grid"]] == list(grid)
    best = max(trial["validation_accuracy"] for trial in report["l2_grid"])
    chosen = [trial for trial in report["l2_grid"] if trial["l2"] == report["l2"]]
    assert chosen[0]["validation_accuracy"] == best == report["validation_accuracy"]
    tied = [trial["l2"] for trial in report["l2_grid"] if trial["validation_accuracy"] == best]
    assert report["l2"] == max(tied)  # of equally good strengths, the strongest
    assert all(trial["converged"] and trial["iterations"] >= 1 for trial in report["l2_grid"])
    # The grid tells the strengths apart here (the strongest underfits).
    assert len({trial["validation_accuracy"] for trial in report["l2_grid"]}) > 1


def test_the_validation_split_is_stratified_seeded_and_from_the_training_set():
    labels = np.repeat([0, 1, 2, 3], [30, 20, 10, 1])
    fit, validation = validation_split(labels, 0.1, seed=0)
    assert np.bincount(labels[validation], minlength=4).tolist() == [3, 2, 1, 0]
    assert np.all(np.diff(validation) > 0) and np.all(np.diff(fit) > 0)
    assert not np.intersect1d(fit, validation).size
    np.testing.assert_array_equal(np.union1d(fit, validation), np.arange(len(labels)))
    np.testing.assert_array_equal(validation_split(labels, 0.1, seed=0)[1], validation)
    assert not np.array_equal(validation_split(labels, 0.1, seed=1)[1], validation)
    # Every class keeps a row in the fit part.
    assert np.bincount(labels[validation_split(labels, 0.9)[0]]).min() >= 1
    with pytest.raises(ValueError, match="validation_fraction"):
        validation_split(labels, 1.0)
    with pytest.raises(ValueError, match="no validation rows"):
        validation_split(labels[-12:], 0.01)


def test_the_same_numbers_from_tensors_and_repeated_runs(rng):
    train, train_labels, test, test_labels = overlapping_sets(rng, 150, 50)
    train = train.astype("float32")
    report, model = fit_linear_probe(train, train_labels, test, test_labels)
    again, model_again = fit_linear_probe(
        ops.convert_to_tensor(train),
        ops.convert_to_tensor(train_labels),
        ops.convert_to_tensor(test),
        ops.convert_to_tensor(test_labels),
    )
    assert again == report
    for weight, other_weight in zip(model.get_weights(), model_again.get_weights()):
        np.testing.assert_array_equal(weight, other_weight)
    assert report["l2"] in L2_GRID


def test_constant_dimensions_and_unconverged_fits_are_reported(rng):
    features, labels = separable_set(rng, 100)
    features = np.concatenate([features, np.full((100, 1), 7.0, "float32")], axis=1)
    test = features.copy()
    test[:, 3] = 8.0  # a value the constant training dimension never took
    report, model = fit_linear_probe(features, labels, test, labels, max_iterations=1)
    assert report["iterations"] == 1 and not report["converged"]
    assert not any(trial["converged"] for trial in report["l2_grid"])
    normalization = model.layers[0]
    assert float(ops.convert_to_numpy(normalization.variance)[0, 3]) == 1.0
    assert np.all(np.isfinite(ops.convert_to_numpy(model(test))))


def test_bag_of_codes_features_by_hand():
    tokens = np.array([[[0, 1], [1, 1]], [[3, 3], [3, 2]]], "int32")
    histogram = bag_of_codes_features(tokens, num_codes=5)
    expected = [[0.25, 0.75, 0.0, 0.0, 0.0], [0.0, 0.0, 0.25, 0.75, 0.0]]
    assert histogram.dtype == np.float32
    np.testing.assert_array_equal(histogram, expected)
    np.testing.assert_array_equal(bag_of_codes_features(tokens.reshape(2, 4), 5), expected)
    np.testing.assert_array_equal(bag_of_codes_features(ops.convert_to_tensor(tokens), 5), expected)
    with pytest.raises(TypeError, match="token_ids"):
        bag_of_codes_features(tokens.astype("float32"), 5)
    with pytest.raises(ValueError, match="token_ids"):
        bag_of_codes_features(tokens, 3)  # id 3 is out of range
    with pytest.raises(ValueError, match="token_ids"):
        bag_of_codes_features(tokens.reshape(-1), 5)
    with pytest.raises(ValueError, match="num_codes"):
        bag_of_codes_features(tokens, 0)


def test_bad_probe_inputs(rng):
    features, labels = separable_set(rng, 20)
    with pytest.raises(ValueError, match="train_labels"):
        fit_linear_probe(features, labels[:10], features, labels)
    with pytest.raises(ValueError, match="dimensions"):
        fit_linear_probe(features, labels, features[:, :2], labels)
    with pytest.raises(ValueError, match="Labels"):
        fit_linear_probe(features, labels, features, labels, num_classes=2)
    with pytest.raises(ValueError, match="test_features"):
        fit_linear_probe(features, labels, np.full_like(features, np.nan), labels)
    with pytest.raises(ValueError, match="max_iterations"):
        fit_linear_probe(features, labels, features, labels, max_iterations=0)
    with pytest.raises(ValueError, match="l2_grid"):
        fit_linear_probe(features, labels, features, labels, l2_grid=[])
    with pytest.raises(ValueError, match="l2_grid"):
        fit_linear_probe(features, labels, features, labels, l2_grid=[1e-3, 0.0])
    with pytest.raises(TypeError, match="l2_grid"):
        fit_linear_probe(features, labels, features, labels, l2_grid=0.1)
    with pytest.raises(ValueError, match="validation_fraction"):
        fit_linear_probe(features, labels, features, labels, validation_fraction=0.0)
    with pytest.raises(ValueError, match="tolerance"):
        fit_linear_probe(features, labels, features, labels, tolerance=0.0)


def test_probe_features_match_vim_features(rng):
    prior = VIM(
        vocabulary_size=16,
        grid_size=(2, 3),
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        mlp_dim=16,
        num_classes=3,
        dropout=0.0,
    )
    tokens = rng.integers(0, 16, (5, 2, 3)).astype("int32")
    classes = np.array([0, 1, 2, 0, 1], "int32")
    # Batches of 4: the second batch is padded, then cut.
    features = probe_features(prior, tokens, block=1, batch_size=4)
    assert features.shape == (5, 8) and features.dtype == np.float32
    expected = ops.convert_to_numpy(prior.features(tokens, block=1))
    np.testing.assert_allclose(features, expected, atol=1e-5)
    with_classes = probe_features(prior, tokens, block=1, class_ids=classes, batch_size=4)
    expected_with_classes = ops.convert_to_numpy(prior.features(tokens, classes, block=1))
    np.testing.assert_allclose(with_classes, expected_with_classes, atol=1e-5)
    assert np.abs(with_classes - features).max() > 1e-6  # the class token changes them
    # Several blocks from one pass: each equals its own single-block features.
    both = probe_features(prior, tokens, block=[2, 1], batch_size=4)
    assert both.shape == (2, 5, 8)
    np.testing.assert_allclose(both[1], features, atol=1e-5)
    second = ops.convert_to_numpy(prior.features(tokens, block=2))
    np.testing.assert_allclose(both[0], second, atol=1e-5)
    assert np.abs(both[0] - both[1]).max() > 1e-6
    with pytest.raises(ValueError, match="block"):
        probe_features(prior, tokens, block=3)
    with pytest.raises(ValueError, match="block"):
        probe_features(prior, tokens, block=[1, 3])
    with pytest.raises(TypeError, match="integer"):
        probe_features(prior, tokens.astype("float32"))
    with pytest.raises(ValueError, match="class_ids"):
        probe_features(prior, tokens, class_ids=classes[:2])
