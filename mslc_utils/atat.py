"""ATAT (LC): the light-curve branch of ATAT (Cabrera-Vives et al. 2024), Models 1 and 2.

Written for this project from the paper's description and ATAT's (see
``shared/reference/method-notes.md``); no code was copied.

Pipeline
--------
1. :func:`make_windows` cuts each object's light curve of one survey into windows of
   ``window`` (200) consecutive observations: all bands of the survey together, sorted by
   time, ``window_index = rank // window``. Every observation lands in exactly one window,
   a window never mixes objects, and the time of every observation is shifted by the first
   time of its window.
2. Datasets: :class:`WindowDataset` (training, paper profile) serves every window as a
   sample of its object's class; :class:`RandomWindowDataset` (training, quick profile)
   serves one random window per object per access; :class:`ObjectWindowsDataset`
   (validation and prediction) serves one object with all its windows (optionally at most
   ``max_eval_windows``, evenly spread). :func:`collate_atat` pads windows to the longest
   one and marks real observations with ``mask`` (``True``) — padding is **never**
   recognised from a flux value, so a real zero flux stays a real observation.
3. :class:`ATATLC`: per observation a token ``Linear_b([f, e]) * alpha_b(t) + beta_b(t)``
   where ``b`` is the band, ``f, e`` the normalised flux and error, and ``alpha_b``,
   ``beta_b`` learned linear maps of Fourier features ``sin/cos(2 pi k t / T)``,
   ``k = 1..16``, ``T = 1500`` d; a learnable class token is prepended; post-LayerNorm
   Transformer encoder (3 layers, 4 heads); head = LayerNorm + Linear on the class token.
   ``model(**batch)`` returns ``loss`` (with ``labels``), ``logits`` (B x 21) and
   ``embeddings`` (B x d, the class token), the protocol of :mod:`mslc_utils.training`.
4. Per object: for a batch of objects (``window_owner`` given) the model averages the
   window softmax probabilities and class-token embeddings per object (by owner index,
   never by row order) and returns ``log(mean probability)`` as logits, so validation
   macro-F1 (early stopping) and the saved predictions are per object.
   :func:`aggregate_windows` does the same on arrays keyed by ``object_id``.
5. :func:`train_atat_folds`: every fold through :func:`mslc_utils.training.run_fold` (the
   Trainer, class-balanced sampler, early stopping and artifacts of the SwinV2 models).

Flux normalisation (our choice, the paper does not state one): ``asinh(flux / s)`` and
``asinh(flux_err / s)`` with a fixed ``s = flux_scale`` (10 µJy by default, about 21.4 AB
mag). It is global (the same for every window), so the absolute brightness and amplitude,
which carry class information, are kept; it is linear for faint fluxes, logarithmic for
bright ones, odd (negative difference fluxes are fine) and needs no statistics that could
leak between splits.
"""
from __future__ import annotations

import logging
import math
import time as _time
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from transformers.utils import ModelOutput

from .schema import SURVEY_BANDS
from .taxonomy import CLASS_TO_INDEX, CLASSES, N_CLASSES

log = logging.getLogger(__name__)

#: model ids of the two ATAT rows of Table 2, per survey
ATAT_MODEL_IDS: dict[str, str] = {"ZTF": "atat_ztf", "ATLAS": "atat_atlas"}


