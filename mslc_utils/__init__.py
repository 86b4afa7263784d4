"""mslc_utils: the library behind the mslc notebooks (multi-survey light-curve classification).

Modules, in pipeline order: ``taxonomy`` (Table 1), ``schema`` (canonical tables),
``io``/``io_*``/``preprocess``/``ingest`` (real survey data), ``simulate`` (embedded data),
``splits``, ``config``/``data`` (profiles and run context), ``render``/``image_dataset``
(light curves to images), ``models``/``training`` (SwinV2, MS-SwinV2, Trainer), ``atat``
(ATAT baseline), ``fusion`` (post-hoc fusions, BRF grid), ``results`` (Table 2, Figure 4,
Appendix C), ``artifacts`` (files of a trained fold).
"""
from . import config  # profiles and run context: mslc_utils.config.load_config("quick")
from .ingest import FilteringReport, IngestError, build_dataset, find_report, load_or_build
from .io import DropLog, ReadError, detect_format, read_info, read_lightcurve
from .schema import (
    DataValidationError,
    Dataset,
    load_dataset,
    save_dataset,
    validate_lightcurves,
    validate_objects,
)
from .splits import fold_partition, make_splits
from .taxonomy import CLASSES, GROUPS, N_CLASSES, TAXONOMY

__version__ = "0.2.0"
