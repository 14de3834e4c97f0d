"""Peak memory of each benchmark case, one fresh process per measurement.

Method: the child process builds the case and runs it twice (compilation, allocator and
cache warm-up), reads its resident set (`VmRSS`), resets the kernel's peak-RSS mark
(`/proc/self/clear_refs` = 5), runs the case once more and reads the new peak (`VmHWM`). The
step's working memory is `peak - resident before`: what one more call needs beyond the model,
its optimizer state and compiled code, all of which were resident before. The process's
lifetime peak (`ru_maxrss`, compilation included) is reported beside it.

    KERAS_BACKEND=jax python -m benchmarks.memory [--impls keras_vim peer]
"""

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys

import keras

from benchmarks.timing import environment, format_table, sync, write_json

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CASES = (
    ("quantizer", "inference"),
    ("quantizer", "train"),
    ("tokenizer", "encode"),
    ("tokenizer", "train"),
    ("prior", "train"),
    ("prior", "sample"),
)


def _status_kb(key):
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def measure_here(family, mode, impl):
    """Runs in the child: the memory numbers of one case, in MiB."""
    if impl == "peer":
        import torch

        torch.set_num_threads(1)
    module = importlib.import_module(f"benchmarks.{family}")
    case = module.CASES[(mode, impl)]()
    for _ in range(2):
        sync(case.run())
    before = _status_kb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as file:
            file.write("5")
        method = "VmHWM after clear_refs"
    except OSError:
        method = "ru_maxrss (peak reset unavailable: includes warm-up)"
    sync(case.run())
    peak = _status_kb("VmHWM") if method.startswith("VmHWM") else None
    lifetime = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    peak = lifetime if peak is None else peak
    return {
        "resident_before_mib": before / 1024,
        "peak_mib": peak / 1024,
        "step_mib": (peak - before) / 1024,
        "lifetime_peak_mib": lifetime / 1024,
        "method": method,
    }


def measure(family, mode, impl, timeout=900):
    """Runs one measurement in a fresh Python process with the current environment."""
    command = [sys.executable, "-m", "benchmarks.memory", "--child", family, mode, impl]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=_ROOT)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impls", nargs="+", default=["keras_vim", "peer"])
    parser.add_argument("--child", nargs=3, metavar=("FAMILY", "MODE", "IMPL"))
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_here(*args.child)), flush=True)
        return
    rows = []
    for family, mode in CASES:
        for impl in args.impls:
            row = {"case": f"{family} {mode}", "impl": impl, **measure(family, mode, impl)}
            rows.append(row)
            print(
                f"{row['case']:<22} {impl:<10} step {row['step_mib']:8.1f} MiB | resident "
                f"{row['resident_before_mib']:7.0f} | whole run {row['lifetime_peak_mib']:7.0f}",
                flush=True,
            )
    columns = [
        ("case", "case", None),
        ("impl", "implementation", None),
        ("step_mib", "step MiB", "{:.0f}"),
        ("resident_before_mib", "resident MiB", "{:.0f}"),
        ("lifetime_peak_mib", "lifetime peak MiB", "{:.0f}"),
    ]
    print(format_table(rows, columns))
    output = args.output or f"benchmarks/results/memory_{keras.backend.backend()}.json"
    write_json(output, {"environment": environment(), "rows": rows})


if __name__ == "__main__":
    main()
