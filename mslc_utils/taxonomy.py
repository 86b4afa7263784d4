"""The 21-class taxonomy of the paper (Table 1), in Table 1 order, with groups.

The order matters: confusion matrices (Figure 4) and every per-class table use it,
and the group boundaries (Transient | Stochastic | Periodic) are drawn between
consecutive classes of this list.
"""
from __future__ import annotations

from dataclasses import dataclass

GROUPS: tuple[str, ...] = ("Transient", "Stochastic", "Periodic")


@dataclass(frozen=True)
class ClassInfo:
    """One class of Table 1: its label, group and number of ZTF objects in the paper."""

    label: str
    group: str
    paper_count: int


# Table 1 of the paper, read column by column (Transient, Stochastic, Periodic).
TAXONOMY: tuple[ClassInfo, ...] = (
    ClassInfo("SNIa", "Transient", 2486),
    ClassInfo("SESN", "Transient", 565),
    ClassInfo("SNII", "Transient", 1393),
    ClassInfo("SNIIn", "Transient", 267),
    ClassInfo("SLSN", "Transient", 185),
    ClassInfo("TDE", "Transient", 81),
    ClassInfo("Microlensing", "Stochastic", 29),
    ClassInfo("QSO", "Stochastic", 2923),
    ClassInfo("AGN", "Stochastic", 2898),
    ClassInfo("Blazar", "Stochastic", 1393),
    ClassInfo("YSO", "Stochastic", 2773),
    ClassInfo("CV/Nova", "Stochastic", 1640),
    ClassInfo("LPV", "Periodic", 2931),
    ClassInfo("EA", "Periodic", 2909),
    ClassInfo("EB/EW", "Periodic", 2921),
    ClassInfo("Periodic-Other", "Periodic", 1269),
    ClassInfo("RSCVn", "Periodic", 2452),
    ClassInfo("CEP", "Periodic", 2891),
    ClassInfo("RRLab", "Periodic", 2931),
    ClassInfo("RRLc", "Periodic", 2936),
    ClassInfo("DSCT", "Periodic", 1610),
)

CLASSES: tuple[str, ...] = tuple(c.label for c in TAXONOMY)
CLASS_TO_INDEX: dict[str, int] = {c: i for i, c in enumerate(CLASSES)}
CLASS_TO_GROUP: dict[str, str] = {c.label: c.group for c in TAXONOMY}
PAPER_COUNTS: dict[str, int] = {c.label: c.paper_count for c in TAXONOMY}
N_CLASSES: int = len(CLASSES)


def group_boundaries() -> list[int]:
    """Indices ``i`` such that a group boundary lies between class ``i-1`` and ``i``."""
    return [i for i in range(1, N_CLASSES) if TAXONOMY[i].group != TAXONOMY[i - 1].group]


def label_to_index(labels) -> "list[int]":
    """Map class labels to integer indices in Table 1 order; unknown labels raise ``KeyError``."""
    out = []
    for lab in labels:
        if lab not in CLASS_TO_INDEX:
            raise KeyError(f"unknown class label {lab!r}; known labels: {', '.join(CLASSES)}")
        out.append(CLASS_TO_INDEX[lab])
    return out


# Labels as surveys, brokers and the Transient Name Server write them -> classes of Table 1.
# Compared after normalize_label (lower case, no spaces, hyphens, underscores or dots), so
# "SN Ia", "SN_Ia", "sn ia" and "SNIa" are one key. Subtypes go to their parent class, as in
# the ALeRCE taxonomy the paper uses (SESN = stripped-envelope: Ib, Ic, Ic-BL, IIb, Ibn, Icn).
LABEL_ALIASES: dict[str, str] = {
    **{k: "SNIa" for k in ("SN Ia", "SN Ia-91T-like", "SN Ia-91bg-like", "SN Ia-pec", "SN Ia-CSM",
                           "SN Ia-SC", "SN Iax[02cx-like]", "SN Iax", "Ia", "SNe Ia")},
    **{k: "SESN" for k in ("SN Ib", "SN Ic", "SN Ic-BL", "SN Ib/c", "SN Ibc", "SN IIb", "SN Ibn",
                           "SN Icn", "SN Ib-pec", "SN Ic-pec", "SN Ib-Ca-rich", "Ibc", "Ib", "Ic")},
    **{k: "SNII" for k in ("SN II", "SN IIP", "SN II-P", "SN IIL", "SN II-L", "SN II-pec", "II")},
    **{k: "SNIIn" for k in ("SN IIn", "SN IIn-pec", "IIn")},
    **{k: "SLSN" for k in ("SLSN-I", "SLSN-II", "SLSN-R", "SLSN I", "SLSN II", "SLSNe")},
    **{k: "TDE" for k in ("TDE-H", "TDE-He", "TDE-H-He", "TDE-featureless", "Tidal Disruption Event")},
    **{k: "CV/Nova" for k in ("CV", "Nova", "Dwarf Nova", "Cataclysmic Variable", "CV Nova")},
    **{k: "Microlensing" for k in ("ulens", "Microlens", "Microlensing Event")},
    **{k: "EB/EW" for k in ("EW", "EB", "W UMa")},
    **{k: "Periodic-Other" for k in ("Periodic Other", "Periodic")},
    **{k: "RRLab" for k in ("RRab", "RR Lyrae ab", "RRL ab")},
    **{k: "RRLc" for k in ("RRc", "RR Lyrae c", "RRL c")},
    **{k: "CEP" for k in ("Cepheid", "DCEP", "Classical Cepheid")},
    **{k: "DSCT" for k in ("Delta Scuti", "delta Sct", "HADS")},
    **{k: "LPV" for k in ("Mira", "SR", "Long Period Variable")},
    **{k: "RSCVn" for k in ("RS CVn",)},
    **{k: "QSO" for k in ("Quasar",)},
    **{k: "Blazar" for k in ("BL Lac", "FSRQ")},
    **{k: "YSO" for k in ("Young Stellar Object", "T Tauri")},
}


def normalize_label(label: str) -> str:
    """Lower case without spaces, hyphens, underscores, dots or slashes (the alias key)."""
    return "".join(ch for ch in str(label).strip().lower() if ch not in " -_./")


_ALIAS_INDEX: dict[str, str] = {
    **{normalize_label(k): v for k, v in LABEL_ALIASES.items()},
    **{normalize_label(c): c for c in CLASSES},
}


def canonical_label(label: str) -> str:
    """The Table 1 class of a label written as surveys or TNS write it (:data:`LABEL_ALIASES`).

    ``"SN Ia"`` -> ``"SNIa"``, ``"SN Ic-BL"`` -> ``"SESN"``, ``"SN IIn"`` -> ``"SNIIn"``,
    ``"TDE"`` -> ``"TDE"``. Raises ``KeyError`` naming the closest classes for anything else.
    """
    key = normalize_label(label)
    if key in _ALIAS_INDEX:
        return _ALIAS_INDEX[key]
    import difflib

    close = difflib.get_close_matches(key, list(_ALIAS_INDEX), n=3)
    hint = f"; closest: {', '.join(sorted({_ALIAS_INDEX[c] for c in close}))}" if close else ""
    raise KeyError(f"label {label!r} is not a class of Table 1 nor a known alias{hint}")
