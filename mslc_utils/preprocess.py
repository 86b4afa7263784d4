"""The paper's preprocessing (Section 3.1) as a list of named, configurable steps.

Each step removes epochs (or, for object-level steps, a whole light curve) of one object in
one survey, and every removal is counted in a :class:`~mslc_utils.io_canonical.DropLog`
with the step's name and reason. A step is applied only to the surveys it lists; a step whose
column is absent (e.g. ``procstatus`` in a canonical file) is *not applied* and a note says so.

Default steps, in order (:func:`default_steps`):

====================  ======  ===================================================================
name                  survey  keeps
====================  ======  ===================================================================
``ztf_procstatus``    ZTF     ``procstatus == "0"`` (a list such as ``56,57`` or a missing value fails)
``ztf_infobits``      ZTF     ``infobitssci == 0`` — **disabled by default** (paper: only "bad-quality flags")
``atlas_err``         ATLAS   tphot error code ``err == 0`` — **disabled by default** (the project's
                              choice; the paper names only the χ²/N and sky cuts for ATLAS)
``finite_flux``       both    finite ``mjd`` and ``flux``
``positive_flux_err`` both    finite ``flux_err > 0`` (ZTF: "negative flux uncertainties"; ATLAS ``duJy``)
``atlas_chi2``        ATLAS   ``0.5 < chi/N < 3``
``atlas_sky``         ATLAS   sky magnitude ``Sky > 18`` in o and ``> 18.5`` in c
``duplicate_epochs``  both    the first of epochs with the same band and mjd (after the quality cuts)
``alert_window``      ZTF     ``first_alert - 30 d <= mjd <= last_alert`` (alert times from the labels
                              table, else first/last detection at ``|flux|/flux_err >= 5``); its
                              ``surveys`` is THE alert-window setting: the embedded simulator
                              cuts the same surveys (:func:`alert_window_surveys`)
``min_detections``    ZTF     light curves with at least 8 detections (object level)
====================  ======  ===================================================================

Quality steps come first so that an epoch with several problems is attributed to its flag
(e.g. a ``procstatus = 56,57`` row with ``null`` flux counts under ``ztf_procstatus``). The
paper also "filtered spurious events" without saying how: not implemented (add a
:class:`FunctionStep` if you have a rule).
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .io_canonical import DEFAULT_DETECTION_SNR, DropLog, normalize_name
from .schema import SURVEYS


@dataclass
class LightCurveContext:
    """What a step may need besides the light curve: the object, survey and alert times."""

    object_id: str
    survey: str
    first_alert_mjd: float | None = None
    last_alert_mjd: float | None = None
    file: str | None = None


@dataclass
class Step:
    """Base of the preprocessing steps.

    Subclasses set ``name``, ``surveys`` and ``columns`` (raw columns needed), and implement
    :meth:`keep` (a boolean mask of epochs to keep) and :meth:`reason`. Object-level steps
    (``object_level = True``) keep all epochs or none.
    """

    name: str = "step"
    surveys: tuple[str, ...] = SURVEYS
    enabled: bool = True

    object_level: bool = field(default=False, init=False, repr=False)

    def columns(self) -> tuple[str, ...]:
        """Raw columns this step reads (looked up ignoring case and punctuation)."""
        return ()

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        """Boolean mask of the epochs to keep."""
        raise NotImplementedError

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        """Why the epochs not kept were removed (human-readable)."""
        return self.name

    def params(self) -> dict[str, Any]:
        """The step's settings (JSON-able), as written in configs and reports."""
        out = {}
        for f in dataclasses.fields(self):
            if not f.init or f.name == "name":
                continue
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out


def find_column(lc: pd.DataFrame, name: str) -> str | None:
    """The column of ``lc`` that spells ``name`` (ignoring case and punctuation), or ``None``."""
    if name in lc.columns:
        return name
    want = normalize_name(name)
    for c in lc.columns:
        if normalize_name(c) == want:
            return c
    return None


