"""`RunDirectory`: a recipe's `--output`, owned by one run, never a mix of two.

The directory records the settings of the run it belongs to (`run.json`, written when the run
starts) and whether that run has finished. A later run with other settings is refused (pass a
new `--output`, or delete the directory); one with the same settings resumes the unfinished
run, or finds the finished one's results. A run writes its results into a staging directory
and moves them into place only when all are written, then marks itself finished: an
interrupted run never leaves its partial results beside an earlier run's.
"""

import contextlib
import json
import os
import shutil

RECORD_FILE = "run.json"
STAGING_DIR = ".staging"


def normalized(settings):
    """`settings` as they read back from JSON (tuples become lists, keys sorted)."""
    return json.loads(json.dumps(settings, sort_keys=True))


def describe_differences(saved, current):
    """`'steps: 400 there, 2 here; ...'` for the settings that differ (JSON-normalized)."""
    saved, current = normalized(saved), normalized(current)

    def shown(settings, key):
        return repr(settings[key]) if key in settings else "unset"

    return "; ".join(
        f"{key}: {shown(saved, key)} there, {shown(current, key)} here"
        for key in sorted(set(saved) | set(current))
        if key not in saved or key not in current or saved[key] != current[key]
    )


@contextlib.contextmanager
def staged_writes(directory):
    """Yields an empty staging directory inside `directory`; when the block ends normally,
    moves what was written there into `directory` (replacing files and directories of the
    same names). A block that raises leaves `directory` as it was."""
    staging = os.path.join(directory, STAGING_DIR)
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed process
    os.makedirs(staging)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for name in sorted(os.listdir(staging)):
        target = os.path.join(directory, name)
        if os.path.isdir(target) and not os.path.islink(target):
            shutil.rmtree(target)
        os.replace(os.path.join(staging, name), target)
    os.rmdir(staging)


class RunDirectory:
    """A run's output directory.

    Args:
        path: the directory.
        settings: a JSON-serializable dict of what makes the run (its flags).
    """

    def __init__(self, path, settings):
        self.path = path
        self.settings = normalized(settings)
        self._record_path = os.path.join(path, RECORD_FILE)

    def _record(self):
        if not os.path.isfile(self._record_path):
            return None
        try:
            with open(self._record_path) as f:
                record = json.load(f)
        except (OSError, ValueError):
            return None
        return record if isinstance(record, dict) and "settings" in record else None

    def problem(self):
        """Why this run may not use the directory, or None."""
        if not os.path.exists(self.path):
            return None
        if not os.path.isdir(self.path):
            return f"{self.path} is a file, not a directory"
        how = f"pass a new --output, or delete {self.path} to start afresh"
        record = self._record()
        if record is None:
            if not os.listdir(self.path):
                return None
            return f"{self.path} is not empty and holds no {RECORD_FILE} of a run; {how}"
        if record["settings"] != self.settings:
            differences = describe_differences(record["settings"], self.settings)
            return f"{self.path} holds a run with other settings ({differences}); {how}"
        return None

    @property
    def finished(self):
        """Whether the directory holds the finished run of these settings."""
        record = self._record()
        return bool(record and record["settings"] == self.settings and record.get("finished"))

    def start(self):
        """Creates the directory and records this run (unfinished) unless it is there."""
        problem = self.problem()
        if problem:
            raise ValueError(problem)
        os.makedirs(self.path, exist_ok=True)
        if self._record() is None:
            self._write_record(finished=False)

    def finished_results(self, name):
        """The JSON results file `name` of the finished run of these settings (announced as
        reused), or None when there is no such run."""
        if not self.finished:
            return None
        print(
            f"{self.path} holds the finished run of these settings: its results are reused "
            "(delete it, or pass a new --output, to run it again).",
            flush=True,
        )
        with open(os.path.join(self.path, name)) as f:
            return json.load(f)

    @contextlib.contextmanager
    def publishing(self):
        """`staged_writes` into the run directory; marks the run finished when it is done."""
        with staged_writes(self.path) as staging:
            yield staging
        self._write_record(finished=True)

    def _write_record(self, finished):
        temporary = self._record_path + ".tmp"
        with open(temporary, "w") as f:
            json.dump({"settings": self.settings, "finished": finished}, f, indent=2)
        os.replace(temporary, self._record_path)
