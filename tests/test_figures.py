"""Figure 1 and the renderer comparison."""
from __future__ import annotations

import numpy as np
import pytest

from mslc_utils.figures import compare_renderers, figure1, figure1_images, with_image_size
from mslc_utils.render import RenderSettings

from conftest import make_tables


def test_figure1_grid_rows_are_views() -> None:
    lc, objects = make_tables(30)
    s = with_image_size(RenderSettings(), 64)
    imgs = figure1_images(lc, ["OBJ1", "OBJ2"], s)
    assert imgs.shape == (3, 2, 64, 64, 3) and imgs.dtype == np.uint8
    # the ZTF row has no ATLAS o-band colour (#FF7F00: red > green > blue); ATLAS and stacked do
    def orange(img):
        r, g, b = (img[..., k].astype(int) for k in range(3))
        return int(((r - b > 60) & (g - b > 40)).sum())
    assert orange(imgs[0, 0]) == 0 and orange(imgs[1, 0]) > 0 and orange(imgs[2, 0]) > 0
    fig = figure1(lc, objects, ["OBJ1", "OBJ2"], s)
    assert len(fig.axes) == 6


def test_compare_renderers_columns_and_bounds() -> None:
    lc, _ = make_tables(30)
    table = compare_renderers(lc, ["OBJ1"], with_image_size(RenderSettings(), 64))
    assert list(table["view"]) == ["ZTF", "ATLAS", "stacked"]
    assert (table["mean_abs_diff"] <= 2).all() and (table["frac_pixels_gt_32"] <= 0.02).all()


def test_unknown_object_is_an_error() -> None:
    lc, _ = make_tables(5)
    with pytest.raises(ValueError, match="NOPE"):
        figure1_images(lc, ["NOPE"], RenderSettings())


def test_saved_figures_are_byte_identical_across_runs(tmp_path) -> None:
    import time

    from matplotlib.figure import Figure

    from mslc_utils.figures import save_figure

    fig = Figure(figsize=(2, 2))
    fig.subplots().plot([0, 1], [1, 0])
    first = save_figure(fig, tmp_path / "fig_a")
    time.sleep(1.1)  # a creation date would differ by now
    second = save_figure(fig, tmp_path / "fig_b")
    assert set(first) == {"png", "pdf"} and first["pdf"].name == "fig_a.pdf"
    for fmt in first:
        assert first[fmt].read_bytes() == second[fmt].read_bytes(), fmt
    assert b"CreationDate" not in first["pdf"].read_bytes()


def test_show_and_save_writes_files_and_shows_a_png(tmp_path, monkeypatch) -> None:
    import IPython.display

    from mslc_utils import figures

    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj: shown.append(obj))
    lc, objects = make_tables(20)
    fig = figure1(lc, objects, ["OBJ1", "OBJ2"], with_image_size(RenderSettings(), 32))
    paths = figures.show_and_save(fig, tmp_path / "fig1", ("png", "pdf"), display=True)
    assert paths["png"].is_file() and paths["pdf"].is_file()
    assert len(shown) == 1 and shown[0].data[:8] == b"\x89PNG\r\n\x1a\n"
    assert repr(paths).startswith("saved: <outside the repository>/fig1.")  # never an absolute path
    figures.show_and_save(fig, tmp_path / "fig2", display=False)
    assert len(shown) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["ZTF g", "ZTF r", "ATLAS c", "ATLAS o"]


def test_model_inputs_and_gallery_figures() -> None:
    import pandas as pd

    from mslc_utils import figures

    lc, objects = make_tables(20)
    s = with_image_size(RenderSettings(), 32)
    fig = figures.model_inputs_figure(lc, "OBJ1", "SNIa", s)
    assert len(fig.axes) == 2 * len(figures.MODEL_INPUTS)
    rows = pd.DataFrame({"object_id": ["OBJ1", "OBJ2"], "true": ["SNIa", "AGN"], "predicted": ["SNII", "QSO"],
                         "p_predicted": [0.6, 0.5]})
    g = figures.gallery_figure(lc, rows, s, ncols=2)
    assert len(g.axes) == 4
    with pytest.raises(ValueError, match="no objects"):
        figures.gallery_figure(lc, rows.iloc[:0], s)
