"""Classify light curves with a saved classifier bundle: one call, one row per object.

>>> table = classify(["forcedphotometry_req00017007_lc.txt", "job01088.txt"], model="my_bundle")  # doctest: +SKIP

Inputs (any mix, in a list):

* a light-curve **file** of any format :func:`mslc_utils.read_lightcurve` reads (ZTF FPS,
  ATLAS server, ALeRCE, fpbot/BTS, canonical, AB magnitudes); its object id is the file's (an
  id column, fpbot's ``#name=``) or the file name up to the first dot, so ``ztf/SN1.txt`` and
  ``atlas/SN1.txt`` are one object with both surveys;
* a **folder**: a ``DATA_DIR``-like folder (files in it and in its ``ztf/`` and ``atlas/``
  sub-folders; a ``labels.csv`` there adds the known ``label`` to the output, through the
  label aliases), or a folder of canonical tables (``lightcurves.parquet``, as ingestion
  writes in ``DATA_DIR/canonical/`` or ``artifacts/<profile>/data/``);
* a **canonical table** (DataFrame with ``object_id, survey, band, mjd, flux, flux_err``) or a
  :class:`~mslc_utils.schema.Dataset`;
* a mapping ``{object_id: [file, ...]}`` grouping files of one object explicitly.

Raw files go through the preprocessing of the model's profile (the paper's named cuts, plus
the fpbot quality steps for fpbot files), as ingestion does before training; canonical tables
are taken as they are (they are already the model's input). ``cuts=True/False`` overrides.

Output: one row per object with ``object_id``, ``status`` (``classified`` or
``not classified``), ``top_class``, ``top_probability``, ``top_group``, the 21 class
probabilities ``p_<class>``, the 3 group probabilities ``p_<group>`` (sums of their classes),
``surveys`` (present after the cuts), ``n_epochs_ZTF``, ``n_epochs_ATLAS``, ``note`` (why an
object was not classified, or that MS-SwinV2 used its masked path for a missing survey),
``label`` when known. ``df.attrs["drops"]`` lists every epoch removed (read-time and cuts),
with the rule and reason.
"""
from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .io_canonical import CANONICAL_COLUMNS, DropLog, ReadError, read_info
from .schema import SURVEYS
from .taxonomy import CLASS_TO_GROUP, CLASSES, GROUPS, canonical_label

#: file suffixes read from folders (others, e.g. README.md, are ignored)
LIGHTCURVE_SUFFIXES: tuple[str, ...] = (".txt", ".csv", ".parquet", ".dat", ".tsv", ".lc")
#: files of a DATA_DIR that are not light curves
NOT_LIGHTCURVES: frozenset[str] = frozenset({"labels.csv", "labels.parquet", "objects.parquet", "splits.parquet",
                                             "filtering_report.csv", "filtering_log.csv", "readme.txt"})
CLASS_COLUMNS: tuple[str, ...] = tuple(f"p_{c}" for c in CLASSES)
GROUP_COLUMNS: tuple[str, ...] = tuple(f"p_{g}" for g in GROUPS)


@dataclass
class Inputs:
    """Light curves gathered from the inputs (canonical columns), with their provenance."""

    lightcurves: list[pd.DataFrame] = field(default_factory=list)
    raw: list[bool] = field(default_factory=list)  # per table: read from a raw file (cuts apply)
    formats: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)  # file -> reason (on_error="skip")
    object_ids: list[str] = field(default_factory=list)  # every object named, also by an empty file
    log: DropLog = field(default_factory=DropLog)


def _files_of_folder(folder: Path) -> list[Path]:
    out = []
    for sub in (folder, folder / "ztf", folder / "atlas"):
        if sub.is_dir():
            out += sorted(p for p in sub.iterdir() if p.is_file() and p.suffix.lower() in LIGHTCURVE_SUFFIXES
                          and p.name.lower() not in NOT_LIGHTCURVES and not p.name.startswith("."))
    return out


def _labels_of_folder(folder: Path) -> dict[str, str]:
    f = folder / "labels.csv"
    if not f.exists():
        return {}
    t = pd.read_csv(f, dtype=str)
    idc = next((c for c in t.columns if c.lower() in ("object_id", "oid", "objectid", "name")), None)
    lab = next((c for c in t.columns if c.lower() in ("label", "class", "classalerce", "type")), None)
    if idc is None or lab is None:
        return {}
    out = {}
    for oid, label in zip(t[idc], t[lab]):
        if pd.notna(label):
            try:
                out[str(oid)] = canonical_label(str(label))
            except KeyError:
                out[str(oid)] = str(label)  # reported as given: the output is for comparison only
    return out


