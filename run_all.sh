#!/usr/bin/env bash
# Run every notebook of the reproduction in order with papermill.
#
#   ./run_all.sh            # quick profile: embedded simulated data, CPU, minutes
#   ./run_all.sh paper      # paper profile: set DATA_DIR to your data, a GPU recommended
#
# Environment variables: DATA_DIR (real data directory; unset -> embedded simulator),
# OUT_DIR (artifacts; default artifacts/<profile>), DEVICE (auto|cpu|cuda), SEED.
# Executed notebooks are written to executed/<profile>/; the run stops at the first
# notebook that fails, with a non-zero exit status.
set -euo pipefail
cd "$(dirname "$0")"
PROFILE="${1:-quick}"
case "$PROFILE" in quick|paper) ;; *) echo "usage: $0 [quick|paper]" >&2; exit 2 ;; esac

source scripts/ensure_env.sh   # creates/activates .venv unless an environment is active

KERNEL=mslc
python -m ipykernel install --user --name "$KERNEL" --display-name "Python (mslc)" >/dev/null

mkdir -p "executed/$PROFILE"
args=(-p PROFILE "$PROFILE")
[ -n "${DATA_DIR:-}" ] && args+=(-p DATA_DIR "$(realpath "$DATA_DIR")")
[ -n "${OUT_DIR:-}" ] && args+=(-p OUT_DIR "$(realpath -m "$OUT_DIR")")
[ -n "${DEVICE:-}" ] && args+=(-p DEVICE "$DEVICE")
[ -n "${SEED:-}" ] && args+=(-p SEED "$SEED")

timings="executed/$PROFILE/timings.csv"   # stage times, read by benchmarks/run_benchmarks.py
echo "notebook,seconds" > "$timings"
start_all=$(date +%s)
for nb in notebooks/[0-9][0-9]_*.ipynb; do
  name=$(basename "$nb")
  echo "=== $name ($PROFILE) ==="
  t0=$(date +%s)
  if ! papermill "$nb" "executed/$PROFILE/$name" -k "$KERNEL" --cwd notebooks \
       --log-level WARNING "${args[@]}"; then
    echo "FAILED: $name (executed copy with the error: executed/$PROFILE/$name)" >&2
    exit 1
  fi
  dt=$(( $(date +%s) - t0 ))
  echo "$name,$dt" >> "$timings"
  echo "--- $name done in $dt s"
done
echo "total,$(( $(date +%s) - start_all ))" >> "$timings"
echo "All notebooks done in $(( $(date +%s) - start_all )) s; figures in figures/$PROFILE/"
