# Sourced by run_all.sh and scripts/test.sh: make sure the project's environment is active.
#
# - If a virtualenv or conda environment is already active and mslc_utils imports, use it.
# - Otherwise create (once) .venv next to this repository and install the pinned
#   dependencies. torch is installed first and exactly pinned, so that pip never resolves
#   an open-ended torch (which would pull multi-GB CUDA wheels).
_mslc_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_mslc_torch="torch==2.13.0"

_mslc_ready() { python -c "import mslc_utils, torch, transformers, papermill, nbval" >/dev/null 2>&1; }

if [ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] && _mslc_ready; then
  :  # an active environment already has everything
else
  if [ ! -x "$_mslc_root/.venv/bin/python" ]; then
    echo "Creating $_mslc_root/.venv (first run only)..."
    python3 -m venv "$_mslc_root/.venv"
  fi
  # shellcheck disable=SC1091
  source "$_mslc_root/.venv/bin/activate"
  if ! _mslc_ready || [ "$_mslc_root/pyproject.toml" -nt "$_mslc_root/.venv/.mslc-installed" ]; then
    echo "Installing pinned dependencies into .venv ..."
    python -m pip install -q "$_mslc_torch"
    python -m pip install -q -e "$_mslc_root[notebooks,test]"
    touch "$_mslc_root/.venv/.mslc-installed"
  fi
fi
unset -f _mslc_ready
