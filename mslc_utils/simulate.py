"""The embedded data set: simulated ZTF + ATLAS forced-photometry light curves of 21 classes.

For every object a *latent* astrophysical light curve is drawn from a class model (µJy, AB
zero point 23.9 mag, defined at any time and wavelength), and the same object is then
observed by both surveys:

* **ZTF** in ``g`` and ``r`` (MJD 58200-60300, nominal 5σ depth 20.5 mag),
* **ATLAS** in ``c`` and ``o`` (MJD 57300-60400, nominal 5σ depth 19.5 mag, so noisier for
  the same source; a third of its error bars too small by 10%; reference-template changes at
  MJD 58417 and 58882 step the difference flux a little).

Each survey has its own night-by-night schedule: the object is observable during a season
set by the Sun's right ascension (ZTF ~9 months a year, ATLAS ~7.5; longer near the pole,
shorter in the south), bad-weather runs of several nights, a per-object field richness
(overlapping fields are visited more often), several exposures on some nights (band drawn
per exposure; ATLAS every second night until 2022, then nightly from its southern units at
other longitudes) and a per-epoch limiting magnitude (seeing, Moon, clouds). The survey
parameters were tuned so that :func:`mslc_utils.stats.cadence_statistics` of the default
simulation is near the paper's numbers (1,000 objects, seed 0: ZTF median cadence 0.92 d vs
1.13, std 6.9 d vs 6.5, median length 866 vs 952; ATLAS 1.08 d vs 1.52, 10.6 d vs 11.03,
1411 vs 1493). Noise, same-night repeats, outliers and transient brightness and durations
are calibrated on the real forced-photometry files in ``shared/fixtures/`` (ZTF FPS: median
flux error 4.3 µJy, ~2.2 exposures per observed night; ATLAS: 16 µJy) within what the
paper's cadence statistics allow; each parameter's comment names its source, and
``docs/quick-profile.md`` tabulates real vs simulated values.

Fluxes are *difference* fluxes: the flux of a reference image (the median of the latent
curve at random epochs, per band and, for ATLAS, per template era) is subtracted, so
variable stars oscillate around ~0 and may be negative; transients have no reference flux (the host is subtracted). Errors follow a
sky + source + calibration noise model (:func:`flux_error`) in which a source at the depth
has SNR = 5 exactly. A few epochs are outliers (bad subtractions, cosmic rays).

ATLAS epochs also get a sky brightness, derived from their depth (a shallow ATLAS epoch is a
bright-sky one, :meth:`SurveyModel.sky_mag`), and the paper's sky cut removes those with a
sky brighter than 18 mag/arcsec² in o or 18.5 in c (:data:`ATLAS_MIN_SKY`), as real ingestion
does: without it a few epochs 3-5 mag shallower than the rest, with error bars 10-100 times the
median, set the min-max scale of many ATLAS images. (ZTF keeps its shallow epochs: the paper
names no depth or sky cut for ZTF.)

Selection as in the paper's preprocessing: an epoch is a detection when
``|flux| / flux_err >= 5`` (the ``detected`` column); transient light curves of the
surveys in ``alert_window_surveys`` (default ZTF only, the same setting as real ingestion,
see :data:`ALERT_WINDOW_SURVEYS`) are cut to the window from 30 d before the first ZTF
detection to the last ZTF detection; an object needs at least 8 ZTF detections (ZTF defines the sample) and at least
one ATLAS epoch (whatever its detections). An object that fails is **not dropped but
redrawn**: the same per-object generator ``np.random.default_rng([seed, 1, index])`` draws
a new object of the same class (new position, parameters and schedule) until it passes, so
the class counts come out exactly as requested and every object is reproducible on its own
(independent of generation order; parallel generation would give the same table).
Redraws are counted and logged.

Entry point: :func:`simulate_dataset`. Everything is plain NumPy, vectorised per object.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.signal import lfilter

from .taxonomy import CLASS_TO_GROUP, CLASSES, N_CLASSES, PAPER_COUNTS

log = logging.getLogger(__name__)

AB_ZERO_POINT_MAG = 23.9
DETECTION_SNR = 5.0
MIN_ZTF_DETECTIONS = 8
PRE_DETECTION_WINDOW_D = 30.0
#: Surveys cut to the alert window. The paper states the window in its ZTF paragraph only
#: ("selected forced photometry observations from up to 30 days before the first alert
#: through to the last alert"); ATLAS fluxes were queried at the ZTF positions. This default
#: equals the ``surveys`` of the ``alert_window`` step of :mod:`mslc_utils.preprocess`, and
#: :mod:`mslc_utils.data` passes the profile's value of that step to the simulator, so
#: simulated and real data are cut alike (one setting: ``preprocess.steps.alert_window.surveys``).
ALERT_WINDOW_SURVEYS: tuple[str, ...] = ("ZTF",)
#: The paper's ATLAS sky cut (Section 3.1, after Silva-Farfán et al. 2024): keep epochs with a
#: sky fainter than 18 mag/arcsec² in o and 18.5 in c. The simulator gives every ATLAS epoch a
#: sky brightness (:meth:`SurveyModel.sky_mag`) and applies this cut, with the limits of the
#: ``atlas_sky`` step of :mod:`mslc_utils.preprocess` (passed by :mod:`mslc_utils.data`; the
#: same setting as real ingestion; ``None`` when the step is disabled: no cut).
ATLAS_MIN_SKY: dict[str, float] = {"o": 18.0, "c": 18.5}
#: effective wavelengths (nm) used to give every band its own colour
BAND_WAVELENGTH_NM: dict[str, float] = {"g": 480.0, "r": 640.0, "c": 533.0, "o": 679.0}
_LAM_REF = BAND_WAVELENGTH_NM["r"]  # latent models are normalised in r
_HC_OVER_K_NM_K = 1.438777e7  # h c / k_B in nm K
_SUN_RA_EPOCH_MJD = 51623.8  # vernal equinox 2000 (Sun at RA 0)
_N_REFERENCE_EPOCHS = 21  # epochs stacked into one reference image
_DEFAULT_MAX_ATTEMPTS = 300

# ICRS -> Galactic rotation matrix (Hipparcos); its transpose maps Galactic -> ICRS.
_ICRS_TO_GAL = np.array(
    [
        [-0.0548755604, -0.8734370902, -0.4838350155],
        [0.4941094279, -0.4448296300, 0.7469822445],
        [-0.8676661490, -0.1980763734, 0.4559837762],
    ]
)


# --------------------------------------------------------------------------------------
# photometry helpers
# --------------------------------------------------------------------------------------
def mag_to_flux(mag: np.ndarray | float) -> np.ndarray:
    """AB magnitude -> flux density in µJy (zero point 23.9 mag)."""
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - AB_ZERO_POINT_MAG))


def flux_to_mag(flux: np.ndarray | float) -> np.ndarray:
    """Flux density in µJy -> AB magnitude (non-positive fluxes give ``nan``)."""
    f = np.asarray(flux, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(f > 0, AB_ZERO_POINT_MAG - 2.5 * np.log10(np.where(f > 0, f, 1.0)), np.nan)


def flux_error(
    total_flux: np.ndarray | float,
    depth_mag: np.ndarray | float,
    *,
    source_noise_coeff: float = 0.0,
    calibration_floor: float = 0.0,
) -> np.ndarray:
    """1σ error (µJy) of a forced-photometry measurement: sky + source + calibration.

    ``σ² = σ_sky² + k·F + (c·F)²`` where ``F`` is the *total* flux at the position (a
    variable star's reference flux and a transient's host add photon noise even when the
    difference flux is ~0), ``k`` is ``source_noise_coeff`` (µJy) and ``c`` the fractional
    ``calibration_floor``. ``σ_sky`` is solved from the 5σ depth so that a source of
    magnitude ``depth_mag`` has SNR = 5 exactly.
    """
    f = np.clip(np.asarray(total_flux, dtype=float), 0.0, None)
    f_lim = mag_to_flux(depth_mag)
    sky_var = (f_lim / DETECTION_SNR) ** 2 - source_noise_coeff * f_lim - (calibration_floor * f_lim) ** 2
    sky_var = np.maximum(sky_var, 1e-6 * f_lim**2)
    return np.sqrt(sky_var + source_noise_coeff * f + (calibration_floor * f) ** 2)


def _bb_ratio(lam_nm: np.ndarray, temp_k: np.ndarray | float) -> np.ndarray:
    """f_ν of a blackbody at ``lam_nm`` relative to its value in r (colour of temperature T)."""
    x = _HC_OVER_K_NM_K / (lam_nm * temp_k)
    x_ref = _HC_OVER_K_NM_K / (_LAM_REF * temp_k)
    return (_LAM_REF / lam_nm) ** 3 * np.expm1(x_ref) / np.expm1(x)


def _colour_mag(lam_nm: np.ndarray, temp_k: float) -> np.ndarray:
    """Magnitude offset of a band relative to r for a blackbody of temperature ``temp_k``."""
    return -2.5 * np.log10(_bb_ratio(lam_nm, temp_k))


def _loguniform(rng: np.random.Generator, lo: float, hi: float, size=None):
    return np.exp(rng.uniform(math.log(lo), math.log(hi), size))


def _mag_counts(rng: np.random.Generator, lo: float, hi: float, slope: float = 0.3) -> float:
    """A magnitude on [lo, hi] with p(m) ∝ 10^(slope·m): more faint than bright objects."""
    a, b = 10.0 ** (slope * lo), 10.0 ** (slope * hi)
    return float(math.log10(a + rng.random() * (b - a)) / slope)


#: Peak r magnitudes of labelled transients. Labels of the paper's transients come from
#: spectroscopic classifications (ALeRCE cross-matches with TNS), which are nearly complete
#: only to ~18.5-19 mag (the Bright Transient Survey) and sparse beyond ~19.5 mag. The real
#: BTS forced-photometry files in ``shared/fixtures/ztf_fps*`` reach a median peak |SNR|
#: (99.5th percentile per light curve) of ~55; the earlier 16.5-20.3 mag draw gave ~15.
TRANSIENT_PEAK_MAG = (16.0, 19.5)


def _transient_peak_mag(rng: np.random.Generator, fainter_by: float = 0.0) -> float:
    """A transient's peak r magnitude (see :data:`TRANSIENT_PEAK_MAG`), optionally shifted fainter."""
    lo, hi = TRANSIENT_PEAK_MAG
    return _mag_counts(rng, lo + fainter_by, hi + fainter_by, 0.45)


