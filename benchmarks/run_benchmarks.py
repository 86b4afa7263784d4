"""One entry point for the measured throughput of this machine (issue 7, README figures).

Usage::

    python benchmarks/run_benchmarks.py            # everything (a few minutes on 2 CPU cores)
    python benchmarks/run_benchmarks.py --skip-render --steps 2

Prints one table:

* rendering: images/s of the fast and the reference renderer (``bench_render.py``, one core);
* training and inference images/s of every SwinV2 model type (models 3–7) in the quick and
  the paper configuration (the paper's SwinV2-Tiny at 256×256 with random weights: the same
  compute as the pre-trained checkpoint). Training = forward + backward + Adam step on random
  uint8 images through the model's own preprocessing; MS-SwinV2 counts objects (two images
  each). On CPU the paper configuration uses a batch of 4, not 64 (the figure is per image);
* ATAT (LC) training and inference windows/s (200 observations per window);
* with the paper configuration: the real-data ingestion (objects/s, one core) and the cost
  of the BRF grid at the paper's scale (seconds per 100 trees; core-hours of the grid);
* the quick run's stage times, from ``executed/quick/timings.csv`` written by ``run_all.sh``.

No timed assertion anywhere: the figures are printed for the README.
"""
from __future__ import annotations

import argparse
import copy
import csv
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


def _time_steps(fn, steps: int) -> float:
    fn()  # warm-up (allocations, first-call overheads)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def project_adam(params, section: dict, foreach: bool | None = None) -> torch.optim.Optimizer:
    """The optimiser training uses (``TrainSettings.optimizer()``: Adam, foreach on the CPU);
    ``foreach=False`` forces torch's per-tensor loop (``benchmarks/bench_adam.py``)."""
    from mslc_utils.training import TrainSettings

    cls, kwargs = TrainSettings.from_config(section, device="cpu").optimizer()
    if foreach is not None and "fused" not in kwargs:
        kwargs["foreach"] = foreach
    return cls(params, **kwargs)


def swin_throughput(model_id: str, cfg: dict, batch: int, steps: int, foreach: bool | None = None) -> tuple[float, float]:
    """(train, inference) objects/s of one SwinV2 model type."""
    from mslc_utils.models import build_model, model_spec

    torch.manual_seed(0)
    model = build_model(model_id, cfg["swin"], cfg["training"])
    size = int(cfg["render"]["image_size"])
    g = torch.Generator().manual_seed(0)

    def images() -> torch.Tensor:
        return torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g)

    labels = torch.randint(0, 21, (batch,), generator=g)
    if model_spec(model_id).kind == "multi":
        inputs = {"pixel_values_ztf": images(), "pixel_values_atlas": images()}
    else:
        inputs = {"pixel_values": images()}
    opt = project_adam(model.parameters(), cfg["training"], foreach)

    def train_step() -> None:
        model.train()
        opt.zero_grad()
        model(**inputs, labels=labels).loss.backward()
        opt.step()

    def infer_step() -> None:
        model.eval()
        with torch.no_grad():
            model(**inputs)

    return batch / _time_steps(train_step, steps), batch / _time_steps(infer_step, steps)


def atat_throughput(cfg: dict, batch: int, steps: int, foreach: bool | None = None) -> tuple[float, float]:
    """(train, inference) windows/s of ATAT (LC) on full windows of ``window`` observations."""
    from mslc_utils.atat import ATATConfig, ATATLC

    torch.manual_seed(0)
    section = cfg["atat"]
    model = ATATLC(ATATConfig.from_section(section, n_bands=2))
    length = int(section.get("window", 200))
    g = torch.Generator().manual_seed(0)
    time_ = torch.sort(torch.rand(batch, length, generator=g) * 300, dim=1).values
    flux = torch.randn(batch, length, generator=g) * 100
    batch_in = {
        "time": time_, "flux": flux, "flux_err": torch.rand(batch, length, generator=g) * 10 + 1,
        "band": torch.randint(0, 2, (batch, length), generator=g), "mask": torch.ones(batch, length, dtype=torch.bool),
    }
    labels = torch.randint(0, 21, (batch,), generator=g)
    opt = project_adam(model.parameters(), section, foreach)

    def train_step() -> None:
        model.train()
        opt.zero_grad()
        model(**batch_in, labels=labels).loss.backward()
        opt.step()

    def infer_step() -> None:
        model.eval()
        with torch.no_grad():
            model(**batch_in)

    return batch / _time_steps(train_step, steps), batch / _time_steps(infer_step, steps)


