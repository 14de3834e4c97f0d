import importlib.util
import json
import os

import numpy as np
import pytest
from PIL import Image

from keras_vim.data import fashion_mnist, token_dataset
from keras_vim.metrics import read_classifier_record
from keras_vim.models import VIM, VitVQGAN

RECIPE = os.path.join(os.path.dirname(__file__), "..", "..", "recipes", "train_vim.py")


def _load_recipe():
    spec = importlib.util.spec_from_file_location("train_vim", RECIPE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


TINY = ["--num-layers", "1", "--num-heads", "2", "--hidden-dim", "16", "--mlp-dim", "32"]


@pytest.fixture
def shipped_subset(monkeypatch, tmp_path):
    """Fashion-MNIST from the subset shipped in the package (1000 test images), also where
    Debian's full set is installed: what a machine without it has, and a faster test."""
    monkeypatch.setattr(fashion_mnist, "DEBIAN_DIR", str(tmp_path / "no_debian_package"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


@pytest.mark.filterwarnings("ignore:Fashion-MNIST. full dataset not found")
def test_recipe_resumes_its_own_run_and_refuses_another(
    micro_vqgan_config, tmp_path, capsys, snapshot, kill_after_first_epoch, shipped_subset
):
    recipe = _load_recipe()
    tokenizer = str(tmp_path / "micro")
    VitVQGAN(**dict(micro_vqgan_config, image_size=32)).save_to_preset(tokenizer)
    output = str(tmp_path / "run")
    argv = TINY + [
        "--tokenizer", tokenizer, "--max-train-images", "16", "--validation-images", "8",
        "--steps", "2", "--steps-per-epoch", "1", "--batch-size", "8",
        "--samples-per-class", "1", "--eval-samples", "20", "--ema-momentum", "0.5",
        "--output", output,
    ]  # fmt: skip

    with kill_after_first_epoch(recipe):  # killed once epoch 1 of 2 is checkpointed
        recipe.main(argv)
    killed = snapshot(output)
    assert "checkpoint/run_settings.json" in killed and "model.keras" not in killed
    out = capsys.readouterr().out
    assert "== tokenizing fashion_mnist: the first 16 training images and the first 8" in out
    assert "== stage 2: training VIM (" in out and ": 2 epochs of 1 steps, each validated" in out
    # Another run there (the case: other steps and learning rate) is refused before
    # any work, and so is a bad sampling flag: nothing in the directory changes.
    for other, message in (
        (["--steps", "4", "--learning-rate", "0.05"], "learning_rate: 0.008 there, 0.05 here"),
        (["--temperature", "0"], "argument --temperature: expected a number > 0"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            recipe.main(argv + other)
        assert exit_info.value.code == 2
        assert message in capsys.readouterr().err
        assert snapshot(output) == killed

    metrics = recipe.main(argv)  # the same command resumes the killed run
    out = capsys.readouterr().out
    assert "loaded 16 tokenized images" in out and "1 of 2 epochs done" in out
    assert "== sampling the samples.png grid: 1 image of each of the 10 classes" in out
    assert "== sampling 20 images for the evaluation (2 of each class in class order, 2 " in out
    assert "== evaluating: " in out
    assert metrics["steps"] == 2 and np.isfinite(metrics["final_logs"]["val_bits_per_token"])
    # --ema-momentum: the validation numbers are those of the average, which the model holds.
    assert metrics["ema_momentum"] == 0.5
    ema_bits = metrics["final_logs"]["val_bits_per_token"]
    assert f"weights: the moving average (momentum 0.5): val bits/token {ema_bits}" in out
    cached = np.load(os.path.join(output, "tokens_test.npz"))  # the validation tokens
    validation = token_dataset(cached["ids"].astype("int32"), cached["labels"], shuffle=False)
    prior = VIM.from_preset(os.path.join(output, "preset"))
    prior.compile()
    logs = prior.evaluate(validation, verbose=0, return_dict=True)
    assert logs["bits_per_token"] == pytest.approx(ema_bits, abs=1e-4)
    with open(os.path.join(output, "history.csv")) as f:
        assert len(f.read().splitlines()) == 3  # a header and one row per epoch
    # No class dropout in the given flags' prior? vim_tiny has 0.05: guided by default.
    assert metrics["sampling"]["guidance_scale"] == 2.0
    with open(os.path.join(output, "metrics.json")) as f:
        assert json.load(f) == json.loads(json.dumps(metrics))

    # The evaluation: 2 samples of each class, scored against all 1000 test images of the
    # shipped subset, beside the tokenizer's reconstructions of them and real data.
    evaluation = metrics["evaluation"]
    assert evaluation["test_images"] == 1000
    samples = evaluation["samples"]
    assert (samples["count"], samples["per_class"]) == (20, 2)
    assert samples["sampling"] == {**metrics["sampling"], "batch_size": 10}  # as the grid
    assert samples["domain_frechet_distance"] > 0 and np.isfinite(samples["seconds"])
    assert 1 <= samples["domain_inception_score"] <= 10
    assert np.isfinite(samples["domain_inception_score_std"])
    assert 0 <= samples["class_accuracy"] <= 1 and samples["class_accuracy"] * 20 % 1 == 0
    tokenizer = evaluation["tokenizer"]
    assert tokenizer["images"] == 1000 and 0 <= tokenizer["l2"] <= 1
    assert np.isfinite(tokenizer["psnr"]) and 0 < tokenizer["codebook_usage"] <= 1
    assert tokenizer["domain_frechet_distance"] > 0
    reference = evaluation["reference"]
    assert reference["what"] == "20 training images against the test images"
    # The shipped classifier on the subset's test images: the accuracy it recorded there.
    recorded = read_classifier_record()["subset_test_accuracy"]
    assert abs(reference["test_class_accuracy"] - recorded) <= 2 / 1000
    # A random micro tokenizer and a 2-step prior draw nothing like Fashion-MNIST.
    assert 0 < reference["domain_frechet_distance"] < samples["domain_frechet_distance"]
    assert np.isfinite(evaluation["seconds"])
    # The last line: the samples' domain FD and class accuracy beside the real data's.
    last = out.strip().splitlines()[-1]
    fd, accuracy = samples["domain_frechet_distance"], samples["class_accuracy"]
    real_fd = reference["domain_frechet_distance"]
    assert f"20 samples: domain FD {fd:.2f}, class accuracy {accuracy:.3f} " in last
    assert f"(real data: domain FD {real_fd:.2f}, " in last
    assert f"classifier accuracy {reference['test_class_accuracy']:.3f})" in last


@pytest.mark.large
def test_recipe_runs_both_stages_and_reuses_only_a_matching_tokenizer(
    micro_vqgan_config, tmp_path, capsys, snapshot, kill_after_first_epoch
):
    recipe = _load_recipe()
    tokenizer_preset = str(tmp_path / "micro")
    VitVQGAN(**dict(micro_vqgan_config, image_size=32)).save_to_preset(tokenizer_preset)
    output = str(tmp_path / "run")
    common = TINY + [
        "--max-train-images", "64", "--validation-images", "32", "--steps", "4",
        "--steps-per-epoch", "2", "--batch-size", "8", "--samples-per-class", "2",
        "--eval-samples", "0",
    ]  # fmt: skip
    argv = ["--tokenizer-preset", tokenizer_preset, "--tokenizer-steps", "2", *common]
    argv += ["--output", output]
    with kill_after_first_epoch(recipe):  # stage 1 finishes; the prior is killed mid-way
        recipe.main(argv)
    killed = snapshot(output)
    assert "tokenizer/preset/config.json" in killed and "tokens_train.npz" in killed
    capsys.readouterr()
    # A tokenizer of other settings is not reused: the run is refused, nothing changes.
    with pytest.raises(SystemExit):
        recipe.main(argv[:3] + ["3"] + argv[4:])
    assert "tokenizer_steps: 2 there, 3 here" in capsys.readouterr().err
    assert snapshot(output) == killed

    # The same command reuses the finished tokenizer and the token cache and resumes.
    metrics = recipe.main(argv)
    out = capsys.readouterr().out
    assert f"{os.path.join(output, 'tokenizer')} holds the finished run" in out
    assert "loaded 64 tokenized images" in out and "1 of 2 epochs done" in out
    for name in ("model.keras", "samples.png", "metrics.json", "history.csv", "preset"):
        assert os.path.exists(os.path.join(output, name)), name
    with open(os.path.join(output, "metrics.json")) as f:
        saved = json.load(f)
    assert saved == json.loads(json.dumps(metrics))
    assert saved["steps"] == 4 and saved["train_images"] == 64
    assert saved["evaluation"] is None  # --eval-samples 0
    assert saved["tokenizer"]["steps"] == 2
    # The defaults, recorded for the model card.
    assert saved["tokenizer"]["batch_size"] == 8
    assert saved["tokenizer"]["logit_laplace_weight"] == 0.0
    assert saved["learning_rate"] == 8e-3
    assert saved["prior"]["config"]["num_classes"] == 10
    assert saved["prior"]["config"]["grid_size"] == [8, 8]
    assert np.isfinite(saved["final_logs"]["val_bits_per_token"])
    assert saved["sample_rows"][0] == "T-shirt/top" and len(saved["sample_rows"]) == 10
    # A row per class, two samples each (32x32 images, 3x enlarged, 2-pixel padding).
    grid = Image.open(os.path.join(output, "samples.png"))
    assert grid.size == (3 * (2 * 34 + 2), 3 * (10 * 34 + 2))
    model = VIM.from_preset(os.path.join(output, "preset"))
    assert model.vocabulary_size == 32 and model.num_classes == 10

    # A given tokenizer, in a new directory: no stage 1.
    tokenizer = os.path.join(output, "tokenizer", "preset")
    recipe.main(["--tokenizer", tokenizer, *common, "--output", str(tmp_path / "run2")])
    assert "stage 1" not in capsys.readouterr().out


def test_recipe_help_documents_flags(capsys):
    recipe = _load_recipe()
    with pytest.raises(SystemExit):
        recipe.parse_args(["--help"])
    text = capsys.readouterr().out
    for flag in (
        "--data",
        "--tokenizer",
        "--steps",
        "--batch-size",
        "--temperature",
        "--top-k",
        "--top-p",
        "--guidance-scale",
        "--output",
        "--seed",
        "--eval-samples",
    ):
        assert flag in text


def test_evaluation_of_other_data_skips_the_domain_metrics(micro_vqgan_config, tmp_path, capsys):
    # An image folder of two classes (3 images each, both "splits" read the folder): no
    # shipped classifier for it, so only the reconstruction metrics and the sampling apply.
    recipe = _load_recipe()
    folder = tmp_path / "images"
    rng = np.random.default_rng(0)
    for name in ("circles", "squares"):
        (folder / name).mkdir(parents=True)
        for i in range(3):
            pixels = rng.integers(0, 256, (32, 32), dtype=np.uint8)
            Image.fromarray(pixels, mode="L").save(folder / name / f"{i}.png")
    tokenizer_path = str(tmp_path / "micro")
    VitVQGAN(**dict(micro_vqgan_config, image_size=32)).save_to_preset(tokenizer_path)
    args = recipe.parse_args(
        ["--data", str(folder), "--channels", "1", "--tokenizer", tokenizer_path]
        + ["--eval-samples", "4", "--output", str(tmp_path / "run")]
    )
    tokenizer = VitVQGAN.from_preset(tokenizer_path)
    prior = VIM(vocabulary_size=32, grid_size=8, num_layers=1, num_heads=2, hidden_dim=16,
                mlp_dim=32, num_classes=2, dropout=0.0, class_dropout=0.0)  # fmt: skip
    sampling = {"temperature": 1.0, "top_k": None, "top_p": None, "guidance_scale": None}
    evaluation = recipe.evaluate_prior(
        args, prior, tokenizer, 2, dict(sampling, seed=0), grid_count=2, grid_seconds=1.0
    )
    out = capsys.readouterr().out
    assert "NOTE: the domain metrics" in out and "need --data fashion_mnist: skipped" in out
    assert "== sampling 4 images for the evaluation (2 of each class in class order, 2 " in out
    assert evaluation["test_images"] == 6 and "reference" not in evaluation
    samples = evaluation["samples"]
    assert (samples["count"], samples["per_class"]) == (4, 2)
    assert samples["sampling"] == dict(sampling, seed=0, batch_size=2)
    assert not [key for key in samples if "domain" in key or "accuracy" in key]
    assert evaluation["tokenizer"]["images"] == 6 and 0 <= evaluation["tokenizer"]["l2"] <= 1
    assert "domain_frechet_distance" not in evaluation["tokenizer"]
    assert recipe.evaluation_summary(evaluation) == "4 samples drawn (no domain metrics); "
    json.dumps(evaluation)  # plain numbers, for metrics.json
