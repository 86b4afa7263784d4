"""mslc_utils: the library behind the mslc notebooks (multi-survey light-curve classification)."""
from .schema import (
    DataValidationError,
    Dataset,
    load_dataset,
    save_dataset,
    validate_lightcurves,
    validate_objects,
)
from .taxonomy import CLASSES, GROUPS, N_CLASSES, TAXONOMY

__version__ = "0.1.0"
