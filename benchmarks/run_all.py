"""Runs every benchmark under JAX, PyTorch and TensorFlow (one subprocess per backend and
family) and merges the JSON results into `benchmarks/results/summary.md`.

    python -m benchmarks.run_all                      # the whole table (~1 h on 2 cores)
    python -m benchmarks.run_all --backends jax --families quantizer
    python -m benchmarks.run_all --report-only        # re-render the tables from the JSON

Each family's file also runs alone: `KERAS_BACKEND=jax python -m benchmarks.prior`.
"""

import argparse
import glob
import json
import os
import subprocess
import sys

from benchmarks.timing import format_table

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
BACKENDS = ("jax", "torch", "tensorflow")
FAMILIES = ("quantizer", "tokenizer", "prior", "memory")
# Beyond this speed ratio to JAX a backend's row needs an explanation (issue 6).
MAX_SLOWDOWN_VS_JAX = 3.0


def run_family(backend, family, extra):
    env = dict(os.environ, KERAS_BACKEND=backend)
    command = [sys.executable, "-m", f"benchmarks.{family}", *extra]
    if family == "memory" and backend != BACKENDS[0]:
        command += ["--impls", "keras_vim"]  # the peers' memory does not depend on it
    print(f"=== KERAS_BACKEND={backend} {' '.join(command[1:])}", flush=True)
    subprocess.run(command, cwd=ROOT, env=env, check=True)


def load(pattern):
    found = {}
    for path in sorted(glob.glob(os.path.join(RESULTS, pattern))):
        backend = os.path.basename(path).rsplit("_", 1)[1][: -len(".json")]
        with open(path) as file:
            found[backend] = json.load(file)
    return found


def _rate(value):
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def throughput_table(results):
    """One row per benchmark: the peer and keras_vim under each backend, with ratios."""
    titles, rows = [], {}
    for backend in BACKENDS:
        for family in ("quantizer", "tokenizer", "prior"):
            payload = results.get(family, {}).get(backend)
            for row in (payload or {}).get("rows", []):
                if row["benchmark"] not in rows:
                    titles.append(row["benchmark"])
                    rows[row["benchmark"]] = {"benchmark": row["benchmark"], "unit": row["unit"]}
                merged = rows[row["benchmark"]]
                merged[f"{backend}_keras_vim"] = _rate(row["keras_vim"])
                merged[f"{backend}_peer"] = _rate(row["peer"])
                merged[f"{backend}_ratio"] = f"x{row['speedup_vs_peer']:.2f}"
                merged[f"_{backend}_ratio"] = row["speedup_vs_peer"]
                target = row.get("target_vs_peer")
                merged["target"] = f">= x{target:g}" if target else "report"
                if backend == "jax" and target:
                    merged["met"] = "yes" if row["speedup_vs_peer"] >= target else "**no**"
                if row.get("reference") is not None:
                    merged[f"{backend}_reference"] = (
                        f"{_rate(row['reference'])} (x{row['speedup_vs_reference']:.2f})"
                    )
    for merged in rows.values():
        # Drift-free backend comparison: each backend's ratio to the peer of its own run.
        slow = []
        for backend in BACKENDS[1:]:
            if "_jax_ratio" in merged and f"_{backend}_ratio" in merged:
                factor = merged["_jax_ratio"] / merged[f"_{backend}_ratio"]
                merged[f"{backend}_vs_jax"] = f"{factor:.2f}"
                if factor > MAX_SLOWDOWN_VS_JAX:
                    slow.append(backend)
        merged["slow_backends"] = ", ".join(slow) or "-"
    columns = [("benchmark", "benchmark", None), ("unit", "unit", None)]
    for backend in BACKENDS:
        columns += [
            (f"{backend}_peer", f"peer ({backend} run)", None),
            (f"{backend}_keras_vim", f"keras_vim {backend}", None),
            (f"{backend}_ratio", f"{backend} / peer", None),
        ]
    columns += [("target", "target (JAX)", None), ("met", "met", None)]
    columns += [(f"{b}_vs_jax", f"JAX / {b} speed", None) for b in BACKENDS[1:]]
    table = format_table([rows[t] for t in titles], columns)
    reference_rows = [rows[t] for t in titles if "jax_reference" in rows[t]]
    reference = format_table(
        reference_rows,
        [("benchmark", "benchmark", None)]
        + [(f"{b}_reference", f"same math in {b} (keras_vim / it)", None) for b in BACKENDS],
    )
    return table, reference


def flops_table(results):
    rows = []
    for backend in BACKENDS:
        payload = results.get("prior", {}).get(backend)
        for row in (payload or {}).get("rows", []):
            if "flops_per_step" in row:
                rows.append(
                    {
                        "backend": backend,
                        "gflop": f"{row['flops_per_step'] / 1e9:.0f}",
                        "keras_vim": f"{row['keras_vim_flop_rate'] / 1e9:.1f}",
                        "peak": f"{row['matmul_peak_flops'] / 1e9:.1f}",
                        "fraction": f"{row['keras_vim_peak_fraction']:.0%}",
                        "peer": f"{row['peer_flop_rate'] / 1e9:.1f}",
                        "torch_peak": f"{row['torch_matmul_peak_flops'] / 1e9:.1f}",
                        "peer_fraction": f"{row['peer_peak_fraction']:.0%}",
                    }
                )
    return format_table(
        rows,
        [
            ("backend", "backend", None),
            ("gflop", "GFLOP / step", None),
            ("keras_vim", "keras_vim GFLOP/s", None),
            ("peak", "matmul peak (backend)", None),
            ("fraction", "keras_vim fraction", None),
            ("peer", "x-transformers GFLOP/s", None),
            ("torch_peak", "matmul peak (torch)", None),
            ("peer_fraction", "x-transformers fraction", None),
        ],
    )


