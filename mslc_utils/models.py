"""SwinV2 backbones, their input preprocessing, and the image classifiers of the paper.

One code path serves both profiles:

* ``swin.pretrained`` set (both profiles): ``Swinv2Model.from_pretrained(<hub id or local dir>)``,
  e.g. ``microsoft/swinv2-tiny-patch4-window16-256`` (embed_dim 96, depths [2, 2, 6, 2],
  heads [3, 6, 12, 24], window 16, 256×256 input, 768-d pooled output); a local directory
  with the same files (``config.json``, ``model.safetensors``, ``preprocessor_config.json``)
  goes through exactly the same call.
  The quick profile names ``package:swinv2-quick``: a small SwinV2 (64 px, 2 stages, 96-d)
  pre-trained label-free (masked-image modelling on a disjoint simulation, see
  :mod:`mslc_utils.pretrain`) and shipped in ``mslc_utils/pretrained/`` (:func:`resolve_pretrained`).
* ``swin.pretrained`` null: ``Swinv2Model(Swinv2Config(**swin.config))``, a randomly
  initialised model of the same class.

Input preprocessing reproduces the checkpoint's image processor (``ViTImageProcessor``:
resize to the model's size, rescale by 1/255, normalise by mean/std) with torch ops on
batched tensors *inside* the model, so it runs on the GPU and the data loader only ships
uint8 images. Its settings are read from ``preprocessor_config.json`` when the checkpoint
has one, else the defaults of that checkpoint (ImageNet mean/std, bicubic, model size).

Models (registry :data:`MODEL_SPECS`, ids as in the artifact contract):

* ``swin_ztf``, ``swin_atlas``, ``swin_stacked`` (paper rows 3, 4, 5):
  :class:`SwinV2Classifier` — backbone → pooled embedding → ``Linear``.
* ``ms_swin_linear``, ``ms_swin_mlp`` (rows 6, 7): :class:`MultiSurveySwinV2` — ZTF and
  ATLAS images through ONE shared backbone, a ZTF head, an ATLAS head and a Mix head on the
  concatenated embeddings; loss = CE(ZTF) + CE(ATLAS) + CE(Mix).

Every model follows the protocol of :mod:`mslc_utils.training`: ``model(**batch)`` returns
an output with ``loss`` (when ``labels`` are given), ``logits`` (B×21, the prediction) and
``embeddings`` (B×D).
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn
from transformers import Swinv2Config, Swinv2Model
from transformers.utils import ModelOutput

from .taxonomy import N_CLASSES

log = logging.getLogger(__name__)

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
#: PIL resample codes used in ``preprocessor_config.json`` -> torch interpolate modes.
#: (PIL: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming; torch has no
#: lanczos/box/hamming, so those fall back to bicubic, the closest smooth kernel.)
_RESAMPLE_TO_MODE: dict[int, str] = {0: "nearest", 1: "bicubic", 2: "bilinear", 3: "bicubic", 4: "bicubic", 5: "bicubic"}
PREPROCESSOR_FILE = "preprocessor_config.json"
#: ``swin.pretrained: package:<name>`` -> the checkpoint shipped in ``mslc_utils/pretrained/<name>``
PACKAGE_PREFIX = "package:"


def resolve_pretrained(pretrained: str | Path | None) -> str | None:
    """``swin.pretrained`` as ``from_pretrained`` takes it.

    ``package:<name>`` names a checkpoint shipped inside this package
    (``mslc_utils/pretrained/<name>/``, found in an installed wheel too); anything else (a hub
    id or a local directory) is returned unchanged; ``None`` stays ``None``.
    """
    if pretrained is None or not str(pretrained).startswith(PACKAGE_PREFIX):
        return None if pretrained is None else str(pretrained)
    name = str(pretrained)[len(PACKAGE_PREFIX):]
    path = Path(__file__).resolve().parent / "pretrained" / name
    if not name or "/" in name or ".." in name or not path.is_dir():
        raise FileNotFoundError(
            f"swin.pretrained {pretrained!r}: no packaged checkpoint {path} "
            "(rebuild it with scripts/pretrain_quick_backbone.py)"
        )
    return str(path)


# ----------------------------------------------------------------------------- preprocessing
@dataclass
class PreprocessConfig:
    """The image processor settings that matter for SwinV2 (a ``ViTImageProcessor`` subset).

    Defaults are those of ``microsoft/swinv2-tiny-patch4-window16-256``'s processor
    (ImageNet mean/std, bicubic resampling, 256×256), except that ``size`` is normally set
    to the backbone's ``config.image_size``.
    """

    size: tuple[int, int] = (256, 256)
    resample: int = 3
    do_resize: bool = True
    do_rescale: bool = True
    rescale_factor: float = 1.0 / 255.0
    do_normalize: bool = True
    image_mean: tuple[float, ...] = IMAGENET_MEAN
    image_std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def from_processor_dict(cls, d: Mapping[str, Any], default_size: int | None = None) -> "PreprocessConfig":
        """Build from the JSON dict of a ``preprocessor_config.json`` (missing keys -> defaults)."""
        size = d.get("size")
        if isinstance(size, Mapping):
            if "height" in size and "width" in size:
                hw = (int(size["height"]), int(size["width"]))
            elif "shortest_edge" in size:
                hw = (int(size["shortest_edge"]),) * 2
            else:
                raise ValueError(f"unsupported image processor size {size!r} (need height/width)")
        elif isinstance(size, (int, float)):
            hw = (int(size), int(size))
        elif default_size is not None:
            hw = (int(default_size), int(default_size))
        else:
            hw = cls.size
        out = cls(size=hw)
        for key in ("resample", "do_resize", "do_rescale", "rescale_factor", "do_normalize"):
            if d.get(key) is not None:
                setattr(out, key, type(getattr(out, key))(d[key]))
        for key in ("image_mean", "image_std"):
            v = d.get(key)
            if v is not None:
                out_v = tuple(float(x) for x in (v if isinstance(v, (list, tuple)) else [v] * 3))
                setattr(out, key, out_v)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict (for ``config.json`` of a run)."""
        d = asdict(self)
        d["size"] = list(self.size)
        d["image_mean"] = list(self.image_mean)
        d["image_std"] = list(self.image_std)
        return d