def _num(lc: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(lc[find_column(lc, name)], errors="coerce").to_numpy(float)


@dataclass
class ProcStatusStep(Step):
    """ZTF FPS ``procstatus``: keep epochs whose status is exactly ``0`` (no warnings)."""

    name: str = "ztf_procstatus"
    surveys: tuple[str, ...] = ("ZTF",)
    column: str = "procstatus"
    good: tuple[str, ...] = ("0",)

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        s = lc[find_column(lc, self.column)]
        txt = s.astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
        return (txt.isin(self.good) & s.notna()).to_numpy(bool)

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return f"bad-quality flag: {self.column} not in {list(self.good)} (or missing)"


@dataclass
class InfoBitsStep(Step):
    """ZTF ``infobitssci == 0`` (ALeRCE toolbox); disabled by default."""

    name: str = "ztf_infobits"
    surveys: tuple[str, ...] = ("ZTF",)
    enabled: bool = False
    column: str = "infobitssci"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        return _num(lc, self.column) == 0

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return f"bad-quality flag: {self.column} != 0"


@dataclass
class AtlasErrStep(Step):
    """ATLAS tphot error code: keep ``err == 0`` — the project's choice, **disabled by default**.

    The paper names only the χ²/N and sky cuts for ATLAS (Section 3.1, after Silva-Farfán et
    al. 2024); enable this step (``preprocess.steps.atlas_err: true``) to drop epochs whose
    tphot fit reported an error as well.
    """

    name: str = "atlas_err"
    surveys: tuple[str, ...] = ("ATLAS",)
    enabled: bool = False
    column: str = "err"

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        return _num(lc, self.column) == 0

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return f"tphot error code {self.column} != 0"


@dataclass
class FiniteFluxStep(Step):
    """Drop epochs with a non-finite time or flux (``null`` in the file, failed measurements)."""

    name: str = "finite_flux"

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        return np.isfinite(lc["mjd"].to_numpy(float)) & np.isfinite(lc["flux"].to_numpy(float))

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return "non-finite mjd or flux"


@dataclass
class PositiveFluxErrStep(Step):
    """Drop epochs whose flux uncertainty is non-finite, zero or negative."""

    name: str = "positive_flux_err"

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        e = lc["flux_err"].to_numpy(float)
        return np.isfinite(e) & (e > 0)

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return "flux uncertainty non-finite, zero or negative"


@dataclass
class AtlasChi2Step(Step):
    """ATLAS PSF-fit reduced chi-square: keep ``low < chi/N < high`` (Silva-Farfán et al. 2024)."""

    name: str = "atlas_chi2"
    surveys: tuple[str, ...] = ("ATLAS",)
    column: str = "chi/N"
    low: float = 0.5
    high: float = 3.0

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        x = _num(lc, self.column)
        return (x > self.low) & (x < self.high)

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return f"{self.column} outside ({self.low}, {self.high})"


@dataclass
class AtlasSkyStep(Step):
    """ATLAS sky brightness: keep ``Sky > min_sky[band]`` (mag/arcsec², brighter sky = smaller)."""

    name: str = "atlas_sky"
    surveys: tuple[str, ...] = ("ATLAS",)
    column: str = "Sky"
    min_sky: dict[str, float] = field(default_factory=lambda: {"o": 18.0, "c": 18.5})

    def columns(self) -> tuple[str, ...]:
        return (self.column,)

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        sky = _num(lc, self.column)
        limit = lc["band"].map(self.min_sky).to_numpy(float)  # band without a limit -> NaN -> dropped
        return sky > limit

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        lim = ", ".join(f"{b}: {v}" for b, v in self.min_sky.items())
        return f"sky magnitude {self.column} not above the band's limit ({lim})"


@dataclass
class DuplicateEpochsStep(Step):
    """Keep the first of epochs with the same band and mjd (after the quality cuts)."""

    name: str = "duplicate_epochs"

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        return ~lc.duplicated(["band", "mjd"], keep="first").to_numpy(bool)

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return "duplicated epoch (same band and mjd): first kept"


@dataclass
class AlertWindowStep(Step):
    """Keep epochs from ``days_before`` days before the first alert to ``days_after`` after the last.

    Alert times come from the context (the labels table's ``first_alert_mjd``,
    ``last_alert_mjd``) when both are finite; otherwise from the first and last detection of
    the light curve (``detected``). A light curve without any detection and without alert
    times is left untouched (a note says so; ``min_detections`` then decides).
    """

    name: str = "alert_window"
    surveys: tuple[str, ...] = ("ZTF",)
    days_before: float = 30.0
    days_after: float = 0.0
    use_label_alerts: bool = True

    def _window(self, lc: pd.DataFrame, ctx: LightCurveContext) -> tuple[float, float, str] | None:
        a, b = ctx.first_alert_mjd, ctx.last_alert_mjd
        if self.use_label_alerts and a is not None and b is not None and np.isfinite(a) and np.isfinite(b):
            return float(a), float(b), "alert times from the labels table"
        det = lc["detected"].to_numpy(bool)
        if not det.any():
            return None
        t = lc["mjd"].to_numpy(float)[det]
        return float(np.nanmin(t)), float(np.nanmax(t)), "first/last detection"

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        w = self._window(lc, ctx)
        if w is None:
            return np.ones(len(lc), dtype=bool)
        t = lc["mjd"].to_numpy(float)
        return (t >= w[0] - self.days_before) & (t <= w[1] + self.days_after)

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        w = self._window(lc, ctx)
        src = w[2] if w else "no detection"
        return (f"outside [first alert - {self.days_before:g} d, last alert + {self.days_after:g} d]"
                f": {src}")


@dataclass
class MinDetectionsStep(Step):
    """Drop a light curve with fewer than ``min_detections`` detections (object level)."""

    name: str = "min_detections"
    surveys: tuple[str, ...] = ("ZTF",)
    min_detections: int = 8

    def __post_init__(self) -> None:
        self.object_level = True

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        ok = int(lc["detected"].to_numpy(bool).sum()) >= self.min_detections
        return np.full(len(lc), ok, dtype=bool)

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return (f"fewer than {self.min_detections} detections: "
                f"{int(lc['detected'].to_numpy(bool).sum())}")


@dataclass
class FunctionStep(Step):
    """A user rule: ``func(lc, ctx) -> boolean keep mask``, with a name and a reason."""

    name: str = "custom"
    func: Callable[[pd.DataFrame, LightCurveContext], np.ndarray] | None = None
    why: str = "custom rule"
    needs: tuple[str, ...] = ()

    def columns(self) -> tuple[str, ...]:
        return self.needs

    def keep(self, lc: pd.DataFrame, ctx: LightCurveContext) -> np.ndarray:
        if self.func is None:
            raise ValueError(f"step {self.name!r}: no function given")
        return np.asarray(self.func(lc, ctx), dtype=bool)

    def reason(self, lc: pd.DataFrame, ctx: LightCurveContext) -> str:
        return self.why

    def params(self) -> dict[str, Any]:
        p = super().params()
        p["func"] = getattr(self.func, "__qualname__", repr(self.func))
        return p


#: step name -> class, for configs
STEP_TYPES: dict[str, type[Step]] = {
    cls().name: cls
    for cls in (ProcStatusStep, InfoBitsStep, AtlasErrStep, FiniteFluxStep, PositiveFluxErrStep,
                AtlasChi2Step, AtlasSkyStep, DuplicateEpochsStep, AlertWindowStep, MinDetectionsStep)
}


def default_steps() -> list[Step]:
    """The paper's preprocessing steps, in order (see the module docstring)."""
    return [cls() for cls in STEP_TYPES.values()]


@dataclass
class PreprocessConfig:
    """Steps and the detection threshold; built from a config dict by :meth:`from_dict`."""

    steps: list[Step] = field(default_factory=default_steps)
    detection_snr: float = DEFAULT_DETECTION_SNR

    @classmethod
    def from_dict(cls, cfg: Mapping[str, Any] | None) -> PreprocessConfig:
        """Build from ``{"detection_snr": 5, "steps": {name: {param: value} | bool}}``.

        ``steps`` overrides the default steps by name: ``false``/``true`` disables/enables a
        step, a mapping sets its parameters (``{"atlas_chi2": {"low": 0.5, "high": 3}}``).
        Unknown step names or parameters raise ``ValueError`` listing the valid ones.
        """
        cfg = dict(cfg or {})
        unknown = set(cfg) - {"detection_snr", "steps"}
        if unknown:
            raise ValueError(f"preprocess config: unknown key(s) {sorted(unknown)}; "
                             f"expected 'detection_snr' and 'steps'")
        steps = default_steps()
        by_name = {s.name: s for s in steps}
        for name, over in (cfg.get("steps") or {}).items():
            if name not in by_name:
                raise ValueError(f"preprocess config: unknown step {name!r}; steps: {list(by_name)}")
            step = by_name[name]
            if isinstance(over, bool):
                step.enabled = over
                continue
            if not isinstance(over, Mapping):
                raise ValueError(f"preprocess config: step {name!r} must be true/false or a mapping, got {over!r}")
            valid = {f.name for f in dataclasses.fields(step) if f.init and f.name != "name"}
            for k, v in over.items():
                if k not in valid:
                    raise ValueError(f"preprocess config: step {name!r} has no parameter {k!r}; "
                                     f"parameters: {sorted(valid)}")
                if isinstance(getattr(step, k), tuple):
                    v = tuple(v)
                setattr(step, k, copy.deepcopy(v))
        return cls(steps=steps, detection_snr=float(cfg.get("detection_snr", DEFAULT_DETECTION_SNR)))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (``steps`` as ``{name: params}``, in order)."""
        return {"detection_snr": self.detection_snr,
                "steps": {s.name: s.params() for s in self.steps}}


def apply_steps(
    lc: pd.DataFrame,
    steps: Sequence[Step],
    ctx: LightCurveContext,
    log: DropLog,
) -> pd.DataFrame:
    """Apply ``steps`` to the light curve of ONE object in ONE survey; count every removal in ``log``.

    Epoch removals are recorded with stage ``"cut"``, the step's name and reason; an
    object-level step that removes the light curve records ``objects=1`` with its epochs.
    A light curve left empty (or empty from the start, e.g. only ZTF_i rows) gets an
    ``empty_lightcurve`` record with ``objects=1`` so that every removed light curve is
    counted once. Returns the kept rows.
    """
    started_empty = len(lc) == 0
    removed_object = False
    for step in steps:
        if not step.enabled or ctx.survey not in step.surveys or len(lc) == 0:
            continue
        missing = [c for c in step.columns() if find_column(lc, c) is None]
        if missing:
            log.note("cut", step.name, ctx.survey, ctx.object_id,
                     f"column(s) {missing} absent: rule not applied", file=ctx.file)
            continue
        keep = np.asarray(step.keep(lc, ctx), dtype=bool)
        if keep.shape != (len(lc),):
            raise ValueError(f"step {step.name!r} returned a mask of shape {keep.shape} for {len(lc)} epochs")
        n_out = int((~keep).sum())
        if n_out:
            whole = step.object_level and n_out == len(lc)
            log.add("cut", step.name, ctx.survey, ctx.object_id, epochs=n_out, objects=int(whole),
                    reason=step.reason(lc, ctx), file=ctx.file)
            removed_object = removed_object or whole
            lc = lc[keep]
    if len(lc) == 0 and not removed_object:
        log.add("cut", "empty_lightcurve", ctx.survey, ctx.object_id, epochs=0, objects=1,
                reason=("no epoch in the file (after read-time drops)" if started_empty
                        else "no epoch left after the cuts"), file=ctx.file)
    return lc.reset_index(drop=True)


def apply_cuts(
    lightcurves: pd.DataFrame,
    config: PreprocessConfig | Sequence[Step] | None = None,
    alerts: pd.DataFrame | None = None,
    log: DropLog | None = None,
) -> tuple[pd.DataFrame, DropLog]:
    """Apply the steps to a table of many objects and surveys (grouped by object and survey).

    ``alerts`` (optional) has ``object_id, first_alert_mjd, last_alert_mjd``. Returns the kept
    rows and the log (a new one unless given).
    """
    steps = config.steps if isinstance(config, PreprocessConfig) else list(config or default_steps())
    log = log if log is not None else DropLog()
    times: dict[str, tuple[float | None, float | None]] = {}
    if alerts is not None:
        for r in alerts.itertuples(index=False):
            times[str(r.object_id)] = (getattr(r, "first_alert_mjd", None), getattr(r, "last_alert_mjd", None))
    parts = []
    for (oid, survey), grp in lightcurves.groupby(["object_id", "survey"], sort=False):
        a, b = times.get(str(oid), (None, None))
        parts.append(apply_steps(grp, steps, LightCurveContext(str(oid), str(survey), a, b), log))
    kept = pd.concat(parts, ignore_index=True) if parts else lightcurves.iloc[:0]
    return kept, log


def alert_window_surveys(config: PreprocessConfig | Mapping[str, Any] | None) -> tuple[str, ...]:
    """The surveys cut to the alert window by a profile's ``preprocess`` section.

    One setting for both data paths: real ingestion applies the ``alert_window`` step to
    these surveys, and :mod:`mslc_utils.data` passes them to the simulator. A disabled step
    gives ``()`` (no survey cut).
    """
    cfg = config if isinstance(config, PreprocessConfig) else PreprocessConfig.from_dict(
        {k: v for k, v in dict(config or {}).items() if k in ("detection_snr", "steps")})
    step = steps_by_name(cfg.steps)["alert_window"]
    return tuple(step.surveys) if step.enabled else ()


def atlas_sky_limits(config: PreprocessConfig | Mapping[str, Any] | None) -> dict[str, float] | None:
    """The ATLAS sky cut of a profile's ``preprocess`` section: band -> lowest sky magnitude kept.

    One setting for both data paths, as :func:`alert_window_surveys`: real ingestion applies
    the ``atlas_sky`` step, and :mod:`mslc_utils.data` passes its limits to the simulator
    (whose ATLAS epochs carry a sky brightness). A disabled step gives ``None`` (no cut).
    """
    cfg = config if isinstance(config, PreprocessConfig) else PreprocessConfig.from_dict(
        {k: v for k, v in dict(config or {}).items() if k in ("detection_snr", "steps")})
    step = steps_by_name(cfg.steps)["atlas_sky"]
    return {str(b): float(v) for b, v in step.min_sky.items()} if step.enabled else None


def steps_by_name(steps: Iterable[Step]) -> dict[str, Step]:
    """``{name: step}`` of a step list (names must be unique)."""
    out: dict[str, Step] = {}
    for s in steps:
        if s.name in out:
            raise ValueError(f"duplicated step name {s.name!r}")
        out[s.name] = s
    return out
