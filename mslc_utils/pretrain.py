"""Task-agnostic pre-training of the quick profile's small SwinV2 (masked-image modelling).

The paper fine-tunes a SwinV2 pre-trained on ImageNet-21K: the backbone has seen many
images but none of the task's labels or objects. The quick profile's 64-pixel SwinV2 has no
such public checkpoint, so this module builds one the same way in spirit:

* **data**: Overlay images (ZTF, ATLAS and stacked views, the quick profile's render
  settings) of a *disjoint* simulation — its own seed (:data:`PRETRAIN_SEED`, never a
  run's seed) and its own object count, so none of the quick data set's objects;
* **task**: SimMIM masked-image modelling (``transformers.Swinv2ForMaskedImageModeling``):
  a random 60 % of the 8×8-pixel patches are replaced by the mask token and the model
  regresses their normalised pixels. No class label of any simulation is read (the image
  dataset is built with ``labels=None``);
* **output**: the encoder as a plain ``Swinv2Model`` checkpoint (``config.json``,
  ``model.safetensors``) plus ``preprocessor_config.json`` (ImageNet mean/std, bicubic,
  64×64: the processor of ``microsoft/swinv2-tiny-patch4-window16-256`` at the quick size),
  loaded by the run exactly as the paper's checkpoint: ``Swinv2Model.from_pretrained(dir)``.

Masked-image modelling rather than a generic synthetic-image task because it learns what
light-curve pictures look like (strokes, error bars, band colours, white space) without any
notion of class, which is what a pre-trained backbone brings to fine-tuning; a generic task
(e.g. rotated shapes) would need its own image generator and learns features farther from
the target images.

Deterministic on CPU: one seeded generator for masks and batch order, one torch thread,
``torch.use_deterministic_algorithms(True)``; :func:`pretrain_backbone` twice with the same
arguments gives bit-identical weights (``tests/test_pretrain.py``). Entry point:
``scripts/pretrain_quick_backbone.py``.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from transformers import Swinv2Config, Swinv2ForMaskedImageModeling, Swinv2Model

from .models import IMAGENET_MEAN, IMAGENET_STD, PREPROCESSOR_FILE

log = logging.getLogger(__name__)

#: Seed of the pre-training simulation; the runs use small seeds (0, 1, 2, ...).
PRETRAIN_SEED = 1_000_003
#: The architecture of the quick checkpoint (``Swinv2Config`` keyword arguments): 8×8 tokens
#: of 8 px at 64 px, then 4×4 after patch merging; pooled embedding 96-d.
QUICK_SWIN_CONFIG: dict[str, Any] = {
    "image_size": 64, "patch_size": 8, "embed_dim": 48, "depths": [2, 1], "num_heads": [3, 6],
    "window_size": 4, "drop_path_rate": 0.0,
}
#: Render settings of the pre-training images (= the quick profile's ``render`` section).
QUICK_RENDER: dict[str, Any] = {"renderer": "fast", "image_size": 64, "marker_size": 1.0, "line_width": 2.0}
#: The views rendered for pre-training (all images the fine-tuned models will see).
PRETRAIN_VIEWS: tuple[str, ...] = ("ZTF", "ATLAS", "stacked")


@dataclass(frozen=True)
class PretrainSettings:
    """Settings of one pre-training run (defaults: the shipped checkpoint)."""

    n_objects: int = 600
    min_per_class: int = 5
    seed: int = PRETRAIN_SEED
    steps: int = 1200
    batch_size: int = 32
    learning_rate: float = 1e-3
    weight_decay: float = 0.05
    warmup_steps: int = 100
    mask_ratio: float = 0.6


def pretraining_images(swin_config: Mapping[str, Any], render: Mapping[str, Any], settings: PretrainSettings) -> np.ndarray:
    """Overlay images (N×3×H×W uint8) of the disjoint simulation, every view, no labels."""
    from .image_dataset import LightCurveImageDataset, render_batch
    from .render import RenderSettings
    from .simulate import simulate_dataset

    lc, objects = simulate_dataset(settings.n_objects, seed=settings.seed, min_per_class=settings.min_per_class)
    ids = objects["object_id"].astype(str).tolist()
    rs = RenderSettings.from_config(render)
    if rs.image_size != int(swin_config["image_size"]):
        raise ValueError(f"render.image_size {rs.image_size} != swin image_size {swin_config['image_size']}")
    out = []
    for view in PRETRAIN_VIEWS:
        ds = LightCurveImageDataset(lc, ids, None, view=view, settings=rs)
        out.append(render_batch(ds, n_jobs=1, progress=False).transpose(0, 3, 1, 2))
    return np.ascontiguousarray(np.concatenate(out))


def mim_config(swin_config: Mapping[str, Any]) -> Swinv2Config:
    """The quick SwinV2 config with the SimMIM decoder's stride (patch size × 2^(stages-1))."""
    cfg = dict(swin_config)
    cfg["encoder_stride"] = int(cfg["patch_size"]) * 2 ** (len(cfg["depths"]) - 1)
    return Swinv2Config(**cfg)


