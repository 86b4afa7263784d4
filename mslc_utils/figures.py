"""Figures about the image representation: Figure 1 and the reference-vs-fast comparison."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .render import BAND_COLORS, VIEW_BANDS, RenderSettings, image_difference, render_image

#: rows of Figure 1, as in the paper: ZTF (g, r), ATLAS (c, o), stacked (all four bands)
FIGURE1_VIEWS: tuple[str, ...] = ("ZTF", "ATLAS", "stacked")
#: classes of the paper's Figure 1 columns (ZTF18aajpcoq, ZTF21abfnfdw, ZTF18aampkkf)
FIGURE1_CLASSES: tuple[str, ...] = ("Blazar", "SNIa", "AGN")


def save_figure(fig, stem: str | Path, formats: Sequence[str] = ("png", "pdf"), dpi: int = 150) -> dict[str, Path]:
    """Save ``fig`` as ``<stem>.<format>`` for each format; returns the paths by format.

    The files are byte-identical from run to run: PDFs get no creation date (Matplotlib
    writes the current time otherwise), so a rerun does not change the committed figures.
    """
    stem = Path(stem)
    paths = {}
    for fmt in formats:
        path = stem.with_name(f"{stem.name}.{fmt}")
        metadata = {"CreationDate": None} if fmt == "pdf" else None
        fig.savefig(path, dpi=dpi, metadata=metadata)
        paths[fmt] = path
    return paths


def _in_ipython_kernel() -> bool:
    """True inside a Jupyter kernel (papermill, JupyterLab, nbval), where figures are shown."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with the notebooks extra
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def figure_png(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for inline display; deterministic for a given figure)."""
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class SavedFigure(dict):
    """Paths of a saved figure by format; shown in a notebook as the files' paths relative to
    the repository (never the machine's absolute paths)."""

    def __repr__(self) -> str:
        from .report import relpath

        return "saved: " + ", ".join(relpath(p) for p in self.values())

    def _repr_pretty_(self, printer, cycle) -> None:  # IPython's display of a cell's value
        printer.text(repr(self))


def show_and_save(
    fig,
    path_stem: str | Path,
    formats: Sequence[str] = ("png",),
    dpi: int = 150,
    inline_dpi: int = 90,
    display: bool | None = None,
) -> SavedFigure:
    """Save ``fig`` with :func:`save_figure` and show it inline as a PNG output.

    The one way every notebook shows a figure: the files in ``figures/<profile>/`` are
    byte-identical across runs, and the notebook stores an ``image/png`` output (a
    :class:`matplotlib.figure.Figure` built outside pyplot has no inline display of its own,
    only the text ``<Figure size ...>``). The inline copy uses ``inline_dpi`` so that the
    committed notebooks stay small. ``display=None`` shows only inside a Jupyter kernel.
    A pyplot figure is closed afterwards, so it is not displayed a second time.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = SavedFigure(save_figure(fig, stem, formats, dpi=dpi))
    if display is None:
        display = _in_ipython_kernel()
    if display:
        from IPython.display import Image
        from IPython.display import display as ipy_display

        ipy_display(Image(data=figure_png(fig, dpi=inline_dpi), format="png"))
    import matplotlib.pyplot as plt

    if plt.fignum_exists(getattr(fig, "number", -1)):
        plt.close(fig)
    return paths


def _object_table(lightcurves: pd.DataFrame, object_id: str) -> pd.DataFrame:
    table = lightcurves[lightcurves["object_id"] == object_id]
    if table.empty:
        raise ValueError(f"object {object_id!r} has no light curve in the table")
    return table


def figure1_images(
    lightcurves: pd.DataFrame,
    object_ids: Sequence[str],
    settings: RenderSettings,
    views: Sequence[str] = FIGURE1_VIEWS,
) -> np.ndarray:
    """Images of Figure 1 as an array ``(len(views), len(object_ids), H, W, 3)`` (uint8)."""
    out = []
    for view in views:
        row = [render_image(_object_table(lightcurves, oid), bands=VIEW_BANDS[view], settings=settings)
               for oid in object_ids]
        out.append(np.stack(row))
    return np.stack(out)


def figure1(
    lightcurves: pd.DataFrame,
    objects: pd.DataFrame,
    object_ids: Sequence[str],
    settings: RenderSettings,
    views: Sequence[str] = FIGURE1_VIEWS,
) -> Figure:
    """Figure 1: model input images; rows ZTF, ATLAS, stacked; one column per object.

    Column titles give the class and object id; each row is labelled with its survey and
    bands; a key below the images names the band colours (the images have no axes, so the
    colours are the only way to tell the bands apart).
    """
    from matplotlib.lines import Line2D

    images = figure1_images(lightcurves, object_ids, settings, views)
    labels = objects.set_index("object_id")["label"]
    fig = Figure(figsize=(2.3 * len(object_ids) + 0.6, 2.3 * len(views) + 0.7), constrained_layout=True)
    axes = fig.subplots(len(views), len(object_ids), squeeze=False)
    for i, view in enumerate(views):
        for j, oid in enumerate(object_ids):
            ax = axes[i, j]
            ax.imshow(images[i, j], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{labels.get(oid, '?')}\n{oid}", fontsize=9)
            if j == 0:
                bands = ", ".join(VIEW_BANDS[view])
                ax.set_ylabel(f"{view}\n({bands})", fontsize=9)
    handles = [Line2D([], [], color=BAND_COLORS[b], lw=3, label=f"{name} {b}")
               for name, bands in (("ZTF", ("g", "r")), ("ATLAS", ("c", "o"))) for b in bands]
    fig.legend(handles=handles, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    return fig


def compare_renderers(
    lightcurves: pd.DataFrame,
    object_ids: Sequence[str],
    settings: RenderSettings,
    views: Sequence[str] = FIGURE1_VIEWS,
    threshold: int = 32,
) -> pd.DataFrame:
    """Reference (Matplotlib) vs fast renderer for every object and view.

    Returns one row per image with ``mean_abs_diff`` (0–255 scale) and
    ``frac_pixels_gt_<threshold>`` (fraction of pixels differing by more than ``threshold``
    in any channel), the two fidelity numbers of the rendering issue.
    """
    rows = []
    for oid in object_ids:
        table = _object_table(lightcurves, oid)
        for view in views:
            bands = VIEW_BANDS[view]
            ref = render_image(table, bands=bands, renderer="reference", settings=settings)
            fast = render_image(table, bands=bands, renderer="fast", settings=settings)
            mad, frac = image_difference(ref, fast, threshold=threshold)
            rows.append({"object_id": oid, "view": view, "mean_abs_diff": mad,
                         f"frac_pixels_gt_{threshold}": frac})
    return pd.DataFrame(rows)


def difference_figure(lightcurves: pd.DataFrame, object_id: str, settings: RenderSettings, view: str = "ZTF") -> Figure:
    """Reference image, fast image and their absolute difference (amplified x8) side by side."""
    table = _object_table(lightcurves, object_id)
    bands = VIEW_BANDS[view]
    ref = render_image(table, bands=bands, renderer="reference", settings=settings)
    fast = render_image(table, bands=bands, renderer="fast", settings=settings)
    diff = np.abs(ref.astype(np.int16) - fast.astype(np.int16)).max(axis=2)
    fig = Figure(figsize=(9, 3.2), constrained_layout=True)
    axes = fig.subplots(1, 3)
    for ax, img, title in zip(axes, (ref, fast), ("reference (Matplotlib)", "fast (numba)")):
        ax.imshow(img, interpolation="nearest")
        ax.set_title(title, fontsize=9)
    im = axes[2].imshow(np.minimum(diff * 8, 255), cmap="magma", vmin=0, vmax=255, interpolation="nearest")
    axes[2].set_title(f"|difference| x 8 (max {int(diff.max())})", fontsize=9)
    fig.colorbar(im, ax=axes[2], shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def with_image_size(settings: RenderSettings, image_size: int) -> RenderSettings:
    """The same settings at another image size (Figure 1 is always drawn at 256 px)."""
    return dataclasses.replace(settings, image_size=image_size)


#: the model inputs of the paper, as (row title, survey of the light curve panel or None for
#: both, view of the image): Models 3, 4, 5 and the two inputs of MS-SwinV2 (Models 6, 7)
MODEL_INPUTS: tuple[tuple[str, str | None, str], ...] = (
    ("Model 3 — SwinV2 (ZTF only)", "ZTF", "ZTF"),
    ("Model 4 — SwinV2 (ATLAS only)", "ATLAS", "ATLAS"),
    ("Model 5 — SwinV2 (stacked input)", None, "stacked"),
    ("Models 6, 7 — MS-SwinV2, ZTF stream", "ZTF", "ZTF"),
    ("Models 6, 7 — MS-SwinV2, ATLAS stream", "ATLAS", "ATLAS"),
)


def model_inputs_figure(lightcurves: pd.DataFrame, object_id: str, label: str, settings: RenderSettings) -> Figure:
    """One object's light curve (left, days since first epoch, µJy) beside the Overlay image
    each model sees (right), one row per model input of :data:`MODEL_INPUTS`. The two
    MS-SwinV2 streams receive the same images as Models 3 and 4, but through one shared
    backbone trained on both at once."""
    table = _object_table(lightcurves, object_id)
    t0 = float(table["mjd"].min())
    fig = Figure(figsize=(8.5, 2.0 * len(MODEL_INPUTS)), constrained_layout=True)
    axes = fig.subplots(len(MODEL_INPUTS), 2, width_ratios=[2.6, 1], squeeze=False)
    for (title, survey, view), (ax_lc, ax_img) in zip(MODEL_INPUTS, axes):
        bands = VIEW_BANDS[view]
        for band in bands:
            sel = table[table["band"] == band]
            ax_lc.errorbar(sel["mjd"] - t0, sel["flux"], yerr=sel["flux_err"], fmt="o", ms=1.2, lw=0.3,
                           color=BAND_COLORS[band], alpha=0.5, label=band)
        ax_lc.set_title(title, fontsize=9, loc="left")
        ax_lc.set_ylabel("flux [µJy]", fontsize=8)
        ax_lc.tick_params(labelsize=7)
        ax_lc.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0), markerscale=3, frameon=False)
        ax_img.imshow(render_image(table, bands=bands, settings=settings), interpolation="nearest")
        ax_img.set_xticks([])
        ax_img.set_yticks([])
        ax_img.set_title(f"image ({', '.join(bands)})", fontsize=8)
    axes[0, 0].sharex(axes[1, 0])
    for ax in axes[1:, 0]:
        ax.sharex(axes[0, 0])
    axes[-1, 0].set_xlabel(f"days since first epoch ({object_id}, {label})", fontsize=8)
    return fig


def gallery_figure(
    lightcurves: pd.DataFrame,
    rows: pd.DataFrame,
    settings: RenderSettings,
    views: Sequence[str] = ("ZTF", "ATLAS"),
    ncols: int = 4,
) -> Figure:
    """A gallery of objects (``rows`` with ``object_id``, ``true``, ``predicted`` and
    ``p_predicted``): the images of ``views`` side by side per object, titled with the true
    and the predicted class."""
    n = len(rows)
    if n == 0:
        raise ValueError("no objects to show")
    nrows = int(np.ceil(n / ncols))
    fig = Figure(figsize=(2.3 * ncols * len(views) / 1.6, 2.0 * nrows + 0.3), constrained_layout=True)
    subfigs = np.atleast_1d(fig.subfigures(nrows, ncols, squeeze=False).ravel())
    for sf, r in zip(subfigs, rows.itertuples(index=False)):
        table = _object_table(lightcurves, r.object_id)
        axes = np.atleast_1d(sf.subplots(1, len(views)))
        for ax, view in zip(axes, views):
            ax.imshow(render_image(table, bands=VIEW_BANDS[view], settings=settings), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_xlabel(view, fontsize=7)
        sf.suptitle(f"{r.object_id}\ntrue {r.true} → predicted {r.predicted} ({100 * r.p_predicted:.0f}%)",
                    fontsize=8)
    for sf in subfigs[n:]:
        sf.set_visible(False)
    return fig
