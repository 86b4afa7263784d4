"""The ``mslc`` command: classify light curves, export a trained model, show a model card.

::

    mslc classify PATH... --model DIR [--out predictions.csv] [--skip-bad] [--no-cuts]
    mslc export RUN_DIR --out DIR          # e.g. RUN_DIR = artifacts/quick/ms_swin_linear
    mslc info DIR                          # prints the bundle's model card

Installed with the package (``[project.scripts]``) and runnable as ``python -m mslc_utils``.
Bad input (an unreadable file, a missing bundle) ends with a one-line message naming the
file and the reason and exit status 2; files are written to a temporary name and renamed.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mslc", description="Multi-survey light-curve classification (ZTF + ATLAS).")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("classify", help="classify light-curve files or folders with a saved classifier bundle")
    c.add_argument("paths", nargs="+", help="light-curve files (any supported format) or DATA_DIR-like folders")
    c.add_argument("--model", required=True, help="folder of a classifier bundle (mslc export)")
    c.add_argument("--out", default="predictions.csv", help="output CSV (default: predictions.csv)")
    c.add_argument("--folds", type=int, nargs="+", help="restrict the ensemble to these folds")
    c.add_argument("--skip-bad", action="store_true", help="an unreadable file becomes a 'not classified' row "
                   "naming the reason, instead of stopping")
    cuts = c.add_mutually_exclusive_group()
    cuts.add_argument("--cuts", dest="cuts", action="store_true", default=None,
                      help="apply the profile's preprocessing also to canonical tables")
    cuts.add_argument("--no-cuts", dest="cuts", action="store_false", help="do not apply the preprocessing")
    c.add_argument("--jobs", type=int, default=1, help="rendering threads (default 1)")
    c.add_argument("--quiet", action="store_true", help="no progress bars, no summary")
    e = sub.add_parser("export", help="export a trained model directory as a classifier bundle")
    e.add_argument("run_dir", help="trained model directory, e.g. artifacts/quick/ms_swin_linear")
    e.add_argument("--out", required=True, help="bundle folder to write")
    i = sub.add_parser("info", help="print the model card of a classifier bundle")
    i.add_argument("bundle", help="bundle folder")
    return p


def _classify(args: argparse.Namespace) -> int:
    from .bundle import Classifier
    from .classify import classify, drops_summary, write_csv_atomic

    clf = Classifier.from_pretrained(args.model, folds=args.folds)
    table = classify(args.paths, clf, cuts=args.cuts, on_error="skip" if args.skip_bad else "raise",
                     progress=None if not args.quiet else False, n_jobs=args.jobs)
    out = write_csv_atomic(table, args.out)
    if not args.quiet:
        done = int((table["status"] == "classified").sum())
        print(f"{clf.model_id} (folds {clf.folds}): {done} of {len(table)} object(s) classified -> {out}")
        for r in table[table["status"] != "classified"].itertuples():
            print(f"  {r.object_id}: {r.note}")
        drops = drops_summary(table)
        if len(drops):
            print("epochs removed (rule, survey, epochs):")
            for r in drops.itertuples():
                print(f"  {r.rule:<20} {r.survey:<6} {getattr(r, 'epochs_removed', '')}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``mslc``; returns the exit status (0 ok, 2 bad input)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "classify":
            return _classify(args)
        if args.command == "export":
            from .bundle import export

            out = export(args.run_dir, args.out)
            print(f"exported {args.run_dir} -> {out}")
            return 0
        from .bundle import CARD_NAME, Classifier

        card = Path(args.bundle) / CARD_NAME
        if not card.exists():
            Classifier.from_pretrained(args.bundle)  # says what is wrong with the folder
            raise FileNotFoundError(f"{args.bundle}: no {CARD_NAME}")
        print(card.read_text())
        return 0
    except (ValueError, KeyError, FileNotFoundError, TypeError) as err:  # ReadError is a ValueError
        msg = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"mslc {args.command}: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
