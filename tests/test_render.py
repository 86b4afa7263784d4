"""The Overlay renderers: shape, invariances, colours, degenerate curves, fast vs reference."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from mslc_utils import render as R
from mslc_utils.render import (
    BAND_COLORS,
    BAND_ORDER,
    VIEW_BANDS,
    RenderSettings,
    image_difference,
    normalise_bands,
    render_arrays,
    render_image,
)

RENDERERS = ("fast", "reference")
MAX_MEAN_ABS_DIFF = 2.0  # grey levels (0..255), issue 4
MAX_FRACTION_OFF_BY_32 = 0.02


# ------------------------------------------------------------------ synthetic light curves
def synthetic_curve(kind: str, rng: np.random.Generator, n: int, bands=("g", "r")) -> dict:
    """Sinusoids, transients and noise with seasonal gaps, ~n epochs over all bands."""
    span = rng.uniform(600, 2000)
    t0 = 58000 + rng.uniform(0, 300)
    t = np.sort(rng.uniform(0, span, size=4 * n))
    season = (t % 365.25) < rng.uniform(180, 260)  # seasonal gaps
    t = t[season][:n] + t0
    out = {}
    for k, b in enumerate(bands):
        tb = t[k :: len(bands)]
        if kind == "sinusoid":
            period = rng.uniform(0.3, 30)
            f = 100 * np.sin(2 * np.pi * tb / period + k) + 20 * k
        elif kind == "transient":
            peak = t0 + span * rng.uniform(0.2, 0.6)
            x = (tb - peak) / rng.uniform(10, 40)
            f = 500 * np.exp(-0.5 * x**2) * (1 + 0.2 * k) + 5
        else:  # noise
            f = rng.normal(0, 30, size=tb.size)
        e = rng.uniform(3, 25, size=tb.size)
        out[b] = (tb, f + rng.normal(0, 1, size=tb.size) * e, e)
    return out


def as_table(band_data: dict, object_id: str = "X1") -> pd.DataFrame:
    rows = []
    for b, (t, f, e) in band_data.items():
        survey = "ZTF" if b in ("g", "r") else "ATLAS"
        rows.append(pd.DataFrame({"object_id": object_id, "survey": survey, "band": b, "mjd": t, "flux": f, "flux_err": e}))
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="module")
def curve() -> dict:
    return synthetic_curve("sinusoid", np.random.default_rng(3), 950)


# ------------------------------------------------------------------ settings and API
def test_settings_defaults_and_digest():
    s = RenderSettings()
    assert (s.image_size, s.dpi, s.marker_size, s.line_width, s.alpha, s.limits) == (256, 100.0, 1.0, 2.0, 0.5, (-0.05, 1.05))
    assert s.figsize_inches == pytest.approx(2.56)
    assert s.digest() == RenderSettings().digest()
    assert s.digest() != RenderSettings(line_width=1.0).digest()
    assert s.digest() != RenderSettings(renderer="reference").digest()
    q = RenderSettings.from_config({"renderer": "fast", "image_size": 64, "marker_size": 1.0, "line_width": 2.0, "cache": True})
    assert q.image_size == 64 and q.renderer == "fast"
    for bad in ({"image_size": 2}, {"alpha": 1.5}, {"renderer": "gpu"}, {"limits": (1.0, 0.0)}, {"line_width": -1}):
        with pytest.raises(ValueError):
            RenderSettings(**bad)


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("size", [256, 64])
def test_shape_and_dtype(curve, renderer, size):
    img = render_arrays(curve, renderer=renderer, settings=RenderSettings(image_size=size))
    assert img.shape == (size, size, 3)
    assert img.dtype == np.uint8
    assert (img < 255).any() and (img == 255).all(axis=-1).any()  # something drawn, white left


def test_render_image_takes_every_band_present_and_selects_bands():
    rng = np.random.default_rng(5)
    data = {**synthetic_curve("sinusoid", rng, 300), **synthetic_curve("noise", rng, 300, bands=("c", "o"))}
    table = as_table(data).sample(frac=1.0, random_state=1)  # row order must not matter
    stacked = render_image(table)
    assert np.array_equal(stacked, render_arrays(data))
    assert np.array_equal(stacked, render_image(table, bands=VIEW_BANDS["stacked"]))
    ztf = render_image(table, bands=["r", "g"])  # order of the argument does not matter
    assert np.array_equal(ztf, render_arrays({b: data[b] for b in "gr"}))
    assert not np.array_equal(ztf, stacked)
    assert np.array_equal(render_image(table, renderer="reference", bands=("c", "o")), render_arrays({b: data[b] for b in "co"}, renderer="reference"))


def test_render_image_errors(curve):
    table = as_table(curve)
    with pytest.raises(ValueError, match="missing column"):
        render_image(table.drop(columns=["flux_err"]))
    two = pd.concat([table, table.assign(object_id="X2")])
    with pytest.raises(ValueError, match="2 objects"):
        render_image(two)
    with pytest.raises(ValueError, match="unknown band"):
        render_image(table, bands=["g", "i"])
    with pytest.raises(ValueError, match="renderer"):
        render_image(table, renderer="gpu")
    bad = dict(curve)
    bad["g"] = (curve["g"][0], np.where(np.arange(curve["g"][1].size) == 3, np.nan, curve["g"][1]), curve["g"][2])
    for renderer in RENDERERS:
        with pytest.raises(ValueError, match="band 'g'.*flux"):
            render_arrays(bad, renderer=renderer)
    neg = {"r": (curve["r"][0], curve["r"][1], -curve["r"][2])}
    with pytest.raises(ValueError, match="band 'r'.*negative"):
        render_arrays(neg)
    with pytest.raises(ValueError, match="one length"):
        render_arrays({"g": (np.arange(3.0), np.arange(4.0), np.ones(3))})


def test_input_arrays_are_not_modified(curve):
    data = {b: tuple(a[::-1].copy() for a in v) for b, v in curve.items()}  # unsorted times
    before = {b: tuple(a.copy() for a in v) for b, v in data.items()}
    img = render_arrays(data)
    for b in data:
        for x, y in zip(data[b], before[b]):
            assert np.array_equal(x, y)
    assert np.array_equal(img, render_arrays(curve))  # sorted internally


# ------------------------------------------------------------------ invariances
def _nearly_equal(a: np.ndarray, b: np.ndarray) -> bool:
    d = np.abs(a.astype(int) - b.astype(int)).max(axis=-1)
    return d.max() <= 1 and (d > 0).mean() <= 0.001


@pytest.mark.parametrize("renderer", RENDERERS)
def test_invariant_to_flux_scale_and_time_shift(curve, renderer):
    base = render_arrays(curve, renderer=renderer)
    scaled = {b: (t, 7.3 * f, 7.3 * e) for b, (t, f, e) in curve.items()}
    shifted = {b: (t + 1234.567, f, e) for b, (t, f, e) in curve.items()}
    both = {b: (t - 5e4, 1e-3 * f, 1e-3 * e) for b, (t, f, e) in curve.items()}
    for other in (scaled, shifted, both):
        assert _nearly_equal(base, render_arrays(other, renderer=renderer))
    # min-max normalisation removes a flux offset too
    offset = {b: (t, f + 1e3, e) for b, (t, f, e) in curve.items()}
    assert _nearly_equal(base, render_arrays(offset, renderer=renderer))
    # while a change of shape is visible
    changed = {b: (t, f**2, e) for b, (t, f, e) in curve.items()}
    assert not _nearly_equal(base, render_arrays(changed, renderer=renderer))


def test_normalisation_is_joint_over_bands():
    data = {"g": (np.array([0.0, 10.0]), np.array([0.0, 1.0]), np.array([0.1, 0.1])),
            "r": (np.array([5.0, 20.0]), np.array([3.0, 4.0]), np.array([0.4, 0.2]))}
    n = normalise_bands(data)
    assert list(n) == ["g", "r"]
    np.testing.assert_allclose(n["g"][0], [0.0, 0.5])
    np.testing.assert_allclose(n["r"][0], [0.25, 1.0])
    np.testing.assert_allclose(n["g"][1], [0.0, 0.25])
    np.testing.assert_allclose(n["r"][1], [0.75, 1.0])
    np.testing.assert_allclose(n["r"][2], [0.1, 0.05])


# ------------------------------------------------------------------ colours
@pytest.mark.parametrize("renderer", RENDERERS)
def test_each_band_colour_where_its_points_are(renderer):
    # four bands, each with three points in its own region of the image
    t = {"g": [0.0, 1.0, 2.0], "r": [10.0, 11.0, 12.0], "c": [20.0, 21.0, 22.0], "o": [30.0, 31.0, 32.0]}
    f = {"g": [0.0, 0.1, 0.0], "r": [3.0, 3.1, 3.0], "c": [6.0, 6.1, 6.0], "o": [9.0, 9.1, 9.0]}
    data = {b: (np.array(t[b]), np.array(f[b]), np.full(3, 0.05)) for b in BAND_ORDER}
    img = render_arrays(data, renderer=renderer)
    n = normalise_bands(data)
    for b in BAND_ORDER:
        want = np.array([int(BAND_COLORS[b][i : i + 2], 16) for i in (1, 3, 5)])
        for tn, fn in zip(n[b][0], n[b][1]):
            col = int(np.floor((tn + 0.05) / 1.1 * 256 + 0.5))
            row = int(np.floor(256 - (fn + 0.05) / 1.1 * 256 + 0.5))
            px = img[row, col].astype(int)
            assert np.argmax(px) == np.argmax(want) and np.argmin(px) == np.argmin(want), (b, px)
            # at least half way from white to the band colour (several 50% layers there) and
            # nothing of another colour: channels at 255 in the band colour stay white
            assert (px <= 255 + (want - 255) * 0.5 + 1).all() and (px[want == 255] == 255).all(), (b, px)


# ------------------------------------------------------------------ degenerate curves
DEGENERATE = {
    "one epoch": {"g": ([58000.0], [10.0], [1.0])},
    "constant flux": {"g": ([1.0, 2.0, 3.0], [5.0, 5.0, 5.0], [1.0, 1.0, 1.0]), "r": ([1.5], [5.0], [2.0])},
    "zero time span": {"g": ([7.0, 7.0, 7.0], [1.0, 2.0, 3.0], [0.1, 0.1, 0.1])},
    "empty band": {"g": ([1.0, 2.0], [1.0, 2.0], [0.1, 0.1]), "r": ([], [], [])},
    "repeated epoch": {"g": ([1.0, 1.0], [2.0, 2.0], [0.1, 0.1])},
    "zero errors": {"g": ([1.0, 2.0, 3.0], [1.0, 3.0, 2.0], [0.0, 0.0, 0.0])},
    "empty": {},
}


@pytest.mark.parametrize("renderer", RENDERERS)
@pytest.mark.parametrize("case", list(DEGENERATE))
def test_degenerate_curves(case, renderer):
    data = {b: tuple(np.asarray(a, dtype=float) for a in v) for b, v in DEGENERATE[case].items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        norm = normalise_bands(data)
        img = render_arrays(data, renderer=renderer)
    for t, f, e in norm.values():
        assert np.isfinite(t).all() and np.isfinite(f).all() and np.isfinite(e).all()
        assert ((t >= 0) & (t <= 1)).all() and ((f >= 0) & (f <= 1)).all()
    assert img.shape == (256, 256, 3) and img.dtype == np.uint8
    drawn = (img < 255).any(axis=-1).sum()
    assert (drawn == 0) if case == "empty" else (drawn > 0)


def test_degenerate_curves_match_reference():
    for case, spec in DEGENERATE.items():
        data = {b: tuple(np.asarray(a, dtype=float) for a in v) for b, v in spec.items()}
        mad, frac = image_difference(render_arrays(data, renderer="reference"), render_arrays(data, renderer="fast"))
        assert mad <= 0.05 and frac == 0.0, case


def test_empty_table_gives_white_image():
    empty = pd.DataFrame({"object_id": [], "band": [], "mjd": [], "flux": [], "flux_err": []})
    for renderer in RENDERERS:
        img = render_image(empty, renderer=renderer, settings=RenderSettings(image_size=32))
        assert img.shape == (32, 32, 3) and (img == 255).all()


# ------------------------------------------------------------------ fast vs reference
def _fidelity_cases() -> list[tuple[str, dict, RenderSettings]]:
    cases = []
    rng = np.random.default_rng(11)
    for k, kind in enumerate(("sinusoid", "transient", "noise", "sinusoid", "transient", "noise")):
        n = int(rng.integers(900, 1500))
        bands = ("g", "r") if k % 2 == 0 else ("c", "o")
        cases.append((f"synthetic {kind} {bands}", synthetic_curve(kind, rng, n, bands), RenderSettings()))
    from mslc_utils.simulate import simulate_dataset

    lc, objects = simulate_dataset(21, seed=7, min_per_class=1)  # one object of every class
    labels = objects.set_index("object_id")["label"]
    for oid, g in lc.groupby("object_id", sort=True):
        for view in ("ZTF", "ATLAS", "stacked"):
            data = R.table_to_band_data(g[g["band"].isin(VIEW_BANDS[view])])
            cases.append((f"{oid} {labels[oid]} {view}", data, RenderSettings()))
    for name, data, _ in cases[6:12]:  # the quick profile's size too
        cases.append((name + " 64px", data, RenderSettings(image_size=64)))
    return cases


def test_fast_matches_reference_on_simulated_curves():
    cases = _fidelity_cases()
    assert len(cases) >= 50
    mads, fracs = [], []
    for name, data, settings in cases:
        ref = render_arrays(data, renderer="reference", settings=settings)
        fast = render_arrays(data, renderer="fast", settings=settings)
        mad, frac = image_difference(ref, fast)
        assert mad <= MAX_MEAN_ABS_DIFF, (name, mad)
        assert frac <= MAX_FRACTION_OFF_BY_32, (name, frac)
        mads.append(mad)
        fracs.append(frac)
    # in practice far inside the bounds; catch a regression long before it reaches them
    assert np.mean(mads) < 0.5 and np.mean(fracs) < 0.002, (np.mean(mads), np.mean(fracs))


def test_fast_renderer_is_deterministic_and_thread_safe(curve):
    from concurrent.futures import ThreadPoolExecutor

    first = render_arrays(curve)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outs = list(pool.map(lambda _: render_arrays(curve), range(8)))
    assert all(np.array_equal(first, o) for o in outs)


def test_image_difference():
    a = np.full((4, 4, 3), 255, np.uint8)
    b = a.copy()
    b[0, 0] = (200, 255, 255)
    mad, frac = image_difference(a, b)
    assert mad == pytest.approx(55 / 48) and frac == pytest.approx(1 / 16)
    with pytest.raises(ValueError):
        image_difference(a, a[:2])


# ---------------------------------------------------------------- stacked layout
def _four_bands() -> dict:
    t = np.linspace(0.0, 50.0, 40)
    return {b: (t + i, np.sin(t / (5.0 + i)) * (i + 1), np.full(t.size, 0.05)) for i, b in enumerate("grco")}


def test_stacked_layout_option_and_validation() -> None:
    from mslc_utils.render import STACKED_LAYOUTS

    assert STACKED_LAYOUTS == ("overlay", "tiled") and RenderSettings().stacked_layout == "overlay"
    with pytest.raises(ValueError, match="stacked_layout"):
        RenderSettings(stacked_layout="mosaic")
    assert RenderSettings.from_config({"stacked_layout": "tiled", "cache": True}).stacked_layout == "tiled"
    # the default keeps the cache key it had before the option existed; tiled gets its own
    assert RenderSettings(image_size=64).digest() != RenderSettings(image_size=64, stacked_layout="tiled").digest()


@pytest.mark.parametrize("renderer", ["fast", "reference"])
def test_tiled_stacked_image_is_four_band_panels(renderer: str) -> None:
    from mslc_utils.render import render_arrays

    s = RenderSettings(image_size=64, stacked_layout="tiled")
    data = _four_bands()
    img = render_arrays(data, None, renderer, s)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    half = RenderSettings(image_size=32)
    for k, b in enumerate("grco"):
        r, c = divmod(k, 2)
        np.testing.assert_array_equal(img[32 * r : 32 * r + 32, 32 * c : 32 * c + 32],
                                      render_arrays({b: data[b]}, None, renderer, half))
    # a missing band leaves its panel white; one survey alone is a plain Overlay image
    no_c = {b: v for b, v in data.items() if b != "c"}
    assert (render_arrays(no_c, None, renderer, s)[32:, :32] == 255).all()
    ztf = {b: data[b] for b in "gr"}
    np.testing.assert_array_equal(render_arrays(ztf, None, renderer, s),
                                  render_arrays(ztf, None, renderer, RenderSettings(image_size=64)))
    # the overlay layout draws all four bands in one picture (differs from the tiles)
    assert not np.array_equal(img, render_arrays(data, None, renderer, RenderSettings(image_size=64)))
