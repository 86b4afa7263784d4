"""Time ATAT (LC) training steps on the CPU, and how much of them is attention.

    python benchmarks/bench_atat.py                    # quick profile's ATAT, n_heads 4, 2, 1
    python benchmarks/bench_atat.py --heads 4 --steps 40 --threads 1

ATAT's ten folds are the largest part of a quick run on the slower 2-core machine
(docs/benchmarks.md). Its windows are 200 observations long (201 tokens with the class
token), so attention costs ``batch x heads x 201^2`` per layer whatever the head width; at
the quick profile's ``d_model = 32`` a head is only 8 wide, which the CPU's fused attention
kernel handles poorly. This script times, on synthetic batches of the quick profile's shape
(``batch_size`` windows of ``window`` observations, ~10 % padding), one optimiser step
(forward, backward, Adam) of the quick profile's ATAT for each ``--heads`` value, and the
scaled-dot-product attention of one layer (forward + backward) alone, so that the cost of a
head count can be read before anything is retrained. It changes no setting: the heads are the
model's, and the quick profile keeps the paper's 4.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from mslc_utils.atat import ATATLC, ATATConfig
from mslc_utils.config import load_config


def synthetic_batch(batch: int, window: int, n_bands: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A batch of ``batch`` windows of at most ``window`` observations (~10 % padding)."""
    g = torch.Generator().manual_seed(seed)
    time_ = torch.sort(torch.rand(batch, window, generator=g) * 300.0, dim=1).values
    mask = torch.ones(batch, window, dtype=torch.bool)
    short = torch.randint(window // 4, window, (batch // 10 + 1,), generator=g)
    for i, n in enumerate(short.tolist()):
        mask[i, n:] = False
    return {
        "time": time_,
        "flux": torch.randn(batch, window, generator=g) * 100.0,
        "flux_err": torch.rand(batch, window, generator=g) * 10.0 + 1.0,
        "band": torch.randint(0, n_bands, (batch, window), generator=g),
        "mask": mask,
        "labels": torch.randint(0, 21, (batch,), generator=g),
    }


def time_steps(cfg: ATATConfig, batch: dict[str, torch.Tensor], steps: int, lr: float = 3e-3) -> list[float]:
    """Seconds of each of ``steps`` optimiser steps (after two warm-up steps)."""
    torch.manual_seed(0)
    model = ATATLC(cfg).train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        out = model(**batch)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return times


def time_attention(batch: int, heads: int, tokens: int, head_dim: int, steps: int) -> list[float]:
    """Seconds of one layer's masked scaled-dot-product attention, forward + backward."""
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(batch, heads, tokens, head_dim, generator=g, requires_grad=True) for _ in range(3))
    keep = torch.rand(batch, tokens, generator=g) < 0.9
    keep[:, 0] = True
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        out.sum().backward()
        if i >= 2:
            times.append(time.perf_counter() - t0)
    return times


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--heads", default="4,2,1", help="comma-separated n_heads values (each must divide d_model)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per setting (median reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    section = load_config(args.profile)["atat"]
    window, batch_size = int(section.get("window", 200)), int(section["batch_size"])
    batch = synthetic_batch(batch_size, window, n_bands=2)
    print(f"{platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; profile {args.profile}: d_model {section['d_model']}, "
          f"{section['n_layers']} layers, batch {batch_size}, window {window}", flush=True)
    rows = []
    for heads in (int(h) for h in args.heads.split(",")):
        cfg = ATATConfig.from_section({**section, "n_heads": heads}, n_bands=2)
        step = statistics.median(time_steps(cfg, batch, args.steps))
        attn = statistics.median(time_attention(batch_size, heads, window + 1, cfg.d_model // heads, args.steps))
        row = {"n_heads": heads, "head_dim": cfg.d_model // heads, "step_ms": 1e3 * step,
               "attention_ms_per_layer": 1e3 * attn, "attention_share": min(1.0, cfg.n_layers * attn / step)}
        rows.append(row)
        print(f"n_heads {heads} (head width {row['head_dim']:3d}): step {row['step_ms']:6.1f} ms "
              f"({batch_size / step:6.1f} windows/s); attention fwd+bwd {row['attention_ms_per_layer']:5.1f} ms "
              f"per layer, ~{100 * row['attention_share']:.0f} % of the step", flush=True)
    return rows


if __name__ == "__main__":
    main()
