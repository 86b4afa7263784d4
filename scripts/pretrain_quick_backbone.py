#!/usr/bin/env python
"""Rebuild the quick profile's pre-trained SwinV2 (``mslc_utils/pretrained/swinv2-quick/``).

    python scripts/pretrain_quick_backbone.py                 # the shipped checkpoint, bit for bit
    python scripts/pretrain_quick_backbone.py --out /tmp/ck --steps 50   # a short trial

Task-agnostic SimMIM pre-training on Overlay images of a disjoint simulation (see
:mod:`mslc_utils.pretrain`): no class label and no object of any run's data set. CPU, one
thread, deterministic; ``./run_all.sh`` never runs this (the checkpoint ships in the package).
"""
from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from mslc_utils.pretrain import (
    QUICK_RENDER, QUICK_SWIN_CONFIG, PretrainSettings, pretrain_backbone, pretraining_images, save_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    defaults = PretrainSettings()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "mslc_utils" / "pretrained" / "swinv2-quick")
    for f in dataclasses.fields(PretrainSettings):
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(getattr(defaults, f.name)),
                        default=getattr(defaults, f.name))
    args = ap.parse_args()
    settings = PretrainSettings(**{f.name: getattr(args, f.name) for f in dataclasses.fields(PretrainSettings)})
    swin_config, render = QUICK_SWIN_CONFIG, QUICK_RENDER
    t0 = time.perf_counter()
    images = pretraining_images(swin_config, render, settings)
    print(f"{len(images)} images of {settings.n_objects} objects (seed {settings.seed}) in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)
    backbone, losses = pretrain_backbone(images, swin_config, settings)
    save_checkpoint(backbone, args.out)
    print(f"saved {args.out} after {settings.steps} steps (final loss {sum(losses[-50:]) / len(losses[-50:]):.4f}); "
          f"{time.perf_counter() - t0:.0f} s in all")


if __name__ == "__main__":
    main()
