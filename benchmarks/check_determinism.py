"""Train the same fold twice and compare: is training on this machine bit-reproducible?

    python benchmarks/check_determinism.py                 # CUDA if present; the paper's SwinV2-Tiny
    python benchmarks/check_determinism.py --tiny --device cpu

For each mode — the default settings, and ``training.full_determinism: true`` (PyTorch's
deterministic algorithms) — one fold of ``swin_ztf`` is trained twice from the same seed
through :func:`mslc_utils.training.run_fold` (Trainer, class-balanced sampler, bf16 on CUDA),
on synthetic 256-px images (a dark bar whose height encodes the class; random-weight
SwinV2-Tiny, the paper's architecture). It prints, per mode, the largest difference between the
two runs' test probabilities, the fraction of objects whose predicted class agrees, and whether
the saved weights are bit-identical. Nothing is asserted: the output is the measurement.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from safetensors.torch import load_file

from mslc_utils import artifacts
from mslc_utils.models import build_model
from mslc_utils.taxonomy import N_CLASSES
from mslc_utils.training import ArrayDataset, PredictSet, TrainSettings, run_fold

SWIN_TINY = dict(image_size=256, patch_size=4, embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                 window_size=16)
SWIN_SMALL = dict(image_size=32, patch_size=8, embed_dim=8, depths=[1, 1], num_heads=[1, 1], window_size=2)


def bar_images(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """White images with a dark horizontal bar whose vertical position encodes the class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, N_CLASSES, n)
    x = np.full((n, 3, size, size), 255, np.uint8)
    step = max(1, size // (N_CLASSES + 1))
    for i, c in enumerate(y):
        x[i, :, c * step : c * step + step, :] = rng.integers(0, 80)
    return x, y


def train_twice(device: str, full_determinism: bool, swin_config: dict, n: tuple[int, int, int], epochs: int,
                batch_size: int, lr: float) -> dict[str, float | bool]:
    size = int(swin_config["image_size"])
    sets = {}
    for split, count, seed in zip(("train", "val", "test"), n, (0, 1, 2)):
        x, y = bar_images(count, size, seed)
        sets[split] = PredictSet(ArrayDataset({"pixel_values": x}, y), [f"{split}{i:05d}" for i in range(count)], y)
    settings = TrainSettings(learning_rate=lr, batch_size=batch_size, max_epochs=epochs, patience=epochs, seed=0,
                             device=device, full_determinism=full_determinism, verbose=False)
    swin = {"pretrained": None, "config": swin_config}
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(2):
            fd = Path(tmp) / f"run{r}"
            t0 = time.perf_counter()
            m = run_fold(fd, {"run": r, "full_determinism": full_determinism},
                         lambda: build_model("swin_ztf", swin, {}), sets["train"].dataset, sets["val"].dataset,
                         sets["train"].labels, sets, settings)
            probs = artifacts.probabilities(pd.read_parquet(fd / "predictions_test.parquet"))
            runs.append((probs, load_file(fd / artifacts.WEIGHTS_FILE), m, time.perf_counter() - t0))
    (p0, w0, m0, s0), (p1, w1, m1, s1) = runs
    return {
        "max_abs_prob_diff": float(np.abs(p0 - p1).max()),
        "same_class_fraction": float((p0.argmax(1) == p1.argmax(1)).mean()),
        "weights_identical": all(torch.equal(w0[k], w1[k]) for k in w0),
        "test_macro_f1": (m0["test_macro_f1"], m1["test_macro_f1"]),
        "seconds": (s0, s1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto (CUDA if present), cuda or cpu")
    ap.add_argument("--tiny", action="store_true", help="a 32-px two-block SwinV2 instead of SwinV2-Tiny")
    ap.add_argument("--n", type=int, nargs=3, default=(512, 128, 128), metavar=("TRAIN", "VAL", "TEST"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-5)
    args = ap.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    config = SWIN_SMALL if args.tiny else SWIN_TINY
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"device: {device} ({name}); torch {torch.__version__}; SwinV2 {'small' if args.tiny else 'Tiny'} "
          f"at {config['image_size']} px; {args.n[0]} training images, {args.epochs} epochs, batch {args.batch_size}")
    for mode in (False, True):
        r = train_twice(device, mode, config, tuple(args.n), args.epochs, args.batch_size, args.lr)
        label = "full_determinism" if mode else "default"
        print(f"{label:<17} max |p1 - p2| {r['max_abs_prob_diff']:.3g}; same class {r['same_class_fraction']:.1%}; "
              f"weights bit-identical: {r['weights_identical']}; test macro-F1 {r['test_macro_f1'][0]:.4f} / "
              f"{r['test_macro_f1'][1]:.4f}; {r['seconds'][0]:.0f} s / {r['seconds'][1]:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
