"""The paper profile's training speed on a GPU: the acceptance table of issue 13 in one script.

    python benchmarks/bench_swin_gpu.py --json gpu.json      # CUDA: SwinV2-Tiny, 256 px, batch 64 (~10 min)
    python benchmarks/bench_swin_gpu.py --tiny --device cpu  # a small model on the CPU (smoke run)

Prints (and with ``--json`` writes, for ``estimate_paper_runtime.py --bench-json``):

1. **Step throughput**, objects/s, of ``swin_ztf`` and ``ms_swin_linear`` (two images per
   object), eager and with ``torch.compile`` of the backbone: training (forward, backward,
   Adam step) at ``training.batch_size`` and inference at ``training.eval_batch_size``, built
   from the project's own pieces — :func:`mslc_utils.models.build_model`,
   :func:`mslc_utils.training.compile_model`, ``TrainSettings.optimizer()`` (fused Adam on
   CUDA) and the bf16 autocast the Trainer uses. The compile time of each model is printed.
2. **The pipeline**: one epoch of fold 0 of ``swin_ztf`` through
   :func:`mslc_utils.training.train_model_folds` (Trainer, data-loader workers, image cache)
   on simulated data, three times: cold cache without pre-rendering (the previous path),
   cold cache with the cache filled first on all cores (the default now), warm cache. Ratios
   to the warm epoch, and the GPU utilisation during each run (``nvidia-smi``, when present).
3. **Determinism of the fast path**: one fold trained twice with the profile's speed options
   (compile on CUDA, fused Adam, eval batch): are the weights bit-identical?

Nothing is asserted; the figures are the output. ``--tiny`` swaps SwinV2-Tiny for a small
SwinV2 at 64 px and shrinks every size so that the script runs on a CPU in minutes.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from unittest import mock
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mslc_utils import artifacts  # noqa: E402
from mslc_utils.config import SIMULATE_ENV, load_config, setup  # noqa: E402
from mslc_utils.models import build_model, model_spec  # noqa: E402
from mslc_utils.training import (  # noqa: E402
    ArrayDataset, PredictSet, TrainSettings, clear_image_cache, compile_model, compiled_graph_count, run_fold,
    train_model_folds,
)

SWIN_TINY_PAPER = dict(image_size=256, patch_size=4, embed_dim=96, depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 24],
                       window_size=16)


def profile(tiny: bool) -> dict:
    """The paper profile with random SwinV2-Tiny weights (the hub is not needed: same compute);
    ``tiny``: the quick profile's small SwinV2 at 64 px, the paper's other training settings."""
    cfg = load_config("paper")
    if tiny:
        quick = load_config("quick")
        cfg["swin"] = dict(quick["swin"])  # the shipped small checkpoint (its config.json: the architecture)
        cfg["render"]["image_size"] = int(quick["render"]["image_size"])
    else:
        cfg["swin"] = {"pretrained": None, "config": SWIN_TINY_PAPER}
    return cfg


# ----------------------------------------------------------------------------- 1. steps
def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def step_throughput(model_id: str, cfg: dict, settings: TrainSettings, steps: int) -> dict[str, float]:
    """Training and inference objects/s of one model with ``settings``' speed options."""
    device = settings.resolved_device()
    torch.manual_seed(0)
    model = compile_model(build_model(model_id, cfg["swin"], cfg["training"]), settings).to(device)
    cls, kwargs = settings.optimizer()
    opt = cls(model.parameters(), **kwargs)
    size = int(cfg["render"]["image_size"])
    bf16 = settings.use_bf16()

    def batch(n: int) -> dict[str, torch.Tensor]:
        x = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, device=device)
        if model_spec(model_id).kind == "multi":
            return {"pixel_values_ztf": x, "pixel_values_atlas": x.flip(2)}
        return {"pixel_values": x}

    train_in, labels = batch(settings.batch_size), torch.randint(0, 21, (settings.batch_size,), device=device)
    eval_bs = int(settings.eval_batch_size or settings.batch_size)
    eval_in = batch(eval_bs)

    def train_step() -> None:
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**train_in, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def infer_step() -> None:
        with torch.no_grad(), torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            model(**eval_in)

    out: dict[str, float] = {}
    for name, fn, n, mode in (("train", train_step, settings.batch_size, True), ("infer", infer_step, eval_bs, False)):
        model.train(mode)
        t0 = time.perf_counter()
        for _ in range(2):  # compilation (if any) and warm-up
            fn()
        _sync(device)
        out[f"{name}_warmup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(steps):
            fn()
        _sync(device)
        out[name] = n * steps / (time.perf_counter() - t0)
    return out


# ----------------------------------------------------------------------------- 2. pipeline
class GpuSampler:
    """``nvidia-smi`` utilisation samples (%) every 200 ms while in the ``with`` block."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None

    def __enter__(self) -> "GpuSampler":
        if shutil.which("nvidia-smi") and torch.cuda.is_available():
            self._proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200", "-i", "0"],
                stdout=subprocess.PIPE, text=True)
            self._reader = threading.Thread(target=self._read, daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self.samples.append(float(line.strip()))
            except ValueError:
                pass

    def __exit__(self, *exc) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait()

    def summary(self) -> str:
        if not self.samples:
            return "GPU utilisation: n/a (no nvidia-smi)"
        s = np.asarray(self.samples)
        return f"GPU utilisation mean {s.mean():.0f} %, idle (< 10 %) {np.mean(s < 10):.0%} of {len(s)} samples"


def pipeline(cfg: dict, n_objects: int, workers: int, device: str, out: Path) -> dict[str, float]:
    """Seconds of fold 0 of ``swin_ztf`` (one epoch) with a cold cache (on-the-fly rendering),
    a cold cache filled first (the default), and a warm cache."""
    from mslc_utils.data import get_dataset

    cfg = copy.deepcopy(cfg)
    cfg["data"].update(n_objects=n_objects, min_per_class=12)  # >= 10 per class: 20 % test and 5 folds
    cfg["training"].update(max_epochs=1, num_workers=workers, preload_images=False)
    cfg["render"]["cache"] = True
    result: dict[str, float] = {}
    out.mkdir(parents=True, exist_ok=True)
    for label, prerender, fresh_cache in (("cold, rendered on the fly", False, True),
                                          ("cold, cache filled first", True, True), ("warm", True, False)):
        cfg["training"]["prerender_images"] = prerender
        path = out / "profile.yaml"
        path.write_text(json.dumps({k: v for k, v in cfg.items() if not k.startswith("_")}))
        # the paper profile on a small simulation, on purpose (setup refuses it without the opt-in)
        with mock.patch.dict(os.environ, {SIMULATE_ENV: "1"}):  # restored afterwards
            ctx = setup(str(path), OUT_DIR=str(out), DEVICE=device)
        ds = get_dataset(ctx)
        if fresh_cache:
            shutil.rmtree(out / "image_cache", ignore_errors=True)
        clear_image_cache()
        with GpuSampler() as gpu:
            t0 = time.perf_counter()
            df = train_model_folds(ctx, ds, "swin_ztf", folds=[0], force=True, verbose=False)
            seconds = time.perf_counter() - t0
        result[label] = seconds
        print(f"  {label:<28} fold 0, one epoch: {seconds:7.1f} s (fit {df.train_seconds.iloc[0]:.1f} s); "
              f"{gpu.summary()}", flush=True)
    warm = result["warm"]
    for label in list(result):
        if label != "warm":
            print(f"  {label}: {result[label] / warm:.2f} x the warm epoch", flush=True)
    return result


# ----------------------------------------------------------------------------- 3. determinism
def determinism(cfg: dict, settings: TrainSettings, n: int, tmp: Path) -> bool:
    """Train fold ``bar images`` twice with ``settings``; are the saved weights bit-identical?"""
    from safetensors.torch import load_file

    size = int(cfg["render"]["image_size"])
    rng = np.random.default_rng(0)
    sets = {}
    for split, count in (("train", n), ("val", n // 4), ("test", n // 4)):
        y = rng.integers(0, 21, count)
        x = np.full((count, 3, size, size), 255, np.uint8)
        step = max(1, size // 22)
        for i, c in enumerate(y):
            x[i, :, c * step : c * step + step, :] = rng.integers(0, 80)
        sets[split] = PredictSet(ArrayDataset({"pixel_values": x}, y), [f"{split}{i}" for i in range(count)], y)
    weights = []
    for r in range(2):
        fd = tmp / f"determinism{r}"
        run_fold(fd, {"run": r}, lambda: build_model("swin_ztf", cfg["swin"], cfg["training"]), sets["train"].dataset,
                 sets["val"].dataset, sets["train"].labels, sets, settings)
        weights.append(load_file(fd / artifacts.WEIGHTS_FILE))
    return all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--tiny", action="store_true", help="a small SwinV2 at 64 px and small sizes (CPU smoke run)")
    ap.add_argument("--steps", type=int, default=None, help="timed steps per figure (default 20; tiny 3)")
    ap.add_argument("--objects", type=int, default=None, help="simulated objects of the pipeline run (default 6000; tiny 300)")
    ap.add_argument("--workers", type=int, default=None, help="data-loader workers (default: training.num_workers; tiny 2)")
    ap.add_argument("--compile-backend", default="inductor")
    ap.add_argument("--skip", default="", help="comma-separated sections to skip: steps,compile,pipeline,determinism")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args(argv)
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    skip = set(filter(None, args.skip.split(",")))
    cfg = profile(args.tiny)
    training = cfg["training"]
    steps = args.steps or (3 if args.tiny else 20)
    if args.tiny:
        training.update(batch_size=16, eval_batch_size=32, num_workers=2)
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"device {device} ({name}), torch {torch.__version__}; SwinV2 {'small 64 px' if args.tiny else 'Tiny 256 px'}, "
          f"batch {training['batch_size']}, eval batch {training.get('eval_batch_size')}", flush=True)
    figures: dict = {"device": name, "tiny": args.tiny, "steps": {}}
    base = TrainSettings.from_config(training, seed=0, device=device, compile=False, compile_backend=args.compile_backend)
    modes = {"eager": base}
    if "compile" not in skip:
        modes["compiled"] = TrainSettings.from_config(training, seed=0, device=device, compile=True,
                                                      compile_backend=args.compile_backend)
    if "steps" not in skip:
        print(f"1. step throughput, objects/s (bf16 {base.use_bf16()}, fused Adam {base.use_fused_adam()})")
        for model_id in ("swin_ztf", "ms_swin_linear"):
            for mode, st in modes.items():
                graphs = compiled_graph_count()
                r = step_throughput(model_id, cfg, st, steps)
                figures["steps"].setdefault(model_id, {})[mode] = r
                print(f"  {model_id:<15} {mode:<9} train {r['train']:8.1f}   infer {r['infer']:8.1f}   "
                      f"(first two steps {r['train_warmup_s']:.1f} s + {r['infer_warmup_s']:.1f} s; "
                      f"{compiled_graph_count() - graphs} graphs compiled)", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="bench_swin_gpu_"))
    try:
        if "pipeline" not in skip:
            print("2. pipeline: one epoch of swin_ztf fold 0 through train_model_folds")
            workers = args.workers if args.workers is not None else int(training["num_workers"])
            figures["pipeline_s"] = pipeline(cfg, args.objects or (300 if args.tiny else 6000), workers, device, tmp / "run")
        if "determinism" not in skip:
            st = TrainSettings.from_config(dict(training, max_epochs=2, learning_rate=1e-4), seed=0, device=device,
                                           verbose=False, compile_backend=args.compile_backend)
            same = determinism(cfg, st, 64 if args.tiny else 512, tmp)
            figures["determinism_bit_identical"] = same
            print(f"3. fast path (compile {st.use_compile()}, fused Adam {st.use_fused_adam()}, eval batch "
                  f"{st.eval_batch_size}) trained twice: weights bit-identical: {same}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
