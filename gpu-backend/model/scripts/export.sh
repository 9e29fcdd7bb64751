#!/usr/bin/env bash
# Exports a model directory (ONNX graphs + manifest.json): sets up the venv, then runs
# `python -m gigatok_model.export` with the given arguments (paths relative to the caller's cwd).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup-python.sh"
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "$here/.venv/bin/python" -m gigatok_model.export "$@"
