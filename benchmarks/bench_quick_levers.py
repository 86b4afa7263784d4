"""What one setting of the quick profile costs and buys: one model's five folds, validation only.

    python benchmarks/bench_quick_levers.py swin_ztf                          # the profile as it is
    python benchmarks/bench_quick_levers.py atat_ztf --set atat.n_layers=2
    python benchmarks/bench_quick_levers.py swin_ztf --set training.patience=3
    python benchmarks/bench_quick_levers.py ms_swin_linear --backbone-px 48   # 48 px images + backbone

Writes a copy of the quick profile (``load_config("quick")``) with the ``--set`` assignments (dotted keys, YAML
values) to ``--out``, then trains the model's folds exactly as notebooks 03 and 05 do
(:func:`mslc_utils.parallel.train_models`: two folds side by side, one torch thread each) and
prints the mean *validation* macro-F1 and the folds' core-seconds (training + prediction
seconds of ``metrics.json``, summed). No test score is printed: settings are chosen on
validation folds only. ``--backbone-px N`` first pre-trains a backbone as the shipped one
(:mod:`mslc_utils.pretrain`, the same images and steps) at N px with window N / 16, and points
``swin.pretrained`` at it. The figures go to docs/benchmarks.md ("Other levers").
"""
from __future__ import annotations

import argparse
import copy
import re
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

ROOT = Path(__file__).resolve().parents[1]


def apply_overrides(cfg: Mapping[str, Any], assignments: Iterable[str]) -> dict[str, Any]:
    """A copy of ``cfg`` with ``"section.key=value"`` assignments (values parsed as YAML).

    Raises ``KeyError`` naming the key when a section or key is not in the profile, so a typo
    does not silently benchmark the unchanged profile.
    """
    out = copy.deepcopy(dict(cfg))
    for item in assignments:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected section.key=value")
        node: Any = out
        parts = key.strip().split(".")
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                raise KeyError(f"--set {item!r}: {'.'.join(parts[:depth + 1])!r} is not in the quick profile")
            if depth == len(parts) - 1:
                node[part] = yaml.safe_load(value)
            else:
                node = node[part]
    return out


def summarise(out_dir: str | Path, model_id: str) -> dict[str, Any]:
    """Mean validation macro-F1 (%), summed core-seconds and (best, run) epochs of the complete folds."""
    from mslc_utils import artifacts as A

    folds = [A.load_metrics(out_dir, model_id, k) for k in A.completed_folds(out_dir, model_id)]
    if not folds:
        raise FileNotFoundError(f"no complete fold under {Path(out_dir, model_id)}")
    return {
        "model": model_id,
        "folds": len(folds),
        "val_macro_f1_pct": 100 * sum(m["val_macro_f1"] for m in folds) / len(folds),
        "core_seconds": sum(m["train_seconds"] + (m.get("predict_seconds") or 0.0) for m in folds),
        "epochs": [(m.get("best_epoch"), m.get("epochs_run")) for m in folds],
    }


def pretrain_backbone_at(px: int, directory: Path) -> Path:
    """Pre-train the quick backbone as shipped, at ``px`` pixels (window px / 16), into ``directory``."""
    from mslc_utils import pretrain

    if px % 16:
        raise ValueError(f"--backbone-px {px}: must be a multiple of 16 (patch 8, two stages)")
    swin = dict(pretrain.QUICK_SWIN_CONFIG, image_size=px, window_size=px // 16)
    render = dict(pretrain.QUICK_RENDER, image_size=px)
    settings = pretrain.PretrainSettings()
    backbone, _ = pretrain.pretrain_backbone(pretrain.pretraining_images(swin, render, settings), swin, settings)
    return pretrain.save_checkpoint(backbone, directory)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", help="a model id of notebooks 03/05 (swin_ztf, atat_ztf, ms_swin_linear, ...)")
    ap.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE")
    ap.add_argument("--backbone-px", type=int, default=None, help="pre-train a backbone at this size and use it")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None,
                    help="default: artifacts/bench_quick_levers/<model>-<settings> (one directory per setting)")
    args = ap.parse_args()
    if args.out is None:
        slug = "-".join([args.model, *args.set] + ([f"{args.backbone_px}px"] if args.backbone_px else []))
        args.out = ROOT / "artifacts" / "bench_quick_levers" / re.sub(r"[^A-Za-z0-9_.=-]+", "_", slug)

    from mslc_utils import parallel
    from mslc_utils.config import load_config, setup
    from mslc_utils.data import get_dataset

    quick = load_config("quick")
    quick.pop("_source")  # set again by setup() for the copy written below
    cfg = apply_overrides(quick, args.set)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.backbone_px:
        t0 = time.perf_counter()
        ckpt = pretrain_backbone_at(args.backbone_px, args.out / f"backbone_{args.backbone_px}px")
        print(f"backbone at {args.backbone_px} px pre-trained in {time.perf_counter() - t0:.0f} s: {ckpt}", flush=True)
        cfg = apply_overrides(cfg, [f"render.image_size={args.backbone_px}", f"swin.pretrained={ckpt}"])
    profile = args.out / "profile.yaml"
    profile.write_text(yaml.safe_dump(cfg, sort_keys=False))
    ctx = setup(str(profile), None, str(args.out), "cpu", args.seed)
    dataset = get_dataset(ctx)
    t0 = time.perf_counter()
    parallel.train_models(ctx, dataset, [args.model])
    s = summarise(args.out, args.model)
    print(f"{args.model} {' '.join(args.set) or '(profile)'}"
          f"{f' backbone {args.backbone_px} px' if args.backbone_px else ''}: "
          f"validation macro-F1 {s['val_macro_f1_pct']:.1f} % (mean of {s['folds']} folds), "
          f"{s['core_seconds']:.0f} core-s, (best, run) epochs {s['epochs']}; "
          f"{time.perf_counter() - t0:.0f} s wall", flush=True)


if __name__ == "__main__":
    main()