def ingest_throughput(n_objects: int = 42) -> tuple[float, float]:
    """(objects/s, epochs/s) of the real-data ingestion on one core: simulated full-length
    light curves written as ZTF FPS and ATLAS server files, read back and cut with the paper
    profile's ``preprocess`` settings (:func:`mslc_utils.ingest.build_dataset`)."""
    import logging
    import tempfile
    import warnings

    from mslc_utils.config import load_config
    from mslc_utils.ingest import build_dataset, write_data_dir
    from mslc_utils.simulate import simulate_dataset

    lc, objects = simulate_dataset(n_objects, seed=1, min_per_class=n_objects // 21)
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # too few objects per class for splits: expected here
        logging.getLogger("mslc_utils").setLevel(logging.ERROR)
        data_dir = write_data_dir(lc, objects, Path(tmp) / "DATA_DIR")
        t0 = time.perf_counter()
        build_dataset(data_dir / "labels.csv", data_dir, Path(tmp) / "out", config=load_config("paper"),
                      n_jobs=1, progress=False)
        seconds = time.perf_counter() - t0
    return n_objects / seconds, len(lc) / seconds


def brf_cost(n_trees: int = 100) -> dict[str, tuple[float, float]]:
    """Seconds (fit, validation predict) of a BRF of ``n_trees`` fully grown trees on one core,
    at the paper's scale: 25,269 training and 6,317 validation objects in the proportions of
    Table 1, 1,536-d embeddings (two 768-d SwinV2-Tiny pooled outputs). Random features make
    the trees as deep as they get: an upper bound for the depth-limited configurations."""
    from mslc_utils.fusion import make_brf
    from mslc_utils.taxonomy import CLASSES, PAPER_COUNTS

    rng = np.random.default_rng(0)
    p = np.array([PAPER_COUNTS[c] for c in CLASSES], float)
    p /= p.sum()
    y_tr, y_val = rng.choice(len(CLASSES), 25_269, p=p), rng.choice(len(CLASSES), 6_317, p=p)
    centres = rng.normal(0, 1, (len(CLASSES), 1536)).astype(np.float32)
    x_tr = centres[y_tr] * 0.3 + rng.normal(0, 1, (y_tr.size, 1536)).astype(np.float32)
    x_val = centres[y_val] * 0.3 + rng.normal(0, 1, (y_val.size, 1536)).astype(np.float32)
    out = {}
    for max_features in ("sqrt", "log2"):
        clf = make_brf({"n_estimators": n_trees, "max_depth": None, "max_features": max_features,
                        "min_samples_split": 2}, random_state=0, n_jobs=1)
        t0 = time.perf_counter()
        clf.fit(x_tr, y_tr)
        t1 = time.perf_counter()
        clf.predict(x_val)
        out[max_features] = (t1 - t0, time.perf_counter() - t1)
    return out


def paper_config_for_cpu() -> dict:
    """The paper profile with the hub checkpoint replaced by the same architecture (random)."""
    from mslc_utils.config import load_config

    cfg = load_config("paper")
    cfg["swin"] = {"pretrained": None, "config": {"image_size": 256, "patch_size": 4, "embed_dim": 96,
                                                   "depths": [2, 2, 6, 2], "num_heads": [3, 6, 12, 24],
                                                   "window_size": 16}}
    return cfg


def render_figures() -> list[tuple[str, str, str]]:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_render.py"), "--repeats", "3"],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        if line.startswith(("fast ", "reference", "ratio")):
            name, value = line.split(":", 1)
            rows.append(("render (256 px, 1 core)", name.strip(), value.strip()))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per measurement")
    parser.add_argument("--skip-render", action="store_true")
    parser.add_argument("--skip-paper", action="store_true", help="skip the (slow on CPU) paper configuration")
    args = parser.parse_args(argv)

    from mslc_utils.config import load_config
    from mslc_utils.models import SWIN_MODEL_IDS

    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads; "
          f"Python {platform.python_version()}, torch {torch.__version__}")
    rows: list[tuple[str, str, str]] = []
    if not args.skip_render:
        rows += render_figures()
    profiles = {"quick": load_config("quick")}
    if not args.skip_paper:
        profiles["paper"] = paper_config_for_cpu()
    for name, cfg in profiles.items():
        batch = int(cfg["training"]["batch_size"]) if name == "quick" else 4
        for model_id in SWIN_MODEL_IDS:
            tr, inf = swin_throughput(model_id, copy.deepcopy(cfg), batch, args.steps)
            rows.append((f"{model_id} ({name}, {cfg['render']['image_size']} px, batch {batch})",
                         "train / infer", f"{tr:8.1f} / {inf:8.1f} objects/s"))
        atat_batch = int(cfg["atat"]["batch_size"]) if name == "quick" else 32
        tr, inf = atat_throughput(cfg, atat_batch, args.steps)
        rows.append((f"atat ({name}, d={cfg['atat']['d_model']}, batch {atat_batch})", "train / infer",
                     f"{tr:8.1f} / {inf:8.1f} windows/s"))
    if not args.skip_paper:
        objs, epochs = ingest_throughput()
        rows.append(("ingest (paper cuts, 1 core)", "raw files", f"{objs:.1f} objects/s ({epochs:,.0f} epochs/s)"))
        from mslc_utils.fusion import param_grid

        cost = brf_cost()
        for mf, (fit_s, pred_s) in cost.items():
            rows.append(("BRF 100 trees (paper scale, 1 core)", f"max_features {mf}",
                         f"fit {fit_s:.1f} s + predict 6,317 val {pred_s:.1f} s"))
        paper = load_config("paper")
        grid = param_grid(paper["brf"]["grid"])
        n_folds = int(paper["splits"]["n_folds"])
        core_s = n_folds * sum(c["n_estimators"] / 100 * sum(cost[c["max_features"]]) for c in grid)
        rows.append(("BRF grid (paper, 120 configs x 5 folds)", "bound, 1 core",
                     f"{core_s / 3600:.2f} core-hours (depth-limited configurations cost less)"))
    timings = ROOT / "executed" / "quick" / "timings.csv"
    if timings.exists():
        with open(timings) as fh:
            for r in csv.DictReader(fh):
                rows.append(("quick run stage", r["notebook"], f"{float(r['seconds']):.0f} s"))
    else:
        rows.append(("quick run stage", "(no executed/quick/timings.csv: run ./run_all.sh first)", ""))
    width = max(len(r[0]) for r in rows)
    for what, which, value in rows:
        print(f"{what:<{width}}  {which:<16} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
