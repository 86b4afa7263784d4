"""Get the data set of a run: the embedded simulation (cached) or the user's real data."""
from __future__ import annotations

import logging
from pathlib import Path

from .config import RunContext
from .schema import SPLITS_FILE, Dataset, load_dataset, save_dataset
from .splits import make_splits

log = logging.getLogger(__name__)


def _simulated(ctx: RunContext, force: bool = False) -> Dataset:
    from .preprocess import alert_window_surveys, atlas_sky_limits
    from .simulate import simulate_dataset

    data_cfg = ctx.section("data")
    split_cfg = ctx.section("splits")
    cache = ctx.out_dir / "data"
    key = {
        "n_objects": int(data_cfg["n_objects"]),
        "min_per_class": int(data_cfg.get("min_per_class", 10)),
        "seed": ctx.seed,
        "test_fraction": float(split_cfg["test_fraction"]),
        "n_folds": int(split_cfg["n_folds"]),
        # the alert-window rule of real ingestion (preprocess.steps.alert_window.surveys)
        "alert_window_surveys": list(alert_window_surveys(ctx.config.get("preprocess"))),
        # the ATLAS sky cut of real ingestion (preprocess.steps.atlas_sky), applied to the
        # simulated ATLAS epochs' sky brightness
        "atlas_min_sky": atlas_sky_limits(ctx.config.get("preprocess")),
    }
    if not force and (cache / "manifest.json").exists():
        ds = load_dataset(cache)
        if ds.manifest and ds.manifest.get("simulation") == key and ds.splits is not None:
            return ds
        log.info("simulation settings changed; regenerating %s", cache)
    lc, objects = simulate_dataset(
        key["n_objects"], seed=key["seed"], min_per_class=key["min_per_class"],
        alert_window_surveys=tuple(key["alert_window_surveys"]), atlas_min_sky=key["atlas_min_sky"],
    )
    objects = objects.assign(has_ztf=True, has_atlas=True)
    splits = make_splits(objects, seed=key["seed"], test_fraction=key["test_fraction"], n_folds=key["n_folds"])
    ds = Dataset(lc, objects, splits, {"simulation": key})
    save_dataset(ds, cache, source="mslc_utils.simulate")
    return ds


def get_dataset(ctx: RunContext, force: bool = False) -> Dataset:
    """The data set of a run, with splits.

    * ``DATA_DIR`` unset: the embedded simulator at the profile's size, generated once and
      cached in ``OUT_DIR/data`` (regenerated when the settings change or ``force``).
    * ``DATA_DIR`` set: a canonical data set there (``lightcurves.parquet`` ...), or raw
      survey files plus ``labels.csv``, ingested once with the paper's cuts
      (:func:`mslc_utils.ingest.load_or_build`).
    """
    if ctx.data_dir is None:
        return _simulated(ctx, force=force)
    from .ingest import load_or_build  # real-data path

    ds = load_or_build(ctx.data_dir, config=ctx.config, seed=ctx.seed)
    if ds.splits is None:
        split_cfg = ctx.section("splits")
        ds.splits = make_splits(
            ds.objects, seed=ctx.seed, test_fraction=split_cfg["test_fraction"], n_folds=split_cfg["n_folds"]
        )
    return ds


def splits_path(directory: str | Path) -> Path:
    """Where the splits of a canonical data set directory live."""
    return Path(directory) / SPLITS_FILE
