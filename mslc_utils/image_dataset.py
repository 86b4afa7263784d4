"""Light curves rendered to images on the fly: a PyTorch ``Dataset``, batch rendering, a cache.

:class:`LightCurveImageDataset` is built from the canonical light-curve table, a list of
object ids and their labels. The table is grouped **once** at construction into flat NumPy
arrays (time, flux, error sorted by object, band and time, plus an index of slices), so that
``__getitem__`` only slices arrays and renders: no pandas in the loop, and the dataset pickles
cheaply into ``DataLoader`` workers.

Views (which bands an item draws; see :data:`mslc_utils.render.VIEW_BANDS`):

``"ZTF"``      g and r (Model 1 and the ZTF branch of the fusions)
``"ATLAS"``    c and o
``"stacked"``  g, r, c and o in one image, normalised jointly (Model 5)
``"multi"``    the ZTF **and** the ATLAS image of the object (MS-SwinV2, Models 6 and 7)

Items are dicts ready for ``torch.utils.data.default_collate`` / the transformers
``Trainer``: ``{"pixel_values": uint8 tensor 3 x H x W, "labels": int}``, and for
``"multi"`` ``{"pixel_values_ztf", "pixel_values_atlas", "has_ztf", "has_atlas", "labels"}``.
Pixels stay **uint8 in [0, 255]**: rescaling and normalisation with the image processor's
mean and std are done on the batched tensor by the model (``mslc_utils.models``), which
keeps workers cheap and the data loader's memory four times smaller.

An object with no epoch in a view's bands (e.g. no ATLAS light curve) gets a **blank white
image** (and ``has_atlas = False`` in the multi view). Such objects are counted at
construction (:attr:`LightCurveImageDataset.n_missing`, logged); ingestion flags them too.

Labels never come from rendering: :attr:`LightCurveImageDataset.labels` is an int64 array
filled at construction (Table 1 order), so class counts and sampler weights
(:meth:`~LightCurveImageDataset.sample_weights`) cost nothing.

A dataset is built in named steps: :func:`group_lightcurves` (flat arrays,
:class:`GroupedLightCurves`), then the optional on-disk :class:`ImageCache` (``cache_dir``):
one ``.npy`` (H x W x 3 uint8) per object and band set under
``<cache_dir>/<settings digest>/<bands>/``, named by the object id and a hash of the object's
data in those bands, so a change of settings or of the data never returns a stale image.
Writes are atomic (safe with several workers). :func:`fill_cache` renders every missing image
of a dataset in parallel before training, so that epochs only read files.

:func:`render_batch` renders many items in parallel (joblib, a tqdm progress bar) into one
array; the result does not depend on the number of jobs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .render import BAND_ORDER, DEFAULT_SETTINGS, VIEW_BANDS, RenderSettings, render_arrays, warm_up
from .taxonomy import CLASSES, N_CLASSES, label_to_index

log = logging.getLogger(__name__)

VIEWS: tuple[str, ...] = ("ZTF", "ATLAS", "stacked", "multi")
_BAND_INDEX = {b: i for i, b in enumerate(BAND_ORDER)}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _as_label_indices(labels: Sequence[Any], n: int) -> np.ndarray:
    """Class labels (names of Table 1 or integer indices) -> int64 indices."""
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise ValueError(f"labels: expected {n} labels (one per object id), got shape {arr.shape}")
    if arr.dtype.kind in "iu":
        y = arr.astype(np.int64)
    elif arr.dtype.kind in "OUT" or pd.api.types.is_string_dtype(arr.dtype):
        y = np.asarray(label_to_index([str(v) for v in arr]), dtype=np.int64)
    else:
        raise ValueError(f"labels: expected class names or integer indices, got dtype {arr.dtype}")
    if n and (y.min() < 0 or y.max() >= N_CLASSES):
        raise ValueError(f"labels: indices must lie in [0, {N_CLASSES}), got [{y.min()}, {y.max()}]")
    return y


@dataclasses.dataclass(frozen=True)
class GroupedLightCurves:
    """Step 1 of a dataset: the light curves of its objects as flat arrays.

    ``t``, ``f``, ``e`` (time, flux, error) are sorted by (object, band, time);
    ``slices[i, b]`` is the ``[start, end)`` range of object ``i`` in band ``b`` (columns in
    :data:`~mslc_utils.render.BAND_ORDER`). Built once by :func:`group_lightcurves`, so that
    an item only slices arrays: no pandas in the data loader, cheap to pickle into workers.
    """

    t: np.ndarray
    f: np.ndarray
    e: np.ndarray
    slices: np.ndarray  # n_objects x n_bands x 2 (int64)

    @property
    def n_epochs(self) -> np.ndarray:
        """Epochs per object and band (n_objects x n_bands)."""
        return self.slices[..., 1] - self.slices[..., 0]

    def band_data(self, i: int, bands: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Object ``i``'s (time, flux, error) per band that has epochs (views, sorted by time)."""
        out = {}
        for b in bands:
            s, e = self.slices[i, _BAND_INDEX[b]]
            if e > s:
                out[b] = (self.t[s:e], self.f[s:e], self.e[s:e])
        return out


