#!/usr/bin/env bash
# Run every notebook of the reproduction in order with papermill.
#
#   ./run_all.sh                 # quick profile: embedded simulated data, CPU, minutes
#   ./run_all.sh paper           # paper profile: set DATA_DIR to your data, a GPU recommended
#   ./run_all.sh quick 04 05 06  # only these notebooks (their inputs must exist in OUT_DIR)
#   ./run_all.sh my_profile.yaml # a profile file of your own (a copy of configs/quick.yaml ...)
#
# Environment variables: DATA_DIR (real data directory; unset -> embedded simulator),
# OUT_DIR (artifacts; default artifacts/<profile>), DEVICE (auto|cpu|cuda), SEED,
# EXEC_DIR (executed notebooks and timings.csv; default executed/<profile>).
# The run stops at the first notebook that fails, with a non-zero exit status. Run it again
# after an interruption: completed folds are skipped, an interrupted fold resumes from its
# last checkpoint.
set -euo pipefail
cd "$(dirname "$0")"
usage() { echo "usage: $0 [quick|paper|PROFILE.yaml] [NN ...]" >&2; exit 2; }
PROFILE="${1:-quick}"
[ $# -gt 0 ] && shift
case "$PROFILE" in
  quick|paper) NAME="$PROFILE" ;;
  *.yaml|*.yml) [ -f "$PROFILE" ] || { echo "$PROFILE: no such profile file" >&2; exit 2; }
                PROFILE="$(realpath "$PROFILE")"; NAME="$(basename "${PROFILE%.*}")" ;;
  *) usage ;;
esac
NOTEBOOKS=()
if [ $# -eq 0 ]; then
  NOTEBOOKS=(notebooks/[0-9][0-9]_*.ipynb)
else
  for n in "$@"; do
    match=(notebooks/"$n"_*.ipynb)
    [ -f "${match[0]}" ] || { echo "no notebook notebooks/${n}_*.ipynb" >&2; usage; }
    NOTEBOOKS+=("${match[0]}")
  done
fi
EXEC_DIR="${EXEC_DIR:-executed/$NAME}"

source scripts/ensure_env.sh   # creates/activates .venv unless an environment is active

KERNEL=mslc
python -m ipykernel install --user --name "$KERNEL" --display-name "Python (mslc)" >/dev/null

mkdir -p "$EXEC_DIR"
EXEC_DIR="$(realpath "$EXEC_DIR")"
args=(-p PROFILE "$PROFILE")
[ -n "${DATA_DIR:-}" ] && args+=(-p DATA_DIR "$(realpath "$DATA_DIR")")
[ -n "${OUT_DIR:-}" ] && args+=(-p OUT_DIR "$(realpath -m "$OUT_DIR")")
[ -n "${DEVICE:-}" ] && args+=(-p DEVICE "$DEVICE")
[ -n "${SEED:-}" ] && args+=(-p SEED "$SEED")

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
