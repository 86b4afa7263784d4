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
