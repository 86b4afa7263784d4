"""Expected run time of ``./run_all.sh paper`` per notebook, from measured throughput.

    python benchmarks/estimate_paper_runtime.py                       # the README's table
    python benchmarks/estimate_paper_runtime.py --epochs 30 --swin 600 1900
    python benchmarks/estimate_paper_runtime.py --bench-json gpu.json   # figures of bench_swin_gpu.py

Every number in the default arguments is a measurement (see the README's *Benchmarks*), except
two assumptions, printed with the table: the number of epochs each fold trains before early
stopping ends it (the paper does not report it; ``--epochs``), and ATAT's GPU throughput, which
was measured on the CPU only and is scaled here by the measured SwinV2 GPU/CPU speed-up
(``--atat`` to give measured values instead).

Where the SwinV2 figures come from is printed with the table: the defaults were measured on
one H100 with the eager path (an earlier session, ``bench_swin_gpu.py``); ``--bench-json``
takes the figures of a ``bench_swin_gpu.py --json`` run instead (the compiled step when it
was measured, else the eager one; the device is named), overriding ``--swin``/``--ms-swin``.

Per fold: ``epochs × (train objects / training rate + validation objects / inference rate)``
plus one prediction pass over the train, validation and test objects (embeddings and
probabilities). SwinV2 on the stacked image costs what SwinV2 on one survey costs (same
backbone and image size); MS-SwinV2-MLP what MS-SwinV2-Linear costs (the heads are
negligible). Rendering runs in the data-loader workers and the fast renderer draws about
1,000 256-px images/s per core, more than the GPU consumes, so it is not counted.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass


@dataclass
class Rates:
    train: float  # items/s
    infer: float


def fold_seconds(n_train: int, n_val: int, n_test: int, epochs: int, rates: Rates, items_per_object: float = 1.0) -> float:
    per_epoch = items_per_object * (n_train / rates.train + n_val / rates.infer)
    final_predictions = items_per_object * (n_train + n_val + n_test) / rates.infer
    return epochs * per_epoch + final_predictions


def rates_from_bench(path: str) -> tuple[Rates, Rates, str]:
    """(SwinV2, MS-SwinV2) objects/s and a provenance label from ``bench_swin_gpu.py --json``."""
    import json

    figures = json.loads(open(path).read())
    steps = figures.get("steps") or {}
    if "swin_ztf" not in steps or "ms_swin_linear" not in steps:
        raise SystemExit(f"{path}: no step figures of swin_ztf and ms_swin_linear (bench_swin_gpu.py --json)")
    mode = "compiled" if "compiled" in steps["swin_ztf"] and "compiled" in steps["ms_swin_linear"] else "eager"
    swin, ms = (Rates(steps[m][mode]["train"], steps[m][mode]["infer"]) for m in ("swin_ztf", "ms_swin_linear"))
    return swin, ms, f"measured on {figures.get('device', '?')}, {mode} ({path})"


def hms(seconds: float) -> str:
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 90 else f"{minutes / 60:.1f} h"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--objects", type=int, default=39_483, help="objects after the cuts (Table 1: 39,483)")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--epochs", type=int, default=20, help="ASSUMED epochs per fold (early stopping, patience 5)")
    ap.add_argument("--swin", type=float, nargs=2, default=(515, 1631), metavar=("TRAIN", "INFER"),
                    help="SwinV2-Tiny objects/s on the GPU (bench_swin_gpu.py, H100, bf16, batch 64, eager)")
    ap.add_argument("--bench-json", default=None, help="take the SwinV2 figures from bench_swin_gpu.py --json")
    ap.add_argument("--ms-swin", type=float, nargs=2, default=(329, 944), metavar=("TRAIN", "INFER"),
                    help="MS-SwinV2 objects/s on the GPU (two images per object)")
    ap.add_argument("--swin-cpu", type=float, nargs=2, default=(1.8, 7.6), metavar=("TRAIN", "INFER"),
                    help="SwinV2-Tiny images/s on this project's 2-core CPU (run_benchmarks.py)")
    ap.add_argument("--atat-cpu", type=float, nargs=2, default=(48.1, 246.0), metavar=("TRAIN", "INFER"),
                    help="ATAT (d = 192) windows/s on the same CPU (run_benchmarks.py)")
    ap.add_argument("--atat", type=float, nargs=2, default=None, metavar=("TRAIN", "INFER"),
                    help="measured ATAT windows/s on the GPU (default: scaled from the CPU, see above)")
    ap.add_argument("--median-length", type=float, nargs=2, default=(952, 1493), metavar=("ZTF", "ATLAS"),
                    help="median epochs per light curve (paper, Section 3.1)")
    ap.add_argument("--window", type=int, default=200)
    ap.add_argument("--ingest-rate", type=float, default=26.4, help="objects/s per core (run_benchmarks.py)")
    ap.add_argument("--brf-core-hours", type=float, default=1.02, help="BRF grid bound (run_benchmarks.py)")
    ap.add_argument("--cores", type=int, default=16, help="CPU cores of the GPU machine (ingestion, BRF)")
    args = ap.parse_args(argv)

    n_test = round(args.objects * args.test_fraction)
    n_trainval = args.objects - n_test
    n_val = round(n_trainval / args.folds)
    n_train = n_trainval - n_val
    swin, ms = Rates(*args.swin), Rates(*args.ms_swin)
    source = "measured on one H100, eager path (earlier session); default arguments"
    if args.bench_json:
        swin, ms, source = rates_from_bench(args.bench_json)
    elif [tuple(args.swin), tuple(args.ms_swin)] != [(515, 1631), (329, 944)]:
        source = "given on the command line"
    if args.atat:
        atat, atat_note = Rates(*args.atat), "measured"
    else:
        atat = Rates(args.atat_cpu[0] * swin.train / args.swin_cpu[0], args.atat_cpu[1] * swin.infer / args.swin_cpu[1])
        atat_note = "ASSUMED: CPU-measured rate x SwinV2's measured GPU/CPU speed-up"
    windows = {s: math.ceil(n / args.window) for s, n in zip(("ZTF", "ATLAS"), args.median_length)}

    k = args.folds
    per = {
        "atat_ztf": k * fold_seconds(n_train, n_val, n_test, args.epochs, atat, windows["ZTF"]),
        "atat_atlas": k * fold_seconds(n_train, n_val, n_test, args.epochs, atat, windows["ATLAS"]),
        "swin_ztf": k * fold_seconds(n_train, n_val, n_test, args.epochs, swin),
        "swin_atlas": k * fold_seconds(n_train, n_val, n_test, args.epochs, swin),
        "swin_stacked": k * fold_seconds(n_train, n_val, n_test, args.epochs, swin),
        "ms_swin_linear": k * fold_seconds(n_train, n_val, n_test, args.epochs, ms),
        "ms_swin_mlp": k * fold_seconds(n_train, n_val, n_test, args.epochs, ms),
    }
    notebooks = [
        ("01_data_exploration", args.objects / (args.ingest_rate * args.cores), f"ingestion on {args.cores} cores"),
        ("02_image_rendering", 60.0, "Figure 1, renderer comparison and benchmark (CPU)"),
        ("03_single_survey_finetuning", sum(per[m] for m in ("atat_ztf", "atat_atlas", "swin_ztf", "swin_atlas")),
         "; ".join(f"{m} {hms(per[m])}" for m in ("atat_ztf", "atat_atlas", "swin_ztf", "swin_atlas"))),
        ("04_posthoc_fusion_brf", args.brf_core_hours * 3600 / args.cores, f"BRF grid on {args.cores} cores (bound)"),
        ("05_multisurvey_training", sum(per[m] for m in ("swin_stacked", "ms_swin_linear", "ms_swin_mlp")),
         "; ".join(f"{m} {hms(per[m])}" for m in ("swin_stacked", "ms_swin_linear", "ms_swin_mlp"))),
        ("06_results_and_figures", 60.0, "tables and figures from saved predictions"),
    ]
    print(f"{args.objects:,} objects: {n_train:,} train / {n_val:,} validation per fold, {n_test:,} test; "
          f"{args.folds} folds; ASSUMED {args.epochs} epochs per fold")
    print(f"SwinV2 {swin.train:g}/{swin.infer:g}, MS-SwinV2 {ms.train:g}/{ms.infer:g} objects/s (train/infer; {source}); "
          f"ATAT {atat.train:,.0f}/{atat.infer:,.0f} windows/s ({atat_note}); windows per object "
          f"ZTF {windows['ZTF']}, ATLAS {windows['ATLAS']}")
    print(f"{'notebook':<30} {'estimate':>9}  breakdown")
    for name, seconds, note in notebooks:
        print(f"{name:<30} {hms(seconds):>9}  {note}")
    print(f"{'total':<30} {hms(sum(s for _, s, _ in notebooks)):>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
