"""Every recipe checks its flags before any work: a bad flag gives argparse's one-line error
naming the flag and the expected value, exit status 2, and no --output directory."""

import argparse
import re

import pytest

from keras_vim.utils import flags

CASES = {
    "train_vim": [
        ("--temperature 0", "--temperature", "expected a number > 0, got '0'"),
        ("--top-p 1.5", "--top-p", "expected a number in (0, 1], got '1.5'"),
        ("--top-k -1", "--top-k", "expected an integer >= 1, got '-1'"),
        ("--top-k 0", "--top-k", "expected an integer >= 1, got '0'"),
        ("--samples-per-class 0", "--samples-per-class", "expected an integer >= 1"),
        ("--num-samples 0", "--num-samples", "expected an integer >= 1"),
        ("--eval-samples -1", "--eval-samples", "expected an integer >= 0, got '-1'"),
        ("--eval-samples 5", "--eval-samples", "expected 0 or at least one sample per class"),
        ("--steps -5", "--steps", "expected an integer >= 1, got '-5'"),
        ("--batch-size 0", "--batch-size", "expected an integer >= 1, got '0'"),
        ("--learning-rate -1", "--learning-rate", "expected a number > 0, got '-1'"),
        ("--learning-rate nan", "--learning-rate", "expected a number > 0, got 'nan'"),
        ("--steps-per-epoch 0", "--steps-per-epoch", "expected an integer >= 1"),
        ("--steps-per-epoch 1500", "--steps-per-epoch", "at most --steps (1340), got 1500"),
        ("--warmup-steps 1341", "--warmup-steps", "expected at most --steps (1340), got 1341"),
        ("--validation-images 0", "--validation-images", "expected an integer >= 1, got '0'"),
        ("--max-train-images -5", "--max-train-images", "expected an integer >= 0, got '-5'"),
        ("--preset vim_tiyn", "--preset", "unknown VIM preset 'vim_tiyn': expected a built-in"),
        ("--num-heads 5", "--num-heads", "expected a divisor of the hidden dim 96"),
        ("--hidden-dim 100 --num-heads 8", "--num-heads", "divisor of the hidden dim 100"),
        ("--dropout 1", "--dropout", "expected a number in [0, 1), got '1'"),
        ("--class-dropout -0.1", "--class-dropout", "expected a number in [0, 1)"),
        ("--unconditional --class-dropout 0.1", "--class-dropout", "has no classes"),
        ("--class-dropout 0 --guidance-scale 2", "--guidance-scale", "has class dropout 0"),
        ("--unconditional --guidance-scale 2", "--guidance-scale", "has no classes"),
        ("--guidance-scale -1", "--guidance-scale", "expected a number >= 0"),
        ("--channels 2", "--channels", "invalid choice: 2 (choose from 1, 3)"),
        ("--channels 3", "--channels", "fashion_mnist has 1 channel, got 3"),
        ("--image-size 64", "--image-size", "fashion_mnist is 32x32, got 64"),
        ("--data no/such/folder", "--data", "expected 'fashion_mnist', 'tfds:NAME' or an"),
        ("--data tfds:mnist --channels 1", "--channels", "TFDS data keeps its own"),
        ("--tokenizer-steps 0", "--tokenizer-steps", "expected an integer >= 1"),
        ("--tokenizer-batch-size 0", "--tokenizer-batch-size", "expected an integer >= 1"),
        ("--tokenizer-gan-start -1", "--tokenizer-gan-start", "expected an integer >= 0"),
        ("--tokenizer-preset nope", "--tokenizer-preset", "unknown VitVQGAN preset 'nope'"),
        ("--tokenizer no/such.keras", "--tokenizer", "no such .keras file"),
        ("--tokenizer nope", "--tokenizer", "unknown VQGANBase preset 'nope'"),
        ("--seed -1", "--seed", "expected an integer >= 0, got '-1'"),
        ("--mesh-shape 0", "--mesh-shape", "expected positive ints"),
    ],
    "train_vit_vqgan": [
        ("--num-codes 0", "--num-codes", "expected an integer >= 2, got '0'"),
        ("--code-dim 0", "--code-dim", "expected an integer >= 1, got '0'"),
        ("--steps-per-epoch 0", "--steps-per-epoch", "expected an integer >= 1, got '0'"),
        ("--channels 2", "--channels", "invalid choice: 2 (choose from 1, 3)"),
        ("--channels 3", "--channels", "fashion_mnist has 1 channel, got 3"),
        (
            "--dead-code-restart-fraction 5",
            "--dead-code-restart-fraction",
            "expected a number in [0, 1], got '5'",
        ),
        ("--learning-rate -1", "--learning-rate", "expected a number > 0, got '-1'"),
        ("--final-learning-rate -1", "--final-learning-rate", "expected a number >= 0"),
        ("--weight-decay -1", "--weight-decay", "expected a number >= 0"),
        ("--adversarial-weight inf", "--adversarial-weight", "expected a number >= 0"),
        ("--steps -5", "--steps", "expected an integer >= 1, got '-5'"),
        ("--batch-size 0", "--batch-size", "expected an integer >= 1, got '0'"),
        ("--preset vit_vqgan_tiyn", "--preset", "unknown VitVQGAN preset 'vit_vqgan_tiyn'"),
        ("--eval-images 0", "--eval-images", "expected an integer >= 1, got '0'"),
        ("--discriminator-start -1", "--discriminator-start", "expected an integer >= 0"),
        ("--vgg-weights no/such.h5", "--vgg-weights", "no such file: 'no/such.h5'"),
    ],
    "evaluate": [
        ("--temperature 0", "--temperature", "expected a number > 0, got '0'"),
        ("--top-k 0", "--top-k", "expected an integer >= 1, got '0'"),
        ("--top-p 1.5", "--top-p", "expected a number in (0, 1], got '1.5'"),
        ("--samples-per-class 0", "--samples-per-class", "expected an integer >= 1"),
        ("--acceptance-rates 1,1.5", "--acceptance-rates", "expected a number in (0, 1]"),
        ("--acceptance-rates 0", "--acceptance-rates", "expected a number in (0, 1]"),
        ("--batch-size 0", "--batch-size", "expected an integer >= 1, got '0'"),
        ("--max-images -1", "--max-images", "expected an integer >= 0, got '-1'"),
        ("--tokenizer nope", "--tokenizer", "unknown VQGANBase preset 'nope'"),
        ("--prior nope", "--prior", "unknown VIM preset 'nope'"),
        ("--prior vim_base --guidance-scale 2", "--guidance-scale", "has class dropout 0"),
        ("--fid-weights no/such.pth", "--fid-weights", "no such file"),
    ],
    "linear_probe": [
        ("--max-iterations 0", "--max-iterations", "expected an integer >= 1, got '0'"),
        ("--blocks 0", "--blocks", "block numbers start at 1, got 0"),
        ("--blocks 9", "--blocks", "block 9 is not in [1, 3]"),
        ("--blocks first", "--blocks", "expected 'all', 'middle' or block numbers"),
        ("--max-train-images -5", "--max-train-images", "expected an integer >= 0"),
        ("--l2-grid 1e-3,0", "--l2-grid", "expected a number > 0, got '0' (in '1e-3,0')"),
        ("--validation-fraction 1", "--validation-fraction", "expected a number in (0, 1)"),
    ],
    "train_classifier": [
        ("--epochs 0", "--epochs", "expected an integer >= 1, got '0'"),
        ("--filters 16,32", "--filters", "expected 3 comma-separated values, got '16,32'"),
        ("--filters 16,0,64", "--filters", "expected an integer >= 1, got '0' (in '16,0,64')"),
        ("--source nope", "--source", "invalid choice: 'nope'"),
        ("--source path", "--path", "needed with --source path"),
        ("--max-train-images -1", "--max-train-images", "expected an integer >= 0"),
    ],
}


