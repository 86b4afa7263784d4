#!/usr/bin/env bash
# The README's test command: unit tests of mslc_utils, then nbval regression tests of the
# notebooks (quick profile). Installs the environment first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_env.sh
python -m ipykernel install --user --name mslc --display-name "Python (mslc)" >/dev/null
echo "=== unit tests ==="
# one pytest worker per core (pytest-xdist), each with one torch/OpenMP thread so that the
# workers do not oversubscribe the cores; on 2 cores this halves the unit tests' wall time
# (docs/testing.md). The notebooks below run alone, with every core.
OMP_NUM_THREADS=1 python -m pytest tests -q -n auto
echo "=== notebook regression tests (nbval, quick profile) ==="
python -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
  -p no:cacheprovider notebooks -q
