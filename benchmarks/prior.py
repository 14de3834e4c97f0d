"""Prior: keras_vim's `VIM` vs x-transformers (`TransformerWrapper` + `Decoder`, sampled by
`AutoregressiveWrapper.generate` with its key/value cache).

Width 512, 8 blocks of 8 heads (MLP 2048), 8192 codes, one class token + 256 image tokens
(a 16x16 grid), batch 8, no dropout, AdamW. Measured:

- `train`: one training step (tokens/s = 8 x 256 / step time), and its FLOP rate against
  the float32 matmul peak measured in the same backend (torch's for the peer);
- `sample`: sampling 256 tokens with the cache (temperature 1, top-k 64);
- `uncached`: one full forward pass of the whole sequence, the per-token cost of a sampler
  without a cache at static shapes (tokens/s = 8 / forward time), for reference;
- `scaling`: cached sampling of 64 ... 1024 tokens; the time per token should grow at most
  linearly with the length (each new token attends to all earlier ones).

    KERAS_BACKEND=jax python -m benchmarks.prior [--modes train sample uncached scaling]
"""

import argparse

import keras
import numpy as np

from benchmarks.backend import matmul_peak
from benchmarks.flops import transformer_train_flops
from benchmarks.timing import (
    Case,
    best_torch_threads,
    compare,
    environment,
    linear_fit,
    median,
    paired_speedup,
    write_json,
)

WIDTH, LAYERS, HEADS, MLP = 512, 8, 8, 2048
VOCABULARY, CLASSES, GRID, BATCH = 8192, 10, (16, 16), 8
TOP_K, LEARNING_RATE = 64, 1e-4
SCALING_GRIDS = ((8, 8), (8, 16), (16, 16), (16, 32), (32, 32))


def data(grid=GRID):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, VOCABULARY, (BATCH, *grid), dtype=np.int32)
    class_ids = rng.integers(0, CLASSES, (BATCH,), dtype=np.int32)
    return tokens, class_ids


def keras_vim_prior(grid=GRID):
    from keras_vim.models import VIM

    return VIM(
        vocabulary_size=VOCABULARY,
        grid_size=grid,
        num_layers=LAYERS,
        num_heads=HEADS,
        hidden_dim=WIDTH,
        mlp_dim=MLP,
        num_classes=CLASSES,
        dropout=0.0,
        seed=0,
    )


def keras_vim_case(mode, grid=GRID):
    """keras_vim's public API: `train_on_batch` after `compile`, and `generate`."""
    model = keras_vim_prior(grid)
    tokens, class_ids = data(grid)
    length = grid[0] * grid[1]
    if mode == "train":
        model.compile(optimizer=keras.optimizers.AdamW(LEARNING_RATE, beta_1=0.9, beta_2=0.96))
        x, y = keras.ops.convert_to_tensor(tokens), keras.ops.convert_to_tensor(class_ids)
        return Case(
            lambda: model.train_on_batch(x, y, return_dict=True),
            BATCH * length,
            "tokens",
            {"parameters": model.count_params()},
        )
    if mode == "sample":
        return Case(
            lambda: model.generate(class_ids=class_ids, top_k=TOP_K, seed=1),
            BATCH * length,
            "tokens",
        )
    # Uncached: one full forward pass per sampled token.
    from keras_vim.utils.compiled import compile_function

    forward = compile_function(model, lambda t, c: model((t, c), training=False))
    x, y = keras.ops.convert_to_tensor(tokens), keras.ops.convert_to_tensor(class_ids)
    return Case(lambda: forward(x, y), BATCH, "tokens")


def peer_case(mode, grid=GRID):
    """x-transformers at the same shapes: class ids are extra tokens after the codes."""
    import torch

    from benchmarks.peers import x_transformer

    torch.manual_seed(0)
    length = grid[0] * grid[1]
    wrapper = x_transformer(VOCABULARY + CLASSES, length + 1, WIDTH, LAYERS, HEADS, MLP)
    tokens, class_ids = data(grid)
    prompts = torch.from_numpy(class_ids.astype(np.int64) + VOCABULARY)[:, None]
    sequence = torch.cat([prompts, torch.from_numpy(tokens.reshape(BATCH, -1)).long()], 1)
    if mode == "train":
        wrapper.train()
        optimizer = torch.optim.AdamW(wrapper.parameters(), LEARNING_RATE, betas=(0.9, 0.96))

        def run_train():
            loss = wrapper(sequence)  # next-token loss over the 256 image tokens
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return loss

        parameters = sum(p.numel() for p in wrapper.parameters())
        return Case(run_train, BATCH * length, "tokens", {"parameters": parameters})
    wrapper.eval()
    if mode == "sample":

        def run_sample():
            return wrapper.generate(
                prompts, length, temperature=1.0, filter_kwargs={"k": TOP_K}, cache_kv=True
            )

        return Case(run_sample, BATCH * length, "tokens")

    def run_forward():
        with torch.no_grad():
            return wrapper.net(sequence[:, :-1])

    return Case(run_forward, BATCH, "tokens")


MODES = {
    "train": ("prior train step", 1.5),
    "sample": ("prior sampling, KV cache", 2.0),
    "uncached": ("prior sampling, no cache (reference)", None),
}
CASES = {
    (mode, impl): (lambda m=mode, f=factory: f(m))
    for mode in MODES
    for impl, factory in (("keras_vim", keras_vim_case), ("peer", peer_case))
}