# --------------------------------------------------------------------------------------
# surveys
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SurveyModel:
    """Observing strategy and noise of one survey (all times in MJD days).

    The night-level schedule is: observable season (Sun far enough from the object) ×
    good weather × the survey visiting the field that night (before ``late_mjd``:
    probability ``p_night`` on the nights of its every-``cadence_nights`` schedule and
    ``p_off_night`` on the others; after it ``p_night_late`` every night; all times a
    per-object field-richness factor); on a visited night, ``1 + Poisson(extra_visits_mean)``
    exposures, each in a band drawn with ``band_fraction``, separated by ``visit_gap_d``, from
    one of the sites active then (``midnight_frac``, ``site_start_mjd``).
    """

    name: str
    bands: tuple[str, ...]
    band_fraction: tuple[float, ...]
    mjd_start: float
    mjd_end: float
    depth_mag: float  # nominal (median) 5σ limiting magnitude
    depth_scatter_mag: float  # Gaussian scatter of the per-epoch depth
    poor_depth_fraction: float  # fraction of epochs in poor conditions (shallower)
    poor_depth_mean_mag: float  # mean extra loss of depth in poor conditions
    source_noise_coeff: float  # k of flux_error (µJy)
    calibration_floor: float  # c of flux_error
    error_underestimate: float  # true scatter / reported error for affected epochs
    underestimated_fraction: float  # fraction of epochs whose reported error is too small
    midnight_frac: tuple[float, ...]  # MJD fraction of local midnight per site
    site_start_mjd: tuple[float, ...]  # when each site starts observing
    p_night: float
    p_night_late: float
    late_mjd: float
    cadence_nights: int  # before late_mjd the field is scheduled every cadence_nights nights
    p_off_night: float  # probability of a visit on an unscheduled night (before late_mjd)
    extra_visits_mean: float
    visit_gap_d: tuple[float, float]
    richness_scatter: float  # lognormal σ of the per-object field richness
    season_halfwidth_deg: float  # RA distance from the anti-Sun within which it is observable
    polar_dec_deg: float  # above this dec the season lengthens (circumpolar)
    polar_extra_deg: float
    south_penalty_deg: float  # season shortening at dec = -30
    bad_weather_per_year: float  # bad-weather runs per year
    bad_weather_mean_nights: float
    outlier_rate: float
    outlier_snr: tuple[float, float]
    template_change_mjd: tuple[float, ...] = ()
    #: sky brightness (mag/arcsec²) of a dark night per band, in ``bands`` order; empty: the
    #: survey's epochs carry no sky value and no sky cut applies (ZTF: the paper cuts none)
    dark_sky_mag: tuple[float, ...] = ()
    #: mag of 5σ depth lost per mag of sky brightening (background-limited photometry: 0.5)
    sky_depth_slope: float = 0.5

    def sky_mag(self, band: np.ndarray, depth_mag: np.ndarray) -> np.ndarray:
        """Sky brightness of each epoch from its depth: a loss of depth below the nominal one is
        read as a brighter sky (Moon, twilight), ``sky = dark_sky - loss / sky_depth_slope``.

        The real ATLAS file ``shared/fixtures/atlas_fp/job01088.txt`` shows why: its ``Sky``
        and ``mag5sig`` columns correlate at r = 0.96 (o) and 0.99 (c), with a slope of ~0.55
        between sky 18.3 and 21.4 mag/arcsec²: ATLAS's shallow epochs are its bright-sky ones.
        """
        if not self.dark_sky_mag:
            raise ValueError(f"{self.name}: no sky model (dark_sky_mag is empty)")
        loss = np.clip(self.depth_mag - np.asarray(depth_mag, dtype=float), 0.0, None)
        return np.asarray(self.dark_sky_mag, dtype=float)[np.asarray(band)] - loss / self.sky_depth_slope

    def flux_error(self, total_flux: np.ndarray | float, depth_mag: np.ndarray | float | None = None):
        """Reported 1σ error (µJy) for a total flux; ``depth_mag`` defaults to the nominal depth."""
        return flux_error(
            total_flux,
            self.depth_mag if depth_mag is None else depth_mag,
            source_noise_coeff=self.source_noise_coeff,
            calibration_floor=self.calibration_floor,
        )

    def season_halfwidth(self, dec: float) -> float:
        polar = np.clip((dec - self.polar_dec_deg) / (90.0 - self.polar_dec_deg), 0.0, 1.0)
        south = np.clip(-dec / 30.0, 0.0, 1.0)
        return float(self.season_halfwidth_deg + self.polar_extra_deg * polar - self.south_penalty_deg * south)


#: ZTF (Palomar, one camera; public + partnership surveys, several visits on some nights)
ZTF = SurveyModel(
    name="ZTF",
    bands=("g", "r"),
    band_fraction=(0.45, 0.55),
    mjd_start=58200.0,
    mjd_end=60300.0,
    depth_mag=20.5,
    depth_scatter_mag=0.25,
    poor_depth_fraction=0.12,
    poor_depth_mean_mag=0.6,
    source_noise_coeff=0.015,
    calibration_floor=0.01,
    error_underestimate=1.0,
    underestimated_fraction=0.0,
    midnight_frac=(0.325,),
    site_start_mjd=(0.0,),
    # real ZTF forced photometry (shared/fixtures/ztf_fps*, 90 files) has a median of ~2.2
    # exposures per observed night, but the paper's median cadence of 1.13 d (both bands)
    # caps the mean below 2 (at k exposures a night, (k-1)/k of the gaps are < 1 d): ~1.7
    # with fewer nights keeps both the cadence and the median length (952) near the paper's
    p_night=0.42,
    p_night_late=0.42,
    late_mjd=math.inf,
    cadence_nights=1,
    p_off_night=0.0,
    extra_visits_mean=0.7,
    visit_gap_d=(0.02, 0.09),
    richness_scatter=0.35,
    season_halfwidth_deg=140.0,
    polar_dec_deg=40.0,
    polar_extra_deg=40.0,
    south_penalty_deg=25.0,
    bad_weather_per_year=22.0,
    bad_weather_mean_nights=3.0,
    # the fixtures show almost no isolated > 6 sigma outliers after the procstatus cut; rare
    # and moderate so that one bad epoch does not set the min-max scale of a whole image
    outlier_rate=0.0005,
    outlier_snr=(5.0, 10.0),
)

#: ATLAS (two Hawaii units, then Chile and South Africa from 2022; noisier, shallower)
ATLAS = SurveyModel(
    name="ATLAS",
    bands=("c", "o"),
    band_fraction=(0.35, 0.65),
    mjd_start=57300.0,
    mjd_end=60400.0,
    depth_mag=19.5,
    depth_scatter_mag=0.3,
    poor_depth_fraction=0.15,
    poor_depth_mean_mag=0.7,
    source_noise_coeff=0.03,
    calibration_floor=0.015,
    error_underestimate=1.25,
    underestimated_fraction=0.35,
    midnight_frac=(0.43, 0.197, 0.942),
    site_start_mjd=(0.0, 59600.0, 59600.0),
    p_night=0.95,
    p_night_late=0.65,
    late_mjd=59600.0,
    cadence_nights=2,
    p_off_night=0.05,
    extra_visits_mean=0.55,
    visit_gap_d=(0.01, 0.03),
    richness_scatter=0.3,
    season_halfwidth_deg=114.0,
    polar_dec_deg=50.0,
    polar_extra_deg=50.0,
    south_penalty_deg=12.0,
    bad_weather_per_year=18.0,
    bad_weather_mean_nights=3.0,
    # after the paper's chi2/N and sky cuts (which remove most bad ATLAS epochs)
    outlier_rate=0.002,
    outlier_snr=(5.0, 12.0),
    template_change_mjd=(58417.0, 58882.0),
    # median Sky of the real file's epochs (c 21.45, o 20.51 mag/arcsec²): with the paper's sky
    # cut (ATLAS_MIN_SKY) an epoch more than ~1.25 mag (o) / ~1.5 mag (c) shallower than the
    # nominal depth is removed, as real ingestion removes it
    dark_sky_mag=(21.45, 20.5),
)

