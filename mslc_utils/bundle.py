"""A trained image model as a self-contained classifier bundle (Hugging Face conventions).

``Classifier.from_run("artifacts/quick/ms_swin_linear").save_pretrained("my_classifier")``
writes::

    my_classifier/
        config.json                 model id, paper row, view, the 21 classes and their groups,
                                    render settings, SwinV2 backbone config, image preprocessing,
                                    light-curve preprocessing (cuts), folds and their metrics
        fold_0.safetensors ...      the best weights of every fold (the same tensors as the run's
                                    model.safetensors)
        README.md                   model card written from the run's artifacts

``Classifier.from_pretrained("my_classifier")`` rebuilds every fold's model from
``config.json`` alone (no hub access, no training data) and loads the weights strictly. The
prediction of the bundle is the **fold ensemble**: the mean of the folds' class
probabilities, as the paper averages its folds; ``folds=[k]`` restricts it to one fold
(whose predictions then equal the run's ``predictions_*.parquet`` bit for bit on the CPU).
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import artifacts
from .taxonomy import CLASS_TO_GROUP, CLASSES, GROUPS

BUNDLE_VERSION = 1
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
#: keys of the light-curve preprocessing that PreprocessConfig.from_dict accepts
_CUT_KEYS = ("detection_snr", "steps")


def weights_name(fold: int) -> str:
    """File name of one fold's weights in a bundle."""
    return f"fold_{int(fold)}.safetensors"


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _backbone_config(swin: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Swinv2Config as a dict, image preprocessing dict) of a profile's ``swin`` section,
    without loading (or downloading) any weights."""
    from transformers import Swinv2Config

    from .models import read_preprocess_config, resolve_pretrained

    pretrained = resolve_pretrained(swin.get("pretrained"))  # `package:<name>` -> the shipped folder
    overrides = dict(swin.get("config") or {})
    if pretrained:
        cfg = Swinv2Config.from_pretrained(str(pretrained), **overrides)
    else:
        cfg = Swinv2Config(**overrides)
    pre = read_preprocess_config(pretrained, default_size=int(cfg.image_size))
    d = cfg.to_dict()
    for k in ("transformers_version", "_name_or_path", "architectures"):
        d.pop(k, None)
    return d, pre.to_dict()


def build_from_config(config: Mapping[str, Any]) -> nn.Module:
    """An (untrained) model of a bundle's ``config.json``: the backbone from its config, the
    image preprocessing exactly as stored."""
    from .models import ImagePreprocessor, PreprocessConfig, build_model

    backbone = {k: v for k, v in config["backbone_config"].items() if k != "model_type"}
    model = build_model(config["model_id"], {"pretrained": None, "config": backbone}, config.get("heads", {}))
    p = dict(config["image_preprocessing"])
    pre = PreprocessConfig(
        size=tuple(p["size"]), resample=int(p["resample"]), do_resize=bool(p["do_resize"]),
        do_rescale=bool(p["do_rescale"]), rescale_factor=float(p["rescale_factor"]),
        do_normalize=bool(p["do_normalize"]), image_mean=tuple(p["image_mean"]), image_std=tuple(p["image_std"]),
    )
    model.preprocess = ImagePreprocessor(pre)
    return model


@dataclass
class Classifier:
    """A fold ensemble of one image model of the paper, with everything needed to classify.

    Build it with :meth:`from_run` (a trained model directory) or :meth:`from_pretrained`
    (a saved bundle); classify with :meth:`classify` (see :func:`mslc_utils.classify.classify`).
    """

    config: dict[str, Any]
    models: dict[int, nn.Module] = field(repr=False)
    card: str = ""

    # ------------------------------------------------------------------ properties
    @property
    def model_id(self) -> str:
        return str(self.config["model_id"])

    @property
    def view(self) -> str:
        """``"ZTF"``, ``"ATLAS"``, ``"stacked"`` or ``"multi"`` (MS-SwinV2)."""
        return str(self.config["view"])

    @property
    def folds(self) -> list[int]:
        return sorted(self.models)

    @property
    def eval_batch_size(self) -> int:
        return int(self.config.get("eval_batch_size") or 64)

    def render_settings(self):
        """The :class:`~mslc_utils.render.RenderSettings` the model was trained with."""
        from .render import RenderSettings

        return RenderSettings.from_config(self.config["render"])

    def cut_config(self):
        """The light-curve preprocessing (:class:`mslc_utils.preprocess.PreprocessConfig`)."""
        from .preprocess import PreprocessConfig

        return PreprocessConfig.from_dict({k: v for k, v in (self.config.get("preprocess") or {}).items()
                                           if k in _CUT_KEYS})

    def restrict(self, folds: Sequence[int]) -> "Classifier":
        """The same classifier with the ensemble restricted to ``folds``."""
        missing = [k for k in folds if k not in self.models]
        if missing:
            raise KeyError(f"{self.model_id}: no fold(s) {missing}; the bundle has folds {self.folds}")
        return Classifier(self.config, {k: self.models[k] for k in folds}, self.card)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_run(cls, run_dir: str | os.PathLike, folds: Sequence[int] | None = None) -> "Classifier":
        """Load the trained folds of ``run_dir`` (``artifacts/<profile>/<model_id>``).

        Only complete folds (``COMPLETE`` marker) with saved weights are taken. Raises
        ``FileNotFoundError`` when there is none, ``ValueError`` when the folds were trained
        with different settings.
        """
        from .training import load_weights

        run_dir = Path(run_dir)
        fold_dirs = sorted(run_dir.glob("fold_*"), key=lambda p: int(p.name.split("_")[1]) if p.name[5:].isdigit() else -1)
        fold_dirs = [d for d in fold_dirs if d.name[5:].isdigit() and (d / artifacts.WEIGHTS_FILE).exists()
                     and (d / artifacts.COMPLETE_FILE).exists()]
        if folds is not None:
            fold_dirs = [d for d in fold_dirs if int(d.name[5:]) in set(folds)]
        if not fold_dirs:
            raise FileNotFoundError(
                f"{run_dir}: no complete fold with weights (fold_<k>/model.safetensors and COMPLETE); "
                "train the model first (notebooks 03 and 05) or check the path"
            )
        run_cfgs = {int(d.name[5:]): artifacts.read_json(d / artifacts.CONFIG_FILE) for d in fold_dirs}
        first = next(iter(run_cfgs.values()))
        for k, c in run_cfgs.items():
            same = {key: c.get(key) for key in ("model_id", "swin", "training", "render", "data")}
            if same != {key: first.get(key) for key in same}:
                raise ValueError(f"{run_dir}: fold {k} was trained with other settings than the first fold")
        config = bundle_config(first, {k: artifacts.read_json(d / artifacts.METRICS_FILE)
                                       for k, d in zip(run_cfgs, fold_dirs)})
        models = {}
        for k, d in zip(run_cfgs, fold_dirs):
            m = build_from_config(config)
            load_weights(m, d / artifacts.WEIGHTS_FILE)
            models[k] = m.eval()
        clf = cls(config, models)
        clf.card = model_card(clf, run_dir)
        return clf

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, folds: Sequence[int] | None = None,
                        device: str | None = None) -> "Classifier":
        """Load a bundle written by :meth:`save_pretrained` (all folds, or ``folds``)."""
        import safetensors.torch

        directory = Path(directory)
        cfg_file = directory / CONFIG_NAME
        if not cfg_file.is_file():
            raise FileNotFoundError(f"{directory}: not a classifier bundle (no {CONFIG_NAME}); "
                                    "export one with `mslc export RUN_DIR --out DIR`")
        config = json.loads(cfg_file.read_text())
        if config.get("mslc_bundle_version") != BUNDLE_VERSION:
            raise ValueError(f"{cfg_file}: bundle version {config.get('mslc_bundle_version')!r}, "
                             f"this mslc_utils reads version {BUNDLE_VERSION}")
        wanted = config["folds"] if folds is None else [int(k) for k in folds]
        missing = [k for k in wanted if k not in config["folds"]]
        if missing:
            raise KeyError(f"{directory}: no fold(s) {missing}; the bundle has folds {config['folds']}")
        models = {}
        for k in wanted:
            m = build_from_config(config)
            safetensors.torch.load_model(m, str(directory / weights_name(k)), strict=True)
            models[k] = m.eval().to(device or "cpu")
        card = (directory / CARD_NAME).read_text() if (directory / CARD_NAME).exists() else ""
        return cls(config, models, card)

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        """Write ``config.json``, ``fold_<k>.safetensors`` and ``README.md`` into ``directory``.

        Every file is written to a temporary name and renamed, so an interrupted export
        never leaves a half-written file under the final name.
        """
        import safetensors.torch

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for k, m in self.models.items():
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{weights_name(k)}.", suffix=".tmp")
            os.close(fd)
            safetensors.torch.save_model(m, tmp, metadata={"format": "pt", "model_id": self.model_id, "fold": str(k)})
            os.replace(tmp, directory / weights_name(k))
        cfg = {**self.config, "folds": self.folds}
        _atomic_write_text(directory / CARD_NAME, self.card or model_card(self, None))
        _atomic_write_text(directory / CONFIG_NAME, json.dumps(cfg, indent=2, sort_keys=False) + "\n")
        return directory

    # ------------------------------------------------------------------ prediction
    @torch.no_grad()
    def predict_arrays(self, arrays: Mapping[str, np.ndarray], batch_size: int | None = None,
                       device: str | None = None) -> np.ndarray:
        """Fold-ensemble class probabilities (float32, N×21) of rendered images.

        ``arrays``: ``{"pixel_values": uint8 N×3×H×W}`` (single-image views) or
        ``{"pixel_values_ztf", "pixel_values_atlas", "has_ztf", "has_atlas"}`` (``multi``).
        Each fold's model runs as :func:`mslc_utils.training.predict` does after training
        (same batches, same softmax); the folds' probabilities are averaged.
        """
        from .training import ArrayDataset, predict

        n = len(next(iter(arrays.values())))
        ds = ArrayDataset(arrays, np.zeros(n, dtype=np.int64))
        total = None
        for k in self.folds:
            p = predict(self.models[k], ds, batch_size=batch_size or self.eval_batch_size, device=device or "cpu",
                        bf16=False).probs
            total = p.astype(np.float64) if total is None else total + p
        if total is None:
            raise ValueError("the classifier has no fold")
        return (total / len(self.folds)).astype(np.float32) if len(self.folds) > 1 else total.astype(np.float32)

    def classify(self, inputs: Any, **kwargs: Any):
        """Classify light curves (see :func:`mslc_utils.classify.classify`)."""
        from .classify import classify

        return classify(inputs, model=self, **kwargs)


def bundle_config(run_config: Mapping[str, Any], metrics: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """The bundle's ``config.json`` from a fold's resolved run config and the folds' metrics."""
    from .config import load_config
    from .models import model_spec

    spec = model_spec(str(run_config["model_id"]))
    training = dict(run_config.get("training") or {})
    backbone, pre = _backbone_config(run_config["swin"])
    profile = run_config.get("profile")
    try:  # the light-curve cuts of the profile (used when classifying raw files)
        cuts = dict(load_config(profile).get("preprocess") or {}) if profile else {}
    except (FileNotFoundError, ValueError, KeyError):
        cuts = {}
    return {
        "mslc_bundle_version": BUNDLE_VERSION,
        "library": "mslc_utils",
        "model_id": spec.model_id,
        "paper_row": spec.paper_row,
        "title": spec.title,
        "view": spec.view,
        "kind": spec.kind,
        "classes": list(CLASSES),
        "class_groups": {c: CLASS_TO_GROUP[c] for c in CLASSES},
        "groups": list(GROUPS),
        "render": dict(run_config.get("render") or {}),
        "backbone_config": backbone,
        "image_preprocessing": pre,
        "heads": {k: training[k] for k in ("mix_head_hidden", "mix_head_dropout") if k in training},
        "eval_batch_size": int(training.get("eval_batch_size") or training.get("batch_size") or 64),
        "preprocess": {k: v for k, v in cuts.items() if k in _CUT_KEYS},
        "profile": profile,
        "seed": run_config.get("seed"),
        "data_fingerprint": run_config.get("data"),
        "source_pretrained": (run_config.get("swin") or {}).get("pretrained"),
        "folds": sorted(int(k) for k in metrics),
        "fold_metrics": {str(k): {m: metrics[k].get(m) for m in ("val_macro_f1", "test_macro_f1", "best_epoch",
                                                                  "epochs_run")} for k in sorted(metrics)},
    }


