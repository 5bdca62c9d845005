#!/usr/bin/env bash
# Runs the test suite, first setting up what it needs (Vulkan driver, Xvfb, .venv).
# Extra arguments go to pytest (e.g. scripts/test.sh -k weights).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --with-xvfb >&2
if [ -z "${DISPLAY:-}" ]; then
  exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m pytest "$@"
fi
exec .venv/bin/python -m pytest "$@"
