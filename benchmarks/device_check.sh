#!/usr/bin/env bash
# One call on a CUDA machine: install, run the gpu-marked tests, and the CUDA throughput
# benchmark (B = 1 ... 4096) of the 1294-neuron RBM-shaped network, results as JSON in
# ${OUT:-benchmarks/results}. Budget: well under 8 minutes on one GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT_DIR="${OUT:-benchmarks/results}"
mkdir -p "$OUT_DIR"
python -m pip install -q torch==2.13.0 -e ".[test]" 2>/dev/null || python -m pip install -q -e ".[test]"
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
timeout 180 python -m pytest -q -m gpu tests/test_gpu.py | tee "$OUT_DIR/gpu_tests.txt"
timeout 300 python benchmarks/bench_engine.py --device cuda --chains 1 256 1024 4096 --no-brian2 \
    --out "$OUT_DIR/engine_cuda.json"
echo "results in $OUT_DIR"
