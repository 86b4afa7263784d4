"""Throughput of ``mslc_utils.classify``: objects per second on one CPU core.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_classify.py                # quick models + raw files + paper size
    OMP_NUM_THREADS=1 python benchmarks/bench_classify.py --n 2000 --paper-n 16

What is measured (one thread everywhere; models randomly initialised, which costs the same as
trained weights):

1. **canonical tables** (render + predict): ``--n`` simulated objects (both surveys) classified
   from the canonical table by a quick-profile model (``configs/quick.yaml``: 64-px images,
   the small SwinV2) of each view, with one fold and with the five-fold ensemble; the
   rendering and the forward passes are also timed apart.
2. **raw files end to end**: the same objects written as ZTF FPS and ATLAS server text files
   (``ingest.write_data_dir``), then ``classify(folder)``: detection, parsing, the profile's
   cuts, rendering, prediction. Parsing alone is timed too.
3. **paper size**: SwinV2-Tiny (``microsoft/swinv2-tiny-patch4-window16-256``'s architecture,
   random weights; no download) at 256 px on ``--paper-n`` objects, one fold.

Rates are objects per second of CPU time of this single-threaded process (one core's busy
time; robust when other processes share the machine); the wall-clock rate is printed beside.

Goal (issue 12): quick models >= 300 objects/s per core from canonical tables.
"""
from __future__ import annotations

import os

for _var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

GOAL_OBJ_S = 300.0
#: microsoft/swinv2-tiny-patch4-window16-256 (its config.json)
SWINV2_TINY = dict(image_size=256, patch_size=4, embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                   window_size=16, drop_path_rate=0.1)


def random_classifier(model_id: str, swin: dict, render: dict, training: dict, n_folds: int = 1):
    """A :class:`~mslc_utils.bundle.Classifier` with random weights (same cost as trained ones)."""
    import torch

    from mslc_utils.bundle import Classifier, build_from_config, bundle_config

    run_cfg = {"model_id": model_id, "swin": swin, "training": training, "render": render, "profile": None,
               "seed": 0, "data": "benchmark"}
    cfg = bundle_config(run_cfg, {k: {} for k in range(n_folds)})
    torch.manual_seed(0)
    return Classifier(cfg, {k: build_from_config(cfg).eval() for k in range(n_folds)})


def timed(fn, *args, **kwargs):
    """(result, CPU seconds of this process). Everything runs on one thread, so CPU time is
    the time one core spends: unlike wall time it does not grow when other processes share the
    machine. The wall time is kept in ``WALL`` for the record."""
    w0, t0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    WALL.append(time.perf_counter() - w0)
    return out, time.process_time() - t0


WALL: list[float] = []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="objects for the quick-model measurements")
    ap.add_argument("--paper-n", type=int, default=16, help="objects for the paper-size measurement")
    ap.add_argument("--skip-paper", action="store_true")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from mslc_utils.classify import classify, load_inputs
    from mslc_utils.config import load_config
    from mslc_utils.image_dataset import LightCurveImageDataset, render_batch
    from mslc_utils.ingest import write_data_dir
    from mslc_utils.render import RenderSettings
    from mslc_utils.simulate import simulate_dataset

    quick = load_config("quick")
    print(f"CPU: {platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}")
    lc, obj = simulate_dataset(args.n, seed=0, min_per_class=2)
    n = lc["object_id"].nunique()
    print(f"data: {n} simulated objects, {len(lc)} epochs ({len(lc) / n:.0f} per object, both surveys)")

    print("\n1. quick models from the canonical table (render + predict), objects/s on one core")
    settings = RenderSettings.from_config(quick["render"])
    ids = list(dict.fromkeys(lc["object_id"].astype(str)))
    for view, model_id in (("ZTF", "swin_ztf"), ("stacked", "swin_stacked"), ("multi", "ms_swin_linear")):
        ds = LightCurveImageDataset(lc, ids, None, view=view, settings=settings)
        _, t_render = timed(render_batch, ds, progress=False)
        for folds in (1, 5):
            clf = random_classifier(model_id, quick["swin"], quick["render"], quick["training"], folds)
            classify(lc[lc["object_id"].isin(ids[:64])], clf)  # warm-up
            table, t = timed(classify, lc, clf, progress=False)
            assert len(table) == n
            print(f"  {model_id:<15} {folds} fold(s): {n / t:7.0f} objects/s (wall {n / WALL[-1]:5.0f}/s)  "
                  f"(rendering alone {n / t_render:6.0f}/s)"
                  + ("  goal >= 300: " + ("met" if n / t >= GOAL_OBJ_S else "MISSED") if folds == 1 else ""))

    print("\n2. raw files end to end (ZTF FPS + ATLAS text files -> cuts -> render -> predict), one core")
    clf = random_classifier("ms_swin_linear", quick["swin"], quick["render"], quick["training"], 5)
    clf.config["preprocess"] = {k: v for k, v in (quick.get("preprocess") or {}).items() if k in ("detection_snr", "steps")}
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_data_dir(lc, obj, Path(tmp) / "data")
        n_files = sum(1 for _ in folder.glob("*/*.txt"))
        n_epochs = len(lc)
        inp, t_read = timed(load_inputs, folder, progress=False)
        table, t_all = timed(classify, folder, clf, progress=False)
        print(f"  {n_files} files, {n_epochs} epochs: parsing alone {n / t_read:.0f} objects/s "
              f"({n_epochs / t_read:,.0f} epochs/s); end to end {n / t_all:.0f} objects/s "
              f"(MS-SwinV2, 5 folds); parsing {100 * t_read / t_all:.0f}% of the time; "
              f"{int((table['status'] == 'classified').sum())} of {len(table)} classified")

    if not args.skip_paper:
        print("\n3. paper size: SwinV2-Tiny, 256 px, random weights, one fold, one core")
        paper_render = {**quick["render"], "image_size": 256}
        sub = lc[lc["object_id"].isin(ids[: args.paper_n])]
        for model_id in ("swin_ztf", "ms_swin_linear"):
            clf = random_classifier(model_id, {"pretrained": None, "config": SWINV2_TINY}, paper_render,
                                    {"batch_size": 64, "mix_head_hidden": 768}, 1)
            classify(sub[sub["object_id"] == ids[0]], clf)  # warm-up
            table, t = timed(classify, sub, clf, progress=False)
            print(f"  {model_id:<15} {args.paper_n / t:6.2f} objects/s per fold ({t / args.paper_n * 1000:.0f} ms per "
                  f"object); five-fold ensemble {args.paper_n / t / 5:.2f} objects/s")


if __name__ == "__main__":
    main()
