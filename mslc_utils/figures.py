"""Figures about the image representation: Figure 1 and the reference-vs-fast comparison."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .render import VIEW_BANDS, RenderSettings, image_difference, render_image

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
    """Figure 1: model input images; rows ZTF, ATLAS, stacked; one column per object."""
    images = figure1_images(lightcurves, object_ids, settings, views)
    labels = objects.set_index("object_id")["label"]
    fig = Figure(figsize=(2.4 * len(object_ids), 2.5 * len(views)), constrained_layout=True)
    axes = fig.subplots(len(views), len(object_ids), squeeze=False)
    for i, view in enumerate(views):
        for j, oid in enumerate(object_ids):
            ax = axes[i, j]
            ax.imshow(images[i, j], interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(f"{oid}\n({labels.get(oid, '?')})", fontsize=9)
            if j == 0:
                ax.set_ylabel({"stacked": "stacked input"}.get(view, view), fontsize=10)
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
