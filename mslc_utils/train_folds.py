"""Train SwinV2 models' folds from the command line: one process, or several GPUs with torchrun.

    python -m mslc_utils.train_folds --profile paper --models swin_ztf,swin_atlas
    torchrun --nproc_per_node=4 -m mslc_utils.train_folds --profile paper --models all
    DATA_DIR=... OUT_DIR=... python -m mslc_utils.train_folds --profile paper --models ms_swin_linear --folds 0

The same code path as notebooks 03 and 05 (:func:`mslc_utils.training.train_model_folds`
with the run context of :func:`mslc_utils.config.setup`), so the artifacts are the ones the
notebooks read, and a notebook run afterwards skips the folds completed here (their
``COMPLETE`` marker holds the same configuration hash).

Under ``torchrun`` every process trains its shard of each batch (the ``transformers``
Trainer's DistributedDataParallel; gloo on the CPU, NCCL on GPUs): the per-process batch is
``training.batch_size / N`` (:func:`mslc_utils.training.per_process_batch`), so the
optimisation sees the profile's batch of 64, and the folds' configuration hash is that of a
one-process run. The main process alone reads or simulates the data set first, renders
the image cache, writes every artifact and predicts every object once; the others wait.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from .models import SWIN_MODEL_IDS


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", help="quick, paper or a profile YAML file")
    ap.add_argument("--models", default="all", help=f"comma-separated ids or 'all' ({', '.join(SWIN_MODEL_IDS)})")
    ap.add_argument("--folds", default=None, help="comma-separated fold numbers (default: all)")
    ap.add_argument("--data-dir", default=os.environ.get("DATA_DIR") or None)
    ap.add_argument("--out-dir", default=os.environ.get("OUT_DIR") or None)
    ap.add_argument("--device", default=os.environ.get("DEVICE", "auto"))
    ap.add_argument("--seed", type=int, default=int(os.environ["SEED"]) if os.environ.get("SEED") else None)
    ap.add_argument("--force", action="store_true", help="retrain folds that are already complete")
    ap.add_argument("--epoch-log", action="store_true", help="one line per epoch")
    args = ap.parse_args(argv)
    args.models = list(SWIN_MODEL_IDS) if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in SWIN_MODEL_IDS]
    if unknown:
        ap.error(f"unknown model id(s) {unknown}; known: {', '.join(SWIN_MODEL_IDS)}")
    args.folds = None if args.folds is None else [int(k) for k in args.folds.split(",")]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from accelerate import PartialState

    from .config import setup
    from .data import get_dataset
    from .training import train_model_folds

    ctx = setup(args.profile, args.data_dir, args.out_dir, args.device, args.seed)
    # the first PartialState fixes the backend for the whole process (the Trainer's included):
    # gloo on the CPU, NCCL on CUDA
    state = PartialState(cpu=ctx.device == "cpu")
    n = state.num_processes
    if state.is_main_process:
        print(ctx.describe(), f"\nprocesses: {n}", flush=True)
    with state.main_process_first():  # one process simulates / ingests and caches the data set
        dataset = get_dataset(ctx)
    for model_id in args.models:
        df = train_model_folds(ctx, dataset, model_id, folds=args.folds, force=args.force,
                               verbose=state.is_main_process, epoch_log=args.epoch_log)
        if state.is_main_process:
            print(df.to_string(index=False), flush=True)
    state.wait_for_everyone()
    state.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
