#!/bin/bash
# GPU session on a machine without network: install seqframe offline, run python -m benchmarks.gpu_check
# (GPU-marked tests, CUDA speed tables vs cuDNN packed/unpacked, fp32/bf16/fp16, determinism) and the full
# builtins/plugins speed tables on CUDA, copying reports to $OUT. Wheels the target lacks (datasets, dill,
# multiprocess, num2words, docopt, uvicorn) go in .whl/ first, e.g.
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 -d .whl datasets dill multiprocess num2words uvicorn
#   python -m pip wheel --no-deps -w .whl docopt
# Usage (repository root): OUT=/some/dir bash benchmarks/gpu_session.sh
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
cd "$(dirname "$0")/.."
: "${OUT:?set OUT to the folder for the reports}"
mkdir -p "$OUT"
start=$(date +%s)
[ -d .whl ] && python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl 2>&1 | tail -2
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . -e plugins/seqframe-indrnn -e plugins/seqframe-regression 2>&1 | tail -2
nvidia-smi -L; python3 -c "import torch, seqframe; print('torch', torch.__version__, torch.cuda.get_device_name(0))" 2>&1 | tail -2
echo "setup took $(( $(date +%s) - start )) s"
timeout ${GPU_CHECK_S:-330} python3 -m benchmarks.gpu_check --out /tmp/gpu --steps 200 2>&1 | tee $OUT/gpu_check.log | tail -40
cp /tmp/gpu/gpu-check.md $OUT/ 2>/dev/null
cp /tmp/gpu/speed/*.md /tmp/gpu/speed/*.json $OUT/ 2>/dev/null
left=$(( ${TOTAL_S:-520} - ($(date +%s) - start) ))
echo "left for the full builtins table: $left s"
if [ $left -gt 90 ]; then
  timeout $(( left - 20 )) python3 -m benchmarks.speed --device cuda --only builtins,plugins --out /tmp/speed-full 2>&1 | tail -30 > $OUT/speed_full.log
  for f in /tmp/speed-full/*; do cp "$f" "$OUT/full-$(basename "$f")"; done 2>/dev/null
fi
ls -la $OUT