# ----------------------------------------------------------------------------------------
# Windowing
# ----------------------------------------------------------------------------------------
@dataclass
class WindowSet:
    """Light curves of one survey cut into windows of consecutive observations.

    Observation arrays (length ``n_obs``) are ordered window by window; window ``i`` owns
    ``obs[start[i] : start[i] + length[i]]``.

    Attributes
    ----------
    object_id, window_index, start, length, label
        Per window: its object, its rank within the object (0, 1, ...), its slice of the
        observation arrays and its class index (Table 1 order, ``-1`` when unknown).
    time
        Days since the first observation of the window (float64, so the shift is exact).
    flux, flux_err
        Raw values (µJy) as float32; a zero flux stays zero.
    band
        Band index into ``bands`` (int64).
    row
        Position of the observation in the input table (``reset_index`` order), so a caller
        can check that every observation appears exactly once.
    bands
        Band names of the survey in index order.
    """

    object_id: np.ndarray
    window_index: np.ndarray
    start: np.ndarray
    length: np.ndarray
    label: np.ndarray
    time: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    band: np.ndarray
    row: np.ndarray
    bands: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.start)

    @property
    def n_obs(self) -> int:
        """Number of observations over all windows."""
        return len(self.time)

    def subset(self, windows: np.ndarray) -> "WindowSet":
        """A new :class:`WindowSet` holding only the given window indices (in that order)."""
        windows = np.asarray(windows, dtype=np.int64)
        starts, lengths = self.start[windows], self.length[windows]
        obs = (
            np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths)])
            if len(windows)
            else np.zeros(0, dtype=np.int64)
        )
        new_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if len(windows) else starts
        return WindowSet(
            object_id=self.object_id[windows],
            window_index=self.window_index[windows],
            start=new_start,
            length=lengths.copy(),
            label=self.label[windows],
            time=self.time[obs],
            flux=self.flux[obs],
            flux_err=self.flux_err[obs],
            band=self.band[obs],
            row=self.row[obs],
            bands=self.bands,
        )

    def select_objects(self, object_ids: Iterable[str]) -> "WindowSet":
        """The windows of the given objects (e.g. one fold's training objects)."""
        keep = np.isin(self.object_id, np.asarray(list(object_ids), dtype=object))
        return self.subset(np.flatnonzero(keep))

    def cap_per_object(self, max_windows: int | None, seed: int = 0) -> "WindowSet":
        """At most ``max_windows`` windows per object, spread evenly over the light curve.

        Used by the quick profile to bound CPU time (documented in ``configs/quick.yaml``).
        Windows are chosen deterministically: evenly spaced ranks with a seeded offset.
        ``None`` returns ``self`` unchanged.
        """
        if max_windows is None:
            return self
        if max_windows < 1:
            raise ValueError(f"max_windows must be >= 1 or None, got {max_windows}")
        rng = np.random.default_rng(seed)
        keep: list[int] = []
        codes, uniq = pd.factorize(self.object_id)
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        for group in np.split(order, bounds):
            if len(group) <= max_windows:
                keep.extend(group.tolist())
                continue
            step = len(group) / max_windows
            offset = rng.uniform(0, step)
            picks = np.minimum((offset + step * np.arange(max_windows)).astype(int), len(group) - 1)
            keep.extend(group[np.unique(picks)].tolist())
        return self.subset(np.sort(np.asarray(keep, dtype=np.int64)))


