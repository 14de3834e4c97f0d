"""RunDirectory: one run per directory; results appear together or not at all."""

import os

import pytest

from keras_vim.utils.run_directory import RunDirectory, describe_differences, staged_writes


def files(directory):
    return {
        os.path.relpath(os.path.join(root, name), directory): open(
            os.path.join(root, name), "rb"
        ).read()
        for root, _, names in os.walk(directory)
        for name in names
    }


def test_a_new_or_empty_directory_is_taken_and_recorded(tmp_path):
    run = RunDirectory(str(tmp_path / "new"), {"steps": 4})
    assert run.problem() is None and not run.finished
    run.start()
    assert set(os.listdir(run.path)) == {"run.json"} and not run.finished
    (tmp_path / "empty").mkdir()
    assert RunDirectory(str(tmp_path / "empty"), {"steps": 4}).problem() is None


def test_another_runs_directory_is_refused(tmp_path):
    path = str(tmp_path / "run")
    RunDirectory(path, {"steps": 400, "learning_rate": 0.05, "mesh": (2, 4)}).start()
    # Tuples read back as lists: not a difference.
    assert (
        RunDirectory(path, {"steps": 400, "learning_rate": 0.05, "mesh": [2, 4]}).problem() is None
    )
    other = RunDirectory(path, {"steps": 2, "learning_rate": 0.05, "mesh": [2, 4]})
    assert other.problem() == (
        f"{path} holds a run with other settings (steps: 400 there, 2 here); pass a new "
        f"--output, or delete {path} to start afresh"
    )
    with pytest.raises(ValueError, match="other settings"):
        other.start()


def test_a_directory_without_a_run_record_is_refused(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"someone's model")
    problem = RunDirectory(str(tmp_path), {"steps": 4}).problem()
    assert "is not empty and holds no run.json" in problem and "pass a new --output" in problem
    assert "is a file" in RunDirectory(str(tmp_path / "model.keras"), {}).problem()


def test_differences_name_missing_settings():
    assert (
        describe_differences({"a": 1}, {"b": 2}) == "a: 1 there, unset here; b: unset there, 2 here"
    )


def test_results_are_published_together_and_the_run_marked_finished(tmp_path):
    run = RunDirectory(str(tmp_path / "run"), {"steps": 4})
    run.start()
    with run.publishing() as staging:
        with open(os.path.join(staging, "metrics.json"), "w") as f:
            f.write('{"loss": 1.0}')
        os.makedirs(os.path.join(staging, "preset"))
        assert not os.path.exists(os.path.join(run.path, "metrics.json"))
    assert run.finished and run.finished_results("metrics.json") == {"loss": 1.0}
    assert sorted(os.listdir(run.path)) == ["metrics.json", "preset", "run.json"]


def test_an_interrupted_attempt_leaves_the_earlier_files_unchanged(tmp_path):
    directory = str(tmp_path)
    with staged_writes(directory) as staging:
        for name in ("a.json", "b.png"):
            with open(os.path.join(staging, name), "w") as f:
                f.write(f"first {name}")
    before = files(directory)
    with pytest.raises(KeyboardInterrupt):
        with staged_writes(directory) as staging:
            with open(os.path.join(staging, "a.json"), "w") as f:
                f.write("second a.json")
            raise KeyboardInterrupt  # killed before b.png was rewritten
    assert files(directory) == before
    # A killed process leaves its stage behind: the next attempt starts from a clean one.
    os.makedirs(os.path.join(directory, ".staging"))
    with open(os.path.join(directory, ".staging", "a.json"), "w") as f:
        f.write("killed a.json")
    with staged_writes(directory) as staging:
        assert os.listdir(staging) == []
    assert files(directory) == before