def read_preprocess_config(source: str | Path | None, default_size: int) -> PreprocessConfig:
    """The preprocessing of a checkpoint: its ``preprocessor_config.json`` if any, else defaults.

    Parameters
    ----------
    source
        Hub id or local directory of the checkpoint (``None`` for a randomly initialised model).
    default_size
        The backbone's ``config.image_size``, used when the processor config has no size or
        there is no processor config.
    """
    if source is None:
        return PreprocessConfig(size=(default_size, default_size))
    local = Path(str(source))
    if local.is_dir():
        f = local / PREPROCESSOR_FILE
        if not f.exists():
            log.warning("%s has no %s; using ImageNet mean/std, bicubic, size %d", local, PREPROCESSOR_FILE, default_size)
            return PreprocessConfig(size=(default_size, default_size))
        import json

        with open(f) as fh:
            return PreprocessConfig.from_processor_dict(json.load(fh), default_size)
    # A hub id: the same resolution as AutoImageProcessor (cached download, offline cache).
    from transformers.image_processing_base import ImageProcessingMixin

    try:
        d, _ = ImageProcessingMixin.get_image_processor_dict(str(source))
    except OSError as err:
        log.warning("no image processor config for %s (%s); using defaults", source, err)
        return PreprocessConfig(size=(default_size, default_size))
    return PreprocessConfig.from_processor_dict(d, default_size)