# ---------------------------------------------------------------------- model card
def _find_table2(run_dir: Path, profile: str | None) -> Path | None:
    from .config import repo_root

    # OUT_DIR/figures (an OUT_DIR outside the repository), else figures/<profile>/ of the
    # repository when the run is the repository's own artifacts/<profile>/<model_id>
    candidates = [run_dir.parent / "figures" / "table2.csv"]
    if profile and run_dir.resolve().parent == (repo_root() / "artifacts" / str(profile)).resolve():
        candidates.append(repo_root() / "figures" / str(profile) / "table2.csv")
    return next((p for p in candidates if p.exists()), None)


def _table2_row(run_dir: Path | None, config: Mapping[str, Any]) -> str | None:
    if run_dir is None:
        return None
    path = _find_table2(run_dir, config.get("profile"))
    if path is None:
        return None
    import pandas as pd

    t = pd.read_csv(path)
    key = next((c for c in t.columns if c.lower() in ("model", "row", "paper_row", "#")), t.columns[0])
    rows = t[t[key].astype(str).str.strip().str.startswith(str(config["paper_row"]))]
    if rows.empty:
        rows = t[t.apply(lambda r: config["title"] in " ".join(map(str, r.values)), axis=1)]
    if rows.empty:
        return None
    tests = [m.get("test_macro_f1") for m in config.get("fold_metrics", {}).values()]
    if "f1_mean" in rows.columns and tests and all(t is not None for t in tests):
        # the table must describe THIS run's folds (a table of another run would mislead)
        if abs(float(rows["f1_mean"].iloc[0]) - 100 * float(np.mean(tests))) > 0.05:
            return (f"`{path}` holds another run's Table 2 (its mean test macro-F1 "
                    f"{float(rows['f1_mean'].iloc[0]):.2f} differs from this run's {100 * float(np.mean(tests)):.2f}); "
                    "rerun notebook 06 for this run's row.")
    cells = [list(map(str, rows.columns))] + [[str(v) for v in r] for r in rows.itertuples(index=False)]
    table = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])] + ["| " + " | ".join(r) + " |" for r in cells[1:]]
    return f"From `{path.name}` of the run:\n\n" + "\n".join(table)