def _check_table(df: pd.DataFrame, what: str) -> pd.DataFrame:
    missing = [c for c in ("object_id", "survey", "band", "mjd", "flux", "flux_err") if c not in df.columns]
    if missing:
        raise ValueError(f"{what}: missing canonical column(s) {missing}; expected {list(CANONICAL_COLUMNS)}")
    bad = ~df["survey"].isin(SURVEYS)
    if bad.any():
        raise ValueError(f"{what}: unknown survey(s) {sorted(set(df.loc[bad, 'survey']))}; expected {list(SURVEYS)}")
    out = df.copy()
    out["object_id"] = out["object_id"].astype(str)
    return out


def load_inputs(inputs: Any, on_error: str = "raise", progress: bool | None = None) -> Inputs:
    """Read every input (see the module docstring) into canonical light-curve tables.

    ``on_error="raise"`` (default) stops at the first unreadable file with its
    :class:`~mslc_utils.io_canonical.ReadError`; ``"skip"`` records it in
    :attr:`Inputs.unreadable` and goes on.
    """
    from tqdm.auto import tqdm

    from .io import detect_format, read_lightcurve

    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    items = inputs if isinstance(inputs, (list, tuple)) else [inputs]
    acc = Inputs()
    files: list[tuple[Path, str | None]] = []
    for item in items:
        if isinstance(item, pd.DataFrame):
            acc.lightcurves.append(_check_table(item, "input table"))
            acc.raw.append(False)
            acc.formats.append("table")
        elif hasattr(item, "lightcurves") and isinstance(item.lightcurves, pd.DataFrame):
            acc.lightcurves.append(_check_table(item.lightcurves, "input data set"))
            acc.raw.append(False)
            acc.formats.append("table")
            if hasattr(item, "objects") and "label" in item.objects:
                acc.labels.update(dict(zip(item.objects["object_id"].astype(str), item.objects["label"].astype(str))))
        elif isinstance(item, Mapping):
            for oid, paths in item.items():
                for p in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
                    files.append((Path(p), str(oid)))
        elif isinstance(item, (str, os.PathLike)):
            p = Path(item)
            if p.is_dir():
                canon = next((d for d in (p, p / "canonical") if (d / "lightcurves.parquet").exists()), None)
                if canon is not None:
                    lc = pd.read_parquet(canon / "lightcurves.parquet")
                    acc.lightcurves.append(_check_table(lc, str(canon / "lightcurves.parquet")))
                    acc.raw.append(False)
                    acc.formats.append("table")
                    if (canon / "objects.parquet").exists():
                        obj = pd.read_parquet(canon / "objects.parquet")
                        acc.labels.update(dict(zip(obj["object_id"].astype(str), obj["label"].astype(str))))
                    continue
                found = _files_of_folder(p)
                if not found:
                    raise FileNotFoundError(f"{p}: no light-curve file ({', '.join(LIGHTCURVE_SUFFIXES)}) in the "
                                            "folder or its ztf/ and atlas/ sub-folders, and no lightcurves.parquet")
                acc.labels.update(_labels_of_folder(p))
                files += [(f, None) for f in found]
            elif p.is_file():
                files.append((p, None))
            else:
                raise FileNotFoundError(f"{p}: no such file or folder")
        else:
            raise TypeError(f"cannot classify an input of type {type(item).__name__}: give file paths, folders, "
                            "canonical DataFrames or a Dataset")
    show = len(files) >= 20 if progress is None else progress
    for path, oid in tqdm(files, desc="read", unit="file", disable=not show):
        try:
            fmt = detect_format(path)
            lc = read_lightcurve(path, format=fmt, **({"object_id": oid} if oid is not None else {}))
        except (ReadError, ValueError) as err:
            if on_error == "raise":
                raise
            acc.unreadable[str(path)] = str(err)
            continue
        info = read_info(lc)
        # the ReadInfo is taken out now: pandas deep-copies attrs into every derived frame,
        # which made the cuts of a one-object file ~15% slower
        lc.attrs = {}
        acc.log.extend(info.log)
        if info.object_id is not None:
            acc.object_ids.append(str(info.object_id))
        acc.lightcurves.append(lc)
        acc.raw.append(True)
        acc.formats.append(fmt)
    return acc