SURVEY_MODELS: dict[str, SurveyModel] = {"ZTF": ZTF, "ATLAS": ATLAS}
_SURVEY_ORDER = ("ATLAS", "ZTF")  # output row order inside an object (lexicographic)
_BAND_CODES = ("g", "r", "c", "o")


def _bad_weather(rng: np.random.Generator, n: int, sv: SurveyModel) -> np.ndarray:
    """Boolean mask of nights lost to weather: Poisson runs of geometric length."""
    n_runs = rng.poisson(sv.bad_weather_per_year * n / 365.25)
    edges = np.zeros(n + 1, dtype=np.int32)
    if n_runs:
        starts = rng.integers(0, n, n_runs)
        ends = np.minimum(starts + rng.geometric(1.0 / sv.bad_weather_mean_nights, n_runs), n)
        np.add.at(edges, starts, 1)
        np.add.at(edges, ends, -1)
    return np.cumsum(edges[:n]) > 0


def _survey_epochs(
    rng: np.random.Generator, sv: SurveyModel, ra: float, dec: float, t_lo: float, t_hi: float
) -> tuple[np.ndarray, np.ndarray]:
    """Epochs (MJD) and band indices (into ``sv.bands``) of one object in one survey."""
    nights = np.arange(math.floor(t_lo), math.ceil(t_hi), dtype=float)
    n = nights.size
    # site of each night (ATLAS: several units after 2022), its local midnight
    active = np.array(sv.site_start_mjd)
    site = np.zeros(n, dtype=np.int64)
    if len(active) > 1:
        n_active = (nights[:, None] >= active[None, :]).sum(axis=1)
        site = (rng.random(n) * n_active).astype(np.int64)
    midnight = nights + np.asarray(sv.midnight_frac)[site]
    ra_sun = (360.0 / 365.2422) * (midnight - _SUN_RA_EPOCH_MJD)
    ha = (ra - ra_sun) % 360.0 - 180.0  # RA distance from the anti-Sun: 0 = transit at midnight
    visible = np.abs(ha) < sv.season_halfwidth(dec)
    richness = math.exp(rng.normal(0.0, sv.richness_scatter))
    scheduled = ((nights.astype(np.int64) + int(rng.integers(0, sv.cadence_nights))) % sv.cadence_nights) == 0
    p = np.where(nights >= sv.late_mjd, sv.p_night_late, np.where(scheduled, sv.p_night, sv.p_off_night)) * richness
    observed = visible & ~_bad_weather(rng, n, sv) & (rng.random(n) < np.minimum(p, 0.97))
    idx = np.flatnonzero(observed)
    k = 1 + rng.poisson(sv.extra_visits_mean * math.sqrt(richness), idx.size)
    # first exposure near transit, within the night; further ones a little later
    t_first = midnight[idx] + np.clip(ha[idx] / 360.0, -0.27, 0.2) + rng.normal(0.0, 0.03, idx.size)
    total = int(k.sum())
    gaps = rng.uniform(sv.visit_gap_d[0], sv.visit_gap_d[1], total)
    starts = np.cumsum(k) - k
    gaps[starts] = 0.0
    csum = np.cumsum(gaps)
    within = csum - np.repeat(csum[starts], k)
    t = np.repeat(t_first, k) + within
    band = rng.choice(len(sv.bands), size=total, p=np.asarray(sv.band_fraction))
    keep = (t >= t_lo) & (t <= t_hi)
    return t[keep], band[keep]


# --------------------------------------------------------------------------------------
# class models
# --------------------------------------------------------------------------------------
FluxFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class _Context:
    t_lo: float  # earliest time any survey observes (incl. reference epochs)
    t_hi: float
    event_lo: float  # transients/eruptions happen while ZTF observes
    event_hi: float


@dataclass
class LatentSource:
    """A latent light curve: ``flux(t, lam_nm)`` is the total flux density (µJy) at the position.

    ``transient``: no reference flux (difference flux = ``flux``) and the light curve is
    cut to the detection window; ``host_flux``: static flux (µJy) that only adds noise.
    """

    flux: FluxFn
    transient: bool = False
    host_flux: float = 0.0
    params: dict = field(default_factory=dict)


