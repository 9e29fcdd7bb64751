#!/usr/bin/env bash
# Trains the gigatok-nano default model from scratch (data, teacher, tokenizers, AR models, sweep,
# ONNX export to models/gigatok-nano/, evaluation, docs/default-model.md): sets up the venv, then
# runs `python -m gigatok_model.nano.train_all` with the given arguments (e.g. --smoke).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup-python.sh"
PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" exec "$here/.venv/bin/python" -m gigatok_model.nano.train_all "$@"
