"""Step time of one benchmark case at two revisions of the repo, interleaved A/B.

    KERAS_BACKEND=jax python -m benchmarks.revisions --base 2410506 --family tokenizer --mode train

"No slower than before" cannot be read off two runs of a family on this machine: its speed
drifts by up to ~30% between runs, more than the differences to find. Here two worker
processes, one importing keras_vim and `benchmarks` from `--base` (extracted with `git
archive`), one from `--head` (default: this checkout's files), build the same case
(`benchmarks.<family>.keras_vim_case(mode)`), warm it up, then take turns: in each round one
worker times `--steps` calls while the other waits, the order alternating between rounds. Each
revision's time is the median over rounds of seconds per call, and the ratio is the median over
rounds of the per-round `head / base` ratio, so the machine's drift cancels.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

READY = "ready"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def worker(family, mode, steps):
    """Runs in a child process: builds the case, then times `steps` calls per "go" line."""
    import importlib

    import keras_vim

    module = importlib.import_module(f"benchmarks.{family}")
    from benchmarks.timing import sync

    case = module.keras_vim_case(mode)
    for _ in range(2):
        sync(case.run())
    print(READY, os.path.dirname(os.path.dirname(os.path.abspath(keras_vim.__file__))), flush=True)
    for line in sys.stdin:
        if line.strip() != "go":
            break
        start = time.perf_counter()
        for _ in range(steps):
            sync(case.run())
        print((time.perf_counter() - start) / steps, flush=True)


def extract(revision, directory, repo=REPO):
    """The tracked files of `repo` at `revision` (a commit, tag or branch) under `directory`."""
    os.makedirs(directory, exist_ok=True)
    archive = subprocess.run(
        ["git", "archive", revision], cwd=repo, check=True, capture_output=True
    )
    subprocess.run(["tar", "xf", "-", "-C", directory], input=archive.stdout, check=True)
    return directory


def start_worker(tree, family, mode, steps):
    env = dict(os.environ, PYTHONPATH=tree)
    command = [sys.executable, os.path.abspath(__file__), "--worker"]
    command += ["--family", family, "--mode", mode, "--steps", str(steps)]
    process = subprocess.Popen(
        command, cwd=tree, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    line = process.stdout.readline().split()
    # The worker must have imported the tree's keras_vim, not an installed copy.
    if not line or line[0] != READY or os.path.realpath(line[1]) != os.path.realpath(tree):
        process.kill()
        raise RuntimeError(f"the worker for {tree} did not start on its own tree: {line}")
    return process


def time_round(process):
    process.stdin.write("go\n")
    process.stdin.flush()
    return float(process.stdout.readline())


def compare_revisions(base_tree, head_tree, family, mode, rounds, steps):
    """Per-round seconds per call of each revision, timed in turns."""
    workers = {
        "base": start_worker(base_tree, family, mode, steps),
        "head": start_worker(head_tree, family, mode, steps),
    }
    times = {"base": [], "head": []}
    try:
        for index in range(rounds):
            order = ("base", "head") if index % 2 == 0 else ("head", "base")
            for name in order:
                times[name].append(time_round(workers[name]))
    finally:
        for process in workers.values():
            process.stdin.close()
            process.wait()
    return times


def summarize(times):
    ratios = [h / b for b, h in zip(times["base"], times["head"])]
    return {
        "base_seconds": statistics.median(times["base"]),
        "head_seconds": statistics.median(times["head"]),
        "head_over_base": statistics.median(ratios),
        "per_round_ratios": ratios,
        "times": times,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", help="The revision to compare against (git rev).")
    parser.add_argument("--head", default=None, help="Default: this checkout's files.")
    parser.add_argument("--family", default="tokenizer", choices=["tokenizer", "prior"])
    parser.add_argument("--mode", default="train")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=3, help="Calls timed per round.")
    parser.add_argument("--output", default=None, help="A JSON file for every timing.")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.family, args.mode, args.steps)
        return None
    if not args.base:
        parser.error("--base is required")
    if args.rounds < 1 or args.steps < 1:
        parser.error("--rounds and --steps must be at least 1")
    with tempfile.TemporaryDirectory() as scratch:
        base_tree = extract(args.base, os.path.join(scratch, "base"))
        head_tree = extract(args.head, os.path.join(scratch, "head")) if args.head else REPO
        times = compare_revisions(
            base_tree, head_tree, args.family, args.mode, args.rounds, args.steps
        )
    # Imported here: a worker runs this file on the other revision's `benchmarks`.
    from benchmarks.timing import environment

    result = summarize(times)
    result.update(vars(args), environment=environment())
    print(
        f"{args.family} {args.mode}: base {args.base} {result['base_seconds']:.4f} s/call, "
        f"head {args.head or 'checkout'} {result['head_seconds']:.4f} s/call, "
        f"head/base {result['head_over_base']:.3f} (median of {args.rounds} per-round ratios, "
        f"range {min(result['per_round_ratios']):.3f}-{max(result['per_round_ratios']):.3f})"
    )
    if args.output:
        with open(args.output, "w") as file:
            json.dump(result, file, indent=1, sort_keys=True)
        print(f"wrote {args.output}")
    return result


if __name__ == "__main__":
    main()
