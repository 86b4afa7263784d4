"""Training steps with torch's per-tensor Adam loop against the multi-tensor (foreach) Adam.

    python benchmarks/bench_adam.py                 # quick profile, 1 torch thread
    python benchmarks/bench_adam.py --rounds 30 --threads 2

On the CPU torch's Adam defaults to a Python loop over the parameter tensors (foreach and fused
are its defaults on CUDA only). The quick profile's models are small but have 47-74 parameter
tensors, so that loop is a visible part of a step; ``TrainSettings.optimizer()`` therefore
asks for ``foreach=True``, which does the same element-wise update in one call per operation
(bit-identical weights: ``tests/test_training.py``). This script times full training steps
(forward, backward, Adam; ``run_benchmarks.swin_throughput`` / ``atat_throughput``, random
inputs of the profile's shapes) both ways, with one torch thread as each quick fold worker
has. No assertion: the figures go to docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import _time_steps, atat_throughput, project_adam, swin_throughput  # noqa: E402

from mslc_utils.config import load_config  # noqa: E402


def adam_step_ms(model: str, cfg: dict, foreach: bool, steps: int) -> float:
    """Milliseconds of the optimiser step alone (random gradients) on one model's parameters."""
    from mslc_utils.atat import ATATConfig, ATATLC
    from mslc_utils.models import build_model

    torch.manual_seed(0)
    if model == "atat":
        net, section = ATATLC(ATATConfig.from_section(cfg["atat"], n_bands=2)), cfg["atat"]
    else:
        net, section = build_model(model, cfg["swin"], cfg["training"]), cfg["training"]
    for p in net.parameters():
        p.grad = torch.randn_like(p)
    opt = project_adam(net.parameters(), section, foreach)
    return 1000 * _time_steps(opt.step, steps)


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--steps", type=int, default=10, help="timed training steps per block")
    ap.add_argument("--rounds", type=int, default=15, help="blocks of each kind, alternated (median reported)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (a quick fold worker: 1)")
    ap.add_argument("--models", default="swin_ztf,ms_swin_mlp,atat", help="comma-separated")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = load_config(args.profile)
    print(f"{platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s), profile {args.profile}, {args.rounds} x {args.steps} steps each way")
    print("training steps (objects or windows /s) and the Adam step alone (ms), per-tensor loop vs foreach")
    print(f"{'model':14s} {'batch':>5s} {'per-tensor /s':>14s} {'foreach /s':>11s} {'speed-up':>9s} "
          f"{'Adam ms':>10s} {'foreach ms':>9s}")
    rows = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        # alternate short blocks of both ways and take each one's median: on a shared 2-core
        # virtual machine the speed drifts by more than the difference measured here
        samples: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.rounds):
            for foreach in (False, True):
                c = copy.deepcopy(cfg)
                if model == "atat":
                    batch = int(c["atat"]["batch_size"])
                    rate, _ = atat_throughput(c, batch, args.steps, foreach=foreach)
                else:
                    batch = int(c["training"]["batch_size"])
                    rate, _ = swin_throughput(model, c, batch, args.steps, foreach=foreach)
                samples[foreach].append(rate)
        rates = {k: statistics.median(v) for k, v in samples.items()}
        adam = {k: statistics.median(adam_step_ms(model, cfg, k, args.steps) for _ in range(args.rounds))
                for k in (False, True)}
        row = {"model": model, "batch": batch, "per_tensor": rates[False], "foreach": rates[True],
               "adam_ms_per_tensor": adam[False], "adam_ms_foreach": adam[True]}
        rows.append(row)
        print(f"{model:14s} {batch:5d} {rates[False]:14.0f} {rates[True]:11.0f} {rates[True] / rates[False]:8.2f}x "
              f"{adam[False]:10.2f} {adam[True]:9.2f}")
    return rows


if __name__ == "__main__":
    main()