@pytest.mark.parametrize(
    "recipe_name, argv, flag, expected",
    [(name, *case) for name, cases in CASES.items() for case in cases],
    ids=[f"{name}:{case[0]}" for name, cases in CASES.items() for case in cases],
)
def test_a_bad_flag_stops_the_recipe_before_any_work(
    load_recipe, recipe_name, argv, flag, expected, tmp_path, capsys
):
    recipe = load_recipe(recipe_name)
    output = tmp_path / "output"
    with pytest.raises(SystemExit) as exit_info:
        recipe.main([*argv.split(), "--output", str(output)])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"error: argument {flag}: " in error and expected in error, error
    assert not output.exists()  # nothing was started


def test_the_flag_types_name_what_they_expect():
    assert flags.integer(2, 5)("5") == 5
    assert flags.real(0, 1, high_open=True)("0") == 0.0
    assert flags.list_of(flags.PROBABILITY)("1,0.25") == [1.0, 0.25]
    for parse, text, message in (
        (flags.integer(2, 5), "6", "expected an integer in [2, 5], got '6'"),
        (flags.integer(1), "1.5", "expected an integer >= 1, got '1.5'"),
        (flags.real(None, 0, high_open=True), "0", "expected a number < 0, got '0'"),
        (flags.PROBABILITY, "-inf", "expected a number in (0, 1], got '-inf'"),
    ):
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
            parse(text)