def group_lightcurves(lightcurves: pd.DataFrame, object_ids: Sequence[str]) -> GroupedLightCurves:
    """Group the canonical long table by (object in ``object_ids`` order, band, time); rows of
    other objects are ignored. Raises ``ValueError`` for a missing column or an unknown band."""
    missing = [c for c in ("object_id", "band", "mjd", "flux", "flux_err") if c not in lightcurves.columns]
    if missing:
        raise ValueError(f"lightcurves: missing column(s) {missing}")
    n = len(object_ids)
    # factorize first, then map the few distinct values: comparing millions of strings (or
    # converting them with astype(str)) cost ~1 s per 2 million rows, this ~0.1 s
    codes, uniques = pd.factorize(lightcurves["object_id"], use_na_sentinel=False)
    where = pd.Index(object_ids).get_indexer(pd.Index(uniques).astype(str)).astype(np.int64)
    obj_code = where[codes]  # position of each row's object in object_ids, -1: another object
    keep = obj_code >= 0
    codes, uniques = pd.factorize(lightcurves["band"], use_na_sentinel=False)
    codes = codes[keep]
    names = [str(b) for b in uniques]
    used = np.bincount(codes, minlength=len(names)) > 0
    unknown = sorted({b for b, u in zip(names, used) if u} - set(BAND_ORDER))
    if unknown:
        raise ValueError(f"lightcurves: unknown band(s) {unknown}; known bands are {list(BAND_ORDER)}")
    band_code = np.array([_BAND_INDEX.get(b, -1) for b in names], dtype=np.int64)[codes]
    obj_code = obj_code[keep]
    t = lightcurves["mjd"].to_numpy(dtype=np.float64)[keep]
    f = lightcurves["flux"].to_numpy(dtype=np.float64)[keep]
    e = lightcurves["flux_err"].to_numpy(dtype=np.float64)[keep]
    key = obj_code * len(BAND_ORDER) + band_code
    # sorted by (object, band, time), ties in input order: a stable sort by (object, band) is
    # that order when every (object, band) run is already in time order (as readers write
    # them); otherwise the full three-key sort
    order = np.argsort(key, kind="stable")
    key = key[order]
    t_sorted = t[order]
    same = key[1:] == key[:-1]
    out_of_order = (t_sorted[1:] < t_sorted[:-1]) | np.isnan(t_sorted[1:]) | np.isnan(t_sorted[:-1])
    if np.any(same & out_of_order):
        order = np.lexsort((t, band_code, obj_code))
        key = (obj_code * len(BAND_ORDER) + band_code)[order]
    grid = np.arange(n * len(BAND_ORDER), dtype=np.int64)
    starts = np.searchsorted(key, grid, side="left")
    ends = np.searchsorted(key, grid, side="right")
    return GroupedLightCurves(
        t=np.ascontiguousarray(t[order]),
        f=np.ascontiguousarray(f[order]),
        e=np.ascontiguousarray(e[order]),
        slices=np.stack([starts, ends], axis=-1).reshape(n, len(BAND_ORDER), 2),
    )


