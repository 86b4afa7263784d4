"""Time the SwinV2 models' fold training of a profile and report test macro-F1.

    python benchmarks/bench_swin_training.py                       # quick profile, models 3-7
    python benchmarks/bench_swin_training.py --models swin_ztf,swin_atlas --out /tmp/bench

Trains every fold of each model from scratch in a fresh OUT_DIR (the simulated data set is
generated there first, not timed) and prints, per model: wall time (rendering included),
mean ± std of the test and validation macro-F1 over the folds, epochs run. The quick
profile's budget: models 3+4 <= 3 min and models 5+6+7 <= 4.5 min on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import platform
import shutil
import tempfile
import time

import torch

from mslc_utils.config import setup
from mslc_utils.data import get_dataset
from mslc_utils.training import train_model_folds

ALL = "swin_ztf,swin_atlas,swin_stacked,ms_swin_linear,ms_swin_mlp"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--models", default=ALL)
    ap.add_argument("--out", default=None, help="OUT_DIR (default: a temporary directory, removed after)")
    ap.add_argument("--data-from", default=None, help="copy OUT_DIR/data from this OUT_DIR (skip simulation)")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="bench_swin_")
    if args.data_from:
        shutil.copytree(f"{args.data_from}/data", f"{out}/data", dirs_exist_ok=True)
    ctx = setup(args.profile, OUT_DIR=out, DEVICE=args.device)
    ds = get_dataset(ctx)
    print(f"{platform.node()} {platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {ctx.device}; {len(ds.objects)} objects", flush=True)
    total = 0.0
    for model_id in args.models.split(","):
        t0 = time.perf_counter()
        df = train_model_folds(ctx, ds, model_id, verbose=False)
        dt = time.perf_counter() - t0
        total += dt
        print(
            f"{model_id:15s} {dt:7.1f} s  test macro-F1 {df.test_macro_f1.mean():.3f} ± {df.test_macro_f1.std(ddof=0):.3f}"
            f"  val {df.val_macro_f1.mean():.3f} ± {df.val_macro_f1.std(ddof=0):.3f}"
            f"  epochs {df.epochs_run.tolist()}  best {df.best_epoch.tolist()}",
            flush=True,
        )
    print(f"total {total:.1f} s")
    if not args.out:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