def make_windows(
    lightcurves: pd.DataFrame,
    survey: str | None = None,
    window: int = 200,
    labels: Mapping[str, str] | pd.Series | None = None,
) -> WindowSet:
    """Cut each object's light curve of one survey into windows of ``window`` observations.

    Parameters
    ----------
    lightcurves
        Canonical light-curve table (``object_id``, ``survey``, ``band``, ``mjd``, ``flux``,
        ``flux_err``). Rows of other surveys are ignored when ``survey`` is given.
    survey
        ``"ZTF"`` or ``"ATLAS"``; ``None`` requires the table to hold exactly one survey.
    window
        Maximum number of observations per window (the paper: 200).
    labels
        Optional ``object_id -> class label`` mapping; windows of objects without a label
        get ``label = -1``.

    Returns
    -------
    WindowSet
        Observations sorted by (object_id, mjd, band); ``window_index = rank // window``.

    Raises
    ------
    ValueError
        For an unknown survey, a band that does not belong to the survey, or ``window < 1``.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    lc = lightcurves
    if survey is None:
        surveys = pd.unique(lc["survey"])
        if len(surveys) != 1:
            raise ValueError(f"make_windows: give `survey`; the table holds surveys {list(surveys)}")
        survey = str(surveys[0])
    if survey not in SURVEY_BANDS:
        raise ValueError(f"make_windows: unknown survey {survey!r}; expected one of {list(SURVEY_BANDS)}")
    bands = SURVEY_BANDS[survey]
    lc = lc.loc[lc["survey"] == survey, ["object_id", "mjd", "band", "flux", "flux_err"]]
    lc = lc.reset_index(drop=True)
    band_idx = lc["band"].map({b: i for i, b in enumerate(bands)})
    if band_idx.isna().any():
        bad = lc.loc[band_idx.isna(), ["object_id", "band"]].drop_duplicates().head(3)
        raise ValueError(
            f"make_windows: band(s) {sorted(set(bad['band']))} are not bands of {survey} {list(bands)} "
            f"(objects: {list(bad['object_id'])})"
        )
    lc = lc.assign(_band=band_idx.astype(np.int64).to_numpy(), _row=np.arange(len(lc)))
    # Time order across bands; the band breaks ties so the order never depends on row order.
    lc = lc.sort_values(["object_id", "mjd", "_band"], kind="stable").reset_index(drop=True)
    oid = lc["object_id"].astype(str).to_numpy(dtype=object)
    rank = lc.groupby("object_id", sort=False).cumcount().to_numpy()
    win = rank // window
    n = len(lc)
    new = np.ones(n, dtype=bool)
    if n:
        new[1:] = (oid[1:] != oid[:-1]) | (win[1:] != win[:-1])
    start = np.flatnonzero(new).astype(np.int64)
    length = np.diff(np.append(start, n)).astype(np.int64)
    mjd = lc["mjd"].to_numpy(np.float64)
    t0 = np.repeat(mjd[start], length)
    win_oid = oid[start]
    if labels is not None:
        lab_map = dict(labels.items()) if isinstance(labels, (pd.Series, dict)) else dict(labels)
        win_label = np.array(
            [CLASS_TO_INDEX.get(lab_map.get(o), -1) if lab_map.get(o) is not None else -1 for o in win_oid],
            dtype=np.int64,
        )
    else:
        win_label = np.full(len(start), -1, dtype=np.int64)
    return WindowSet(
        object_id=win_oid,
        window_index=win[start].astype(np.int64),
        start=start,
        length=length,
        label=win_label,
        # own, writable copies (pandas may hand out read-only views; torch wants writable)
        time=np.array(mjd - t0, dtype=np.float64),
        flux=np.array(lc["flux"].to_numpy(), dtype=np.float32),
        flux_err=np.array(lc["flux_err"].to_numpy(), dtype=np.float32),
        band=np.array(lc["_band"].to_numpy(), dtype=np.int64),
        row=np.array(lc["_row"].to_numpy(), dtype=np.int64),
        bands=bands,
    )


def _window_item(w: WindowSet, i: int) -> dict[str, torch.Tensor]:
    s, n = int(w.start[i]), int(w.length[i])
    return {
        "time": torch.from_numpy(w.time[s : s + n].astype(np.float32)),
        "flux": torch.from_numpy(w.flux[s : s + n].copy()),
        "flux_err": torch.from_numpy(w.flux_err[s : s + n].copy()),
        "band": torch.from_numpy(w.band[s : s + n].copy()),
    }


def _object_groups(object_id: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Unique object ids (sorted) and, for each, the indices of its windows (in order)."""
    codes, uniq = pd.factorize(pd.Series(object_id, dtype=object), sort=True)
    order = np.argsort(codes, kind="stable")
    bounds = np.flatnonzero(np.diff(codes[order])) + 1
    return np.asarray(uniq, dtype=object), np.split(order, bounds) if len(order) else []


class WindowDataset(torch.utils.data.Dataset):
    """Training set: one item per window (each window a sample of its object's class).

    Items: ``time``, ``flux``, ``flux_err``, ``band`` (1-D tensors of the window's length)
    and ``labels``. Labels (hence sampler weights) come from :attr:`labels` without
    building any item.
    """

    def __init__(self, windows: WindowSet) -> None:
        self.windows = windows

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def labels(self) -> np.ndarray:
        """Class index of every item."""
        return self.windows.label

    @property
    def object_ids(self) -> np.ndarray:
        """Object id of every item."""
        return self.windows.object_id

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = _window_item(self.windows, i)
        item["labels"] = torch.tensor(int(self.windows.label[i]), dtype=torch.long)
        return item


class _PerObjectWindows(torch.utils.data.Dataset):
    """One item per **object** of a :class:`WindowSet`: ids, labels and window groups."""

    def __init__(self, windows: WindowSet) -> None:
        self.windows = windows
        self._ids, self._groups = _object_groups(windows.object_id)
        self._labels = np.array([windows.label[g[0]] for g in self._groups], dtype=np.int64)

    def __len__(self) -> int:
        return len(self._groups)

    @property
    def labels(self) -> np.ndarray:
        """Class index of every item (object)."""
        return self._labels

    @property
    def object_ids(self) -> np.ndarray:
        """Object id of every item (sorted)."""
        return self._ids


