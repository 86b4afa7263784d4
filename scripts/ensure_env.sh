# shellcheck shell=bash
# Sourced by run_all.sh and scripts/test.sh: make sure the project's environment is active.
#
# - If a virtualenv or conda environment is already active and mslc_utils imports, use it.
# - Otherwise create (once) .venv next to this repository with a supported Python
#   (scripts/find_python.sh: $MSLC_PYTHON, python3, python3.13/3.12/3.11, or uv) and install
#   the pinned dependencies. torch is installed first and exactly pinned, so that pip never
#   resolves an open-ended torch. MSLC_TORCH_INDEX_URL (e.g.
#   https://download.pytorch.org/whl/cpu) takes torch from that index instead of PyPI: on
#   Linux, PyPI's torch comes with its CUDA libraries (docs/install.md gives the sizes).
_mslc_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_mslc_torch="torch==2.13.0"

_mslc_ready() { python -c "import mslc_utils, torch, transformers, papermill, nbval, xdist" >/dev/null 2>&1; }

if [ -n "${VIRTUAL_ENV:-}${CONDA_PREFIX:-}" ] && _mslc_ready; then
  :  # an active environment already has everything
else
  if [ ! -x "$_mslc_root/.venv/bin/python" ]; then
    # shellcheck source=scripts/find_python.sh
    source "$_mslc_root/scripts/find_python.sh"
    _mslc_python="$(mslc_find_python)" || exit 1
    echo "Creating $_mslc_root/.venv with $_mslc_python (first run only)..."
    if [ "$_mslc_python" = uv ]; then
      uv venv --seed --python ">=3.11,<3.14" "$_mslc_root/.venv" || exit 1
    else
      "$_mslc_python" -m venv "$_mslc_root/.venv" || exit 1
    fi
    unset _mslc_python
  fi
  # shellcheck disable=SC1091
  source "$_mslc_root/.venv/bin/activate"
  if ! _mslc_ready || [ "$_mslc_root/pyproject.toml" -nt "$_mslc_root/.venv/.mslc-installed" ]; then
    echo "Installing pinned dependencies into .venv ..."
    if [ -n "${MSLC_TORCH_INDEX_URL:-}" ]; then
      python -m pip install -q --index-url "$MSLC_TORCH_INDEX_URL" "$_mslc_torch" || exit 1
    else
      python -m pip install -q "$_mslc_torch" || exit 1
    fi
    python -m pip install -q -e "${_mslc_root}[notebooks,test]" || exit 1
    touch "$_mslc_root/.venv/.mslc-installed"
  fi
fi
unset -f _mslc_ready