def _normalise(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x.float() / 255.0 - mean) / std


def pretrain_backbone(
    images: np.ndarray, swin_config: Mapping[str, Any], settings: PretrainSettings, verbose: bool = True
) -> tuple[Swinv2Model, list[float]]:
    """SimMIM pre-training on ``images``; returns the encoder as a ``Swinv2Model`` and the losses."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(1)  # bit-for-bit: the reduction order depends on the thread count
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(settings.seed)
    gen = np.random.default_rng(settings.seed)
    config = mim_config(swin_config)
    model = Swinv2ForMaskedImageModeling(config)
    model.train()
    n_tokens = (config.image_size // config.patch_size) ** 2
    n_mask = int(round(settings.mask_ratio * n_tokens))
    opt = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda s: min(1.0, (s + 1) / max(1, settings.warmup_steps))
        * 0.5 * (1.0 + np.cos(np.pi * min(1.0, s / max(1, settings.steps)))),
    )
    losses: list[float] = []
    order = gen.permutation(len(images))
    pos = 0
    t0 = time.perf_counter()
    for step in range(settings.steps):
        if pos + settings.batch_size > len(order):
            order, pos = gen.permutation(len(images)), 0
        idx = order[pos : pos + settings.batch_size]
        pos += settings.batch_size
        x = _normalise(torch.from_numpy(images[np.sort(idx)]))
        mask = np.zeros((len(idx), n_tokens), dtype=bool)
        for row in mask:
            row[gen.choice(n_tokens, n_mask, replace=False)] = True
        out = model(pixel_values=x, bool_masked_pos=torch.from_numpy(mask))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        sched.step()
        losses.append(float(out.loss.detach()))
        if verbose and (step + 1) % max(1, settings.steps // 10) == 0:
            print(f"step {step + 1}/{settings.steps}: loss {np.mean(losses[-50:]):.4f} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    # the encoder as the plain backbone the runs load (no mask token, a pooling layer)
    backbone = Swinv2Model(Swinv2Config(**dict(swin_config)))
    state = {k: v for k, v in model.swinv2.state_dict().items() if k != "embeddings.mask_token"}
    missing, unexpected = backbone.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RuntimeError(f"encoder weights do not fit Swinv2Model: missing {missing}, unexpected {unexpected}")
    torch.set_num_threads(threads)  # leave the process as it was
    torch.use_deterministic_algorithms(deterministic)
    return backbone, losses


def save_checkpoint(backbone: Swinv2Model, directory: str | Path) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``preprocessor_config.json``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    backbone.save_pretrained(directory, safe_serialization=True)
    size = int(backbone.config.image_size)
    processor = {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": True,
        "size": {"height": size, "width": size},
        "resample": 3,
        "do_rescale": True,
        "rescale_factor": 1.0 / 255.0,
        "do_normalize": True,
        "image_mean": list(IMAGENET_MEAN),
        "image_std": list(IMAGENET_STD),
    }
    (directory / PREPROCESSOR_FILE).write_text(json.dumps(processor, indent=2, sort_keys=True) + "\n")
    return directory