class RandomWindowDataset(_PerObjectWindows):
    """Training set of the quick profile: one item per **object**; every access returns one
    of its windows drawn at random (torch's global generator, which the Trainer seeds), so
    an epoch costs one window per object while the epochs still see all windows."""

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = self._groups[i]
        j = int(g[int(torch.randint(len(g), (1,)))]) if len(g) > 1 else int(g[0])
        item = _window_item(self.windows, j)
        item["labels"] = torch.tensor(int(self._labels[i]), dtype=torch.long)
        return item


class ObjectWindowsDataset(_PerObjectWindows):
    """Evaluation/prediction set: one item per object holding **all** its windows
    (``windows``: a list of window dicts) and ``labels``. :func:`collate_atat` flattens the
    windows of a batch and records their owner, and :class:`ATATLC` averages the window
    probabilities per object — grouped by owner index, never by row order."""

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "windows": [_window_item(self.windows, int(j)) for j in self._groups[i]],
            "labels": torch.tensor(int(self._labels[i]), dtype=torch.long),
        }


def collate_windows(
    items: Sequence[Mapping[str, torch.Tensor]], pad_to: int | None = None
) -> dict[str, torch.Tensor]:
    """Pad a list of window items to the longest one (or ``pad_to``) and build the mask.

    ``mask`` is ``True`` for real observations and ``False`` for padding; padded values are
    zeros but the model never looks at them (it only trusts ``mask``).
    """
    n = max(len(it["time"]) for it in items)
    if pad_to is not None:
        if pad_to < n:
            raise ValueError(f"pad_to={pad_to} is shorter than the longest window ({n})")
        n = pad_to
    b = len(items)
    out = {
        "time": torch.zeros(b, n, dtype=torch.float32),
        "flux": torch.zeros(b, n, dtype=torch.float32),
        "flux_err": torch.zeros(b, n, dtype=torch.float32),
        "band": torch.zeros(b, n, dtype=torch.long),
        "mask": torch.zeros(b, n, dtype=torch.bool),
    }
    for j, it in enumerate(items):
        k = len(it["time"])
        for key in ("time", "flux", "flux_err", "band"):
            out[key][j, :k] = it[key]
        out["mask"][j, :k] = True
    if all("labels" in it for it in items):
        out["labels"] = torch.stack([torch.as_tensor(it["labels"]) for it in items]).long()
    return out


def collate_atat(items: Sequence[Mapping[str, Any]]) -> dict[str, torch.Tensor]:
    """The data collator of every ATAT loader (training, evaluation, prediction).

    * Window items (training): :func:`collate_windows`.
    * Object items (:class:`ObjectWindowsDataset`): all windows of the batch's objects,
      flattened and padded, plus ``window_owner`` (position of each window's object in the
      batch) and ``labels`` per object.
    """
    if "windows" not in items[0]:
        return collate_windows(items)
    flat, owner = [], []
    for j, it in enumerate(items):
        flat.extend(it["windows"])
        owner.extend([j] * len(it["windows"]))
    out = collate_windows(flat)
    out["window_owner"] = torch.tensor(owner, dtype=torch.long)
    if all("labels" in it for it in items):
        out["labels"] = torch.stack([torch.as_tensor(it["labels"]) for it in items]).long()
    return out