def scaling_table(results):
    rows, fits = [], []
    for backend in BACKENDS:
        payload = results.get("prior", {}).get(backend)
        scaling = (payload or {}).get("scaling")
        if not scaling:
            continue
        for point in scaling["points"]:
            rows.append(
                {
                    "backend": backend,
                    "length": point["length"],
                    "keras_vim": f"{point['keras_vim_ms_per_token']:.1f}",
                    "peer": f"{point['peer_ms_per_token']:.1f}",
                    "ratio": f"x{point['speedup_vs_peer']:.2f}",
                }
            )
        for impl, fit in scaling["fits"].items():
            fits.append(
                {
                    "backend": backend,
                    "impl": "keras_vim" if impl == "keras_vim" else "x-transformers",
                    "fit": f"{fit['ms_per_token_at_0']:.1f} + "
                    f"{fit['ms_per_token_per_1000_positions']:.1f} x L/1000",
                    "r2": f"{fit['r2']:.3f}",
                    "growth": f"x{fit['per_token_growth_64_to_1024']:.2f}",
                }
            )
    points = format_table(
        rows,
        [
            ("backend", "backend", None),
            ("length", "tokens", None),
            ("keras_vim", "keras_vim ms / token step", None),
            ("peer", "x-transformers ms / token step", None),
            ("ratio", "keras_vim / peer speed", None),
        ],
    )
    fitted = format_table(
        fits,
        [
            ("backend", "backend", None),
            ("impl", "implementation", None),
            ("fit", "ms per token step (linear fit)", None),
            ("r2", "R^2", None),
            ("growth", "per-token time 64 -> 1024 tokens", None),
        ],
    )
    return points, fitted


def memory_table(results):
    rows = []
    for backend in BACKENDS:
        payload = results.get("memory", {}).get(backend)
        for row in (payload or {}).get("rows", []):
            impl = row["impl"] if row["impl"] == "keras_vim" else "peer"
            label = backend if impl == "keras_vim" else "PyTorch peer"
            rows.append(
                {
                    "case": row["case"],
                    "impl": f"{impl} ({label})",
                    "step": f"{row['step_mib']:.0f}",
                    "resident": f"{row['resident_before_mib']:.0f}",
                    "lifetime": f"{row['lifetime_peak_mib']:.0f}",
                }
            )
    rows.sort(key=lambda r: (r["case"], r["impl"]))
    return format_table(
        rows,
        [
            ("case", "case", None),
            ("impl", "implementation", None),
            ("step", "step peak above resident (MiB)", None),
            ("resident", "resident before (MiB)", None),
            ("lifetime", "process peak incl. compile (MiB)", None),
        ],
    )


def environment_lines(results):
    lines = []
    for family in ("quantizer", "tokenizer", "prior", "memory"):
        for backend, payload in sorted(results.get(family, {}).items()):
            env = payload["environment"]
            load = ", ".join(f"{x:.1f}" for x in env["load_average"])
            lines.append(f"- {family} / {backend}: {env['date']}, load average at the end {load}")
    some = next((p["environment"] for f in results.values() for p in f.values()), None)
    if some:
        versions = ", ".join(f"{k} {v}" for k, v in sorted(some["versions"].items()) if v)
        lines.insert(0, f"- machine: {some['processor']}, {some['cpu_count']} cores")
        lines.insert(1, f"- versions: {versions}")
    return lines


def report():
    results = {family: load(f"{family}_*.json") for family in FAMILIES}
    table, reference = throughput_table(results)
    points, fitted = scaling_table(results)
    parts = [
        "## Throughput (median of interleaved repeats; ratios are per-round medians)",
        table,
        "## Quantizer against the same math written directly in each backend",
        reference,
        "## Prior training step: FLOP rate and the measured float32 matmul peak",
        flops_table(results),
        "## Cached sampling against sequence length (batch 8)",
        points,
        fitted,
        "## Peak memory (fresh process per measurement)",
        memory_table(results),
        "## Runs",
        "\n".join(environment_lines(results)),
    ]
    text = "\n\n".join(parts) + "\n"
    path = os.path.join(RESULTS, "summary.md")
    with open(path, "w") as file:
        file.write(text)
    print(text)
    print(f"wrote {path}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--repeats", type=int, default=None, help="override each default")
    args = parser.parse_args(argv)
    if not args.report_only:
        extra = [] if args.repeats is None else ["--repeats", str(args.repeats)]
        for backend in args.backends:
            for family in args.families:
                run_family(backend, family, [] if family == "memory" else extra)
    report()


if __name__ == "__main__":
    main()
