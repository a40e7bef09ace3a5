#!/usr/bin/env bash
# The GPU check: one command, under 9 minutes on one GPU, whose Python has torch, transformers and
# peft but not flwr, flwr-datasets or datasets (nothing can be downloaded there).
#
#   make gpu-wheels               # here, with PyPI: the missing wheels into .whl/, the tokenizer into .assets/
#   bash benchmarks/gpu_check.sh  # there, with .whl/ and .assets/ copied along
#
# 1. the smoke tests of precision/device, engine and paradigms with FEDLIB_DEVICE=cuda;
# 2. the throughput benchmark on the GPU, for me5s-q4's and XLM-R base's shapes (random weights: the
#    backbone files are not needed to measure speed).
# Results go to $OUT (default /tmp/fedlib-gpu-check): test logs and benchmark JSON.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/fedlib-gpu-check}
PY=${PYTHON:-python3}
mkdir -p "$OUT"

if ! "$PY" -c "import flwr, flwr_datasets, datasets" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "flwr/datasets missing and no .whl/ here: run 'make gpu-wheels' first" >&2; exit 2; }
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/fedlib-site .whl/*.whl || exit 2
  export PYTHONPATH=/tmp/fedlib-site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}  # fedlib from this checkout, not installed
export FEDLIB_DEVICE=cuda FEDLIB_PROFILE=smoke FEDLIB_PROGRESS=0 HF_HUB_OFFLINE=1 FEDLIB_OFFLINE=1
export FEDLIB_ASSETS=$PWD/.assets FEDLIB_CACHE=${FEDLIB_CACHE:-/tmp/fedlib-cache} FEDLIB_RESULTS=/tmp/fedlib-gpu-results
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0))" \
  | tee -a "$OUT/gpu.txt"

status=0
timeout 300 "$PY" -m pytest -q -p no:cacheprovider -o addopts="" tests/test_runtime.py tests/test_engine.py \
  tests/test_paradigms.py 2>&1 | tee "$OUT/smoke-tests.log" || status=1

for backbone in me5s-q4 FacebookAI/xlm-roberta-base; do
  name=$(basename "$backbone")
  FEDLIB_PROFILE=cpu FEDLIB_BACKBONE=$backbone timeout 150 "$PY" benchmarks/run.py --only throughput \
    --device cuda --random-weights --repeats 3 --out "$OUT/throughput-$name" 2>&1 | tail -20 || status=1
  cp "$OUT/throughput-$name/throughput.json" "$OUT/throughput-$name.json" 2>/dev/null
done
exit $status
