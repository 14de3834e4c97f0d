"""benchmarks/: the arithmetic behind the published ratios (no timing is asserted)."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
from benchmarks.flops import transformer_forward_flops, transformer_train_flops  # noqa: E402
from benchmarks.timing import Case, compare, linear_fit, paired_speedup  # noqa: E402


def test_cases_are_warmed_up_then_interleaved_in_alternating_order():
    calls = []
    cases = {name: Case(lambda n=name: calls.append(n), 1, "calls") for name in "AB"}
    times = compare(cases, repeats=3, warmup=1)
    assert calls == ["A", "B", "A", "B", "B", "A", "A", "B"]
    assert {name: len(t) for name, t in times.items()} == {"A": 3, "B": 3}


def test_speedup_is_the_median_of_per_round_ratios():
    # Per-round ratios t_b / t_a: 3, 1, 3 -> 3; the ratio of the medians would be 3 / 2.
    assert paired_speedup([1.0, 2.0, 3.0], [3.0, 2.0, 9.0]) == 3.0


def test_linear_fit_recovers_a_line():
    lengths = np.array([64, 128, 256, 512, 1024])
    intercept, slope, r2 = linear_fit(lengths, 3.0 + 0.5 * lengths)
    np.testing.assert_allclose([intercept, slope, r2], [3.0, 0.5, 1.0], rtol=1e-9)


def test_transformer_flops_count_every_matmul():
    batch, length, layers, width, mlp, vocab = 2, 3, 2, 4, 8, 5
    rows = batch * length
    matmuls = [(rows, width, width)] * 4  # query, key, value, output projections
    matmuls += [(rows, width, mlp), (rows, mlp, width)]  # the MLP
    matmuls += [(rows, width, length)] * 2  # scores and weighted sum, all heads together
    per_layer = sum(2 * m * k * n for m, k, n in matmuls)
    expected = layers * per_layer + 2 * rows * width * vocab
    assert transformer_forward_flops(batch, length, layers, width, mlp, vocab) == expected
    assert transformer_train_flops(batch, length, layers, width, mlp, vocab) == 3 * expected


def test_revisions_ratio_is_the_median_of_per_round_head_over_base():
    from benchmarks.revisions import summarize

    # Per-round head / base: 0.5, 1.0, 2.0, 1.1, 1.2 -> 1.1 (the ratio of the medians: 1.0).
    result = summarize({"base": [2.0, 1.0, 1.0, 1.0, 1.0], "head": [1.0, 1.0, 2.0, 1.1, 1.2]})
    assert result["head_over_base"] == 1.1
    assert (result["base_seconds"], result["head_seconds"]) == (1.0, 1.1)


def test_revisions_extracts_a_commits_tracked_files(tmp_path):
    import subprocess

    from benchmarks.revisions import extract

    # A repository of its own: the checkout CI runs in need not be one.
    repo = tmp_path / "repo"
    repo.mkdir()

    def git(*args):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)

    git("init", "-q")
    (repo / "step.py").write_text("SPEED = 1\n")
    git("add", "step.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    (repo / "step.py").write_text("SPEED = 2\n")  # changed after the commit, not committed
    (repo / "untracked.py").write_text("")
    tree = extract("HEAD", str(tmp_path / "base"), repo=str(repo))
    assert sorted(os.listdir(tree)) == ["step.py"]
    with open(os.path.join(tree, "step.py")) as file:
        assert file.read() == "SPEED = 1\n"