def _drw(rng: np.random.Generator, ctx: _Context, tau: float, sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    """A damped random walk (Ornstein-Uhlenbeck, stationary σ, time scale τ) as a function of t.

    Simulated exactly on a regular grid (step ≤ τ/4, ≤ 1 d) with an AR(1) filter, then
    interpolated linearly to the epochs.
    """
    dt = min(1.0, tau / 4.0)
    n = int(math.ceil((ctx.t_hi - ctx.t_lo) / dt)) + 3
    a = math.exp(-dt / tau)
    w = rng.standard_normal(n) * (sigma * math.sqrt(1.0 - a * a))
    w[0] = rng.standard_normal() * sigma
    x = lfilter([1.0], [1.0, -a], w)
    grid = ctx.t_lo - dt + dt * np.arange(n)
    return lambda t: np.interp(t, grid, x)


def _fourier(rng: np.random.Generator, ratios: list[float], phase_jitter: float) -> Callable[[np.ndarray], np.ndarray]:
    """A periodic shape of peak-to-peak 1 (bright = positive): a sawtooth-like Fourier sum.

    ``ratios`` are the amplitudes of harmonics 1..n relative to the first; with phases
    aligned (``phase_jitter`` = 0) and ratios 1/k it is a fast-rise, slow-decline sawtooth.
    """
    amps = np.asarray(ratios, dtype=float)
    ks = np.arange(1, amps.size + 1, dtype=float)
    psi = rng.normal(0.0, phase_jitter, amps.size)
    grid = np.linspace(0.0, 1.0, 256, endpoint=False)
    g = (amps[None, :] * np.sin(2 * np.pi * ks[None, :] * grid[:, None] + psi)).sum(axis=1)
    lo, hi = g.min(), g.max()
    off = 0.5 * (lo + hi)

    def shape(phase: np.ndarray) -> np.ndarray:
        s = (amps[None, :] * np.sin(2 * np.pi * ks[None, :] * phase[:, None] + psi)).sum(axis=1)
        return (s - off) / (hi - lo)

    return shape


def _star(m_r: float, temp: float, dmag: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> FluxFn:
    """Flux of a star of mean r magnitude ``m_r`` and colour temperature ``temp`` with ``dmag(t, λ)``."""

    def flux(t: np.ndarray, lam: np.ndarray) -> np.ndarray:
        return mag_to_flux(m_r + _colour_mag(lam, temp) + dmag(t, lam))

    return flux


def _chromatic(lam: np.ndarray, beta: float) -> np.ndarray:
    """Amplitude scaling with wavelength, 1 in r (beta > 0: larger in the blue)."""
    return (lam / _LAM_REF) ** (-beta)


def _normalised(shape: Callable[[np.ndarray], np.ndarray], t_lo: float, t_hi: float) -> tuple[float, float]:
    """Time and value of the maximum of ``shape`` on a fine grid (to normalise it to peak 1)."""
    grid = np.linspace(t_lo, t_hi, 800)
    v = shape(grid)
    i = int(np.argmax(v))
    return float(grid[i]), float(v[i])


def _transient_source(
    rng: np.random.Generator,
    ctx: _Context,
    shape: Callable[[np.ndarray], np.ndarray],
    search: tuple[float, float],
    peak_mag: float,
    temp_peak: float,
    temp_late: float,
    temp_tau: float,
    red_bump: tuple[float, float, float] | None = None,
    host_mag: float = 21.0,
    **params,
) -> LatentSource:
    """A transient: r-band ``shape(t - t0)`` normalised to peak flux, cooling blackbody colours.

    ``red_bump`` = (relative amplitude, delay after peak, width) adds the secondary maximum
    of SNe Ia in the red bands (r, o).
    """
    t0 = rng.uniform(ctx.event_lo, ctx.event_hi)
    t_pk, v_pk = _normalised(shape, *search)
    f_peak = float(mag_to_flux(peak_mag))
    temp_jitter = math.exp(rng.normal(0.0, 0.07))

    def flux(t: np.ndarray, lam: np.ndarray) -> np.ndarray:
        x = t - t0
        base = np.clip(shape(x) / v_pk, 0.0, None)
        temp = temp_jitter * (temp_late + (temp_peak - temp_late) * np.exp(-np.clip(x - t_pk, 0.0, None) / temp_tau))
        f = base * _bb_ratio(lam, temp)
        if red_bump is not None:
            amp, delay, width = red_bump
            red = np.clip((lam - 560.0) / 80.0, 0.0, 1.0)
            f = f + amp * red * np.exp(-0.5 * ((x - t_pk - delay) / width) ** 2)
        return f_peak * f

    return LatentSource(
        flux,
        transient=True,
        host_flux=float(mag_to_flux(host_mag)),
        params={"t0": t0, "peak_mag": peak_mag, **params},
    )


def _rise_decline(tau_r: float, tau_f: float, tail_frac: float = 0.0, tau_tail: float = 1.0):
    """Bazin-like rise/decline with an optional slower tail (unnormalised, t relative to t0)."""

    def shape(x: np.ndarray) -> np.ndarray:
        log_rise = -np.logaddexp(0.0, -x / tau_r)
        decline = np.exp(np.clip(-x / tau_f, None, 50.0)) + tail_frac * np.exp(np.clip(-x / tau_tail, None, 50.0))
        return np.exp(log_rise) * decline

    return shape


def _sn_ia(rng, ctx):
    tau_r, tau_f = rng.uniform(2.0, 4.5), rng.uniform(14.0, 28.0)
    return _transient_source(
        rng, ctx, _rise_decline(tau_r, tau_f, rng.uniform(0.05, 0.15), rng.uniform(50.0, 80.0)),
        (-30.0, 60.0), _transient_peak_mag(rng),
        rng.uniform(9500.0, 13000.0), rng.uniform(4500.0, 6000.0), rng.uniform(8.0, 18.0),
        red_bump=(rng.uniform(0.15, 0.35), rng.uniform(20.0, 30.0), rng.uniform(5.0, 9.0)),
        host_mag=rng.uniform(18.0, 22.0), tau_rise=tau_r, tau_fall=tau_f,
    )  # fmt: skip


def _sn_ibc(rng, ctx):
    tau_r, tau_f = rng.uniform(1.5, 4.0), rng.uniform(10.0, 25.0)
    return _transient_source(
        rng, ctx, _rise_decline(tau_r, tau_f, rng.uniform(0.08, 0.2), rng.uniform(60.0, 120.0)),
        (-30.0, 60.0), _transient_peak_mag(rng),
        rng.uniform(7000.0, 10000.0), rng.uniform(4200.0, 5500.0), rng.uniform(8.0, 25.0),
        host_mag=rng.uniform(17.5, 21.5), tau_rise=tau_r, tau_fall=tau_f,
    )  # fmt: skip


def _sn_ii(rng, ctx):
    tau_r = rng.uniform(1.5, 5.0)
    if rng.random() < 0.7:  # IIP: plateau, drop, radioactive tail
        tau_p, t_end = rng.uniform(150.0, 500.0), rng.uniform(70.0, 120.0)
        drop, width = 10.0 ** (-0.4 * rng.uniform(1.5, 3.0)), rng.uniform(3.0, 8.0)

        def shape(x):
            log_rise = -np.logaddexp(0.0, -x / tau_r)
            fall = 1.0 / (1.0 + np.exp(np.clip((x - t_end) / width, -50.0, 50.0)))
            tail = drop * np.exp(-np.clip(x - t_end, 0.0, None) / 111.0)
            return np.exp(log_rise) * np.exp(np.clip(-x / tau_p, None, 50.0)) * ((1.0 - drop) * fall + tail)
    else:  # IIL: linear (exponential in flux) decline
        shape = _rise_decline(tau_r, rng.uniform(35.0, 80.0), rng.uniform(0.05, 0.15), 111.0)
    return _transient_source(
        rng, ctx, shape, (-30.0, 80.0), _transient_peak_mag(rng),
        rng.uniform(12000.0, 20000.0), rng.uniform(5000.0, 6500.0), rng.uniform(10.0, 30.0),
        host_mag=rng.uniform(17.0, 21.5), tau_rise=tau_r,
    )  # fmt: skip


def _sn_iin(rng, ctx):
    tau_r, tau_f = rng.uniform(6.0, 25.0), rng.uniform(50.0, 250.0)
    return _transient_source(
        rng, ctx, _rise_decline(tau_r, tau_f, rng.uniform(0.0, 0.2), 2.0 * tau_f),
        (-150.0, 300.0), _transient_peak_mag(rng),
        rng.uniform(9000.0, 14000.0), rng.uniform(7000.0, 9000.0), rng.uniform(50.0, 200.0),
        host_mag=rng.uniform(18.0, 22.0), tau_rise=tau_r, tau_fall=tau_f,
    )  # fmt: skip


def _slsn(rng, ctx):
    # observed-frame SLSN e-folding times (rise ~10-25 d, decline ~25-80 d): an earlier draw
    # (12-40 d, 35-130 d) made simulated SLSNe ~2.4x longer than observed ones (issue 11)
    tau_r, tau_f = rng.uniform(8.0, 25.0), rng.uniform(25.0, 80.0)
    if tau_f < 2.2 * tau_r:
        tau_f = 2.2 * tau_r
    return _transient_source(
        rng, ctx, _rise_decline(tau_r, tau_f), (-200.0, 400.0), _transient_peak_mag(rng, 0.5),
        rng.uniform(13000.0, 20000.0), rng.uniform(7000.0, 10000.0), rng.uniform(40.0, 120.0),
        host_mag=rng.uniform(21.0, 24.0), tau_rise=tau_r, tau_fall=tau_f,
    )  # fmt: skip


def _tde(rng, ctx):
    tau_r, t_pl = rng.uniform(6.0, 20.0), rng.uniform(20.0, 60.0)

    def shape(x):
        rise = np.exp(-np.logaddexp(0.0, -x / tau_r))
        return rise * ((np.clip(x, 0.0, None) + t_pl) / t_pl) ** (-5.0 / 3.0)

    temp = rng.uniform(18000.0, 35000.0)  # hot and (nearly) constant: blue, no reddening
    return _transient_source(
        rng, ctx, shape, (-150.0, 300.0), _transient_peak_mag(rng, 0.5),
        temp, temp * rng.uniform(0.8, 1.0), 200.0, host_mag=rng.uniform(17.5, 20.5),
        tau_rise=tau_r,
    )  # fmt: skip


def _microlensing(rng, ctx):
    m_base, f_s = rng.uniform(15.0, 19.5), rng.uniform(0.3, 1.0)
    u0, t_e = _loguniform(rng, 0.02, 1.0), float(np.clip(rng.lognormal(math.log(30.0), 0.6), 5.0, 250.0))
    t0 = rng.uniform(ctx.event_lo, ctx.event_hi)
    temp_s, temp_b = rng.uniform(4000.0, 7000.0), rng.uniform(4000.0, 7000.0)
    f_base = float(mag_to_flux(m_base))

    def flux(t, lam):
        u2 = u0**2 + ((t - t0) / t_e) ** 2
        amp = (u2 + 2.0) / np.sqrt(u2 * (u2 + 4.0))
        return f_base * (f_s * amp * _bb_ratio(lam, temp_s) + (1.0 - f_s) * _bb_ratio(lam, temp_b))

    return LatentSource(flux, params={"t0": t0, "tE": t_e, "u0": u0})


def _qso(rng, ctx):
    m_r, alpha = _mag_counts(rng, 17.0, 20.5, 0.35), rng.uniform(-0.9, 0.0)
    tau, sf = _loguniform(rng, 100.0, 1000.0), rng.uniform(0.2, 0.45)
    beta = rng.uniform(0.5, 1.2)
    walk = _drw(rng, ctx, tau, sf / math.sqrt(2.0))

    def flux(t, lam):
        return mag_to_flux(m_r + walk(t) * _chromatic(lam, beta)) * (lam / _LAM_REF) ** (-alpha)

    return LatentSource(flux, params={"tau": tau, "sf_inf": sf})


def _agn(rng, ctx):
    # a variable nucleus on a bright, red host: smaller relative amplitude, shorter time scales
    m_tot, nuc_frac = rng.uniform(16.0, 19.0), rng.uniform(0.15, 0.6)
    tau, sf = _loguniform(rng, 20.0, 300.0), rng.uniform(0.3, 0.8)
    walk = _drw(rng, ctx, tau, sf / math.sqrt(2.0))
    f_tot, temp_host, alpha = float(mag_to_flux(m_tot)), rng.uniform(4000.0, 5000.0), rng.uniform(-0.8, 0.0)
    beta = rng.uniform(0.5, 1.2)

    def flux(t, lam):
        nucleus = nuc_frac * f_tot * (lam / _LAM_REF) ** (-alpha) * 10.0 ** (-0.4 * walk(t) * _chromatic(lam, beta))
        return (1.0 - nuc_frac) * f_tot * _bb_ratio(lam, temp_host) + nucleus

    return LatentSource(flux, params={"tau": tau, "sf_inf": sf})


def _blazar(rng, ctx):
    m_r, alpha = _mag_counts(rng, 16.5, 20.3, 0.35), rng.uniform(-1.6, -0.7)
    tau, sf = _loguniform(rng, 10.0, 200.0), rng.uniform(0.4, 1.2)
    walk = _drw(rng, ctx, tau, sf / math.sqrt(2.0))
    n_fl = rng.poisson((ctx.t_hi - ctx.t_lo) / 365.25 * rng.uniform(0.5, 3.0))
    tp = rng.uniform(ctx.t_lo, ctx.t_hi, n_fl)
    amp = 10.0 ** (0.4 * rng.uniform(0.5, 2.5, n_fl)) - 1.0
    t_rise, t_decay = rng.uniform(2.0, 10.0, n_fl), rng.uniform(5.0, 40.0, n_fl)
    beta = rng.uniform(-0.3, 0.5)

    def flux(t, lam):
        f = mag_to_flux(m_r + walk(t) * _chromatic(lam, beta)) * (lam / _LAM_REF) ** (-alpha)
        if n_fl:
            dx = t[:, None] - tp[None, :]
            prof = np.where(dx < 0, np.exp(np.clip(dx / t_rise, -50.0, 0.0)), np.exp(-np.clip(dx, 0.0, None) / t_decay))
            f = f * (1.0 + prof @ amp)
        return f

    return LatentSource(flux, params={"tau": tau, "sf_inf": sf, "n_flares": int(n_fl)})


def _cycle_events(
    rng: np.random.Generator,
    ctx: _Context,
    period: float,
    prob: float,
    width: tuple[float, float],
    amp: tuple[float, float],
) -> Callable[[np.ndarray], np.ndarray]:
    """Quasi-periodic events: each cycle of ``period`` has an event with probability ``prob``
    (random amplitude, width and phase jitter); returns event strength(t) in [0, max amp]."""
    n_cyc = int(math.ceil((ctx.t_hi - ctx.t_lo) / period)) + 2
    on = rng.random(n_cyc) < prob
    a = np.where(on, rng.uniform(amp[0], amp[1], n_cyc), 0.0)
    w = rng.uniform(width[0], width[1], n_cyc)
    centre = ctx.t_lo - period + period * (np.arange(n_cyc) + 0.5 + rng.uniform(-0.2, 0.2, n_cyc))

    def strength(t: np.ndarray) -> np.ndarray:
        i = np.clip(((t - ctx.t_lo + period) / period).astype(np.int64), 0, n_cyc - 1)
        out = np.zeros_like(t)
        for j in (i - 1, i, i + 1):  # neighbouring cycles can overlap
            j = np.clip(j, 0, n_cyc - 1)
            out += a[j] * np.exp(-0.5 * ((t - centre[j]) / w[j]) ** 2)
        return out

    return strength


def _yso(rng, ctx):
    m_r, temp = rng.uniform(13.5, 18.5), rng.uniform(3200.0, 4500.0)
    tau, sigma = _loguniform(rng, 1.0, 20.0), rng.uniform(0.03, 0.25)
    walk = _drw(rng, ctx, tau, sigma)
    kind = rng.choice(["dipper", "burster", "fader", "irregular"], p=[0.45, 0.25, 0.15, 0.15])
    if kind == "dipper":
        ev = _cycle_events(rng, ctx, rng.uniform(2.0, 12.0), 0.6, (0.3, 1.5), (0.2, 1.5))
    elif kind == "burster":
        ev = _cycle_events(rng, ctx, rng.uniform(8.0, 60.0), 0.35, (0.8, 6.0), (0.3, 1.5))
    elif kind == "fader":
        ev = _cycle_events(rng, ctx, rng.uniform(60.0, 300.0), 0.35, (5.0, 30.0), (0.5, 2.0))
    else:
        ev = None
        walk = _drw(rng, ctx, tau, sigma * 2.5)
    sign = -1.0 if kind == "burster" else 1.0  # dips are extinction (fainter, deeper in the blue)
    ext_beta = rng.uniform(1.0, 2.0)

    def dmag(t, lam):
        d = walk(t) * _chromatic(lam, 0.8)
        if ev is not None:
            d = d + sign * ev(t) * _chromatic(lam, ext_beta if sign > 0 else 0.5)
        return d

    return LatentSource(_star(m_r, temp, dmag), params={"kind": str(kind), "tau": tau})


def _cv(rng, ctx):
    temp_q, temp_o = rng.uniform(6000.0, 10000.0), rng.uniform(12000.0, 20000.0)
    if rng.random() < 0.8:  # dwarf nova: recurrent outbursts
        m_q = rng.uniform(17.5, 21.5)
        recur = _loguniform(rng, 15.0, 300.0)
        n = int(math.ceil((ctx.t_hi - ctx.t_lo) / recur)) + 2
        starts = ctx.t_lo - recur + np.cumsum(recur * rng.lognormal(0.0, 0.25, n))
        amp = 10.0 ** (0.4 * rng.uniform(2.0, 5.0, n)) - 1.0
        dur = rng.uniform(2.0, 15.0, n)
        t_r, t_d = rng.uniform(0.3, 1.5), rng.uniform(1.5, 5.0)

        def outburst(t):
            i = np.searchsorted(starts, t)  # next outburst i (rising), previous i-1 (plateau/decline)
            nxt = np.clip(i, 0, n - 1)
            prv = np.clip(i - 1, 0, n - 1)
            rise = amp[nxt] * np.exp(np.clip((t - starts[nxt]) / t_r, -50.0, 0.0))
            x = np.clip(t - starts[prv], 0.0, None)  # (before the first outburst only `rise` counts)
            past = np.where(x <= dur[prv], np.exp(-x / (8.0 * dur[prv])), np.exp(-0.125 - (x - dur[prv]) / t_d))
            return rise + np.where(i > 0, amp[prv] * past, 0.0)

        params = {"kind": "dwarf nova", "recurrence": recur}
    else:  # classical nova: one eruption of 8-12 mag, decline by 2 mag in t2 days
        m_q = rng.uniform(19.5, 22.5)
        t_pk, t2, dm = rng.uniform(ctx.event_lo, ctx.event_hi), _loguniform(rng, 8.0, 100.0), rng.uniform(8.0, 12.0)
        t_r = rng.uniform(1.0, 4.0)
        big = 10.0 ** (0.4 * dm)

        def outburst(t):
            x = t - t_pk
            decline = 2.0 * x / t2
            decline = np.where(decline > 3.0, 3.0 + (decline - 3.0) / 3.0, decline)  # slower late decline
            return np.where(x < 0, big * np.exp(np.clip(x / t_r, -50.0, 0.0)), big * 10.0 ** (-0.4 * decline))

        params = {"kind": "nova", "t_peak": t_pk, "t2": t2}
    f_q = float(mag_to_flux(m_q))

    def flux(t, lam):
        return f_q * (_bb_ratio(lam, temp_q) + outburst(t) * _bb_ratio(lam, temp_o))

    return LatentSource(flux, params=params)


def _periodic(rng, m_r, temp, period, amp_r, beta, shape, modulation=None, params=None) -> LatentSource:
    t_ref = rng.uniform(0.0, period)

    def dmag(t, lam):
        a = amp_r if modulation is None else amp_r * modulation(t)
        return -a * _chromatic(lam, beta) * shape(((t - t_ref) / period) % 1.0)

    return LatentSource(_star(m_r, temp, dmag), params={"period": period, **(params or {})})


def _lpv(rng, ctx):
    m_r, temp = rng.uniform(12.5, 17.5), rng.uniform(2600.0, 3500.0)
    period = _loguniform(rng, 100.0, 1000.0)
    mira = rng.random() < 0.55
    amp = rng.uniform(1.0, 4.5) if mira else rng.uniform(0.2, 1.0)
    shape = _fourier(rng, [1.0, rng.uniform(0.0, 0.3)], 0.4)
    # cycle-to-cycle changes: phase wander and amplitude modulation (strong for semi-regulars)
    wander = _drw(rng, ctx, 3.0 * period, 0.03 if mira else 0.12)
    amod = _drw(rng, ctx, 2.0 * period, 0.1 if mira else 0.3)
    t_ref = rng.uniform(0.0, period)
    beta = rng.uniform(0.8, 1.6)

    def dmag(t, lam):
        ph = ((t - t_ref) / period + wander(t)) % 1.0
        return -amp * np.clip(1.0 + amod(t), 0.2, None) * _chromatic(lam, beta) * shape(ph)

    return LatentSource(_star(m_r, temp, dmag), params={"period": period, "mira": mira})


def _ea(rng, ctx):
    m_r, temp = rng.uniform(13.0, 18.5), rng.uniform(5000.0, 10000.0)
    period = _loguniform(rng, 0.5, 20.0)
    d1, w = rng.uniform(0.15, 0.75), rng.uniform(0.02, 0.08)
    d2 = d1 * rng.uniform(0.0, 0.6)
    ph2 = 0.5 + rng.normal(0.0, 0.02)  # slight eccentricity
    t_ref = rng.uniform(0.0, period)
    red2 = rng.uniform(0.0, 0.3)  # the cooler secondary: secondary eclipse deeper in the red

    def flux_fn(t, lam):
        ph = ((t - t_ref) / period) % 1.0
        e1 = np.clip(1.0 - (np.minimum(ph, 1.0 - ph) / w) ** 2, 0.0, None) ** 0.6
        x2 = np.abs(ph - ph2)
        e2 = np.clip(1.0 - (x2 / w) ** 2, 0.0, None) ** 0.6
        depth2 = d2 * (1.0 + red2 * (lam - _LAM_REF) / 200.0)
        return mag_to_flux(m_r + _colour_mag(lam, temp)) * (1.0 - d1 * e1 - depth2 * e2)

    return LatentSource(flux_fn, params={"period": period, "depth": d1})


def _eb_ew(rng, ctx):
    m_r, temp = rng.uniform(13.0, 18.5), rng.uniform(4800.0, 7500.0)
    if rng.random() < 0.7:  # W UMa contact binary
        period, a2, a1 = rng.uniform(0.22, 0.5), rng.uniform(0.08, 0.35), rng.uniform(0.0, 0.06)
    else:  # beta Lyrae
        period, a2, a1 = _loguniform(rng, 0.5, 3.0), rng.uniform(0.1, 0.35), rng.uniform(0.03, 0.2)
    t_ref = rng.uniform(0.0, period)
    oconnell = rng.normal(0.0, 0.01)  # unequal maxima

    def flux_fn(t, lam):
        ph = ((t - t_ref) / period) % 1.0
        rel = 1.0 - a2 * 0.5 * (1 + np.cos(4 * np.pi * ph)) - a1 * 0.5 * (1 + np.cos(2 * np.pi * ph))
        rel = rel + oconnell * np.sin(2 * np.pi * ph)
        return mag_to_flux(m_r + _colour_mag(lam, temp)) * rel

    return LatentSource(flux_fn, params={"period": period})


def _rscvn(rng, ctx):
    m_r, temp = rng.uniform(11.5, 17.0), rng.uniform(4300.0, 5300.0)
    period = float(np.clip(rng.lognormal(math.log(8.0), 0.8), 0.8, 100.0))
    amp = rng.uniform(0.05, 0.35)
    dp = rng.uniform(0.005, 0.04)  # differential rotation: a second spot, slightly other period
    a2 = amp * rng.uniform(0.0, 0.8)
    evol = _drw(rng, ctx, rng.uniform(100.0, 600.0), 0.35)  # spot growth and decay
    t1, t2 = rng.uniform(0.0, period, 2)
    beta = rng.uniform(0.3, 0.9)
    longterm = _drw(rng, ctx, rng.uniform(300.0, 1500.0), rng.uniform(0.0, 0.08))

    def dmag(t, lam):
        s = amp * np.cos(2 * np.pi * (t - t1) / period) + a2 * np.cos(2 * np.pi * (t - t2) / (period * (1 + dp)))
        return (0.5 * s * np.clip(1.0 + evol(t), 0.1, None) + longterm(t)) * _chromatic(lam, beta)

    return LatentSource(_star(m_r, temp, dmag), params={"period": period})


def _cep(rng, ctx):
    period = float(np.clip(rng.lognormal(math.log(6.0), 0.7), 1.0, 50.0))
    amp_g = rng.uniform(0.35, 1.1)
    shape = _fourier(rng, [1.0, rng.uniform(0.3, 0.5), rng.uniform(0.12, 0.3), rng.uniform(0.05, 0.15)], 0.35)
    beta = rng.uniform(0.9, 1.5)
    amp_r = amp_g * (480.0 / _LAM_REF) ** beta
    return _periodic(rng, rng.uniform(12.0, 18.0), rng.uniform(5200.0, 6500.0), period, amp_r, beta, shape)


def _rrlab(rng, ctx):
    period = float(np.clip(rng.normal(0.58, 0.07), 0.45, 0.8))
    amp_g = rng.uniform(0.6, 1.3)
    ratios = [1.0, rng.uniform(0.42, 0.55), rng.uniform(0.28, 0.38), rng.uniform(0.15, 0.25), rng.uniform(0.08, 0.14)]
    shape = _fourier(rng, ratios, 0.12)
    beta = rng.uniform(0.9, 1.4)
    modulation = None
    if rng.random() < 0.3:  # Blazhko effect
        p_bl, depth = _loguniform(rng, 20.0, 200.0), rng.uniform(0.1, 0.4)
        ph_bl = rng.uniform(0.0, 2 * np.pi)

        def modulation(t):
            return 1.0 - depth * 0.5 * (1.0 + np.sin(2 * np.pi * t / p_bl + ph_bl))

    amp_r = amp_g * (480.0 / _LAM_REF) ** beta
    return _periodic(rng, rng.uniform(14.0, 19.5), rng.uniform(6000.0, 7500.0), period, amp_r, beta, shape, modulation)


def _rrlc(rng, ctx):
    period = rng.uniform(0.25, 0.42)
    amp_g = rng.uniform(0.3, 0.6)
    shape = _fourier(rng, [1.0, rng.uniform(0.08, 0.22), rng.uniform(0.02, 0.08)], 1.0)
    beta = rng.uniform(0.8, 1.3)
    amp_r = amp_g * (480.0 / _LAM_REF) ** beta
    return _periodic(rng, rng.uniform(14.0, 19.5), rng.uniform(7000.0, 8000.0), period, amp_r, beta, shape)


def _dsct(rng, ctx):
    m_r, temp = rng.uniform(12.0, 17.5), rng.uniform(7000.0, 8500.0)
    p1 = _loguniform(rng, 0.03, 0.2)
    amp1 = rng.uniform(0.1, 0.7)
    n_modes = int(rng.integers(1, 4))
    ratios = [0.773] + list(rng.uniform(0.6, 0.95, 2))
    periods = [p1] + [p1 * ratios[i] for i in range(n_modes - 1)]
    amps = [amp1] + list(amp1 * rng.uniform(0.1, 0.5, n_modes - 1))
    shapes = [_fourier(rng, [1.0, rng.uniform(0.1, 0.35)], 0.2)] + [_fourier(rng, [1.0], 0.0) for _ in periods[1:]]
    refs = rng.uniform(0.0, 1.0, n_modes)
    beta = rng.uniform(0.6, 1.2)

    def dmag(t, lam):
        s = sum(a * sh(((t / p) + r) % 1.0) for a, p, sh, r in zip(amps, periods, shapes, refs))
        return -s * _chromatic(lam, beta)

    return LatentSource(_star(m_r, temp, dmag), params={"period": p1, "n_modes": n_modes})


def _periodic_other(rng, ctx):
    period = _loguniform(rng, 0.1, 300.0)
    n_h = int(rng.integers(1, 4))
    shape = _fourier(rng, [1.0] + list(rng.uniform(0.0, 0.5, n_h - 1)), 1.5)
    amp = _loguniform(rng, 0.08, 0.8)
    m_r, temp, beta = rng.uniform(12.5, 18.5), rng.uniform(3500.0, 10000.0), rng.uniform(0.0, 1.2)
    return _periodic(rng, m_r, temp, period, amp, beta, shape)


#: label -> latent-source generator ``(rng, ctx) -> LatentSource``
CLASS_MODELS: dict[str, Callable[[np.random.Generator, _Context], LatentSource]] = {
    "SNIa": _sn_ia,
    "SESN": _sn_ibc,
    "SNII": _sn_ii,
    "SNIIn": _sn_iin,
    "SLSN": _slsn,
    "TDE": _tde,
    "Microlensing": _microlensing,
    "QSO": _qso,
    "AGN": _agn,
    "Blazar": _blazar,
    "YSO": _yso,
    "CV/Nova": _cv,
    "LPV": _lpv,
    "EA": _ea,
    "EB/EW": _eb_ew,
    "Periodic-Other": _periodic_other,
    "RSCVn": _rscvn,
    "CEP": _cep,
    "RRLab": _rrlab,
    "RRLc": _rrlc,
    "DSCT": _dsct,
}
assert set(CLASS_MODELS) == set(CLASSES), "every class of the taxonomy needs a model"

#: where on the sky each class lives: (kind, Galactic-latitude scale in degrees)
_SKY: dict[str, tuple[str, float]] = {
    **{c: ("extragalactic", 0.0) for c in ("SNIa", "SESN", "SNII", "SNIIn", "SLSN", "TDE", "QSO", "AGN", "Blazar")},
    "Microlensing": ("disk", 3.0),
    "YSO": ("disk", 4.0),
    "CEP": ("disk", 5.0),
    "CV/Nova": ("disk", 12.0),
    "LPV": ("disk", 12.0),
    "RRLab": ("halo", 0.0),
    "RRLc": ("halo", 0.0),
    **{c: ("disk", 25.0) for c in ("EA", "EB/EW", "RSCVn", "DSCT", "Periodic-Other")},
}


def _draw_position(rng: np.random.Generator, label: str) -> tuple[float, float]:
    """RA, Dec (degrees) with dec > -30 (ZTF's sky): extragalactic classes avoid the plane,
    disk classes concentrate on it, halo classes are uniform."""
    kind, scale = _SKY[label]
    for _ in range(100):
        m = 64
        if kind == "disk":
            lon = np.radians(rng.uniform(0.0, 360.0, m))
            lat = np.radians(np.clip(rng.normal(0.0, scale, m), -89.0, 89.0))
            v = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)])
            v = _ICRS_TO_GAL.T @ v
            ra = np.degrees(np.arctan2(v[1], v[0])) % 360.0
            dec = np.degrees(np.arcsin(np.clip(v[2], -1.0, 1.0)))
            ok = dec > -30.0
        else:
            ra = rng.uniform(0.0, 360.0, m)
            dec = np.degrees(np.arcsin(rng.uniform(math.sin(math.radians(-30.0)), 1.0, m)))
            ok = np.ones(m, dtype=bool)
            if kind == "extragalactic":
                r, d = np.radians(ra), np.radians(dec)
                v = _ICRS_TO_GAL @ np.stack([np.cos(d) * np.cos(r), np.cos(d) * np.sin(r), np.sin(d)])
                ok = np.abs(np.degrees(np.arcsin(np.clip(v[2], -1.0, 1.0)))) > 12.0
        if ok.any():
            i = int(np.argmax(ok))
            return float(ra[i]), float(dec[i])
    raise RuntimeError(f"could not draw a sky position for class {label!r}")  # pragma: no cover


