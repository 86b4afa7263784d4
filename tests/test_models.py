"""SwinV2 backbones, preprocessing and the classifiers of the paper (tiny configs, 32×32)."""
from __future__ import annotations

import json
import warnings

import pytest
import torch
import torch.nn.functional as F
from transformers import Swinv2Config, Swinv2Model

from mslc_utils.config import load_config
from mslc_utils.models import (
    MODEL_SPECS,
    ImagePreprocessor,
    MultiSurveySwinV2,
    PreprocessConfig,
    SwinV2Classifier,
    blank_image_mask,
    build_model,
    load_backbone,
    read_preprocess_config,
)
from mslc_utils.taxonomy import N_CLASSES

from conftest import save_local_swin

pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = dict(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4)
TINY_SWIN = {"pretrained": None, "config": TINY}
MEAN, STD = [0.5, 0.4, 0.3], [0.2, 0.25, 0.5]


def _images(b: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, 3, size, size), dtype=torch.uint8, generator=g)


# ----------------------------------------------------------------------------- preprocessing
def test_preprocessing_equals_hand_computation():
    cfg = PreprocessConfig.from_processor_dict(
        {"image_mean": MEAN, "image_std": STD, "size": {"height": 32, "width": 32}, "rescale_factor": 1 / 255}
    )
    x = _images(3)
    out = ImagePreprocessor(cfg)(x)
    hand = (x.double() / 255.0 - torch.tensor(MEAN, dtype=torch.double).view(1, 3, 1, 1)) / torch.tensor(
        STD, dtype=torch.double
    ).view(1, 3, 1, 1)
    assert out.dtype == torch.float32 and out.shape == (3, 3, 32, 32)
    torch.testing.assert_close(out.double(), hand, atol=1e-5, rtol=0)