def run_modes(modes, repeats, warmup):
    rows = []
    for mode in modes:
        title, target = MODES[mode]
        cases = {impl: CASES[(mode, impl)]() for impl in ("keras_vim", "peer")}
        threads = best_torch_threads(cases["peer"])
        times = compare(cases, repeats=repeats, warmup=warmup)
        row = {
            "benchmark": title,
            "unit": "tokens/s",
            "keras_vim": cases["keras_vim"].units / median(times["keras_vim"]),
            "peer": cases["peer"].units / median(times["peer"]),
            "speedup_vs_peer": paired_speedup(times["keras_vim"], times["peer"]),
            "target_vs_peer": target,
            "times": times,
            "torch_threads": threads,
        }
        if mode == "train":
            flops = transformer_train_flops(BATCH, GRID[0] * GRID[1], LAYERS, WIDTH, MLP,
                                            VOCABULARY)  # fmt: skip
            peak = matmul_peak()
            torch_peak = matmul_peak(backend="torch")
            row.update(
                {
                    "flops_per_step": flops,
                    "parameters": {k: c.extra["parameters"] for k, c in cases.items()},
                    "matmul_peak_flops": peak,
                    "torch_matmul_peak_flops": torch_peak,
                    "keras_vim_flop_rate": flops / median(times["keras_vim"]),
                    "peer_flop_rate": flops / median(times["peer"]),
                }
            )
            row["keras_vim_peak_fraction"] = row["keras_vim_flop_rate"] / peak
            row["peer_peak_fraction"] = row["peer_flop_rate"] / torch_peak
        rows.append(row)
        print(
            f"{title:<40} keras_vim {row['keras_vim']:8.1f} tokens/s | x-transformers "
            f"{row['peer']:8.1f} | x{row['speedup_vs_peer']:.2f}",
            flush=True,
        )
        if mode == "train":
            print(
                f"  {flops / 1e9:.0f} GFLOP/step; keras_vim {row['keras_vim_flop_rate'] / 1e9:.1f}"
                f" GFLOP/s = {row['keras_vim_peak_fraction']:.0%} of the {peak / 1e9:.0f} GFLOP/s"
                f" matmul peak; x-transformers {row['peer_flop_rate'] / 1e9:.1f} GFLOP/s = "
                f"{row['peer_peak_fraction']:.0%} of torch's {torch_peak / 1e9:.0f}",
                flush=True,
            )
    return rows


def run_scaling(repeats, warmup):
    """Cached sampling time against the sequence length, per implementation."""
    import torch

    points, threads = [], None
    for grid in SCALING_GRIDS:
        length = grid[0] * grid[1]
        cases = {
            "keras_vim": keras_vim_case("sample", grid),
            "peer": peer_case("sample", grid),
        }
        if threads is None:  # chosen once, at the shortest length
            threads = best_torch_threads(cases["peer"])
        torch.set_num_threads(threads)
        times = compare(cases, repeats=repeats, warmup=warmup)
        point = {"length": length, "times": times, "torch_threads": threads}
        for impl in cases:
            point[f"{impl}_ms_per_token"] = 1e3 * median(times[impl]) / length
        point["speedup_vs_peer"] = paired_speedup(times["keras_vim"], times["peer"])
        points.append(point)
        print(
            f"length {length:5d}: keras_vim {point['keras_vim_ms_per_token']:7.2f} ms/token | "
            f"x-transformers {point['peer_ms_per_token']:7.2f} | x{point['speedup_vs_peer']:.2f}",
            flush=True,
        )
    lengths = [p["length"] for p in points]
    fits = {}
    for impl in ("keras_vim", "peer"):
        per_token = [p[f"{impl}_ms_per_token"] for p in points]
        intercept, slope, r2 = linear_fit(lengths, per_token)
        fits[impl] = {
            "ms_per_token_at_0": intercept,
            "ms_per_token_per_1000_positions": 1e3 * slope,
            "r2": r2,
            "per_token_growth_64_to_1024": per_token[-1] / per_token[0],
        }
        print(
            f"  {impl}: ms/token = {intercept:.2f} + {1e3 * slope:.2f} x length/1000 "
            f"(R^2 {r2:.3f}); per-token time x{fits[impl]['per_token_growth_64_to_1024']:.2f}"
            f" from {lengths[0]} to {lengths[-1]} tokens (length x{lengths[-1] // lengths[0]})",
            flush=True,
        )
    return {"batch": BATCH, "points": points, "fits": fits}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--modes", nargs="+", default=[*MODES, "scaling"], choices=[*MODES, "scaling"]
    )
    parser.add_argument("--scaling-repeats", type=int, default=2)
    parser.add_argument("--output", default=None)
    args = parser.parse_args(argv)
    payload = {"environment": environment()}
    payload["rows"] = run_modes([m for m in args.modes if m in MODES], args.repeats, args.warmup)
    if "scaling" in args.modes:
        payload["scaling"] = run_scaling(args.scaling_repeats, 1)
    output = args.output or f"benchmarks/results/prior_{keras.backend.backend()}.json"
    write_json(output, payload)


if __name__ == "__main__":
    main()