# --------------------------------------------------------------------------------------
# observing one object
# --------------------------------------------------------------------------------------
@dataclass
class SimulatedObject:
    """One simulated object: position, label, the number of draws it took, and its epochs.

    ``epochs`` maps survey -> dict of arrays ``mjd``, ``band`` (str), ``flux``, ``flux_err``,
    ``detected``, sorted by mjd.
    """

    index: int
    label: str
    ra: float
    dec: float
    attempts: int
    epochs: dict[str, dict[str, np.ndarray]]
    params: dict


def _baselines(time_span_days: float | None) -> dict[str, tuple[float, float]]:
    out = {}
    for name, sv in SURVEY_MODELS.items():
        lo, hi = sv.mjd_start, sv.mjd_end
        if time_span_days is not None:
            lo, hi = max(lo, ZTF.mjd_end - time_span_days), min(hi, ZTF.mjd_end)
        out[name] = (lo, hi)
    return out


def _attempt(
    rng: np.random.Generator,
    label: str,
    baselines: dict[str, tuple[float, float]],
    max_epochs_per_survey: int | None,
    alert_window_surveys: tuple[str, ...] = ALERT_WINDOW_SURVEYS,
    atlas_min_sky: dict[str, float] | None = ATLAS_MIN_SKY,
) -> tuple[float, float, LatentSource, dict[str, dict[str, np.ndarray]]] | None:
    """One draw of an object; ``None`` if it fails the selection (then the caller redraws)."""
    ra, dec = _draw_position(rng, label)
    t_lo = min(lo for lo, _ in baselines.values())
    t_hi = max(hi for _, hi in baselines.values())
    z_lo, z_hi = baselines["ZTF"]
    margin = min(20.0, 0.1 * (z_hi - z_lo))
    ctx = _Context(t_lo - 1.0, t_hi + 1.0, z_lo + margin, z_hi - margin)
    source = CLASS_MODELS[label](rng, ctx)

    # epochs of both surveys and reference epochs, evaluated in one call
    parts: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in ("ZTF", "ATLAS"):
        sv = SURVEY_MODELS[name]
        t, b = _survey_epochs(rng, sv, ra, dec, *baselines[name])
        if max_epochs_per_survey is not None and t.size > max_epochs_per_survey:
            keep = np.sort(rng.choice(t.size, max_epochs_per_survey, replace=False))
            t, b = t[keep], b[keep]
        if t.size == 0:
            return None
        parts[name] = (t, b)
    # reference images: per survey, band and template era, the median of random epochs
    ref_t, ref_lam, ref_key = [], [], []
    for name in ("ZTF", "ATLAS"):
        sv = SURVEY_MODELS[name]
        for bi, band in enumerate(sv.bands):
            for era in range(len(sv.template_change_mjd) + 1):
                ref_t.append(rng.uniform(sv.mjd_start, sv.mjd_end, _N_REFERENCE_EPOCHS))
                ref_lam.append(np.full(_N_REFERENCE_EPOCHS, BAND_WAVELENGTH_NM[band]))
                ref_key.append((name, bi, era))
    lam = {n: np.asarray([BAND_WAVELENGTH_NM[x] for x in SURVEY_MODELS[n].bands])[parts[n][1]] for n in parts}
    t_all = np.concatenate([parts["ZTF"][0], parts["ATLAS"][0], *ref_t])
    lam_all = np.concatenate([lam["ZTF"], lam["ATLAS"], *ref_lam])
    f_all = source.flux(t_all, lam_all)
    n_z, n_a = parts["ZTF"][0].size, parts["ATLAS"][0].size
    f_ref_samples = f_all[n_z + n_a :].reshape(len(ref_key), _N_REFERENCE_EPOCHS)
    ref_level = {}
    for key, samples in zip(ref_key, f_ref_samples):
        sv = SURVEY_MODELS[key[0]]
        # transients: host subtracted, only a small baseline offset remains
        base = 0.0 if source.transient else float(np.median(samples))
        ref_level[key] = base + rng.normal(0.0, 0.03 * float(sv.flux_error(0.0)))

    out: dict[str, dict[str, np.ndarray]] = {}
    offsets = {"ZTF": 0, "ATLAS": n_z}
    for name in ("ZTF", "ATLAS"):
        sv = SURVEY_MODELS[name]
        t, b = parts[name]
        n = t.size
        f_tot = f_all[offsets[name] : offsets[name] + n]
        era = np.searchsorted(np.asarray(sv.template_change_mjd), t) if sv.template_change_mjd else np.zeros(n, int)
        levels = np.array(
            [[ref_level[(name, bi, e)] for e in range(len(sv.template_change_mjd) + 1)] for bi in range(len(sv.bands))]
        )
        diff = f_tot - levels[b, era]
        depth = sv.depth_mag + rng.normal(0.0, sv.depth_scatter_mag, n)
        poor = rng.random(n) < sv.poor_depth_fraction
        depth = depth - poor * rng.exponential(sv.poor_depth_mean_mag, n)
        err = sv.flux_error(f_tot + source.host_flux, depth)
        scale = np.where(rng.random(n) < sv.underestimated_fraction, sv.error_underestimate, 1.0)
        flux = diff + err * scale * rng.standard_normal(n)
        rec = {"mjd": t, "band": b, "flux": flux, "flux_err": err}
        if atlas_min_sky is not None and sv.dark_sky_mag:
            # the paper's sky cut, as real ingestion applies it (a band without a limit is dropped)
            limit = np.array([atlas_min_sky.get(x, math.inf) for x in sv.bands])[b]
            keep = sv.sky_mag(b, depth) > limit
            source.params["sky_cut_epochs"] = int((~keep).sum())
            rec = {k: v[keep] for k, v in rec.items()}
        out[name] = rec
    if out["ATLAS"]["mjd"].size == 0:
        return None

    z = out["ZTF"]
    det = np.abs(z["flux"]) >= DETECTION_SNR * z["flux_err"]
    if int(det.sum()) < MIN_ZTF_DETECTIONS:
        return None
    lo_det, hi_det = -math.inf, math.inf
    if source.transient:  # the paper's window: 30 d before the first to the last detection
        lo_det, hi_det = float(z["mjd"][det].min()), float(z["mjd"][det].max())
        for name in alert_window_surveys:  # the same setting as real ingestion's alert_window step
            keep = (out[name]["mjd"] >= lo_det - PRE_DETECTION_WINDOW_D) & (out[name]["mjd"] <= hi_det)
            out[name] = {k: v[keep] for k, v in out[name].items()}
        if out["ATLAS"]["mjd"].size == 0:
            return None
    for name in out:
        sv, d = SURVEY_MODELS[name], out[name]
        n = d["mjd"].size
        hit = rng.random(n) < sv.outlier_rate
        if name == "ZTF" and source.transient:
            # keep the window's first and last detections (and the epochs before) intact
            hit &= (d["mjd"] > lo_det) & (d["mjd"] < hi_det)
        if hit.any():
            m = int(hit.sum())
            d["flux"][hit] += rng.choice([-1.0, 1.0], m) * rng.uniform(*sv.outlier_snr, m) * d["flux_err"][hit]
        d["detected"] = np.abs(d["flux"]) >= DETECTION_SNR * d["flux_err"]
        order = np.lexsort((d["band"], d["mjd"]))
        out[name] = {k: v[order] for k, v in d.items()}
    if int(out["ZTF"]["detected"].sum()) < MIN_ZTF_DETECTIONS:
        return None
    return ra, dec, source, out