def _data_summary(run_dir: Path | None) -> str:
    if run_dir is None:
        return "not recorded"
    manifest = run_dir.parent / "data" / "manifest.json"
    if not manifest.exists():
        return "the run's data manifest was not found next to the run directory"
    m = json.loads(manifest.read_text())
    keys = [k for k in ("source", "n_objects", "n_epochs", "created_by") if k in m]
    return ", ".join(f"{k}: {m[k]}" for k in keys) or "see manifest.json"


def model_card(clf: Classifier, run_dir: Path | None) -> str:
    """The bundle's ``README.md``: what the model is, its data, scores, limits and intended use."""
    c = clf.config
    lines = [
        "---",
        "library_name: mslc_utils",
        "tags: [astronomy, light-curves, image-classification, swinv2, ztf, atlas]",
        "pipeline_tag: image-classification",
        "---",
        f"# {c['title']} (`{c['model_id']}`, paper row {c['paper_row']})",
        "",
        "Classifies multi-band forced-photometry light curves of ZTF (g, r) and ATLAS (c, o) into the 21 "
        "classes of *Image-Based Multi-Survey Classification of Light Curves with a Pre-Trained Vision "
        "Transformer* (Table 1), by drawing each light curve as an Overlay image and classifying it with "
        "a SwinV2 vision Transformer. Exported with `mslc export` from the run directory "
        f"`{run_dir}`." if run_dir is not None else "",
        "",
        "## Use",
        "",
        "```bash",
        "mslc classify my_lightcurves/ --model THIS_DIR --out predictions.csv",
        "```",
        "```python",
        "from mslc_utils import Classifier",
        "clf = Classifier.from_pretrained('THIS_DIR')",
        "table = clf.classify(['forcedphotometry_req00017007_lc.txt', 'job01088.txt'])",
        "```",
        "",
        "## Model",
        "",
        f"- view: **{c['view']}** ({_VIEW_TEXT.get(c['view'], c['view'])})",
        f"- backbone: SwinV2, {c['backbone_config'].get('image_size')} px, embed_dim "
        f"{c['backbone_config'].get('embed_dim')}, depths {c['backbone_config'].get('depths')}; "
        f"initialised from `{c.get('source_pretrained') or 'random weights'}`",
        f"- images: {c['render'].get('image_size')} px, renderer `{c['render'].get('renderer', 'fast')}`",
        f"- prediction: mean of the class probabilities of {len(c['folds'])} fold model(s) (folds {c['folds']})",
        "",
        "## Training data",
        "",
        f"- profile `{c.get('profile')}`, seed {c.get('seed')}; data: {_data_summary(run_dir)}",
        f"- data fingerprint `{c.get('data_fingerprint')}`",
        "",
        "## Scores (macro-F1 per fold)",
        "",
        "| fold | validation | test | best epoch |",
        "|---|---|---|---|",
    ]
    for k, m in c.get("fold_metrics", {}).items():
        v, t = m.get("val_macro_f1"), m.get("test_macro_f1")
        lines.append(f"| {k} | {v:.3f} | {t:.3f} | {m.get('best_epoch')} |" if v is not None and t is not None
                     else f"| {k} | {v} | {t} | {m.get('best_epoch')} |")
    row = _table2_row(run_dir, c)
    lines += ["", "## Table 2 row", "", row or "Table 2 was not found next to the run (run notebook 06).", ""]
    sim = c.get("profile") == "quick" or "simul" in _data_summary(run_dir).lower()
    lines += [
        "## Limitations",
        "",
        "- Trained on **simulated** light curves (the quick profile): its scores say that the pipeline works, "
        "not how it performs on real objects." if sim else
        "- Scores are those of the run's own test objects; objects unlike the training set (other surveys, "
        "depths, cadences, redshifts) are out of distribution.",
        "- Input must be forced-photometry difference fluxes in µJy (ZTF g/r, ATLAS c/o). Magnitude light curves "
        "are converted to positive total fluxes, which differ from difference fluxes for variable sources.",
        "- Probabilities are the model's softmax outputs averaged over folds; they are not calibrated.",
        "- An object without the survey this model needs is not classified (the output says why); the "
        "MS-SwinV2 models classify an object with one survey through the masked path they were trained with.",
        "",
        "## Intended use",
        "",
        "Research: ranking and triage of light curves into the 21 classes, and reproduction of the paper. "
        "Not for decisions without human vetting of the light curves.",
        "",
    ]
    return "\n".join(lines)


_VIEW_TEXT = {
    "ZTF": "one image of the ZTF g and r light curves",
    "ATLAS": "one image of the ATLAS c and o light curves",
    "stacked": "one image of g, r, c and o normalised jointly",
    "multi": "a ZTF and an ATLAS image through a shared backbone, mixed by a head (MS-SwinV2)",
}


def export(run_dir: str | os.PathLike, out_dir: str | os.PathLike) -> Path:
    """Export the trained model in ``run_dir`` as a bundle in ``out_dir`` (see :class:`Classifier`)."""
    return Classifier.from_run(run_dir).save_pretrained(out_dir)
