#!/usr/bin/env bash
# Re-creates gpu-backend/test/fixtures/tiny-random/, the random-weight model directory the Node
# backend's tests load. Deterministic: the same code gives byte-identical files.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$here/../test/fixtures/tiny-random"
rm -rf "$out"
bash "$here/scripts/export.sh" --tokenizer-config tiny --ar-config gpt-tiny --random-init --seed 0 \
  --model-id tiny-random --description "Test fixture: tiny random-weight GigaTok + GPT (no meaningful output)" \
  --out "$out" --verify
# The repo's formatter checks JSON too; manifest.json is not hashed, so reformatting it is safe.
repo="$(cd "$here/../.." && pwd)"
if [[ -x "$repo/node_modules/.bin/biome" ]]; then
  "$repo/node_modules/.bin/biome" format --write "$out/manifest.json" >/dev/null 2>&1
fi