def _apply_cuts(lc: pd.DataFrame, formats: Sequence[str], model: Any, log: DropLog) -> pd.DataFrame:
    from .io_fpbot import fpbot_steps
    from .preprocess import apply_cuts

    steps = model.cut_config().steps
    if "fpbot" in formats:
        steps = fpbot_steps() + steps
    kept, _ = apply_cuts(lc, steps, log=log)
    return kept


def gather(inputs: Inputs, model: Any, cuts: bool | None = None) -> pd.DataFrame:
    """One canonical table of all inputs: raw files cut (unless ``cuts`` is false), tables as
    they are (unless ``cuts`` is true). Raises ``ValueError`` when one object's survey comes
    from two inputs (several files for one light curve)."""
    parts = []
    for lc, raw, fmt in zip(inputs.lightcurves, inputs.raw, inputs.formats):
        lc = lc[[c for c in lc.columns]]  # keep raw columns for the cuts
        if (raw if cuts is None else cuts) and len(lc):
            lc = _apply_cuts(lc, [fmt], model, inputs.log)
        parts.append(lc[list(CANONICAL_COLUMNS)] if len(lc) else lc.reindex(columns=list(CANONICAL_COLUMNS)))
    if not parts:
        return pd.DataFrame(columns=list(CANONICAL_COLUMNS))
    # which input each (object, survey) came from: two inputs for one light curve is an error
    keys = pd.concat([_light_curves_in(p).assign(_input=i) for i, p in enumerate(parts)])
    twice = keys.duplicated(["object_id", "survey"], keep=False)
    if twice.any():
        oid, survey = keys.loc[twice, ["object_id", "survey"]].iloc[0]
        raise ValueError(f"object {oid!r}: {survey} light curve given twice (two files or tables); "
                         "give one file per object and survey, or distinct object ids")
    return pd.concat(parts, ignore_index=True)


def _light_curves_in(part: pd.DataFrame) -> pd.DataFrame:
    """The distinct (object_id, survey) pairs of a table (one row for a one-object file)."""
    ids, surveys = part["object_id"].unique(), part["survey"].unique()
    if len(ids) <= 1 and len(surveys) <= 1:
        return pd.DataFrame({"object_id": ids[:len(surveys)], "survey": surveys[:len(ids)]})
    return part[["object_id", "survey"]].drop_duplicates()


def _objects_of(inputs: Inputs) -> list[str]:
    """Every object id the inputs named, in input order (also objects left without epochs)."""
    ids: list[str] = list(inputs.object_ids)
    for lc in inputs.lightcurves:
        ids += list(pd.unique(lc["object_id"].astype(str)))
    for r in inputs.log.records:
        if r.object_id is not None:
            ids.append(str(r.object_id))
    return list(dict.fromkeys(ids))


def _epoch_counts(lc: pd.DataFrame) -> dict[str, dict[str, int]]:
    """``{survey: {object_id: epochs}}`` (objects with epochs only). Factorize and bincount:
    a pandas groupby over millions of rows costs more than the rest of the bookkeeping."""
    codes, uniques = pd.factorize(lc["object_id"])
    names = [str(o) for o in uniques]
    out = {}
    for s in SURVEYS:
        rows = (lc["survey"] == s).to_numpy(dtype=bool, na_value=False) & (codes >= 0)
        n = np.bincount(codes[rows], minlength=len(names))
        out[s] = {o: int(k) for o, k in zip(names, n) if k > 0}
    return out


def _why_missing(oid: str, survey: str, log: DropLog) -> str:
    recs = [r for r in log.records if r.object_id == oid and r.survey == survey and r.removed]
    if not recs:
        return f"no {survey} light curve"
    rules = ", ".join(dict.fromkeys(f"{r.rule}: {r.reason}" if r.objects else r.rule for r in recs))
    return f"no {survey} epoch left ({rules})"


def _resolve_model(model: Any):
    from .bundle import Classifier

    if isinstance(model, Classifier):
        return model
    if isinstance(model, (str, os.PathLike)):
        return Classifier.from_pretrained(model)
    raise TypeError("model must be a Classifier or the folder of a saved bundle")


