"""The paper's configurations on many devices, before renting any: each training step compiled
ahead of time on 8 virtual CPU devices under `keras_vim.distribution`, never run.

For every configuration x layout x dtype x per-replica batch, one fresh process (JAX, 8 devices
from `--xla_force_host_platform_device_count`) builds the model abstract, compiles one `fit`
step (`benchmarks/aot_step.py`) and records the parameters, XLA's FLOPs and per-device memory,
and how the state is sharded. The records are merged into `results/scale.json` (keyed by those
four fields), so a long regeneration can be done in parts; `--table` prints the README tables
from it. `--real-run` trains `vit_vqgan_ss` at 256x256 for a few steps on this CPU.

    python -m benchmarks.scale                                    # the whole matrix
    python -m benchmarks.scale --configs vim_base --layouts data8 --dtypes mixed_bfloat16
    python -m benchmarks.scale --table                            # README tables from the JSON
    python -m benchmarks.scale --real-run                         # vit_vqgan_ss, 256x256, batch 2
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(_ROOT, "benchmarks", "results", "scale.json")
DEVICES = 8
# name -> (distribution kind, mesh shape)
LAYOUTS = {"data8": ("data", (8,)), "model2x4": ("model", (2, 4)), "model1x8": ("model", (1, 8))}
DTYPES = ("float32", "mixed_bfloat16")
BATCH_SIZES = (1, 8)  # per data-parallel replica (per device under "data")
# The paper's global batches and schedules (section 3 / 4).
PAPER = {"tokenizer": {"batch": 256, "steps": 500_000}, "prior": {"batch": 1024, "steps": 450_000}}
# Dense bf16 peaks (vendor data sheets, no sparsity), for the time estimates.
ACCELERATORS = {"A100": 312e12, "H100 SXM": 989e12, "TPU v4": 275e12}
MFU = 0.4
GIB = 2**30
R1_WEIGHT = 10.0  # StyleGAN2's gamma at 256x256: the paper's authors advise following StyleGAN2


def model_family(name):
    return "prior" if name.startswith("vim") else "tokenizer"


def preset_config(name):
    from keras_vim.models.vim.vim_presets import VIM_PRESETS
    from keras_vim.models.vit_vqgan.vit_vqgan_presets import VIT_VQGAN_PRESETS

    presets = VIM_PRESETS if model_family(name) == "prior" else VIT_VQGAN_PRESETS
    return dict(presets[name]["config"])


CONFIGS = ("vit_vqgan_ss", "vit_vqgan_bb", "vit_vqgan_sl", "vim_base", "vim_large")


def compile_paper_tokenizer(model, optimizers=None):
    """Compiles a VitVQGAN for its GAN step with every loss term of the paper from step 0
    (VGG16 on random weights: the same FLOPs as trained ones, no download; R1). `optimizers`:
    the generator's and the discriminator's (default: the paper's schedule, each)."""
    from keras_vim.training.schedules import vit_vqgan_optimizer

    generator, discriminator = optimizers or (vit_vqgan_optimizer(), vit_vqgan_optimizer())
    model.compile(
        optimizer=generator,
        discriminator_optimizer=discriminator,
        perceptual_network_weights=None,
        r1_weight=R1_WEIGHT,
        discriminator_start=0,
    )


def _tokenizer_step(config):
    """VitVQGAN's GAN step with every loss term of the paper (VGG16 on random weights, R1)."""
    from keras_vim.models import VitVQGAN

    def inputs(batch):
        size = config.get("image_size", 256)
        size = (size, size) if isinstance(size, int) else tuple(size)
        return [((batch, *size, config.get("channels", 3)), "float32")]

    return (lambda: VitVQGAN(**config)), compile_paper_tokenizer, inputs


def _prior_step(config):
    from keras_vim.models import VIM
    from keras_vim.training.vim_schedules import vim_optimizer

    def compile_model(model):
        model.compile(optimizer=vim_optimizer())

    def inputs(batch):
        grid = config["grid_size"]
        grid = (grid, grid) if isinstance(grid, int) else tuple(grid)
        return [((batch, *grid), "int32"), ((batch,), "int32")]

    return (lambda: VIM(**config)), compile_model, inputs


def prior_analytic_flops(config, global_batch):
    """The prior step's FLOPs by hand: `benchmarks.flops` (attention included) and the usual
    `6 x parameters x tokens`."""
    from benchmarks.flops import transformer_train_flops

    grid = config["grid_size"]
    length = grid * grid if isinstance(grid, int) else math.prod(grid)
    return transformer_train_flops(
        global_batch,
        length,
        config["num_layers"],
        config["hidden_dim"],
        config["mlp_dim"],
        config["vocabulary_size"],
    ), global_batch * length


def measure(name, layout, dtype, batch, config=None, mesh_shape=None):
    """One record: the step of configuration `name` (its preset's config, or `config`) under
    `layout` ("data" / "model" or a `LAYOUTS` name) at `batch` per data-parallel replica."""
    import keras

    from benchmarks.aot_step import compile_train_step
    from benchmarks.timing import environment
    from keras_vim.distribution import configure
    from keras_vim.models import VIM, VitVQGAN

    kind, mesh = LAYOUTS.get(layout, (layout, mesh_shape))
    family = model_family(name)
    config = preset_config(name) if config is None else dict(config)
    keras.config.set_dtype_policy(dtype)
    setup = configure(kind, VIM if family == "prior" else VitVQGAN, mesh_shape=mesh, activate=False)
    build, compile_model, inputs = (_prior_step if family == "prior" else _tokenizer_step)(config)
    global_batch = batch * setup.num_replicas
    model, step = compile_train_step(setup, build, compile_model, inputs(global_batch))
    cost, memory = step.cost(), step.memory()
    trainable, non_trainable, optimizer = (
        step.state[k] for k in ("trainable", "non_trainable", "optimizer")
    )
    record = {
        "config": name,
        "family": family,
        "layout": layout,
        "kind": kind,
        "mesh_shape": list(setup.mesh_shape),
        "devices": setup.num_devices,
        "replicas": setup.num_replicas,
        "dtype": dtype,
        "batch_per_replica": batch,
        "global_batch": global_batch,
        "parameters": int(sum(math.prod(v.shape) for v in model.trainable_variables)),
        "non_trainable_parameters": int(
            sum(math.prod(v.shape) for v in model.non_trainable_variables)
        ),
        "flops_per_device": cost["flops_per_device"],
        # XLA analyses the partitioned program of one device; every device runs one.
        "flops_per_step": cost["flops_per_device"] * setup.num_devices,
        "bytes_accessed_per_device": cost["bytes_accessed_per_device"],
        "memory_per_device": memory,
        "state_bytes": {
            "parameters": trainable[0] + non_trainable[0],
            "parameters_per_device": trainable[1] + non_trainable[1],
            "optimizer": optimizer[0],
            "optimizer_per_device": optimizer[1],
        },
        "optimizer_state_sharded": optimizer[1] < optimizer[0],
        "compile_seconds": round(step.seconds, 1),
        "environment": environment(),
    }
    if family == "tokenizer":
        record["discriminator_parameters"] = int(model.discriminator.count_params())
        record["loss"] = {
            "weights": dict(model.loss_weights),
            "r1_weight": R1_WEIGHT,
            "perceptual_network": "VGG16, random weights (constants of the step)",
        }
    else:
        analytic, tokens = prior_analytic_flops(config, global_batch)
        record["analytic_flops"] = analytic
        record["six_n_t_flops"] = 6.0 * record["parameters"] * tokens
        record["xla_over_analytic"] = record["flops_per_step"] / analytic
    return record


# --- the matrix, one process per record -------------------------------------------------------


def child_env():
    env = dict(os.environ, KERAS_BACKEND="jax", PYTHONPATH=_ROOT)
    # LLVM's optimisations only shape the CPU code, not the HLO passes, buffers or costs
    # (measured: the same memory analysis, FLOPs within 1e-5): off, compiling is faster.
    flags = (
        f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={DEVICES} "
        "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
    )
    env["XLA_FLAGS"] = flags.strip()
    return env


def run_child(args, timeout):
    command = [sys.executable, "-m", "benchmarks.scale", "--child", *map(str, args)]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=_ROOT, env=child_env()
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode or not lines:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return json.loads(lines[-1])


def key(record):
    if "real_run" in record:
        return ("real_run", record["config"])
    if record.get("gpu"):  # benchmarks/gpu.py
        return ("gpu", record["device"], record["benchmark"], record["config"], record["batch"])
    return (record["config"], record["layout"], record["dtype"], record["batch_per_replica"])


def load(path=RESULTS):
    if not os.path.isfile(path):
        return []
    with open(path) as file:
        return json.load(file)["records"]


def merge(records, path=RESULTS):
    """Writes `records` into `path`, replacing those with the same key; returns all."""
    merged = {key(r): r for r in load(path)}
    merged.update({key(r): r for r in records})
    ordered = sorted(merged.values(), key=lambda r: tuple(map(str, key(r))))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as file:
        json.dump({"records": ordered}, file, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)
    return ordered


# --- estimates and tables ---------------------------------------------------------------------


def fits(records, capacity_gib):
    """The largest per-replica batch whose peak fits `capacity_gib`, and whether it lies past
    the largest measured batch; None if even one example does not fit.

    The peak is taken as linear in the batch (the state plus activations per example), through
    the smallest and the largest measured batch; with one record, only that batch is known.
    """
    records = sorted(records, key=lambda r: r["batch_per_replica"])
    low, high = records[0], records[-1]
    peak = lambda r: r["memory_per_device"]["peak_bytes"] / GIB  # noqa: E731
    if low is high:
        return (low["batch_per_replica"], False) if peak(low) <= capacity_gib else None
    slope = (peak(high) - peak(low)) / (high["batch_per_replica"] - low["batch_per_replica"])
    intercept = peak(low) - slope * low["batch_per_replica"]
    batch = math.floor((capacity_gib - intercept) / slope) if slope > 0 else math.inf
    batch = min(batch, PAPER[low["family"]]["batch"])  # more than the paper's batch: no use
    if batch < 1:
        return None
    return batch, batch > high["batch_per_replica"]


def devices_for_paper_batch(record, batch_per_replica):
    paper = PAPER[record["family"]]["batch"]
    model_axis = record["devices"] // record["replicas"]
    return math.ceil(paper / batch_per_replica) * model_axis


def step_estimates(record):
    """Seconds per paper-batch step on one accelerator of each kind, and accelerator-days for
    the paper's schedule, at `MFU` of its bf16 peak (FLOPs per example from `record`)."""
    paper = PAPER[record["family"]]
    flops = record["flops_per_step"] / record["global_batch"] * paper["batch"]
    return {
        name: {
            "device_seconds_per_step": flops / (peak * MFU),
            "device_days": flops * paper["steps"] / (peak * MFU) / 86400,
        }
        for name, peak in ACCELERATORS.items()
    }


def fit_table(records):
    groups = {}
    for r in records:
        if "real_run" not in r:
            groups.setdefault((r["config"], r["layout"], r["dtype"]), []).append(r)
    lines = [
        "| config | layout | dtype | parameters | state / device (GiB) | peak / device (GiB) by "
        "batch per replica | 16 GB | 40 GB | 80 GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (config, layout, dtype), group in sorted(groups.items()):
        group.sort(key=lambda r: r["batch_per_replica"])
        first = group[0]
        state = first["state_bytes"]
        per_device = (state["parameters_per_device"] + state["optimizer_per_device"]) / GIB
        peaks = ", ".join(
            f"b{r['batch_per_replica']}: {r['memory_per_device']['peak_bytes'] / GIB:.1f}"
            for r in group
        )
        cells = []
        for capacity in (16, 40, 80):
            fit = fits(group, capacity * 1e9 / GIB)  # decimal GB of the data sheets, in GiB
            if fit is None:
                cells.append("-")
            else:
                batch, extrapolated = fit
                devices = devices_for_paper_batch(first, batch)
                cells.append(f"{'~' if extrapolated else ''}b{batch}: {devices} dev")
        lines.append(
            f"| {config} | {layout} | {dtype} | {first['parameters'] / 1e6:.0f}M | "
            f"{per_device:.2f}{' (sharded)' if first['optimizer_state_sharded'] else ''} | "
            f"{peaks} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def flops_table(records):
    lines = [
        "| config | GFLOP per example (XLA) | prior: XLA / analytic | prior: XLA / 6NT | "
        + " | ".join(f"{name}: s / step, device-days" for name in ACCELERATORS)
        + " |",
        "|---|---|---|---|" + "---|" * len(ACCELERATORS),
    ]
    chosen = {}
    for r in records:  # the largest batch measured in data8 mixed_bfloat16 of each config
        if r.get("layout") == "data8" and r.get("dtype") == "mixed_bfloat16":
            best = chosen.get(r["config"])
            if best is None or r["global_batch"] > best["global_batch"]:
                chosen[r["config"]] = r
    for config in CONFIGS:
        r = chosen.get(config)
        if r is None:
            continue
        per_example = r["flops_per_step"] / r["global_batch"] / 1e9
        analytic = f"{r['xla_over_analytic']:.3f}" if "analytic_flops" in r else ""
        six = f"{r['flops_per_step'] / r['six_n_t_flops']:.3f}" if "six_n_t_flops" in r else ""
        estimates = step_estimates(r)
        cells = [
            f"{e['device_seconds_per_step']:.1f}, {e['device_days']:,.0f}"
            for e in estimates.values()
        ]
        lines.append(
            f"| {config} | {per_example:,.0f} | {analytic} | {six} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


# --- a real run -------------------------------------------------------------------------------


def real_run(steps=4, batch=2, name="vit_vqgan_ss"):
    """Trains `name` at its size for `steps` steps on one fixed batch (JAX, this CPU): seconds
    per step after the compiling one, and the losses of each step on that batch."""
    import keras
    import numpy as np

    from benchmarks.timing import environment
    from keras_vim.models import VitVQGAN

    keras.utils.set_random_seed(0)
    config = preset_config(name)
    model = VitVQGAN(**config)
    # The paper's AdamW, at a constant 1e-4: its warm-up would keep a few steps at ~0.
    optimizers = [
        keras.optimizers.AdamW(1e-4, beta_1=0.9, beta_2=0.99, weight_decay=1e-4) for _ in "gd"
    ]
    compile_paper_tokenizer(model, optimizers)
    size = config["image_size"]
    rng = np.random.default_rng(0)
    # Smooth images (bilinear 8x8 noise): a batch a tokenizer can learn to reconstruct.
    coarse = rng.random((batch, 8, 8, config["channels"])).astype("float32")
    images = keras.ops.convert_to_numpy(keras.ops.image.resize(coarse, (size, size)))
    seconds, logs = [], []
    for step in range(steps):
        start = time.perf_counter()
        result = model.train_on_batch(images, return_dict=True)  # this step's, before its update
        logs.append({k: float(v) for k, v in result.items()})
        seconds.append(time.perf_counter() - start)
        print(f"step {step + 1}/{steps}: {seconds[-1]:.1f}s, {logs[-1]}", flush=True)
    finite = all(math.isfinite(v) for step in logs for v in step.values())
    return {
        "real_run": True,
        "config": name,
        "batch": batch,
        "steps": steps,
        "image_size": size,
        "first_step_seconds": round(seconds[0], 1),
        "seconds_per_step": round(sum(seconds[1:]) / max(1, len(seconds) - 1), 2),
        "train_logs": logs,
        "losses_finite": finite,
        # The same batch each step: the last step's loss is the loss after `steps - 1` updates.
        "loss_lower_after": logs[-1]["loss"] < logs[0]["loss"],
        "l2_lower_after": logs[-1]["l2"] < logs[0]["l2"],
        "environment": environment(),
    }


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--layouts", nargs="+", choices=list(LAYOUTS), default=list(LAYOUTS))
    parser.add_argument("--dtypes", nargs="+", choices=DTYPES, default=list(DTYPES))
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=list(BATCH_SIZES))
    parser.add_argument("--output", default=RESULTS, help="JSON file to merge the records into.")
    parser.add_argument("--timeout", type=int, default=1800, help="Seconds per compile.")
    parser.add_argument(
        "--missing", action="store_true", help="Skip the records the JSON already has."
    )
    parser.add_argument("--table", action="store_true", help="Print the README tables only.")
    parser.add_argument("--real-run", action="store_true", help="vit_vqgan_ss, a few steps.")
    parser.add_argument("--steps", type=int, default=4, help="Steps of --real-run.")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        name, layout, dtype, batch = args.child
        print(json.dumps(measure(name, layout, dtype, int(batch))), flush=True)
        return
    if args.real_run:
        record = real_run(steps=args.steps)
        merge([record], args.output)
        print(json.dumps({k: v for k, v in record.items() if k != "environment"}, indent=1))
        return
    if not args.table:
        done = {key(r) for r in load(args.output)} if args.missing else set()
        for name in args.configs:
            for layout in args.layouts:
                for dtype in args.dtypes:
                    for batch in args.batch_sizes:
                        if (name, layout, dtype, batch) in done:
                            continue
                        start = time.time()
                        try:
                            record = run_child((name, layout, dtype, batch), args.timeout)
                        except (RuntimeError, subprocess.TimeoutExpired) as error:
                            print(f"FAILED {name} {layout} {dtype} b{batch}: {error}", flush=True)
                            continue
                        merge([record], args.output)
                        peak = record["memory_per_device"]["peak_bytes"] / GIB
                        print(
                            f"{name} {layout} {dtype} b{batch}: {record['flops_per_step']:.3g} "
                            f"FLOP/step, peak {peak:.2f} GiB/device "
                            f"({time.time() - start:.0f}s)",
                            flush=True,
                        )
    records = load(args.output)
    print(fit_table(records), "", flops_table(records), sep="\n")


if __name__ == "__main__":
    main()
