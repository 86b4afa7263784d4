#!/usr/bin/env python
"""Table 2 of several quick runs (seeds) side by side, their mean, and the paper's findings.

    SEED=1 OUT_DIR=/tmp/seed1 EXEC_DIR=/tmp/seed1/executed ./run_all.sh
    SEED=2 OUT_DIR=/tmp/seed2 EXEC_DIR=/tmp/seed2/executed ./run_all.sh
    python scripts/table2_seeds.py "seed 0=artifacts/quick" "seed 1=/tmp/seed1" "seed 2=/tmp/seed2"

A run whose artifacts are gone can be given as the ``table2.csv`` it wrote, e.g.
``"seed 0=figures/quick/table2.csv"`` (the committed run); it has no early-stopping counts.

Prints two Markdown tables: test macro-F1 (%) per run and the mean over runs
(:func:`mslc_utils.results.table2_over_seeds`), then whether each of the paper's findings
holds per run and for the mean (:func:`mslc_utils.results.findings_over_seeds`), and how
many folds of each trained model stopped early (:func:`mslc_utils.results.early_stopping_counts`),
and, per run with artifacts, the differences the findings read with a 95 % interval from a
paired bootstrap over test objects (:func:`mslc_utils.results.paired_differences`; every fold
predicts the same test objects, so the fold spread does not measure this noise).
``--bootstrap 0`` skips it. ``--split val`` prints the same tables from the validation
predictions instead (each fold's own validation objects; the bootstrap draws over the pooled
validation objects): the scores the settings were chosen on, to set beside the test
scores. Runs with multi-survey models also get the validation-only
linear probes of their joint embedding (:func:`mslc_utils.probe.survey_probe`): does the
model's ATLAS half add to its ZTF half?
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from mslc_utils import artifacts as A
from mslc_utils import results
from mslc_utils.models import MODEL_SPECS
from mslc_utils.probe import survey_probe


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="NAME=OUT_DIR or NAME=path/to/table2.csv (or just the path: NAME is its directory name)")
    ap.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                    help="bootstrap draws for the paired differences (0: skip them; default 2000)")
    ap.add_argument("--split", choices=("test", "val"), default="test",
                    help="score the test predictions (Table 2, the default) or the validation predictions")
    args = ap.parse_args(argv)
    dirs = {}
    for item in args.runs:
        name, _, path = item.rpartition("=")
        path = Path(path)
        if not (path.is_dir() or (path.is_file() and path.suffix == ".csv")):
            ap.error(f"{path}: no such run directory (or table2.csv)")
        if path.is_file() and args.split != "test":
            ap.error(f"{path}: a table2.csv holds test scores only; --split {args.split} needs the run directory")
        dirs[name or path.name] = path
    print(f"{'test' if args.split == 'test' else 'validation'} macro-F1 (%), mean over folds:")
    table = results.table2_over_seeds(dirs, split=args.split)
    shown = table.copy()
    for col in [*dirs, "mean"]:
        shown[col] = shown[col].map(lambda v: f"{v:.1f}")
    print(results.to_markdown(shown.reset_index(drop=True)))
    print()
    print(results.to_markdown(results.findings_over_seeds(table)))
    print()
    stops = []
    for name, d in dirs.items():
        if d.is_file():
            continue  # a table2.csv: no training logs
        counts = results.early_stopping_counts(d).set_index("model_id")
        row = {"run": name}
        for model_id, r in counts.iterrows():
            row[model_id] = f"{r['stopped_early']}/{r['folds']} (max {r['max_epochs']})"
        stops.append(row)
    print("folds stopped early, before max_epochs:")
    print(results.to_markdown(pd.DataFrame(stops)))
    if args.bootstrap > 0:
        for name, d in dirs.items():
            if d.is_file():
                continue  # a table2.csv: no per-object predictions
            diffs = results.paired_differences(d, split=args.split, n_boot=args.bootstrap)
            what = "test" if args.split == "test" else "validation"
            print()
            print(f"{name}: {what} macro-F1 difference (percentage points), 95 % interval of a paired bootstrap "
                  f"over the {what} objects ({args.bootstrap} draws):")
            print(results.to_markdown(diffs))
    probes = []
    for name, d in dirs.items():
        for model_id in (m for m, spec in MODEL_SPECS.items() if spec.kind == "multi"):
            if d.is_dir() and A.completed_folds(d, model_id):
                mean = survey_probe(d, model_id).mean() * 100
                probes.append({"run": name, "model": model_id, **{c: f"{v:.1f}" for c, v in mean.items()}})
    if probes:
        print()
        print("multi-survey models, validation macro-F1 (%, mean over folds): the saved Mix prediction and "
              "linear probes of the ZTF half, the ATLAS half and both halves of the joint embedding "
              "(mslc_utils.probe):")
        print(results.to_markdown(pd.DataFrame(probes)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