def aggregate_windows(
    object_ids: Sequence[str] | np.ndarray,
    probs: np.ndarray,
    embeddings: np.ndarray | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Mean window probability (and embedding) per object, grouped by ``object_id``.

    Parameters
    ----------
    object_ids
        Object id of each window (any order; rows of one object need not be adjacent).
    probs
        ``(n_windows, 21)`` class probabilities of the windows.
    embeddings
        Optional ``(n_windows, D)`` class-token embeddings.

    Returns
    -------
    (probabilities, embeddings)
        DataFrames indexed by ``object_id`` (sorted), columns ``prob_00``..``prob_20`` and
        ``emb_000``..; the second is ``None`` without embeddings.
    """
    ids = np.asarray(object_ids).astype(str)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or len(probs) != len(ids):
        raise ValueError(f"probs must be (n_windows, n_classes) with n_windows={len(ids)}, got {probs.shape}")
    p = pd.DataFrame(probs, columns=[f"prob_{c:02d}" for c in range(probs.shape[1])])
    p.insert(0, "object_id", ids)
    p = p.groupby("object_id", sort=True).mean()
    e = None
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype=np.float64)
        if len(embeddings) != len(ids):
            raise ValueError(f"embeddings has {len(embeddings)} rows for {len(ids)} windows")
        e = pd.DataFrame(embeddings, columns=[f"emb_{c:03d}" for c in range(embeddings.shape[1])])
        e.insert(0, "object_id", ids)
        e = e.groupby("object_id", sort=True).mean()
    return p, e


# ----------------------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------------------
@dataclass
class ATATConfig:
    """Hyper-parameters of :class:`ATATLC` (the ``atat`` section of a profile, model part)."""

    n_bands: int = 2
    d_model: int = 192
    n_heads: int = 4
    n_layers: int = 3
    d_ff: int = 384
    dropout: float = 0.1
    attention_dropout: float = 0.1
    n_harmonics: int = 16
    t_max: float = 1500.0
    flux_scale: float = 10.0
    use_flux_err: bool = True
    n_classes: int = N_CLASSES

    @classmethod
    def from_section(cls, section: Mapping[str, Any], n_bands: int = 2) -> "ATATConfig":
        """Pick the model keys of an ``atat`` config section (others are ignored)."""
        names = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in section.items() if k in names}
        kw["n_bands"] = n_bands
        return cls(**kw)


@dataclass
class ATATOutput(ModelOutput):
    """``loss`` (when labels are given), ``logits`` (B x C) and ``embeddings`` (B x d)."""

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    embeddings: torch.Tensor | None = None


class TimeModulatedEmbedding(nn.Module):
    """Per band: ``Linear([f, e]) * alpha(t) + beta(t)`` with Fourier features of ``t``."""

    def __init__(self, cfg: ATATConfig) -> None:
        super().__init__()
        self.cfg = cfg
        n_in = 2 if cfg.use_flux_err else 1
        self.value = nn.Parameter(torch.empty(cfg.n_bands, n_in, cfg.d_model))
        self.value_bias = nn.Parameter(torch.zeros(cfg.n_bands, cfg.d_model))
        n_f = 2 * cfg.n_harmonics
        self.alpha = nn.Parameter(torch.empty(cfg.n_bands, n_f, cfg.d_model))
        self.alpha_bias = nn.Parameter(torch.ones(cfg.n_bands, cfg.d_model))
        self.beta = nn.Parameter(torch.empty(cfg.n_bands, n_f, cfg.d_model))
        self.beta_bias = nn.Parameter(torch.zeros(cfg.n_bands, cfg.d_model))
        self.register_buffer(
            "freqs",
            2 * math.pi * torch.arange(1, cfg.n_harmonics + 1, dtype=torch.float32) / cfg.t_max,
            persistent=False,
        )

    def fourier(self, t: torch.Tensor) -> torch.Tensor:
        """``[sin(2 pi k t / T), cos(2 pi k t / T)]_{k=1..K}`` of shape (..., 2K)."""
        arg = t.unsqueeze(-1) * self.freqs
        return torch.cat([torch.sin(arg), torch.cos(arg)], dim=-1)

    def forward(
        self, time: torch.Tensor, flux: torch.Tensor, flux_err: torch.Tensor, band: torch.Tensor
    ) -> torch.Tensor:
        s = self.cfg.flux_scale
        feats = [torch.asinh(flux / s)]
        if self.cfg.use_flux_err:
            feats.append(torch.asinh(flux_err / s))
        x = torch.stack(feats, dim=-1)  # (B, L, n_in)
        ff = self.fourier(time)  # (B, L, 2K)
        # Evaluate every band's maps, then keep the token's own band (n_bands is 2: cheap).
        val = torch.einsum("bli,kid->blkd", x, self.value) + self.value_bias
        alpha = torch.einsum("blf,kfd->blkd", ff, self.alpha) + self.alpha_bias
        beta = torch.einsum("blf,kfd->blkd", ff, self.beta) + self.beta_bias
        tok = val * alpha + beta  # (B, L, n_bands, d)
        idx = band.clamp(0, self.cfg.n_bands - 1)[..., None, None].expand(-1, -1, 1, tok.shape[-1])
        return tok.gather(2, idx).squeeze(2)


class EncoderLayer(nn.Module):
    """Post-LayerNorm Transformer encoder block (as in ATAT) on
    :func:`torch.nn.functional.scaled_dot_product_attention` with a key mask.

    Written out (instead of ``nn.TransformerEncoderLayer``) so that training and inference
    take the same fused attention kernel on CPU and GPU; ``nn.TransformerEncoderLayer``'s
    inference fast path uses a masked softmax that is several times slower on CPU.
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, dropout: float, attention_dropout: float) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} is not divisible by n_heads={n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ff1 = nn.Linear(d_model, d_ff)
        self.ff2 = nn.Linear(d_ff, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.attention_dropout = attention_dropout

    def forward(self, x: torch.Tensor, keep: torch.Tensor, n_queries: int | None = None) -> torch.Tensor:
        """``x`` (B, L, d); ``keep`` (B, L) bool, ``True`` for tokens that may be attended to.

        ``n_queries``: return only the first ``n_queries`` tokens, ``(B, n_queries, d)``. The
        last layer needs only the class token: its query attends to all L keys as before, so
        the output is the same function, at 1 query instead of L (attention is most of ATAT's
        cost on the CPU; this saves about a third of it with 3 layers).
        """
        b, n, d = x.shape
        h, dh = self.n_heads, d // self.n_heads
        if n_queries is None:
            q, k, v = self.qkv(x).view(b, n, 3, h, dh).permute(2, 0, 3, 1, 4)
            residual = x
        else:
            # qkv's output rows are [q | k | v] (the view above): project q for the kept tokens only
            w_q, w_kv = self.qkv.weight.split([d, 2 * d])
            b_q, b_kv = self.qkv.bias.split([d, 2 * d])
            residual = x[:, :n_queries]
            q = nn.functional.linear(residual, w_q, b_q).view(b, n_queries, h, dh).transpose(1, 2)
            k, v = nn.functional.linear(x, w_kv, b_kv).view(b, n, 2, h, dh).permute(2, 0, 3, 1, 4)
        att = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=keep[:, None, None, :],
            dropout_p=self.attention_dropout if self.training else 0.0,
        )
        m = q.shape[2]
        x = self.norm1(residual + self.dropout(self.proj(att.transpose(1, 2).reshape(b, m, d))))
        return self.norm2(x + self.dropout(self.ff2(self.dropout(nn.functional.gelu(self.ff1(x))))))


class ATATLC(nn.Module):
    """ATAT (LC): time-modulated band tokens, class token, post-LN encoder, linear head.

    ``forward(time, flux, flux_err, band, mask, labels=None)``; all inputs ``(B, L)``,
    ``mask`` ``True`` for real observations. Padding never changes the output.
    """

    def __init__(self, config: ATATConfig) -> None:
        super().__init__()
        self.config = config
        self.embed = TimeModulatedEmbedding(config)
        self.cls_token = nn.Parameter(torch.empty(1, 1, config.d_model))
        self.layers = nn.ModuleList(
            EncoderLayer(config.d_model, config.n_heads, config.d_ff, config.dropout, config.attention_dropout)
            for _ in range(config.n_layers)
        )
        self.head_norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.n_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # ATAT initialises every parameter with more than one dimension as N(0, 0.02).
        for name, p in self.named_parameters():
            if p.dim() > 1 and not name.endswith("_bias"):
                nn.init.normal_(p, mean=0.0, std=0.02)

    def encode(
        self, time: torch.Tensor, flux: torch.Tensor, flux_err: torch.Tensor, band: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        """Class-token embedding of every window, ``(n_windows, d)``."""
        mask = mask.bool()
        # Padded positions get neutral inputs so that no NaN/inf can leak through 0 * x.
        time = torch.where(mask, time, torch.zeros_like(time))
        flux = torch.where(mask, flux, torch.zeros_like(flux))
        flux_err = torch.where(mask, flux_err, torch.zeros_like(flux_err))
        band = torch.where(mask, band, torch.zeros_like(band))
        tokens = self.embed(time, flux, flux_err, band)
        b = tokens.shape[0]
        x = torch.cat([self.cls_token.expand(b, -1, -1).to(tokens.dtype), tokens], dim=1)
        keep = torch.cat([torch.ones(b, 1, dtype=torch.bool, device=mask.device), mask], dim=1)
        *inner, last = self.layers
        for layer in inner:
            x = layer(x, keep)
        # only the class token leaves the encoder: the last layer computes its row alone
        return last(x, keep, n_queries=1)[:, 0]

    def forward(
        self,
        time: torch.Tensor,
        flux: torch.Tensor,
        flux_err: torch.Tensor,
        band: torch.Tensor,
        mask: torch.Tensor,
        labels: torch.Tensor | None = None,
        window_owner: torch.Tensor | None = None,
    ) -> ATATOutput:
        """Windows ``(n_windows, L)`` in; per window, or with ``window_owner`` per object.

        Without ``window_owner`` every row is a sample: ``logits`` of the window, loss =
        cross-entropy. With ``window_owner`` (object index of each window, any order) the
        windows' softmax probabilities are averaged per object and ``logits`` =
        ``log(mean probability)`` (so a softmax gives the mean back exactly), ``embeddings``
        = mean class-token embedding, loss = negative log-likelihood of the mean.
        """
        emb = self.encode(time, flux, flux_err, band, mask)
        logits = self.head(self.head_norm(emb)).float()
        if window_owner is None:
            loss = nn.functional.cross_entropy(logits, labels.long()) if labels is not None else None
            return ATATOutput(loss=loss, logits=logits, embeddings=emb)
        owner = window_owner.long()
        n_obj = int(labels.shape[0]) if labels is not None else int(owner.max().item()) + 1
        counts = torch.zeros(n_obj, device=logits.device).index_add_(0, owner, torch.ones_like(owner, dtype=torch.float32))
        if (counts == 0).any():
            raise ValueError("an object of the batch has no window")
        probs = torch.zeros(n_obj, logits.shape[1], device=logits.device).index_add_(0, owner, logits.softmax(-1))
        probs = probs / counts[:, None]
        emb_obj = torch.zeros(n_obj, emb.shape[1], device=emb.device, dtype=torch.float32)
        emb_obj = emb_obj.index_add_(0, owner, emb.float()) / counts[:, None]
        obj_logits = torch.log(probs.clamp_min(1e-12))
        loss = nn.functional.nll_loss(obj_logits, labels.long()) if labels is not None else None
        return ATATOutput(loss=loss, logits=obj_logits, embeddings=emb_obj)


# ----------------------------------------------------------------------------------------
# Folds: train, predict and save (the same Trainer and artifacts as the SwinV2 models)
# ----------------------------------------------------------------------------------------
#: keys of the ``atat`` config section that are not model or optimiser settings
DATA_KEYS: tuple[str, ...] = ("window", "train_windows", "max_eval_windows", "epoch_val_windows")


def _splits_hash(splits: pd.DataFrame) -> str:
    import hashlib

    s = splits.sort_values("object_id")
    payload = "\n".join(f"{o},{f}" for o, f in zip(s["object_id"].astype(str), s["fold"].astype(int)))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def fold_datasets(
    windows: WindowSet, partition: Any, section: Mapping[str, Any], seed: int = 0
) -> tuple[torch.utils.data.Dataset, dict[str, ObjectWindowsDataset], ObjectWindowsDataset]:
    """The training dataset, the train/val/test prediction datasets and the per-epoch
    validation dataset (early stopping) of one fold.

    ``section["train_windows"]``: ``"all"`` (every window an item; the paper) or
    ``"random_per_object"`` (one random window per object per access; quick profile).
    ``section["max_eval_windows"]``: ``None`` (all windows; the paper) or a cap on the
    windows per object used for validation and prediction (evenly spread).
    ``section["epoch_val_windows"]``: ``None`` (the per-epoch validation that drives early
    stopping uses the validation prediction set; the paper) or a smaller cap for it alone
    (quick profile: CPU time); the saved predictions and the reported validation and test
    macro-F1 still use ``max_eval_windows``.
    """
    mode = section.get("train_windows", "all")
    cap = section.get("max_eval_windows")
    epoch_cap = section.get("epoch_val_windows")
    train_w = windows.select_objects(partition.train)
    if mode == "all":
        train_ds: torch.utils.data.Dataset = WindowDataset(train_w)
    elif mode == "random_per_object":
        train_ds = RandomWindowDataset(train_w)
    else:
        raise ValueError(f"atat.train_windows must be 'all' or 'random_per_object', got {mode!r}")
    pred = {
        split: ObjectWindowsDataset(windows.select_objects(ids).cap_per_object(cap, seed=seed))
        for split, ids in (("train", partition.train), ("val", partition.val), ("test", partition.test))
    }
    epoch_val = pred["val"]
    if epoch_cap is not None:  # a subset of the validation prediction set's windows
        epoch_val = ObjectWindowsDataset(epoch_val.windows.cap_per_object(epoch_cap, seed=seed))
    return train_ds, pred, epoch_val


def train_atat_folds(
    ctx: Any,
    dataset: Any,
    survey: str,
    folds: Sequence[int] | None = None,
    force: bool = False,
) -> pd.DataFrame:
    """Train ATAT (LC) on one survey for every fold and save the contract's artifacts.

    Model id ``atat_ztf`` or ``atat_atlas`` (:data:`ATAT_MODEL_IDS`). Uses the generic fold
    runner of :mod:`mslc_utils.training` (Trainer, class-balanced sampler, early stopping
    on validation macro-F1 — per object, i.e. on mean window probabilities —, skip if
    complete). Predictions and embeddings are saved one row per object: the mean window
    probability and the mean class-token embedding. Objects without a light curve in
    ``survey`` have no windows and hence no ATAT prediction (counted in the log).

    Parameters
    ----------
    ctx
        :class:`mslc_utils.config.RunContext` (uses ``ctx.section("atat")``, ``seed``,
        ``device``, ``out_dir``).
    dataset
        :class:`mslc_utils.schema.Dataset` with splits.
    survey
        ``"ZTF"`` or ``"ATLAS"``.

    Returns
    -------
    One row per fold: ``fold``, ``val_macro_f1``, ``test_macro_f1``, ``best_epoch``,
    ``epochs_run``, ``train_seconds``, ``predict_seconds``, ``skipped``, ``wall_seconds``.
    """
    from . import artifacts
    from .splits import fold_partition, n_folds_of
    from .training import PredictSet, TrainSettings, run_fold

    if survey not in ATAT_MODEL_IDS:
        raise ValueError(f"survey must be one of {list(ATAT_MODEL_IDS)}, got {survey!r}")
    if dataset.splits is None:
        raise ValueError("train_atat_folds: the dataset has no splits (use mslc_utils.data.get_dataset)")
    model_id = ATAT_MODEL_IDS[survey]
    section = ctx.section("atat")
    splits = dataset.splits
    labels = dict(zip(splits["object_id"].astype(str), splits["label"].astype(str)))
    windows = make_windows(dataset.lightcurves, survey, window=int(section.get("window", 200)), labels=labels)
    have = set(windows.object_id)
    missing = [o for o in labels if o not in have]
    if missing:
        log.warning("%s: %d object(s) have no %s light curve and get no ATAT prediction (e.g. %s)",
                    model_id, len(missing), survey, missing[:3])
    model_cfg = ATATConfig.from_section(section, n_bands=len(SURVEY_BANDS[survey]))
    settings = TrainSettings.from_config(section, seed=ctx.seed, device=ctx.device)
    n_folds = n_folds_of(splits)
    fold_list = list(range(n_folds)) if folds is None else [int(k) for k in folds]
    data_id = {
        "splits": _splits_hash(splits),
        "n_windows": len(windows),
        "n_obs": windows.n_obs,
        "manifest": {k: v for k, v in (dataset.manifest or {}).items() if k in ("simulation", "source", "n_epochs", "n_objects")},
    }
    rows = []
    for k in fold_list:
        part = fold_partition(splits, k)
        train_ds, pred_ds, epoch_val_ds = fold_datasets(windows, part, section, seed=ctx.seed + k)
        run_config = {
            "model_id": model_id,
            "survey": survey,
            "fold": k,
            "seed": ctx.seed,
            "atat": section,
            "model": asdict(model_cfg),
            "data": data_id,
        }
        t0 = _time.perf_counter()

        def factory(cfg: ATATConfig = model_cfg) -> ATATLC:
            return ATATLC(cfg)

        res = run_fold(
            artifacts.fold_dir(ctx.out_dir, model_id, k),
            run_config,
            factory,
            train_ds,
            epoch_val_ds,
            train_ds.labels,
            {s: PredictSet(d, d.object_ids, d.labels) for s, d in pred_ds.items()},
            settings,
            force=force,
            data_collator=collate_atat,
            log_prefix=f"{model_id} fold {k}: ",
        )
        res["wall_seconds"] = round(_time.perf_counter() - t0, 3)
        rows.append({"fold": k, **res})
    return pd.DataFrame(rows)
