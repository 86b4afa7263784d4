"""``python -m mslc_utils`` = the ``mslc`` command (see :mod:`mslc_utils.cli`)."""
import sys

from .cli import main

sys.exit(main())
