#!/usr/bin/env bash
# The GPU check: the CUDA tests (tests/cuda) and the CUDA benchmark
# (benchmarks/cuda.py), summed up in OUT_DIR/report.md. docs/gpu.md says
# how to run it on a GPU machine (make gpu-wheels here first).
#
#   tools/gpu_check.sh OUT_DIR              # on the GPU machine
#   DEVICE=cpu tools/gpu_check.sh OUT_DIR   # anywhere: tests skip, the
#                                           # benchmark runs tiny on the CPU
#
# Wheels in .whl/ (mmengine, mmcv-lite, mmdet and what they need; see
# requirements/gpu_check.txt) are installed first into a folder of their
# own; without .whl/ the packages already installed are used. Each part has
# a time limit (TESTS_TIMEOUT, BENCHMARK_TIMEOUT, in seconds) so that the
# report is written even when one of them hangs.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: tools/gpu_check.sh OUT_DIR}
mkdir -p "$out"
py=${PYTHON:-python3}
device=${DEVICE:-cuda}
export PYTHONUNBUFFERED=1

if compgen -G '.whl/*.whl' >/dev/null; then
  site=${SITE_DIR:-/tmp/swin_mm_gpu_site}
  echo "[gpu_check] installing $(ls .whl/*.whl | wc -l) wheels into $site"
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
    --upgrade --target "$site" .whl/*.whl || {
    echo '[gpu_check] wheel install failed'; exit 1; }
  export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

echo "[gpu_check] CUDA tests"
timeout "${TESTS_TIMEOUT:-150}" "$py" -m pytest tests/cuda -m cuda \
  -p no:cacheprovider -q -rfEs --junitxml "$out/tests.xml" 2>&1 |
  tee "$out/tests.log"
tests_exit=${PIPESTATUS[0]}

echo "[gpu_check] benchmark"
bench_args=(--device "$device" --json "$out/benchmark.json")
[ "$device" = cpu ] && bench_args+=(--quick --archs tiny --rounds 2 --warmup 1)
timeout "${BENCHMARK_TIMEOUT:-150}" "$py" -m benchmarks.cuda \
  "${bench_args[@]}" 2>&1 | tee "$out/benchmark.log"
bench_exit=${PIPESTATUS[0]}

"$py" -m benchmarks.gpu_report --junit "$out/tests.xml" \
  --tests-exit "$tests_exit" --benchmark "$out/benchmark.json" \
  --benchmark-exit "$bench_exit" >"$out/report.md"
report_exit=$?
cat "$out/report.md"
[ "$tests_exit" -eq 0 ] && [ "$bench_exit" -eq 0 ] && [ "$report_exit" -eq 0 ]
