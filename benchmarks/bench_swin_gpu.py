"""GPU check of the paper configuration (SwinV2-Tiny, 256×256, window 16), random init.

    python benchmarks/bench_swin_gpu.py            # needs CUDA

1. Training throughput (images/s) of ``swin_ztf`` and ``ms_swin_linear`` (objects/s; two
   images each) at the paper's batch size 64 with bf16 autocast and Adam, and inference
   throughput; from these, the time of one epoch over the paper's ~25k training objects.
2. One fold end to end through :func:`mslc_utils.training.run_fold` on CUDA (bf16, Trainer,
   checkpoints, best model, predictions) with the paper configuration on 256 random images.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from transformers import Swinv2Config, Swinv2Model

from mslc_utils import artifacts
from mslc_utils.config import load_config
from mslc_utils.models import build_model
from mslc_utils.training import ArrayDataset, PredictSet, TrainSettings, run_fold


def _local_tiny(directory: Path) -> str:
    torch.manual_seed(0)
    Swinv2Model(Swinv2Config(image_size=256, window_size=16)).save_pretrained(directory)
    (directory / "preprocessor_config.json").write_text(json.dumps(
        {"do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": [0.485, 0.456, 0.406],
         "image_std": [0.229, 0.224, 0.225], "resample": 3, "rescale_factor": 1 / 255,
         "size": {"height": 256, "width": 256}}))
    return str(directory)


def _throughput(model_id: str, swin: dict, training: dict, bs: int = 64, steps: int = 10) -> tuple[float, float]:
    model = build_model(model_id, swin, training).cuda().train()
    opt = torch.optim.Adam(model.parameters(), lr=5e-6)
    x = torch.randint(0, 256, (bs, 3, 256, 256), dtype=torch.uint8, device="cuda")
    batch = {"pixel_values": x} if model_id.startswith("swin_") else {"pixel_values_ztf": x, "pixel_values_atlas": x.flip(2)}
    y = torch.randint(0, 21, (bs,), device="cuda")

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(**batch, labels=y).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    torch.cuda.synchronize()
    train = bs * steps / (time.perf_counter() - t0)
    model.eval()
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        for _ in range(3):
            model(**batch)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            model(**batch)
        torch.cuda.synchronize()
    infer = bs * steps / (time.perf_counter() - t0)
    return train, infer


def main() -> None:
    assert torch.cuda.is_available(), "this check needs a CUDA GPU"
    cfg = load_config("paper")
    tmp = Path(tempfile.mkdtemp())
    swin = dict(cfg["swin"], pretrained=_local_tiny(tmp / "swinv2_tiny"))
    print(torch.cuda.get_device_name(), "torch", torch.__version__, "bf16", torch.cuda.is_bf16_supported())
    for model_id in ("swin_ztf", "ms_swin_linear"):
        tr, inf = _throughput(model_id, swin, cfg["training"])
        print(f"{model_id}: train {tr:.0f} objects/s, inference {inf:.0f} objects/s at batch 64 (bf16); "
              f"one epoch of 25,270 training objects ~ {25270 / tr:.0f} s")

    rng = np.random.default_rng(0)
    sets = {}
    for split, n in (("train", 256), ("val", 64), ("test", 64)):
        y = rng.integers(0, 21, n)
        x = np.full((n, 3, 256, 256), 255, np.uint8)
        for i, c in enumerate(y):
            x[i, :, 10 * c : 10 * c + 12, :] = 0
        sets[split] = PredictSet(ArrayDataset({"pixel_values": x}, y), [f"{split}{i}" for i in range(n)], y)
    st = TrainSettings.from_config(dict(cfg["training"], max_epochs=2, learning_rate=1e-4, num_workers=2), seed=0, device="cuda")
    assert st.use_bf16()
    fd = tmp / "swin_ztf" / "fold_0"
    t0 = time.perf_counter()
    m = run_fold(fd, {"check": 1}, lambda: build_model("swin_ztf", swin, cfg["training"]), sets["train"].dataset,
                 sets["val"].dataset, sets["train"].labels, sets, st)
    print(f"run_fold on CUDA: {time.perf_counter() - t0:.1f} s, metrics {m}")
    assert artifacts.is_complete(fd) and (fd / "model.safetensors").exists()
    pred = artifacts.load_predictions(tmp, "swin_ztf", 0, "test")
    assert len(pred) == 64 and np.allclose(artifacts.probabilities(pred).sum(1), 1, atol=1e-3)
    print("GPU check OK")


if __name__ == "__main__":
    main()