def simulate_object(
    index: int,
    label: str,
    seed: int = 0,
    *,
    time_span_days: float | None = None,
    max_epochs_per_survey: int | None = None,
    max_attempts: int = _DEFAULT_MAX_ATTEMPTS,
    alert_window_surveys: tuple[str, ...] = ALERT_WINDOW_SURVEYS,
    atlas_min_sky: dict[str, float] | None = ATLAS_MIN_SKY,
) -> SimulatedObject:
    """Simulate object number ``index`` of class ``label`` (redrawn until it passes selection).

    The result depends only on ``(seed, index, label)`` and the knobs, never on other
    objects. Raises ``RuntimeError`` if ``max_attempts`` draws all fail the selection
    (e.g. a ``time_span_days`` too short to collect 8 ZTF detections).
    """
    if label not in CLASS_MODELS:
        raise KeyError(f"unknown class label {label!r}; known labels: {', '.join(CLASSES)}")
    bad = [s for s in alert_window_surveys if s not in SURVEY_MODELS]
    if bad:
        raise ValueError(f"alert_window_surveys: unknown survey(s) {bad}; known: {list(SURVEY_MODELS)}")
    rng = np.random.default_rng([seed, 1, index])
    baselines = _baselines(time_span_days)
    for attempt in range(1, max_attempts + 1):
        res = _attempt(rng, label, baselines, max_epochs_per_survey, tuple(alert_window_surveys),
                       None if atlas_min_sky is None else dict(atlas_min_sky))
        if res is not None:
            ra, dec, source, epochs = res
            for name, d in epochs.items():
                d["band"] = np.asarray(SURVEY_MODELS[name].bands)[d["band"]]
            return SimulatedObject(index, label, ra, dec, attempt, epochs, dict(source.params))
    raise RuntimeError(
        f"object {index} ({label}): no draw out of {max_attempts} had >= {MIN_ZTF_DETECTIONS} ZTF detections "
        f"and an ATLAS epoch (time_span_days={time_span_days}, max_epochs_per_survey={max_epochs_per_survey}); "
        "lengthen the time span or allow more epochs"
    )


