#!/usr/bin/env bash
# Run every notebook of the reproduction in order with papermill (./run_all.sh --help).
# The run stops at the first notebook that fails, with a non-zero exit status. Run it again
# after an interruption: completed folds are skipped, an interrupted fold resumes from its
# last checkpoint. Portable: bash 3.2 (macOS) or later, no GNU-only tools.
set -euo pipefail
cd "$(dirname "$0")"

usage() {
  cat <<'USAGE'
usage: ./run_all.sh [quick|paper|PROFILE.yaml] [NN ...]

Runs notebooks/NN_*.ipynb in order with papermill. Executed notebooks and timings.csv go to
executed/<profile>/, tables and figures to figures/<profile>/, cached results (data, model
weights, predictions) to artifacts/<profile>/.

  ./run_all.sh                  quick profile: embedded simulated data, CPU, minutes
  ./run_all.sh paper            paper profile: published settings, needs DATA_DIR, GPU recommended
  ./run_all.sh quick 04 05 06   only these notebooks (their inputs must exist in OUT_DIR)
  ./run_all.sh my_profile.yaml  a profile file of your own (a copy of configs/quick.yaml, edited)

Environment variables:
  DATA_DIR               directory of real survey files (docs/real-data.md); unset: simulated data
  OUT_DIR                artifacts (default artifacts/<profile>)
  EXEC_DIR               executed notebooks and timings.csv (default executed/<profile>)
  DEVICE                 auto (CUDA, then Apple MPS, then CPU) | cuda | mps | cpu
  SEED                   overrides the profile's seed
  NPROC                  N > 1: train every SwinV2 fold first on N GPUs with torchrun
                         (python -m mslc_utils.train_folds); notebooks 03/05 then skip those folds
  MSLC_SIMULATE          1: run the paper profile on simulated data at full scale (days on a CPU)
  MSLC_PYTHON            interpreter for the .venv made on the first run (Python 3.11-3.13)
  MSLC_TORCH_INDEX_URL   index for torch, e.g. https://download.pytorch.org/whl/cpu (CPU-only build)
USAGE
}
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
die() { echo "$*" >&2; exit 2; }
# absolute paths without GNU `realpath -m`: of an existing directory, of a file in one
abs_dir() { (cd "$1" && pwd -P); }
abs_file() { printf '%s/%s\n' "$(abs_dir "$(dirname "$1")")" "$(basename "$1")"; }

PROFILE="${1:-quick}"
[ $# -gt 0 ] && shift
case "$PROFILE" in
  quick|paper) NAME="$PROFILE"; PROFILE_FILE="configs/$PROFILE.yaml" ;;
  *.yaml|*.yml) [ -f "$PROFILE" ] || die "$PROFILE: no such profile file"
                PROFILE="$(abs_file "$PROFILE")"; PROFILE_FILE="$PROFILE"
                NAME="$(basename "${PROFILE%.*}")" ;;
  *) usage >&2; exit 2 ;;
esac
# A full-scale profile without DATA_DIR would simulate 39,483 objects: only when asked for.
if [ -z "${DATA_DIR:-}" ] && [ "${MSLC_SIMULATE:-}" != 1 ] \
   && grep -Eq '^profile:[[:space:]]*paper([[:space:]#]|$)' "$PROFILE_FILE"; then
  die "The paper profile runs on your data: DATA_DIR=/path/to/data ./run_all.sh paper
(layout of the directory: docs/real-data.md). Without DATA_DIR it would simulate the paper's
39,483 objects and train at full scale (days on a CPU); to do that on purpose:
MSLC_SIMULATE=1 ./run_all.sh paper. A run of minutes on simulated data: ./run_all.sh"
fi
if [ -n "${DATA_DIR:-}" ] && [ ! -d "$DATA_DIR" ]; then
  die "DATA_DIR=$DATA_DIR: no such directory"
fi
NOTEBOOKS=()
if [ $# -eq 0 ]; then
  NOTEBOOKS=(notebooks/[0-9][0-9]_*.ipynb)
else
  for n in "$@"; do
    match=(notebooks/"$n"_*.ipynb)
    [ -f "${match[0]}" ] || { echo "no notebook notebooks/${n}_*.ipynb" >&2; usage >&2; exit 2; }
    NOTEBOOKS+=("${match[0]}")
  done
fi
EXEC_DIR="${EXEC_DIR:-executed/$NAME}"

source scripts/ensure_env.sh   # creates/activates .venv unless an environment is active

# the kernel the notebooks name, in this environment (not ~/.local: shared by every clone);
# its directory first on JUPYTER_PATH so that papermill starts this environment's python
KERNEL=mslc
JUPYTER_PATH="$(python -m mslc_utils.kernel)${JUPYTER_PATH:+:$JUPYTER_PATH}"
export JUPYTER_PATH

mkdir -p "$EXEC_DIR"
EXEC_DIR="$(abs_dir "$EXEC_DIR")"
args=(-p PROFILE "$PROFILE")
[ -n "${DATA_DIR:-}" ] && args+=(-p DATA_DIR "$(abs_dir "$DATA_DIR")")
if [ -n "${OUT_DIR:-}" ]; then mkdir -p "$OUT_DIR"; args+=(-p OUT_DIR "$(abs_dir "$OUT_DIR")"); fi
[ -n "${DEVICE:-}" ] && args+=(-p DEVICE "$DEVICE")
[ -n "${SEED:-}" ] && args+=(-p SEED "$SEED")

# Several GPUs: the SwinV2 folds are trained first by torchrun (the same code path as notebooks
# 03 and 05, docs/gpu-speed.md); the notebooks then find those folds complete and skip them.
if [ "${NPROC:-1}" -gt 1 ]; then
  echo "=== torchrun: SwinV2 folds on $NPROC processes ==="
  tr_env=()   # DEVICE and SEED reach train_folds through the environment as they are
  [ -n "${DATA_DIR:-}" ] && tr_env+=(DATA_DIR="$(abs_dir "$DATA_DIR")")
  [ -n "${OUT_DIR:-}" ] && tr_env+=(OUT_DIR="$(abs_dir "$OUT_DIR")")
  env ${tr_env[@]+"${tr_env[@]}"} torchrun --standalone --nproc_per_node="$NPROC" \
    -m mslc_utils.train_folds --profile "$PROFILE" --models all \
    || { echo "FAILED: torchrun training of the SwinV2 folds" >&2; exit 1; }
fi

# stage times of a whole run (read by benchmarks/run_benchmarks.py); a partial run's apart
timings="$EXEC_DIR/timings.csv"
[ $# -gt 0 ] && timings="$EXEC_DIR/timings_partial.csv"
echo "notebook,seconds" > "$timings"
start_all=$(date +%s)
for nb in "${NOTEBOOKS[@]}"; do
  name=$(basename "$nb")
  echo "=== $name ($NAME) ==="
  t0=$(date +%s)
  if ! papermill "$nb" "$EXEC_DIR/$name" -k "$KERNEL" --cwd notebooks \
       --log-level WARNING "${args[@]}"; then
    echo "FAILED: $name (executed copy with the error: $EXEC_DIR/$name)" >&2
    exit 1
  fi
  dt=$(( $(date +%s) - t0 ))
  echo "$name,$dt" >> "$timings"
  echo "--- $name done in $dt s"
done
echo "total,$(( $(date +%s) - start_all ))" >> "$timings"
echo "Done in $(( $(date +%s) - start_all )) s (${#NOTEBOOKS[@]} notebooks); figures in figures/$NAME/ (or OUT_DIR/figures)"
