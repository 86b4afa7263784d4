"""Time ATAT (LC) training steps on the CPU, and how much of them is attention.

    python benchmarks/bench_atat.py                    # quick profile's ATAT, n_heads 4, 2, 1
    python benchmarks/bench_atat.py --heads 4 --steps 40 --threads 1

ATAT's ten folds are the largest part of a quick run on the slower 2-core machine
(docs/benchmarks.md). Its windows are 200 observations long (201 tokens with the class
token), so attention costs ``batch x heads x 201^2`` per layer whatever the head width; at
the quick profile's ``d_model = 32`` a head is only 8 wide, which the CPU's fused attention
kernel handles poorly. This script times, for each ``--heads`` value, the quick profile's
ATAT training and inference on full windows (``run_benchmarks.atat_throughput``: one optimiser
step is forward, backward and Adam) and the scaled-dot-product attention of one layer (forward
+ backward) alone, so that the cost of a head count can be read before anything is retrained.
It changes no setting: the quick profile keeps the paper's 4 heads.
"""
from __future__ import annotations

import argparse
import copy
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import _time_steps, atat_throughput  # noqa: E402

from mslc_utils.config import load_config  # noqa: E402


def time_attention(batch: int, heads: int, tokens: int, head_dim: int, steps: int) -> float:
    """Seconds of one layer's masked scaled-dot-product attention, forward + backward."""
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(batch, heads, tokens, head_dim, generator=g, requires_grad=True) for _ in range(3))
    keep = torch.rand(batch, tokens, generator=g) < 0.9
    keep[:, 0] = True

    def step() -> None:
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep[:, None, None, :])
        out.sum().backward()

    return _time_steps(step, steps)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--heads", default="4,2,1", help="comma-separated n_heads values (each must divide d_model)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per setting (mean reported)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(args.profile)
    section = cfg["atat"]
    window, batch_size = int(section.get("window", 200)), int(section["batch_size"])
    d_model, n_layers = int(section["d_model"]), int(section["n_layers"])
    print(f"{platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; profile {args.profile}: d_model {d_model}, "
          f"{n_layers} layers, batch {batch_size}, window {window}", flush=True)
    rows = []
    for heads in (int(h) for h in args.heads.split(",")):
        with_heads = copy.deepcopy(cfg)
        with_heads["atat"]["n_heads"] = heads
        train_ws, infer_ws = atat_throughput(with_heads, batch_size, args.steps)
        step = batch_size / train_ws
        attn = time_attention(batch_size, heads, window + 1, d_model // heads, args.steps)
        row = {"n_heads": heads, "head_dim": d_model // heads, "step_ms": 1e3 * step, "train_windows_s": train_ws,
               "infer_windows_s": infer_ws, "attention_ms_per_layer": 1e3 * attn,
               "attention_share": min(1.0, n_layers * attn / step)}
        rows.append(row)
        print(f"n_heads {heads} (head width {row['head_dim']:3d}): training step {row['step_ms']:6.1f} ms "
              f"({train_ws:6.1f} windows/s; inference {infer_ws:6.1f} windows/s); attention fwd+bwd "
              f"{row['attention_ms_per_layer']:5.1f} ms per layer, ~{100 * row['attention_share']:.0f} % of the step",
              flush=True)
    return rows


if __name__ == "__main__":
    main()