# --------------------------------------------------------------------------------------
# the data set
# --------------------------------------------------------------------------------------
def class_counts(n_objects: int, min_per_class: int = 10) -> dict[str, int]:
    """Objects per class: proportional to the paper's Table 1 counts, with a floor.

    Classes whose proportional share is below ``min_per_class`` get the floor; the rest of
    ``n_objects`` is shared among the other classes in proportion to ``paper_count``
    (largest-remainder rounding, ties in Table 1 order). The counts sum to ``n_objects``.
    """
    if min_per_class < 0:
        raise ValueError(f"min_per_class must be >= 0, got {min_per_class}")
    if n_objects < max(1, N_CLASSES * min_per_class):
        raise ValueError(
            f"n_objects={n_objects} is too small: {N_CLASSES} classes with at least min_per_class="
            f"{min_per_class} objects each need n_objects >= {max(1, N_CLASSES * min_per_class)}"
        )
    w = np.array([PAPER_COUNTS[c] for c in CLASSES], dtype=float)
    floored = np.zeros(N_CLASSES, dtype=bool)
    while True:
        budget = n_objects - min_per_class * floored.sum()
        share = np.where(floored, 0.0, budget * w / w[~floored].sum())
        new = ~floored & (share < min_per_class)
        if not new.any():
            break
        floored |= new
    counts = np.where(floored, min_per_class, np.floor(share)).astype(int)
    left = n_objects - counts.sum()
    frac = np.where(floored, -1.0, share - np.floor(share))
    for i in sorted(range(N_CLASSES), key=lambda i: (-frac[i], i))[:left]:
        counts[i] += 1
    return {c: int(k) for c, k in zip(CLASSES, counts)}


