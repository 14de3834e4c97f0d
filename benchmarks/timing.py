"""Timing helpers: interleaved A/B repeats, medians, paired ratios, tables and JSON files.

Every benchmark times zero-argument callables ("cases") that do one unit of work and return
its outputs. `compare` warms each case up, then runs them round-robin (A, B, A, B, ...) so that
the load of a shared machine hits every case alike; each case's time is the median over
rounds, and a ratio is the median over rounds of the per-round ratio (drift cancels).
"""

import datetime
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Case:
    """One unit of work: `run()` does it and returns its outputs; `units` counts what it
    processes (images, vectors, tokens), so that `units / seconds` is the throughput."""

    run: object
    units: float
    unit: str
    extra: dict = field(default_factory=dict)


def to_numpy(value):
    """Forces a backend result to be computed (JAX and TF dispatch asynchronously)."""
    if hasattr(value, "detach"):  # torch
        return value.detach().cpu().numpy()
    return np.asarray(value)


def sync(outputs):
    """Waits for every array in a (nested) result by reading it back to the host."""
    if isinstance(outputs, dict):
        return {k: sync(v) for k, v in outputs.items()}
    if isinstance(outputs, (list, tuple)):
        return [sync(v) for v in outputs]
    if outputs is None or isinstance(outputs, (int, float, str)):
        return outputs
    return to_numpy(outputs)


def time_once(run, number=1):
    """Seconds per call of `run`, over `number` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(number):
        sync(run())
    return (time.perf_counter() - start) / number


def compare(cases, repeats=5, warmup=1, number=1):
    """Times `cases` (dict name -> Case) interleaved; returns name -> list of seconds per call.

    The order of the cases alternates between rounds (A B, then B A), so neither always runs
    first after the other has heated or cooled the caches.
    """
    names = list(cases)
    for name in names:
        for _ in range(warmup):
            sync(cases[name].run())
    times = {name: [] for name in names}
    for round_index in range(repeats):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            times[name].append(time_once(cases[name].run, number))
    return times


def best_torch_threads(case, rounds=2):
    """Sets PyTorch's intra-op thread count to whichever of 1 .. cpu_count runs `case`
    fastest, and returns it.

    On a 2-core machine shared with other jobs, PyTorch's OpenMP threads wait for each other
    at every parallel region, and one thread is often 2x faster than two (measured here); the
    peers get their best setting. It applies to the whole process, so to keras_vim's PyTorch
    backend too.
    """
    import torch

    best_threads, best_time = None, float("inf")
    for threads in range(1, (os.cpu_count() or 1) + 1):
        torch.set_num_threads(threads)
        sync(case.run())
        seconds = min(time_once(case.run) for _ in range(rounds))
        if seconds < best_time:
            best_threads, best_time = threads, seconds
    torch.set_num_threads(best_threads)
    return best_threads


def median(values):
    return float(statistics.median(values))


def paired_speedup(times_a, times_b):
    """How many times faster A is than B: the median over rounds of `t_b / t_a`."""
    return median([b / a for a, b in zip(times_a, times_b)])


def throughput(case, seconds):
    return case.units / seconds


def linear_fit(xs, ys):
    """Least-squares `y = a + b x`; returns `(a, b, r2)`."""
    xs, ys = np.asarray(xs, float), np.asarray(ys, float)
    b, a = np.polyfit(xs, ys, 1)
    residual = ys - (a + b * xs)
    total = ys - ys.mean()
    r2 = 1.0 - float(residual @ residual) / max(float(total @ total), 1e-30)
    return float(a), float(b), r2


def versions():
    """Versions of everything that shapes the numbers."""
    import importlib.metadata as metadata

    names = (
        "keras",
        "jax",
        "jaxlib",
        "torch",
        "tensorflow-cpu",
        "numpy",
        "vector-quantize-pytorch",
        "parti-pytorch",
        "x-transformers",
    )
    found = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    found["python"] = platform.python_version()
    return found


def environment():
    import keras

    info = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "backend": keras.backend.backend(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": _cpu_model(),
        "load_average": list(os.getloadavg()),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "versions": versions(),
    }
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as file:
            for line in file:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def format_table(rows, columns):
    """A Markdown table of `rows` (dicts) with `columns` [(key, title, format)]."""
    lines = [
        "| " + " | ".join(title for _, title, _ in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        cells = []
        for key, _, fmt in columns:
            value = row.get(key)
            cells.append("" if value is None else (fmt.format(value) if fmt else str(value)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_json(path, payload):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w") as file:
        json.dump(payload, file, indent=1, sort_keys=True)
    print(f"wrote {path}")
