#!/usr/bin/env bash
# Runs Neural Texture Studio, first setting up what it needs (Vulkan driver, .venv).
# No arguments: opens the window. Otherwise: the CLI, e.g. scripts/run.sh train --texture textures/coffee.png
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >&2
exec .venv/bin/python app.py "$@"