def test_preprocessing_resizes_then_normalises():
    cfg = PreprocessConfig.from_processor_dict({"image_mean": MEAN, "image_std": STD, "size": {"height": 32, "width": 32}})
    x = _images(2, size=64)
    out = ImagePreprocessor(cfg)(x)
    resized = F.interpolate(x.float(), size=(32, 32), mode="bicubic", align_corners=False, antialias=True).clamp(0, 255)
    hand = (resized / 255.0 - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    assert out.shape == (2, 3, 32, 32)
    torch.testing.assert_close(out, hand, atol=1e-5, rtol=0)


def test_preprocessing_matches_the_transformers_image_processor():
    from transformers import ViTImageProcessor

    d = {"do_resize": True, "size": {"height": 32, "width": 32}, "resample": 3, "do_rescale": True,
         "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": MEAN, "image_std": STD}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proc = ViTImageProcessor(**d)
    pre = ImagePreprocessor(PreprocessConfig.from_processor_dict(d))
    std = torch.tensor(STD).view(1, 3, 1, 1)
    for size, max_grey, mean_grey in ((32, 1e-3, 1e-4), (64, 8.0, 1.0)):
        hwc = _images(2, size).permute(0, 2, 3, 1).numpy()
        ref = proc(images=list(hwc), return_tensors="pt")["pixel_values"]
        grey = (pre(torch.from_numpy(hwc).permute(0, 3, 1, 2)) - ref).abs() * std * 255  # in grey levels
        assert float(grey.max()) < max_grey and float(grey.mean()) < mean_grey, (size, float(grey.max()))


def test_processor_config_parsing_and_defaults(tmp_path):
    cfg = read_preprocess_config(None, default_size=64)
    assert cfg.size == (64, 64) and cfg.image_mean == (0.485, 0.456, 0.406) and cfg.image_std == (0.229, 0.224, 0.225)
    assert cfg.resample == 3
    (tmp_path / "preprocessor_config.json").write_text(json.dumps({"image_mean": MEAN, "image_std": STD, "resample": 2}))
    cfg = read_preprocess_config(tmp_path, default_size=48)
    assert cfg.size == (48, 48) and cfg.image_mean == tuple(MEAN) and cfg.resample == 2
    with pytest.raises(ValueError, match="B×C×H×W"):
        ImagePreprocessor(cfg)(torch.zeros(3, 8, 8))


# ----------------------------------------------------------------------------- loading
def test_local_pretrained_dir_goes_through_from_pretrained(tmp_path):
    ref, _ = save_local_swin(tmp_path, TINY, mean=MEAN, std=STD)
    assert (tmp_path / "model.safetensors").exists()
    backbone, pre = load_backbone({"pretrained": str(tmp_path), "config": None})
    assert isinstance(backbone, Swinv2Model)
    for (n1, p1), (n2, p2) in zip(ref.state_dict().items(), backbone.state_dict().items()):
        assert n1 == n2
        torch.testing.assert_close(p1, p2)
    assert pre.image_mean == tuple(MEAN) and pre.image_std == tuple(STD) and pre.size == (32, 32)
    # and a whole classifier built from it uses these weights and this preprocessing
    model = build_model("swin_ztf", {"pretrained": str(tmp_path)})
    torch.testing.assert_close(model.backbone.embeddings.patch_embeddings.projection.weight,
                               ref.embeddings.patch_embeddings.projection.weight)
    assert model.preprocess.config.image_std == tuple(STD)
    from transformers.utils import logging as hf_logging

    assert hf_logging.is_progress_bar_enabled()  # silenced while loading only, then restored


def test_missing_pretrained_dir_gives_actionable_error(tmp_path):
    with pytest.raises(OSError, match="swin.pretrained"):
        load_backbone({"pretrained": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match="pretrained"):
        load_backbone({"pretrained": None, "config": None})


def test_random_init_is_seeded():
    torch.manual_seed(3)
    a = build_model("swin_atlas", TINY_SWIN)
    torch.manual_seed(3)
    b = build_model("swin_atlas", TINY_SWIN)
    for pa, pb in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(pa, pb)


# ----------------------------------------------------------------------------- classifiers
def test_registry_covers_paper_rows_3_to_7():
    assert set(MODEL_SPECS) == {"swin_ztf", "swin_atlas", "swin_stacked", "ms_swin_linear", "ms_swin_mlp"}
    assert [MODEL_SPECS[m].paper_row for m in MODEL_SPECS] == ["3", "4", "5", "6", "7"]
    assert isinstance(build_model("swin_stacked", TINY_SWIN), SwinV2Classifier)
    with pytest.raises(KeyError, match="unknown"):
        build_model("swin_foo", TINY_SWIN)


def test_single_classifier_shapes_and_loss():
    torch.manual_seed(0)
    model = build_model("swin_ztf", TINY_SWIN)
    x, y = _images(4), torch.tensor([0, 5, 20, 7])
    out = model(pixel_values=x, labels=y)
    d = model.backbone.config.hidden_size
    assert out.logits.shape == (4, N_CLASSES) and out.embeddings.shape == (4, d) and d == 32
    torch.testing.assert_close(out.loss, F.cross_entropy(out.logits, y))
    assert model(pixel_values=x).loss is None
    assert list(out.keys())[:3] == ["loss", "logits", "embeddings"]


@pytest.mark.parametrize("model_id,kind", [("ms_swin_linear", torch.nn.Linear), ("ms_swin_mlp", torch.nn.Sequential)])
def test_multisurvey_shapes(model_id, kind):
    torch.manual_seed(0)
    model = build_model(model_id, TINY_SWIN, {"mix_head_hidden": 16})
    assert isinstance(model, MultiSurveySwinV2) and isinstance(model.head_mix, kind)
    out = model(pixel_values_ztf=_images(3), pixel_values_atlas=_images(3, seed=1), labels=torch.tensor([1, 2, 3]))
    assert out.logits.shape == (3, N_CLASSES)
    assert out.logits_ztf.shape == (3, N_CLASSES) and out.logits_atlas.shape == (3, N_CLASSES)
    assert out.embeddings.shape == (3, 2 * 32)
    if model_id == "ms_swin_mlp":
        assert model.head_mix[0].out_features == 16 and isinstance(model.head_mix[1], torch.nn.GELU)


def test_multisurvey_loss_is_sum_of_three_cross_entropies():
    torch.manual_seed(0)
    model = build_model("ms_swin_mlp", TINY_SWIN, {"mix_head_hidden": 16}).eval()
    y = torch.tensor([0, 4, 9, 20])
    out = model(pixel_values_ztf=_images(4), pixel_values_atlas=_images(4, seed=1), labels=y)
    expected = F.cross_entropy(out.logits_ztf, y) + F.cross_entropy(out.logits_atlas, y) + F.cross_entropy(out.logits, y)
    torch.testing.assert_close(out.loss, expected)
    # each term is a real cross-entropy (not e.g. the mix term counted three times)
    assert not torch.isclose(out.loss, 3 * F.cross_entropy(out.logits, y))


def test_multisurvey_streams_share_one_backbone_and_both_train_it():
    torch.manual_seed(0)
    model = build_model("ms_swin_linear", TINY_SWIN)
    backbones = [m for m in model.modules() if isinstance(m, Swinv2Model)]
    assert len(backbones) == 1
    xz, xa, y = _images(2), _images(2, seed=1), torch.tensor([3, 8])
    # shared weights: swapping the inputs swaps the two embedding halves exactly
    model.eval()
    e1 = model(pixel_values_ztf=xz, pixel_values_atlas=xa).embeddings
    e2 = model(pixel_values_ztf=xa, pixel_values_atlas=xz).embeddings
    torch.testing.assert_close(e1[:, :32], e2[:, 32:])
    torch.testing.assert_close(e1[:, 32:], e2[:, :32])
    # gradients: the ZTF head's loss and the ATLAS head's loss both reach the same backbone tensors
    params = [p for p in model.backbone.parameters() if p.requires_grad]
    out = model(pixel_values_ztf=xz, pixel_values_atlas=xa, labels=y)
    g_ztf = torch.autograd.grad(out.loss_ztf, params, retain_graph=True, allow_unused=True)
    g_atl = torch.autograd.grad(out.loss_atlas, params, retain_graph=True, allow_unused=True)
    g_all = torch.autograd.grad(out.loss, params, allow_unused=True)
    w = model.backbone.embeddings.patch_embeddings.projection.weight
    i = next(k for k, p in enumerate(params) if p is w)
    assert g_ztf[i].abs().sum() > 0 and g_atl[i].abs().sum() > 0
    assert not torch.allclose(g_ztf[i], g_atl[i])
    # the ATLAS-only gradient comes from the ATLAS images: zeroing that path changes nothing in g_ztf
    out2 = model(pixel_values_ztf=xz, pixel_values_atlas=torch.zeros_like(xa), labels=y)
    g_ztf2 = torch.autograd.grad(out2.loss_ztf, [w])[0]
    torch.testing.assert_close(g_ztf2, g_ztf[i])
    assert g_all[i].abs().sum() > 0


def test_missing_survey_rule():
    torch.manual_seed(0)
    model = build_model("ms_swin_linear", TINY_SWIN).eval()
    xz, xa, y = _images(3), _images(3, seed=1), torch.tensor([1, 2, 3])
    xa[1] = 255  # object 1 has no ATLAS data: the data set gives a blank white image
    assert blank_image_mask(xa).tolist() == [False, True, False]
    out = model(pixel_values_ztf=xz, pixel_values_atlas=xa, labels=y)
    assert torch.all(out.embeddings[1, 32:] == 0) and torch.any(out.embeddings[0, 32:] != 0)
    ce = F.cross_entropy(out.logits_atlas, y, reduction="none")
    torch.testing.assert_close(out.loss_atlas, (ce[0] + ce[2]) / 2)  # masked out of the ATLAS term
    torch.testing.assert_close(out.loss_ztf, F.cross_entropy(out.logits_ztf, y))
    torch.testing.assert_close(out.loss, out.loss_ztf + out.loss_atlas + F.cross_entropy(out.logits, y))
    # the Mix prediction of that object does not depend on its (missing) ATLAS image
    xa2 = xa.clone()
    xa2[1] = 0
    out2 = model(pixel_values_ztf=xz, pixel_values_atlas=xa2, has_atlas=torch.tensor([True, False, True]))
    torch.testing.assert_close(out2.logits[1], out.logits[1])
    # explicit flags override the blank-image rule
    out3 = model(pixel_values_ztf=xz, pixel_values_atlas=xa, labels=y, has_atlas=torch.tensor([True, True, True]))
    torch.testing.assert_close(out3.loss_atlas, ce.mean())


# ----------------------------------------------------------------------------- paper configuration
def test_one_training_step_of_the_paper_configuration(tmp_path):
    """SwinV2-Tiny (window 16, 256×256, random init saved locally) built from the paper
    profile through the same loader, one Adam step at the paper's learning rate, batch of 2."""
    cfg = load_config("paper")
    assert cfg["swin"]["pretrained"] == "microsoft/swinv2-tiny-patch4-window16-256"
    tiny = Swinv2Config(image_size=256, window_size=16)
    assert (tiny.embed_dim, list(tiny.depths), list(tiny.num_heads)) == (96, [2, 2, 6, 2], [3, 6, 12, 24])
    save_local_swin(tmp_path, {"image_size": 256, "window_size": 16})
    swin = dict(cfg["swin"], pretrained=str(tmp_path))
    model = build_model("swin_ztf", swin, cfg["training"])
    assert model.backbone.config.hidden_size == 768 and model.preprocess.config.size == (256, 256)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["training"]["learning_rate"])
    x, y = _images(2, size=cfg["render"]["image_size"]), torch.tensor([0, 12])
    w0 = model.head.weight.detach().clone()
    b0 = model.backbone.embeddings.patch_embeddings.projection.weight.detach().clone()
    out = model(pixel_values=x, labels=y)
    assert out.embeddings.shape == (2, 768) and torch.isfinite(out.loss)
    out.loss.backward()
    opt.step()
    assert not torch.equal(model.head.weight, w0)
    assert not torch.equal(model.backbone.embeddings.patch_embeddings.projection.weight, b0)
