#!/usr/bin/env bash
# Print the Python interpreter to build the project's .venv with, or "uv" when only uv can
# provide one; exit 1 with a message saying what to install otherwise. Used by ensure_env.sh.
#
# Order: $MSLC_PYTHON if set (must be a supported version), then `python3` if its version is
# supported (the interpreter the user already uses), then python3.13, python3.12, python3.11,
# then `uv` (which downloads a supported Python itself). Supported: 3.11 to 3.13, the versions
# every pinned dependency has wheels for. Bash 3.2 compatible; uses no external tools, so a
# test can run it with PATH holding only fake interpreters.
MSLC_MIN_MINOR=11
MSLC_MAX_MINOR=13

# "3.12" for an interpreter that runs and prints "Python 3.12.x"; nothing otherwise
_mslc_version_of() {
  local out
  out="$("$1" --version 2>&1)" || return 1
  case "$out" in
    "Python 3."*) out="${out#Python 3.}"; echo "3.${out%%[!0-9]*}" ;;
    *) return 1 ;;
  esac
}

_mslc_supported() {  # $1 = "3.12"
  local minor="${1#3.}"
  case "$1" in 3.*) ;; *) return 1 ;; esac
  case "$minor" in ''|*[!0-9]*) return 1 ;; esac
  [ "$minor" -ge "$MSLC_MIN_MINOR" ] && [ "$minor" -le "$MSLC_MAX_MINOR" ]
}

mslc_find_python() {
  local cand v seen=""
  if [ -n "${MSLC_PYTHON:-}" ]; then
    v="$(_mslc_version_of "$MSLC_PYTHON")" || v="?"
    if _mslc_supported "$v"; then echo "$MSLC_PYTHON"; return 0; fi
    echo "MSLC_PYTHON=$MSLC_PYTHON is Python $v; mslc needs Python 3.$MSLC_MIN_MINOR to 3.$MSLC_MAX_MINOR." >&2
    return 1
  fi
  for cand in python3 python3.13 python3.12 python3.11; do
    command -v "$cand" >/dev/null 2>&1 || continue
    v="$(_mslc_version_of "$cand")" || continue
    if _mslc_supported "$v"; then echo "$cand"; return 0; fi
    seen="$seen $cand=$v"
  done
  if command -v uv >/dev/null 2>&1; then echo uv; return 0; fi
  printf '%s\n' \
    "No suitable Python found: mslc needs Python 3.$MSLC_MIN_MINOR, 3.12 or 3.$MSLC_MAX_MINOR (found:${seen:- none})." \
    "Install one (python.org, your package manager, pyenv, or uv: https://docs.astral.sh/uv/)," \
    "point MSLC_PYTHON at it (MSLC_PYTHON=/path/to/python3.12 ./run_all.sh), or activate a" \
    "conda environment made from environment.yml before running." >&2
  return 1
}

# run as a script: print the choice; sourced: only define the functions
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  mslc_find_python
fi
