"""Metrics: reconstruction quality, codebook use, Fréchet distance, FID and Inception Score,
offline domain metrics with a shipped Fashion-MNIST classifier, the scores of generated samples
and of real data as the recipes report them, and linear probes."""

from keras_vim.layers.quantizer import codebook_perplexity, codebook_usage
from keras_vim.metrics.batches import image_batches
from keras_vim.metrics.codebook import (
    USAGE_BATCH,
    CodebookPerplexity,
    CodebookStatistics,
    CodebookUsage,
    codebook_redundancy,
    codes_for_coverage,
    dead_codes,
)
from keras_vim.metrics.domain import (
    class_accuracy,
    domain_frechet_distance,
    domain_inception_score,
)
from keras_vim.metrics.domain_classifier import (
    FashionMNISTClassifier,
    load_domain_classifier,
    read_classifier_record,
)
from keras_vim.metrics.fid import (
    fid,
    fid_from_features,
    inception_outputs,
    inception_score_of_images,
)
from keras_vim.metrics.fid_inception import FIDInception
from keras_vim.metrics.fid_inception_weights import (
    FID_WEIGHTS_HELP,
    FID_WEIGHTS_URL,
    load_fid_inception,
    read_pytorch_state_dict,
    set_fid_inception_weights,
)
from keras_vim.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_statistics,
)
from keras_vim.metrics.inception_score import inception_score
from keras_vim.metrics.linear_probe import (
    bag_of_codes_features,
    fit_linear_probe,
    probe_features,
)
from keras_vim.metrics.reconstruction import (
    per_image_l1,
    per_image_l2,
    per_image_logit_laplace_nll,
    psnr,
)
from keras_vim.metrics.sample_evaluation import (
    real_data_reference,
    reconstruction_metrics,
    sample_metrics,
)
from keras_vim.metrics.ssim import ssim
from keras_vim.metrics.tokenizer_evaluation import evaluate_tokenizer, tokenizer_report

__all__ = [
    "CodebookPerplexity",
    "CodebookStatistics",
    "CodebookUsage",
    "FIDInception",
    "FashionMNISTClassifier",
    "FID_WEIGHTS_HELP",
    "FID_WEIGHTS_URL",
    "USAGE_BATCH",
    "bag_of_codes_features",
    "class_accuracy",
    "codebook_perplexity",
    "codebook_redundancy",
    "codebook_usage",
    "codes_for_coverage",
    "dead_codes",
    "domain_frechet_distance",
    "domain_inception_score",
    "evaluate_tokenizer",
    "feature_statistics",
    "fid",
    "fid_from_features",
    "fit_linear_probe",
    "frechet_distance",
    "frechet_distance_from_statistics",
    "image_batches",
    "inception_outputs",
    "inception_score",
    "inception_score_of_images",
    "load_domain_classifier",
    "load_fid_inception",
    "per_image_l1",
    "per_image_l2",
    "per_image_logit_laplace_nll",
    "probe_features",
    "psnr",
    "read_classifier_record",
    "read_pytorch_state_dict",
    "real_data_reference",
    "reconstruction_metrics",
    "sample_metrics",
    "set_fid_inception_weights",
    "ssim",
    "tokenizer_report",
]
