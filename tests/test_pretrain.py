"""The quick profile's pre-trained backbone: packaged checkpoint, loading path, determinism."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mslc_utils.models import PREPROCESSOR_FILE, load_backbone, resolve_pretrained
from mslc_utils.pretrain import QUICK_SWIN_CONFIG, PretrainSettings, pretrain_backbone, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def test_packaged_checkpoint_loads_through_the_paper_path() -> None:
    path = Path(resolve_pretrained("package:swinv2-quick"))
    assert path == ROOT / "mslc_utils" / "pretrained" / "swinv2-quick"
    for name in ("config.json", "model.safetensors", PREPROCESSOR_FILE, "README.md"):
        assert (path / name).is_file(), name
    backbone, pre = load_backbone({"pretrained": "package:swinv2-quick", "config": {"drop_path_rate": 0.0}})
    cfg = backbone.config
    assert (cfg.image_size, cfg.patch_size, cfg.embed_dim, list(cfg.depths), cfg.window_size) == (
        QUICK_SWIN_CONFIG["image_size"], QUICK_SWIN_CONFIG["patch_size"], QUICK_SWIN_CONFIG["embed_dim"],
        QUICK_SWIN_CONFIG["depths"], QUICK_SWIN_CONFIG["window_size"])
    assert pre.size == (64, 64) and pre.do_normalize and pre.resample == 3
    # pre-trained, not a fresh initialisation: weights differ from a seeded random model
    from transformers import Swinv2Config, Swinv2Model

    torch.manual_seed(0)
    fresh = Swinv2Model(Swinv2Config(**QUICK_SWIN_CONFIG))
    w = dict(backbone.named_parameters())
    with torch.no_grad():
        diff = [float((p - w[n]).abs().max()) for n, p in fresh.named_parameters()]
    assert max(diff) > 0.1
    # the quick profile points at it
    import yaml

    quick = yaml.safe_load((ROOT / "configs" / "quick.yaml").read_text())
    assert quick["swin"]["pretrained"] == "package:swinv2-quick"


def test_resolve_pretrained_other_values() -> None:
    assert resolve_pretrained(None) is None
    assert resolve_pretrained("microsoft/swinv2-tiny-patch4-window16-256") == "microsoft/swinv2-tiny-patch4-window16-256"
    with pytest.raises(FileNotFoundError, match="no packaged checkpoint"):
        resolve_pretrained("package:nope")
    with pytest.raises(FileNotFoundError):
        resolve_pretrained("package:../configs")


def test_pretraining_is_deterministic_and_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 3, 64, 64), dtype=np.uint8)
    s = PretrainSettings(steps=3, batch_size=4, warmup_steps=1)
    a, la = pretrain_backbone(images, QUICK_SWIN_CONFIG, s, verbose=False)
    b, lb = pretrain_backbone(images, QUICK_SWIN_CONFIG, s, verbose=False)
    assert la == lb and len(la) == 3
    for (n, p), (_, q) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(p, q), n
    save_checkpoint(a, tmp_path / "ck")
    proc = json.loads((tmp_path / "ck" / PREPROCESSOR_FILE).read_text())
    assert proc["size"] == {"height": 64, "width": 64}
    loaded, pre = load_backbone({"pretrained": str(tmp_path / "ck")})
    for n, p in a.state_dict().items():
        assert torch.equal(p, loaded.state_dict()[n]), n
    assert pre.size == (64, 64)