class ImageCache:
    """Step 2 of a dataset (optional): rendered images on disk, one ``.npy`` (H x W x 3 uint8)
    per object and band set under ``<root>/<settings digest>/<bands>/``, named by the object id
    and a hash of the object's data in those bands (a change of settings or of the data never
    returns a stale image). Writes are atomic: concurrent workers never see a partial file."""

    def __init__(self, root: str | os.PathLike, settings_digest: str, image_size: int) -> None:
        self.root = Path(root)
        self.settings_digest = settings_digest
        self.image_size = int(image_size)

    def path(self, object_id: str, bands: Sequence[str], data: dict) -> Path:
        """Where the image of ``object_id`` drawn from ``data`` in ``bands`` is cached."""
        h = hashlib.blake2b(digest_size=10)
        for b in bands:
            h.update(b.encode())
            if b in data:
                for a in data[b]:
                    h.update(np.ascontiguousarray(a).tobytes())
            h.update(b"|")
        name = f"{_SAFE.sub('_', object_id)[:80]}-{h.hexdigest()}.npy"
        return self.root / self.settings_digest / "".join(bands) / name

    def load(self, path: Path) -> np.ndarray | None:
        """The cached image, or ``None`` if absent or of the wrong shape/dtype (logged)."""
        if not path.exists():
            return None
        img = np.load(path, allow_pickle=False)
        if img.shape == (self.image_size, self.image_size, 3) and img.dtype == np.uint8:
            return img
        log.warning("%s: unexpected cached array %s %s, re-rendering", path, img.shape, img.dtype)
        return None

    @staticmethod
    def save(path: Path, img: np.ndarray) -> None:
        """Write ``img`` to ``path`` atomically (a temporary file, then ``os.replace``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, img, allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


class LightCurveImageDataset(torch.utils.data.Dataset):
    """Objects' light curves rendered on the fly as Overlay images (see the module docstring).

    Parameters
    ----------
    lightcurves
        Canonical long table (columns ``object_id``, ``band``, ``mjd``, ``flux``, ``flux_err``;
        others ignored). Rows of objects not in ``object_ids`` are ignored.
    object_ids
        The objects, in item order.
    labels
        One per object: class names of Table 1 or integer indices; ``None`` for unlabelled
        data (items then have no ``"labels"``).
    view
        ``"ZTF"``, ``"ATLAS"``, ``"stacked"`` or ``"multi"``.
    settings
        :class:`~mslc_utils.render.RenderSettings` (image size, widths, renderer).
    renderer
        ``"fast"`` or ``"reference"``; default ``settings.renderer``.
    cache_dir
        Directory of the optional on-disk image cache; ``None``: no cache.
    transform
        Optional callable applied to each uint8 C x H x W tensor (e.g. an augmentation).
    """

    def __init__(
        self,
        lightcurves: pd.DataFrame,
        object_ids: Sequence[str],
        labels: Sequence[Any] | None = None,
        *,
        view: str = "ZTF",
        settings: RenderSettings | None = None,
        renderer: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self.view = view
        self.settings = settings or DEFAULT_SETTINGS
        self.renderer = renderer or self.settings.renderer
        if self.renderer not in ("fast", "reference"):
            raise ValueError(f"renderer must be 'fast' or 'reference', got {self.renderer!r}")
        self.transform = transform
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.object_ids: list[str] = [str(o) for o in object_ids]
        if len(set(self.object_ids)) != len(self.object_ids):
            raise ValueError("object_ids: duplicated object id(s)")
        n = len(self.object_ids)
        self.labels: np.ndarray | None = None if labels is None else _as_label_indices(labels, n)
        self.grouped = group_lightcurves(lightcurves, self.object_ids)
        #: epochs per object and band (columns in :data:`~mslc_utils.render.BAND_ORDER`)
        self.n_epochs: np.ndarray = self.grouped.n_epochs
        self.cache: ImageCache | None = None
        if self.cache_dir is not None:
            digest = dataclasses.replace(self.settings, renderer=self.renderer).digest()
            self.cache = ImageCache(self.cache_dir, digest, self.settings.image_size)
        self._log_missing()
        if self.renderer == "fast":
            warm_up(self.settings)  # compile here, not in every DataLoader worker

    # ------------------------------------------------------------------ coverage
    def _band_mask(self, bands: Sequence[str]) -> np.ndarray:
        cols = [_BAND_INDEX[b] for b in bands]
        return self.n_epochs[:, cols].sum(axis=1) > 0

    @property
    def has_ztf(self) -> np.ndarray:
        """Per object: does it have at least one ZTF epoch?"""
        return self._band_mask(VIEW_BANDS["ZTF"])

    @property
    def has_atlas(self) -> np.ndarray:
        """Per object: does it have at least one ATLAS epoch?"""
        return self._band_mask(VIEW_BANDS["ATLAS"])

    @property
    def n_missing(self) -> dict[str, int]:
        """Objects whose image is blank because they have no epoch in that survey's bands."""
        return {"ZTF": int((~self.has_ztf).sum()), "ATLAS": int((~self.has_atlas).sum())}

    def _log_missing(self) -> None:
        needed = {"ZTF": ("ZTF",), "ATLAS": ("ATLAS",), "stacked": ("ZTF", "ATLAS"), "multi": ("ZTF", "ATLAS")}
        miss = self.n_missing
        for survey in needed[self.view]:
            if miss[survey]:
                ids = [o for o, h in zip(self.object_ids, getattr(self, f"has_{survey.lower()}")) if not h][:5]
                log.warning(
                    "%d of %d object(s) have no %s epoch and get a blank %s image (e.g. %s)",
                    miss[survey], len(self), survey, survey, ", ".join(ids),
                )

    # ------------------------------------------------------------------ labels
    def class_counts(self) -> np.ndarray:
        """Objects per class (Table 1 order), from the labels alone."""
        if self.labels is None:
            raise ValueError("this dataset has no labels")
        return np.bincount(self.labels, minlength=N_CLASSES)

    def sample_weights(self) -> np.ndarray:
        """Per-item weights 1 / count[class] for a ``WeightedRandomSampler`` (no rendering)."""
        counts = self.class_counts()
        return 1.0 / counts[self.labels]

    @property
    def class_names(self) -> tuple[str, ...]:
        return CLASSES

    # ------------------------------------------------------------------ rendering
    def band_data(self, i: int, bands: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Object ``i``'s arrays per band (views into the grouped arrays, sorted by time)."""
        return self.grouped.band_data(i, bands)

    def item_bands(self) -> tuple[tuple[str, ...], ...]:
        """The band sets of one item: one, or two for the multi view (ZTF, then ATLAS)."""
        if self.view == "multi":
            return (tuple(VIEW_BANDS["ZTF"]), tuple(VIEW_BANDS["ATLAS"]))
        return (tuple(VIEW_BANDS[self.view]),)

    def _bands(self, bands: Sequence[str] | None) -> Sequence[str]:
        if bands is not None:
            return bands
        if self.view == "multi":
            raise ValueError("the multi view has two images: pass bands=VIEW_BANDS['ZTF'] or ['ATLAS']")
        return VIEW_BANDS[self.view]

    def render(self, i: int, bands: Sequence[str] | None = None) -> np.ndarray:
        """Object ``i``'s image (H x W x 3 uint8) in ``bands`` (default: the view's bands;
        the multi view has no single band set: pass ``VIEW_BANDS['ZTF']`` or ``['ATLAS']``):
        read from the cache when it holds it, else rendered (and cached)."""
        bands = self._bands(bands)
        data = self.band_data(i, bands)
        if self.cache is None:
            return render_arrays(data, None, self.renderer, self.settings)
        path = self.cache.path(self.object_ids[i], bands, data)
        img = self.cache.load(path)
        if img is None:
            img = render_arrays(data, None, self.renderer, self.settings)
            self.cache.save(path, img)
        return img

    def ensure_cached(self, i: int, bands: Sequence[str] | None = None) -> bool:
        """Render object ``i``'s image into the cache unless it is there (not read back);
        True if it was rendered. ``ValueError`` without a cache."""
        if self.cache is None:
            raise ValueError(f"{self!r} has no cache_dir")
        bands = self._bands(bands)
        data = self.band_data(i, bands)
        path = self.cache.path(self.object_ids[i], bands, data)
        if path.exists():
            return False
        self.cache.save(path, render_arrays(data, None, self.renderer, self.settings))
        return True

    def _tensor(self, img: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
        return self.transform(x) if self.transform is not None else x

    # ------------------------------------------------------------------ Dataset API
    def __len__(self) -> int:
        return len(self.object_ids)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} objects")
        i = int(i) % len(self)
        if self.view == "multi":
            ztf, atlas = self.item_bands()
            item: dict[str, Any] = {
                "pixel_values_ztf": self._tensor(self.render(i, ztf)),
                "pixel_values_atlas": self._tensor(self.render(i, atlas)),
                "has_ztf": bool(self.n_epochs[i, :2].sum() > 0),
                "has_atlas": bool(self.n_epochs[i, 2:].sum() > 0),
            }
        else:
            item = {"pixel_values": self._tensor(self.render(i))}
        if self.labels is not None:
            item["labels"] = int(self.labels[i])
        return item

    def __repr__(self) -> str:
        return (
            f"LightCurveImageDataset({len(self)} objects, view={self.view!r}, "
            f"{self.settings.image_size}px, renderer={self.renderer!r}, cache={str(self.cache_dir) if self.cache_dir else None})"
        )

    @classmethod
    def from_tables(
        cls,
        lightcurves: pd.DataFrame,
        objects: pd.DataFrame,
        object_ids: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> "LightCurveImageDataset":
        """Build from the canonical light-curve and object tables (labels from ``objects``).

        ``object_ids`` selects and orders the objects (default: the object table's order).
        """
        lab = objects.set_index("object_id")["label"]
        ids = list(objects["object_id"]) if object_ids is None else [str(o) for o in object_ids]
        absent = [o for o in ids if o not in lab.index]
        if absent:
            raise ValueError(f"object_ids: {len(absent)} id(s) absent from the object table, e.g. {absent[:3]}")
        return cls(lightcurves, ids, lab.loc[ids].to_numpy(), **kwargs)


# ---------------------------------------------------------------------- batch rendering
def _render_chunk(dataset: LightCurveImageDataset, idx: np.ndarray) -> np.ndarray:
    if dataset.view == "multi":
        return np.stack(
            [np.stack([dataset.render(i, VIEW_BANDS["ZTF"]), dataset.render(i, VIEW_BANDS["ATLAS"])]) for i in idx]
        )
    return np.stack([dataset.render(i) for i in idx])


def render_batch(
    dataset: LightCurveImageDataset,
    indices: Sequence[int] | None = None,
    n_jobs: int = 1,
    chunk_size: int = 64,
    progress: bool = True,
) -> np.ndarray:
    """Render many items of ``dataset`` in parallel; returns N x H x W x 3 uint8
    (N x 2 x H x W x 3 for the multi view: ZTF then ATLAS), in the order of ``indices``.

    Uses joblib with ``n_jobs`` workers (``-1``: all CPUs; ``1``: in process) over chunks of
    ``chunk_size`` items, with a tqdm progress bar: threads for the fast renderer (its compiled
    kernel releases the GIL), processes for the reference one (Matplotlib is not thread-safe). Rendering is deterministic, so
    the result is the same whatever ``n_jobs``. With a ``cache_dir`` the cache is filled too.
    """
    idx = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    size = dataset.settings.image_size
    shape = (len(idx), 2, size, size, 3) if dataset.view == "multi" else (len(idx), size, size, 3)
    if len(idx) == 0:
        return np.zeros(shape, np.uint8)
    chunks = [idx[k : k + chunk_size] for k in range(0, len(idx), chunk_size)]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(idx), desc=f"render {dataset.view}", unit="img", disable=not progress)
    out = np.empty(shape, np.uint8)
    pos = 0
    if n_jobs == 1:
        results = (_render_chunk(dataset, c) for c in chunks)
    else:
        from joblib import Parallel, delayed

        # the fast renderer's kernel releases the GIL: threads share the grouped arrays at no
        # cost; Matplotlib (the reference) is not thread-safe: processes
        prefer = "threads" if dataset.renderer == "fast" else "processes"
        results = Parallel(n_jobs=n_jobs, prefer=prefer, return_as="generator")(
            delayed(_render_chunk)(dataset, c) for c in chunks
        )
    try:
        for arr in results:  # in submission order: deterministic placement
            out[pos : pos + len(arr)] = arr
            pos += len(arr)
            bar.update(len(arr))
    finally:
        bar.close()
    return out


def _cache_chunk(dataset: LightCurveImageDataset, idx: np.ndarray) -> int:
    return sum(dataset.ensure_cached(int(i), bands) for i in idx for bands in dataset.item_bands())


def fill_cache(
    dataset: LightCurveImageDataset,
    indices: Sequence[int] | None = None,
    n_jobs: int = -1,
    chunk_size: int = 256,
) -> int:
    """Render every image of ``dataset`` (or of ``indices``) that its on-disk cache lacks, in
    parallel, without keeping them in memory; returns the number rendered (0: the cache was
    complete). Run before training so that no epoch waits for the renderer: the data loader
    then only reads ``.npy`` files. Threads for the fast renderer (its kernel releases the
    GIL), processes for the reference one, as in :func:`render_batch`."""
    if dataset.cache is None:
        raise ValueError(f"{dataset!r} has no cache_dir: nothing to fill")
    idx = np.arange(len(dataset)) if indices is None else np.asarray(indices, dtype=np.int64)
    chunks = [idx[k : k + chunk_size] for k in range(0, len(idx), chunk_size)]
    if n_jobs == 1:
        return int(sum(_cache_chunk(dataset, c) for c in chunks))
    from joblib import Parallel, delayed

    prefer = "threads" if dataset.renderer == "fast" else "processes"
    return int(sum(Parallel(n_jobs=n_jobs, prefer=prefer)(delayed(_cache_chunk)(dataset, c) for c in chunks)))


def render_objects(
    lightcurves: pd.DataFrame,
    object_ids: Sequence[str],
    view: str = "ZTF",
    settings: RenderSettings | None = None,
    n_jobs: int = 1,
    progress: bool = True,
    **kwargs: Any,
) -> np.ndarray:
    """Render the given objects from a canonical table (see :func:`render_batch`)."""
    ds = LightCurveImageDataset(lightcurves, object_ids, None, view=view, settings=settings, **kwargs)
    return render_batch(ds, n_jobs=n_jobs, progress=progress)


def normalize_pixels(
    pixel_values: torch.Tensor,
    mean: Sequence[float] = (0.485, 0.456, 0.406),
    std: Sequence[float] = (0.229, 0.224, 0.225),
) -> torch.Tensor:
    """uint8 B x 3 x H x W (0..255) -> float32 ``(x / 255 - mean) / std`` (ImageNet defaults).

    The models do this themselves from their image processor's configuration; this helper
    is for inspection and tests.
    """
    x = pixel_values.to(torch.float32) / 255.0
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return (x - m) / s
