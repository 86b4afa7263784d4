"""Training throughput of the quick profile's models: one process with every core, or one
process per core side by side (what ``training.fold_workers`` does, ``mslc_utils.parallel``).

    python benchmarks/bench_parallel_folds.py              # SwinV2 ZTF, MS-SwinV2, ATAT
    python benchmarks/bench_parallel_folds.py --steps 40

For each model it times training steps (forward, backward, Adam; random inputs of the quick
profile's shapes, ``run_benchmarks.swin_throughput`` / ``atat_throughput``) in

* one process with ``cores`` torch threads (a serial run, ``fold_workers: 1``), and
* ``cores`` processes with one thread each, started together (``fold_workers: cores``),

and prints the samples per second of each and their ratio. No assertion: the figures are
for ``docs/benchmarks.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = ("swin_ztf", "ms_swin_linear", "atat")


def _child(model: str, threads: int, steps: int) -> None:
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(HERE))
    from run_benchmarks import atat_throughput, swin_throughput

    from mslc_utils.config import load_config

    cfg = load_config("quick")
    if model == "atat":
        train, _ = atat_throughput(cfg, int(cfg["atat"]["batch_size"]), steps)
    else:
        train, _ = swin_throughput(model, cfg, int(cfg["training"]["batch_size"]), steps)
    print(json.dumps({"train_per_s": train}))


def _spawn(model: str, threads: int, steps: int, n: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    cmd = [sys.executable, __file__, "--child", model, "--threads", str(threads), "--steps", str(steps)]
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(n)]
    total = 0.0
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise RuntimeError(f"benchmark child failed: {' '.join(cmd)}")
        total += json.loads(out.strip().splitlines()[-1])["train_per_s"]
    return total


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--cores", type=int, default=None, help="default: the cores this process may use")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.child:
        _child(a.child, a.threads, a.steps)
        return 0
    sys.path.insert(0, str(HERE.parent))
    from mslc_utils.parallel import available_cores

    cores = a.cores or available_cores()
    print(f"{cores} cores; training samples/s (images, objects or windows), {a.steps} timed steps")
    for model in MODELS:
        one = _spawn(model, cores, a.steps, 1)
        side = _spawn(model, 1, a.steps, cores)
        print(f"{model:16s} 1 process x {cores} threads {one:8.1f}/s   {cores} processes x 1 thread {side:8.1f}/s"
              f"   ratio {side / one:4.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
