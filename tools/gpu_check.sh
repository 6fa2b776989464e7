#!/usr/bin/env bash
# The device check of an accelerator machine (README "On a GPU"), sized to fit in 8 minutes on
# one H100 with 16 cores: the quick validation of every family for native and brainevent on the
# GPU (families in parallel processes, no GPU memory preallocation), the benchmarks on the GPU at
# n = 10^4 and 10^5 for every family (grid `gpu`: native, brainevent and both dense baselines,
# the unbatched and batched products; the dense baselines at n = 10^4 only), and the report,
# all into results/<machine>/<UTC time>/ like any run; results/latest is moved to it when every
# stage wrote complete results. Each stage runs under a time limit and reports its wall time.
#
#   tools/gpu_check.sh            # on the GPU machine (PYTHON=... to choose the interpreter)
#   tools/gpu_check.sh --smoke    # the same stages on the CPU, tiny: proves the script runs
set -uo pipefail
cd "$(dirname "$0")/.."
export XLA_PYTHON_CLIENT_PREALLOCATE=false
PY=${PYTHON:-python3}
OUT=${EVBENCH_OUT:-results}
JOBS=${EVBENCH_JOBS:-8}
if [ "${1:-}" = "--smoke" ]; then
  DEVICE=cpu; GRID=tiny; FAMILIES="--family csr --family jitc_normal_r --family dense"; LIMIT=300
  VALIDATE_BACKENDS="--backend native"
else
  DEVICE=gpu; GRID=gpu; FAMILIES=""; LIMIT=240
  VALIDATE_BACKENDS="--backend native --backend brainevent"
  $PY - <<'PY' || { echo "gpu_check: JAX sees no GPU here (use --smoke on a CPU machine)" >&2; exit 2; }
import jax, sys
sys.exit(0 if any(d.platform in ("gpu", "cuda", "rocm") for d in jax.devices()) else 1)
PY
fi
FOLDER=$($PY -c "from evbench.harness.results import run_folder; print(run_folder('$OUT'))") || exit 2
echo "gpu_check: results in $FOLDER/ (device $DEVICE)"
status=0
stage() {  # stage NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS
  timeout "$limit" "$@"; local rc=$?
  echo "gpu_check: $name: exit $rc, $((SECONDS - t0)) s"
  [ $rc -le 1 ] || status=1
  return 0
}
stage validate "$LIMIT" $PY -m evbench validate --profile quick $VALIDATE_BACKENDS $FAMILIES \
  --jobs "$JOBS" --into "$FOLDER" --no-progress
stage bench "$LIMIT" $PY -m evbench bench --grid "$GRID" --device "$DEVICE" $FAMILIES \
  --backend native --backend brainevent --backend dense --backend dense_default \
  --product vecmat --product matvec --product vecmat_batch --product matvec_batch --into "$FOLDER" --no-progress
stage report 60 $PY -m evbench report "$FOLDER" --title "evbench device check on $DEVICE"
if [ $status -eq 0 ]; then
  $PY -c "from evbench.harness.results import point_latest; print('gpu_check: latest ->', point_latest('$OUT', '$FOLDER'))"
fi
echo "gpu_check: total $SECONDS s; report: $FOLDER/report.html"
exit $status
