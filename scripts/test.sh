#!/usr/bin/env bash
# The README's test command: unit tests of mslc_utils, then nbval regression tests of the
# notebooks (quick profile). Installs the environment first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_env.sh
echo "=== unit tests ==="
# one pytest worker per core (pytest-xdist), each with one torch/OpenMP thread so that the
# workers do not oversubscribe the cores; on 2 cores this halves the unit tests' wall time
# (docs/testing.md). tests/conftest.py starts the longest tests first and keeps
# test_paper_profile.py on one worker. The notebooks below run alone, with every core.
OMP_NUM_THREADS=1 python -m pytest tests -q -n auto
echo "=== notebook regression tests (nbval, quick profile) ==="
# nbval executes copies of the notebooks whose OUT_DIR is a temporary directory, so that the
# run's artifacts and figures never overwrite the committed figures/quick (scripts/prepare_nbval.py)
# (MSLC_NBVAL_DIR=<a directory outside the clone> keeps them there, e.g. to read its Table 2)
if [ -n "${MSLC_NBVAL_DIR:-}" ]; then
  nbval_dir="$MSLC_NBVAL_DIR"
  mkdir -p "$nbval_dir"
else
  nbval_dir="$(mktemp -d "${TMPDIR:-/tmp}/mslc-nbval.XXXXXX")"
  trap 'rm -rf "$nbval_dir"' EXIT
fi
python scripts/prepare_nbval.py notebooks "$nbval_dir/notebooks" --out-dir "$nbval_dir/artifacts" >/dev/null
python -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
  -p no:cacheprovider "$nbval_dir/notebooks" -q