def _str_column(codes: np.ndarray, values: list[str]) -> pd.Series:
    """A pandas ``str`` column from integer codes (via Arrow: fast for millions of rows)."""
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(values, pa.string()))
    return pd.Series(arr.cast(pa.string()).to_pandas(), copy=False).astype("str")


def simulate_dataset(
    n_objects: int,
    seed: int = 0,
    *,
    min_per_class: int = 10,
    time_span_days: float | None = None,
    max_epochs_per_survey: int | None = None,
    max_attempts: int = _DEFAULT_MAX_ATTEMPTS,
    alert_window_surveys: tuple[str, ...] | list[str] = ALERT_WINDOW_SURVEYS,
    atlas_min_sky: dict[str, float] | None = ATLAS_MIN_SKY,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Simulate the embedded ZTF + ATLAS data set.

    Parameters
    ----------
    n_objects
        Total number of objects; class counts from :func:`class_counts` (proportional to
        Table 1 with a floor of ``min_per_class``).
    seed
        Non-negative seed. Object ``i`` uses ``np.random.default_rng([seed, 1, i])`` and the
        label shuffle ``np.random.default_rng([seed, 0])``: the same seed gives the same tables.
    min_per_class
        Floor per class (10 lets 5-fold stratified splits with a 20% test set work).
    time_span_days
        If given, both surveys observe only the last ``time_span_days`` of the ZTF baseline
        (short, fast light curves for tests).
    max_epochs_per_survey
        If given, each survey's epochs are thinned at random to at most this many before the
        selection (transients may need more redraws).
    max_attempts
        Draws per object before giving up (``RuntimeError``).
    alert_window_surveys
        Surveys whose transient light curves are cut to the alert window (default
        :data:`ALERT_WINDOW_SURVEYS`, ZTF only, as the real-data ``alert_window`` step).
    atlas_min_sky
        The paper's ATLAS sky cut: band -> lowest sky magnitude kept (default
        :data:`ATLAS_MIN_SKY`, the limits of the real-data ``atlas_sky`` step); ``None``: no
        cut. Epochs removed are counted and logged.

    Returns
    -------
    (lightcurves, objects)
        The canonical tables (see :mod:`mslc_utils.schema`): light curves sorted by
        ``object_id``, ``survey``, ``mjd``; objects with ``object_id`` (``SIM000000`` ...),
        ``ra``, ``dec``, ``label``, ``group``. Every object has both surveys, >= 8 ZTF
        detections, and passes ``validate_lightcurves(..., require_both_surveys=True)``.
    """
    if int(seed) < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if time_span_days is not None and time_span_days < 30.0:
        raise ValueError(f"time_span_days={time_span_days} is too short (>= 30 d needed)")
    if max_epochs_per_survey is not None and max_epochs_per_survey < MIN_ZTF_DETECTIONS:
        raise ValueError(f"max_epochs_per_survey={max_epochs_per_survey} must be >= {MIN_ZTF_DETECTIONS}")
    counts = class_counts(n_objects, min_per_class)
    labels = np.array([c for c in CLASSES for _ in range(counts[c])], dtype=object)
    labels = labels[np.random.default_rng([int(seed), 0]).permutation(labels.size)]
    width = max(6, len(str(labels.size - 1)))
    ids = [f"SIM{i:0{width}d}" for i in range(labels.size)]

    keys = ("obj", "survey", "band", "mjd", "flux", "flux_err", "detected")
    cols: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    ras, decs = np.empty(labels.size), np.empty(labels.size)
    redraws: dict[str, int] = {}
    sky_cut = 0
    band_code = {b: i for i, b in enumerate(_BAND_CODES)}
    for i, label in enumerate(labels):
        obj = simulate_object(
            i, label, int(seed), time_span_days=time_span_days,
            max_epochs_per_survey=max_epochs_per_survey, max_attempts=max_attempts,
            alert_window_surveys=tuple(alert_window_surveys), atlas_min_sky=atlas_min_sky,
        )  # fmt: skip
        ras[i], decs[i] = obj.ra, obj.dec
        redraws[label] = redraws.get(label, 0) + obj.attempts - 1
        sky_cut += int(obj.params.get("sky_cut_epochs", 0))
        for s_code, name in enumerate(_SURVEY_ORDER):
            d = obj.epochs[name]
            n = d["mjd"].size
            cols["obj"].append(np.full(n, i, dtype=np.int32))
            cols["survey"].append(np.full(n, s_code, dtype=np.int8))
            uniq, inv = np.unique(d["band"], return_inverse=True)
            cols["band"].append(np.array([band_code[b] for b in uniq], np.int8)[inv].reshape(n))
            for k in ("mjd", "flux", "flux_err", "detected"):
                cols[k].append(d[k])
    log.info(
        "simulated %d objects; redraws per class (failed selection): %s; ATLAS epochs removed by the sky cut: %d",
        labels.size,
        {k: v for k, v in redraws.items() if v},
        sky_cut,
    )
    cat = {k: np.concatenate(v) for k, v in cols.items()}
    lc = pd.DataFrame(
        {
            "object_id": _str_column(cat["obj"], ids),
            "survey": _str_column(cat["survey"], list(_SURVEY_ORDER)),
            "band": _str_column(cat["band"], list(_BAND_CODES)),
            "mjd": cat["mjd"].astype(np.float64),
            "flux": cat["flux"].astype(np.float64),
            "flux_err": cat["flux_err"].astype(np.float64),
            "detected": cat["detected"].astype(bool),
        }
    )
    objects = pd.DataFrame(
        {
            "object_id": pd.Series(ids, dtype="str"),
            "ra": ras,
            "dec": decs,
            "label": pd.Series(list(labels), dtype="str"),
            "group": pd.Series([CLASS_TO_GROUP[c] for c in labels], dtype="str"),
        }
    )
    return lc, objects
