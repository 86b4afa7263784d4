#!/usr/bin/env bash
# The README's test command: unit tests of mslc_utils, then nbval regression tests of the
# notebooks (quick profile). Installs the environment first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure_env.sh
python -m ipykernel install --user --name mslc --display-name "Python (mslc)" >/dev/null
echo "=== unit tests ==="
python -m pytest tests -q
echo "=== notebook regression tests (nbval, quick profile) ==="
python -m pytest --nbval-lax --nbval-current-env --nbval-sanitize-with notebooks/sanitize.cfg \
  -p no:cacheprovider notebooks -q
