#!/usr/bin/env python
"""Compare early-stopping settings of ATAT on held-out validation objects (no test object read).

    python scripts/heldout_stopping.py --variant macro_f1 --surveys ZTF ATLAS --out-dir /tmp/es
    python scripts/heldout_stopping.py --variant loss --surveys ZTF ATLAS --out-dir /tmp/es

Why a held-out set: the validation folds choose each fold's stopping epoch and checkpoint, so
their scores favour whichever criterion selected on them. Here the quick data set of ``--seed``
loses its test objects (they are never loaded into a fold), a stratified fifth of the
remaining train/validation objects is held out and put where the test split was, and every
fold trains and stops on the rest as usual. Each fold's saved "test" macro-F1 is therefore
its score on the held-out objects, which nothing was trained, stopped or selected on.

Prints one table per survey (fold, validation and held-out macro-F1, best epoch, epochs run)
and writes it to ``<out-dir>/<variant>_<survey>.csv``. Used for the choice in
``docs/quick-profile.md`` section 4; one thread, as a quick fold worker has.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

#: settings of the ``atat`` section each variant overrides
VARIANTS: dict[str, dict[str, object]] = {
    "macro_f1": {"early_stopping_metric": "macro_f1", "patience": 5},
    "macro_f1_patience10": {"early_stopping_metric": "macro_f1", "patience": 10},
    "loss": {"early_stopping_metric": "loss", "patience": 5},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True, choices=sorted(VARIANTS))
    ap.add_argument("--surveys", nargs="+", default=["ZTF", "ATLAS"], choices=["ZTF", "ATLAS"])
    ap.add_argument("--out-dir", required=True, type=Path, help="where the folds and tables go")
    ap.add_argument("--profile", default="quick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--held-out-fraction", type=float, default=0.2)
    ap.add_argument("--split-seed", type=int, default=12345, help="random state of the held-out draw")
    args = ap.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from mslc_utils.atat import train_atat_folds
    from mslc_utils.config import setup
    from mslc_utils.data import get_dataset
    from mslc_utils.splits import TEST_FOLD, heldout_splits

    torch.set_num_threads(1)
    out = args.out_dir.resolve()
    ctx = setup(args.profile, None, str(out / args.variant), "cpu", args.seed)
    ctx.config["atat"].update(VARIANTS[args.variant])
    dataset = get_dataset(ctx)
    splits = heldout_splits(dataset.splits, args.held_out_fraction, args.split_seed)
    dataset = dataclasses.replace(dataset, splits=splits)
    n_held = int((splits["fold"] == TEST_FOLD).sum())
    print(f"{n_held} held-out objects; folds: {splits['fold'].value_counts().sort_index().to_dict()}", flush=True)
    for survey in args.surveys:
        t0 = time.perf_counter()
        df = train_atat_folds(ctx, dataset, survey)
        df = df.rename(columns={"test_macro_f1": "heldout_macro_f1"})
        cols = ["fold", "val_macro_f1", "heldout_macro_f1", "best_epoch", "epochs_run", "train_seconds"]
        print(df[cols].to_string(index=False), flush=True)
        df[cols].to_csv(out / f"{args.variant}_{survey}.csv", index=False)
        print(f"{args.variant} {survey}: held-out macro-F1 {100 * df['heldout_macro_f1'].mean():.1f} "
              f"(mean of {len(df)} folds), {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