def classify(
    inputs: Any,
    model: Any,
    *,
    cuts: bool | None = None,
    on_error: str = "raise",
    progress: bool | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    n_jobs: int = 1,
    return_images: bool = False,
) -> pd.DataFrame | tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Classify light curves with a :class:`~mslc_utils.bundle.Classifier` (or a bundle folder).

    Parameters
    ----------
    inputs
        Files, folders, canonical tables, a Dataset or ``{object_id: files}`` (module docstring).
    model
        A :class:`~mslc_utils.bundle.Classifier` or the folder of a saved bundle.
    cuts
        Apply the profile's preprocessing: default for raw files only.
    on_error
        ``"raise"``: an unreadable file stops with its ReadError; ``"skip"``: its object gets a
        ``not classified`` row naming the reason.
    progress
        tqdm progress bars (default: for 20 files or more, and for rendering 256 images or more).
    batch_size, device
        Of the forward passes (default: the batch size of the run's evaluation; CPU).
    n_jobs
        Rendering threads.
    return_images
        Also return ``{object_id: uint8 image(s)}`` as the model saw them.

    Returns
    -------
    One row per object (module docstring); the drops in ``df.attrs["drops"]``.
    """
    from .image_dataset import LightCurveImageDataset, render_batch

    clf = _resolve_model(model)
    inp = load_inputs(inputs, on_error=on_error, progress=progress)
    lc = gather(inp, clf, cuts)
    ids = _objects_of(inp)
    counts = _epoch_counts(lc)
    view = clf.view
    rows: list[dict[str, Any]] = []
    todo: list[str] = []
    for oid in ids:
        present = [s for s in SURVEYS if counts[s].get(oid, 0) > 0]
        row: dict[str, Any] = {"object_id": oid, "surveys": "+".join(present),
                               **{f"n_epochs_{s}": int(counts[s].get(oid, 0)) for s in SURVEYS}, "note": ""}
        need = [view] if view in SURVEYS else []
        missing_needed = [s for s in need if s not in present]
        if missing_needed:
            row["note"] = (f"not classified: {clf.model_id} needs {missing_needed[0]} "
                           f"({_why_missing(oid, missing_needed[0], inp.log)})")
        elif not present:
            row["note"] = "not classified: " + "; ".join(_why_missing(oid, s, inp.log) for s in SURVEYS)
        else:
            absent = [s for s in SURVEYS if s not in present]
            if view == "multi" and absent:
                row["note"] = (f"{absent[0]} missing: MS-SwinV2 masked path (blank {absent[0]} image, "
                               f"has_{absent[0].lower()} = False, as in training)")
            elif view == "stacked" and absent:
                row["note"] = f"{absent[0]} missing: stacked image drawn from {present[0]} only"
            todo.append(oid)
        rows.append(row)
    for path, reason in inp.unreadable.items():
        rows.append({"object_id": Path(path).name.split(".")[0], "surveys": "", "note": f"not classified: {reason}",
                     **{f"n_epochs_{s}": 0 for s in SURVEYS}})
    images: dict[str, np.ndarray] = {}
    probs = np.zeros((0, len(CLASSES)), np.float32)
    if todo:
        # only the rows the view draws (a ZTF model never looks at ATLAS epochs)
        rows_used = lc if view not in SURVEYS else lc[lc["survey"] == view]
        # a missing survey is reported per object in `note`; the dataset's own log line (meant
        # for training runs) would only repeat it
        with _quiet_logger("mslc_utils.image_dataset"):
            ds = LightCurveImageDataset(rows_used, todo, None, view=view, settings=clf.render_settings())
        show = len(todo) >= 256 if progress is None else progress
        imgs = render_batch(ds, n_jobs=n_jobs, progress=show)
        if view == "multi":
            arrays = {
                "pixel_values_ztf": np.ascontiguousarray(imgs[:, 0].transpose(0, 3, 1, 2)),
                "pixel_values_atlas": np.ascontiguousarray(imgs[:, 1].transpose(0, 3, 1, 2)),
                "has_ztf": np.asarray(ds.has_ztf, dtype=bool),
                "has_atlas": np.asarray(ds.has_atlas, dtype=bool),
            }
        else:
            arrays = {"pixel_values": np.ascontiguousarray(imgs.transpose(0, 3, 1, 2))}
        probs = clf.predict_arrays(arrays, batch_size=batch_size, device=device)
        if return_images:
            images = {o: imgs[i] for i, o in enumerate(todo)}
    out = pd.DataFrame(rows)
    prob_df = pd.DataFrame(np.full((len(out), len(CLASSES)), np.nan, np.float32), columns=list(CLASS_COLUMNS))
    if todo:
        pos = {o: i for i, o in enumerate(out["object_id"])}
        prob_df.iloc[[pos[o] for o in todo]] = probs
    groups = pd.DataFrame({f"p_{g}": prob_df[[f"p_{c}" for c in CLASSES if CLASS_TO_GROUP[c] == g]].sum(axis=1, min_count=1)
                           for g in GROUPS})
    done = prob_df.notna().all(axis=1).to_numpy()
    top = np.where(done, np.asarray(CLASSES, dtype=object)[np.nan_to_num(prob_df.to_numpy(), nan=-1).argmax(axis=1)], None)
    head = pd.DataFrame({
        "object_id": out["object_id"],
        "status": np.where(done, "classified", "not classified"),
        "top_class": top,
        "top_probability": prob_df.max(axis=1).where(done),
        "top_group": [CLASS_TO_GROUP[t] if t else None for t in top],
    })
    result = pd.concat([head, prob_df, groups, out.drop(columns=["object_id"])], axis=1)
    if inp.labels:
        result["label"] = result["object_id"].map(inp.labels)
    result.attrs["model_id"] = clf.model_id
    result.attrs["folds"] = clf.folds
    result.attrs["drops"] = inp.log.to_records()
    return (result, images) if return_images else result


def write_csv_atomic(table: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``table`` as CSV through a temporary file renamed into place (never half-written)."""
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            table.to_csv(fh, index=False, float_format="%.6g")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def drops_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Epochs and light curves removed, per stage, rule and survey, from ``table.attrs["drops"]``."""
    log = DropLog.from_records(table.attrs.get("drops", []))
    return log.summary() if len(log) else pd.DataFrame(columns=["stage", "rule", "survey", "epochs_removed"])


def figure_predictions(table: pd.DataFrame, images: Mapping[str, np.ndarray], title: str = "", top: int = 5):
    """One row per classified object: its image(s) as the model saw them, and a bar chart of
    its ``top`` most probable classes (coloured by group) with the group probabilities.

    ``table`` and ``images`` are what ``classify(..., return_images=True)`` returns.
    Returns the Matplotlib figure.
    """
    import matplotlib.pyplot as plt

    colors = {"Transient": "#d62728", "Stochastic": "#1f77b4", "Periodic": "#2ca02c"}
    done = table[table["status"] == "classified"].reset_index(drop=True)
    if done.empty:
        raise ValueError("no classified object to show")
    n_img = max(1 if images[o].ndim == 3 else images[o].shape[0] for o in done["object_id"])
    fig, axes = plt.subplots(len(done), n_img + 1, figsize=(2.3 * n_img + 5.2, 2.3 * len(done)), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * n_img + [2.2]})
    for r, row in done.iterrows():
        img = images[row["object_id"]]
        imgs = [img] if img.ndim == 3 else list(img)
        names = ["image"] if img.ndim == 3 else ["ZTF image", "ATLAS image"]
        for j in range(n_img):
            ax = axes[r, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if j < len(imgs):
                ax.imshow(imgs[j])
                ax.set_title(f"{row['object_id']}\n{names[j]}" if j == 0 else names[j], fontsize=8)
            else:
                ax.axis("off")
        p = row[list(CLASS_COLUMNS)].to_numpy(float)
        order = np.argsort(p)[::-1][:top]
        ax = axes[r, n_img]
        ax.barh(range(len(order))[::-1], p[order], color=[colors[CLASS_TO_GROUP[CLASSES[i]]] for i in order])
        ax.set_yticks(range(len(order))[::-1], [CLASSES[i] for i in order], fontsize=8)
        ax.set_xlim(0, 1)
        groups = ", ".join(f"{g} {row[f'p_{g}']:.2f}" for g in GROUPS)
        note = str(row["note"]).split(" (")[0]  # the short form: "ATLAS missing: MS-SwinV2 masked path"
        ax.set_title(f"{groups}\n{note}" if row["note"] else groups, fontsize=7)
        ax.tick_params(axis="x", labelsize=7)
    axes[-1, n_img].set_xlabel("probability (fold ensemble)", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


__all__ = ["figure_predictions", "classify", "load_inputs", "gather", "write_csv_atomic", "drops_summary", "Inputs",
           "CLASS_COLUMNS", "GROUP_COLUMNS"]


@contextlib.contextmanager
def _quiet_logger(name: str, level: int = logging.ERROR):
    """Raise a logger's level for the duration of the block."""
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(before)
