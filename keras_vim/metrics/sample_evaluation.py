"""Scores of generated images against real ones, the same scores for real data (the floor
each can reach) and a tokenizer's reconstruction scores, as the recipes report them.

Two families of numbers:

- *Domain* metrics, with the Fashion-MNIST classifier shipped in the package (32x32x1 images;
  `load_domain_classifier`): the domain Fréchet distance (FD in the classifier's penultimate
  features), the domain Inception Score (IS from its class probabilities) and the class
  accuracy of class-conditional samples. No download; comparable only between runs that use
  the same classifier weights, not with published FID / IS values.
- FID and the Inception Score with the FID Inception network, whose weights the user
  downloads (`load_fid_inception`).

`real_data_reference` scores real images the same way (training images against test images):
what a perfect generator of the data would get with that many images.
"""

import functools

import numpy as np

from keras_vim.metrics.codebook import USAGE_BATCH
from keras_vim.metrics.domain import (
    _classifier,
    class_accuracy,
    domain_frechet_distance,
    domain_inception_score,
)
from keras_vim.metrics.fid import fid_from_features, inception_outputs
from keras_vim.metrics.inception_score import inception_score
from keras_vim.metrics.tokenizer_evaluation import evaluate_tokenizer


def sample_metrics(
    images,
    reference_images,
    class_ids=None,
    classifier=None,
    inception=None,
    reference_pool=None,
):
    """Scores a set of generated images against a set of real ones (e.g. the test split).

    Args:
        images: the generated images, `(N, H, W, C)` floats in [0, 1] (numpy).
        reference_images: the real images, `(M, H, W, C)` floats in [0, 1]; only read when a
            `classifier` is given, or an `inception` without `reference_pool`.
        class_ids: `(N,)` the class each image was generated for (a class-conditional prior);
            gives `class_accuracy` with a `classifier`. None: no class accuracy.
        classifier: a `FashionMNISTClassifier` (`load_domain_classifier()`) for the domain
            metrics, which need 32x32x1 Fashion-MNIST-like images; None skips them.
        inception: a `FIDInception` (`load_fid_inception(path)`) for FID and IS; None skips
            them.
        reference_pool: the reference images' FID Inception pool features `(M, 2048)`, when
            already computed (e.g. once for several sample sets); default: computed here from
            `reference_images`.

    Returns:
        A dict of Python floats; with a `classifier`:

        - `domain_frechet_distance`: Fréchet distance between the classifier's penultimate
          features of `images` and of `reference_images` (0 for identical feature
          statistics; lower is better).
        - `domain_inception_score`, `domain_inception_score_std`: the Inception Score of
          `images` from the classifier's class probabilities, mean and standard deviation over
          10 splits of the images shuffled with a fixed seed; between 1 and the number of
          classes (10), higher when each image is classified confidently and the classes are
          evenly covered.
        - `class_accuracy` (with `class_ids`): the share of `images` whose top-1 class is the
          one they were generated for.

        and with an `inception`: `fid` (Fréchet distance of the pool features), and
        `inception_score`, `inception_score_std` (over `min(10, N)` splits of the shuffled
        images). An empty dict when both networks are None.

    Example:

    ```python
    classifier = keras_vim.metrics.load_domain_classifier()
    scores = keras_vim.metrics.sample_metrics(samples, test_images, class_ids, classifier)
    scores["domain_frechet_distance"], scores["class_accuracy"]
    ```
    """
    if reference_pool is not None and inception is None:
        raise ValueError("`reference_pool` is the Inception features: it needs `inception`.")
    if class_ids is not None and len(class_ids) != len(images):
        raise ValueError(
            f"`class_ids` has {len(class_ids)} entries but there are {len(images)} images."
        )
    metrics = {}
    if classifier is not None:
        metrics["domain_frechet_distance"] = domain_frechet_distance(
            images, reference_images, classifier
        )
        metrics["domain_inception_score"], metrics["domain_inception_score_std"] = (
            domain_inception_score(images, classifier)
        )
        if class_ids is not None:
            metrics["class_accuracy"] = class_accuracy(images, class_ids, classifier)
    if inception is not None:
        if reference_pool is None:
            reference_pool = inception_outputs(inception, reference_images)["pool"]
        outputs = inception_outputs(inception, images)
        metrics["fid"] = fid_from_features(outputs["pool"], reference_pool)
        # Shuffled (fixed seed): samples ordered by class would put one class in each split.
        logits = outputs["logits"][np.random.default_rng(0).permutation(len(images))]
        metrics["inception_score"], metrics["inception_score_std"] = inception_score(
            logits, splits=min(10, len(images)), from_logits=True
        )
    return metrics


def real_data_reference(train_images, test_images, test_labels, classifier):
    """The domain metrics of real data: training images scored as if they were samples.

    Pass as many training images as there are samples: the Fréchet distance of a finite set
    is biased upwards, so the reference of a sample set is a real set of the same size.

    Args:
        train_images: `(N, 32, 32, 1)` real images in [0, 1], e.g. the first N of the
            training split.
        test_images: `(M, 32, 32, 1)` the images the samples are compared with (the test
            split).
        test_labels: `(M,)` int class ids of `test_images`; None: no `test_class_accuracy`.
        classifier: a `FashionMNISTClassifier`, or None for the shipped one.

    Returns:
        A dict: `what` (a description), `domain_frechet_distance` (`train_images` against
        `test_images`: the FD a perfect generator would get with N samples),
        `domain_inception_score` (the mean IS of `train_images`, as `sample_metrics`
        computes it) and `test_class_accuracy` (the classifier's top-1 accuracy on
        `test_images`: the class accuracy a perfect class-conditional generator would get).
    """
    reference = {
        "what": f"{len(train_images)} training images against the test images",
        "domain_frechet_distance": domain_frechet_distance(train_images, test_images, classifier),
        "domain_inception_score": domain_inception_score(train_images, classifier)[0],
    }
    if test_labels is not None:
        reference["test_class_accuracy"] = class_accuracy(test_images, test_labels, classifier)
    return reference


def reconstruction_metrics(tokenizer, images, classifier=None, inception=None):
    """`evaluate_tokenizer` of `images` (an array or a batched dataset), with the
    reconstruction Fréchet distances of the given networks.

    Args:
        tokenizer: a `VitVQGAN` (or any tokenizer `evaluate_tokenizer` takes).
        images: the real images, e.g. the test split.
        classifier: a `FashionMNISTClassifier` for the domain FD (32x32x1 images); None: none.
        inception: a `FIDInception` for the reconstruction FID; None: none.

    Returns:
        `evaluate_tokenizer`'s report (`l2` is the MSE, `psnr`, `codebook_usage`, ... see
        there) with `domain_frechet_distance` (the classifier's features of `images` against
        those of their reconstructions; 0 for a perfect round trip) and `fid` (the same with
        the Inception pool features) when the networks are given.
    """
    extractor = None
    if classifier is not None:  # in evaluate_tokenizer's batches: no padding to 500 images
        extractor = functools.partial(_classifier(classifier).features, batch_size=USAGE_BATCH)
    report = evaluate_tokenizer(tokenizer, images, feature_extractor=extractor)
    if classifier is not None:
        report["domain_frechet_distance"] = report.pop("frechet_distance")
    if inception is not None:
        report["fid"] = evaluate_tokenizer(tokenizer, images, feature_extractor=inception)[
            "frechet_distance"
        ]
    return report