class ImagePreprocessor(nn.Module):
    """Resize + rescale + normalise a batch of images, as the checkpoint's image processor does.

    Input: ``B×3×H×W`` raw pixel values in ``[0, 255]`` (uint8, or float on that scale).
    Output: float32 ``B×3×h×w`` with ``h, w`` = the processor's size.

    Resizing (only when the size differs) uses ``torch.nn.functional.interpolate`` with the
    processor's kernel and ``antialias=True`` (PIL resampling is antialiased) on float
    values; the image processor resizes the uint8 image in PIL and rounds, so the two agree
    to about one grey level. Mean and std are non-persistent buffers: they are part of the
    model's configuration, not of its weights.
    """

    def __init__(self, config: PreprocessConfig):
        super().__init__()
        self.config = config
        mean = torch.tensor(config.image_mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(config.image_std, dtype=torch.float32).view(1, -1, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        if pixel_values.ndim != 4:
            raise ValueError(f"expected a B×C×H×W batch, got shape {tuple(pixel_values.shape)}")
        x = pixel_values.to(torch.float32)
        cfg = self.config
        if cfg.do_resize and tuple(x.shape[-2:]) != tuple(cfg.size):
            mode = _RESAMPLE_TO_MODE.get(int(cfg.resample), "bicubic")
            kwargs: dict[str, Any] = {"mode": mode}
            if mode in ("bilinear", "bicubic"):
                kwargs.update(align_corners=False, antialias=True)
            x = F.interpolate(x, size=tuple(cfg.size), **kwargs)
            if mode == "bicubic":  # bicubic overshoots; PIL clips to the uint8 range
                x = x.clamp(0.0, 255.0)
        if cfg.do_rescale:
            x = x * cfg.rescale_factor
        if cfg.do_normalize:
            x = (x - self.mean) / self.std
        return x


# ----------------------------------------------------------------------------- backbone
def load_backbone(swin: Mapping[str, Any]) -> tuple[Swinv2Model, PreprocessConfig]:
    """The SwinV2 backbone and its preprocessing from a profile's ``swin`` section.

    Parameters
    ----------
    swin
        ``{"pretrained": <hub id | local dir | package:<name> | None>, "config": <Swinv2Config kwargs | None>}``
        (``package:<name>``: a checkpoint shipped in ``mslc_utils/pretrained/``, see
        :func:`resolve_pretrained`).
        With ``pretrained`` the weights are loaded with ``Swinv2Model.from_pretrained``
        (a hub id needs the network or the Hugging Face cache; a local directory with the
        same files works offline); ``config`` then may override config attributes that do
        not change weight shapes (e.g. ``drop_path_rate``). Without it the model is built
        randomly initialised from ``Swinv2Config(**config)`` — seed torch before calling.

    Returns
    -------
    (backbone, preprocess config)
    """
    pretrained = resolve_pretrained(swin.get("pretrained"))
    overrides = dict(swin.get("config") or {})
    if pretrained:
        from transformers.utils import logging as hf_logging

        bar = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # a "Loading weights" bar per fold would bury the notebook's output
        try:
            backbone = Swinv2Model.from_pretrained(str(pretrained), **overrides)
        except OSError as err:
            raise OSError(
                f"cannot load SwinV2 weights from {pretrained!r}: {err}\n"
                "Without network access, download the checkpoint elsewhere "
                "(e.g. `hf download microsoft/swinv2-tiny-patch4-window16-256 --local-dir <dir>`) "
                "and set swin.pretrained in the profile to that directory."
            ) from err
        finally:
            if bar:
                hf_logging.enable_progress_bar()
    else:
        if not overrides:
            raise ValueError("swin section: give either `pretrained` (hub id / local dir) or `config` (Swinv2Config kwargs)")
        backbone = Swinv2Model(Swinv2Config(**overrides))
    pre = read_preprocess_config(pretrained, default_size=int(backbone.config.image_size))
    return backbone, pre


def embedding_dim(backbone: Swinv2Model) -> int:
    """Width of the pooled output (``embed_dim · 2^(stages-1)``; 768 for SwinV2-Tiny)."""
    return int(backbone.config.hidden_size)


# ----------------------------------------------------------------------------- outputs
@dataclass
class ClassifierOutput(ModelOutput):
    """Output of the single-stream classifiers (field order matters for the Trainer:
    ``logits`` comes first after ``loss``)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None


@dataclass
class MultiSurveyOutput(ModelOutput):
    """Output of MS-SwinV2: ``logits`` is the Mix head (the model's prediction);
    ``embeddings`` = ZTF ‖ ATLAS pooled embeddings (a missing survey's half is zeros)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None
    logits_ztf: torch.Tensor | None = None
    logits_atlas: torch.Tensor | None = None
    loss_ztf: torch.Tensor | None = None
    loss_atlas: torch.Tensor | None = None
    loss_mix: torch.Tensor | None = None


# ----------------------------------------------------------------------------- models
class SwinV2Classifier(nn.Module):
    """SwinV2 backbone → pooled embedding (mean over tokens) → ``Linear`` (paper rows 3, 4, 5).

    ``forward(pixel_values, labels=None)``: ``pixel_values`` B×3×H×W raw pixels (uint8 or
    float in [0, 255]); returns :class:`ClassifierOutput` with mean cross-entropy ``loss``.
    """

    def __init__(self, backbone: Swinv2Model, preprocess: PreprocessConfig, num_classes: int = N_CLASSES):
        super().__init__()
        self.preprocess = ImagePreprocessor(preprocess)
        self.backbone = backbone
        self.head = nn.Linear(embedding_dim(backbone), num_classes)

    def embed(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Pooled embedding (B×D) of raw images."""
        return self.backbone(pixel_values=self.preprocess(pixel_values)).pooler_output

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None, **_: Any) -> ClassifierOutput:
        emb = self.embed(pixel_values)
        logits = self.head(emb)
        loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
        return ClassifierOutput(loss=loss, logits=logits, embeddings=emb)


def blank_image_mask(pixel_values: torch.Tensor) -> torch.Tensor:
    """True for images that are entirely white (255): the data set's placeholder for a
    survey without observations."""
    return (pixel_values >= 255).flatten(1).all(dim=1)


def _masked_mean_ce(logits: torch.Tensor, labels: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    # mean cross-entropy over the objects that have this survey; 0 (with a graph) if none has
    per = F.cross_entropy(logits.float(), labels, reduction="none")
    w = present.to(per.dtype)
    return (per * w).sum() / w.sum().clamp_min(1.0)


class MultiSurveySwinV2(nn.Module):
    """MS-SwinV2 (paper rows 6, 7; Figure 2).

    The ZTF and ATLAS images of an object pass through ONE backbone (shared weights; the two
    streams are concatenated along the batch and go through a single call, which equals two
    calls because SwinV2 has no batch-dependent layers). Heads: ZTF ``Linear``, ATLAS
    ``Linear`` on each pooled embedding; Mix on the concatenation ZTF ‖ ATLAS — ``Linear``
    (``mix_head="linear"``, row 6) or ``Linear-GELU-Dropout-Linear`` (``"mlp"``, row 7).
    Loss = CE(ZTF) + CE(ATLAS) + CE(Mix); the prediction (``logits``) is the Mix head.

    **Missing survey rule.** An object without observations in one survey (objects table
    ``has_ztf``/``has_atlas`` False) is kept; its image for that survey is the data set's
    blank white image. Such a stream is detected from the batch keys ``has_ztf``/``has_atlas``
    when present, else as an all-white image (:func:`blank_image_mask`). For it:
    (1) its head's cross-entropy term is masked out (each survey term is the mean over the
    objects that have that survey); (2) its pooled embedding is replaced by zeros before the
    Mix head, so the Mix prediction depends on the present survey only, and the saved
    embedding has zeros in that half. The Mix term always uses every object.
    """

    def __init__(
        self,
        backbone: Swinv2Model,
        preprocess: PreprocessConfig,
        num_classes: int = N_CLASSES,
        mix_head: str = "linear",
        mix_hidden: int = 768,
        mix_dropout: float = 0.1,
    ):
        super().__init__()
        self.preprocess = ImagePreprocessor(preprocess)
        self.backbone = backbone
        d = embedding_dim(backbone)
        self.head_ztf = nn.Linear(d, num_classes)
        self.head_atlas = nn.Linear(d, num_classes)
        if mix_head == "linear":
            self.head_mix: nn.Module = nn.Linear(2 * d, num_classes)
        elif mix_head == "mlp":
            self.head_mix = nn.Sequential(
                nn.Linear(2 * d, int(mix_hidden)), nn.GELU(), nn.Dropout(float(mix_dropout)), nn.Linear(int(mix_hidden), num_classes)
            )
        else:
            raise ValueError(f"mix_head must be 'linear' or 'mlp', got {mix_head!r}")
        self.mix_head_kind = mix_head

    def forward(
        self,
        pixel_values_ztf: torch.Tensor,
        pixel_values_atlas: torch.Tensor,
        labels: torch.Tensor | None = None,
        has_ztf: torch.Tensor | None = None,
        has_atlas: torch.Tensor | None = None,
        **_: Any,
    ) -> MultiSurveyOutput:
        if pixel_values_ztf.shape != pixel_values_atlas.shape:
            raise ValueError(
                f"ZTF and ATLAS images must have the same shape, got {tuple(pixel_values_ztf.shape)} "
                f"and {tuple(pixel_values_atlas.shape)}"
            )
        b = pixel_values_ztf.shape[0]
        present_ztf = (has_ztf.bool() if has_ztf is not None else ~blank_image_mask(pixel_values_ztf)).to(pixel_values_ztf.device)
        present_atlas = (has_atlas.bool() if has_atlas is not None else ~blank_image_mask(pixel_values_atlas)).to(
            pixel_values_ztf.device
        )
        both = torch.cat([pixel_values_ztf, pixel_values_atlas], dim=0)
        emb = self.backbone(pixel_values=self.preprocess(both)).pooler_output
        emb_ztf, emb_atlas = emb[:b], emb[b:]
        logits_ztf = self.head_ztf(emb_ztf)
        logits_atlas = self.head_atlas(emb_atlas)
        # zero the embedding of a missing survey (multiplying keeps one graph for all rows)
        emb_ztf = emb_ztf * present_ztf.to(emb.dtype).unsqueeze(1)
        emb_atlas = emb_atlas * present_atlas.to(emb.dtype).unsqueeze(1)
        cat = torch.cat([emb_ztf, emb_atlas], dim=1)
        logits_mix = self.head_mix(cat)
        loss = loss_ztf = loss_atlas = loss_mix = None
        if labels is not None:
            loss_ztf = _masked_mean_ce(logits_ztf, labels, present_ztf)
            loss_atlas = _masked_mean_ce(logits_atlas, labels, present_atlas)
            loss_mix = F.cross_entropy(logits_mix.float(), labels)
            loss = loss_ztf + loss_atlas + loss_mix
        # (ModelOutput only exposes fields set at construction, so build it last)
        return MultiSurveyOutput(
            loss=loss,
            logits=logits_mix,
            embeddings=cat,
            logits_ztf=logits_ztf,
            logits_atlas=logits_atlas,
            loss_ztf=loss_ztf,
            loss_atlas=loss_atlas,
            loss_mix=loss_mix,
        )


# ----------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class ModelSpec:
    """One image model of the paper: artifact id, paper row, image view, architecture."""

    model_id: str
    paper_row: str
    title: str
    view: str  # "ZTF", "ATLAS", "stacked" (one image) or "multi" (ZTF + ATLAS images)
    kind: str  # "single" -> SwinV2Classifier, "multi" -> MultiSurveySwinV2
    mix_head: str | None = None


MODEL_SPECS: dict[str, ModelSpec] = {
    s.model_id: s
    for s in (
        ModelSpec("swin_ztf", "3", "SwinV2 (ZTF only)", "ZTF", "single"),
        ModelSpec("swin_atlas", "4", "SwinV2 (ATLAS only)", "ATLAS", "single"),
        ModelSpec("swin_stacked", "5", "SwinV2 (stacked input)", "stacked", "single"),
        ModelSpec("ms_swin_linear", "6", "MS-SwinV2-Linear", "multi", "multi", mix_head="linear"),
        ModelSpec("ms_swin_mlp", "7", "MS-SwinV2-MLP", "multi", "multi", mix_head="mlp"),
    )
}
SWIN_MODEL_IDS: tuple[str, ...] = tuple(MODEL_SPECS)


def model_spec(model_id: str) -> ModelSpec:
    """The :class:`ModelSpec` of an image model id (clear error for unknown ids)."""
    if model_id not in MODEL_SPECS:
        raise KeyError(f"unknown SwinV2 model id {model_id!r}; known: {', '.join(MODEL_SPECS)}")
    return MODEL_SPECS[model_id]


def build_model(
    model_id: str,
    swin: Mapping[str, Any],
    training: Mapping[str, Any] | None = None,
    num_classes: int = N_CLASSES,
) -> nn.Module:
    """Build a model of the registry from a profile's ``swin`` and ``training`` sections.

    ``training["mix_head_hidden"]`` (default 768) and ``training["mix_head_dropout"]``
    (default 0.1) size the MLP mix head of ``ms_swin_mlp``. Seed torch first for a
    reproducible random initialisation.
    """
    spec = model_spec(model_id)
    training = dict(training or {})
    backbone, pre = load_backbone(swin)
    if spec.kind == "single":
        return SwinV2Classifier(backbone, pre, num_classes)
    return MultiSurveySwinV2(
        backbone,
        pre,
        num_classes,
        mix_head=spec.mix_head or "linear",
        mix_hidden=int(training.get("mix_head_hidden", 768)),
        mix_dropout=float(training.get("mix_head_dropout", 0.1)),
    )
