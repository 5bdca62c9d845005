#!/usr/bin/env bash
# GPU readiness check, one command on a machine with an NVIDIA GPU (a few minutes): sets up what it
# needs, prints the device, runs the CoopVec tests (CoopVec path equals the portable one), benchmarks
# rtxns-simple-training and tcnn-hash on both MLP paths at batches 2^10, 2^14 and 2^18 (samples/s,
# PSNR, host us per step), then runs the real window for 60 s under a virtual display (fps, samples/s,
# against the headless loop). Everything it prints goes to stdout; copy the figures into the README's
# performance table with the device name.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-xvfb >&2 || exit 2
PY=.venv/bin/python
status=0
$PY app.py info || exit 2
$PY -m pytest tests/test_coopvec.py -q -rs || status=1
for mlp in portable coopvec; do
  for batch in 1024 16384 262144; do
    $PY -m app.bench --preset rtxns-simple-training,tcnn-hash --batch "$batch" --steps 100 --mlp "$mlp" \
        --no-torch || status=1
  done
done
$PY -m app.bench --preset rtxns-simple-training --steps 20 --no-torch --window 60 || status=1
exit $status
