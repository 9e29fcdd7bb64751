#!/usr/bin/env bash
# `npm run test:scale`: the real-scale tier. Exports random-init GigaTok S-S + GPT-B of the official
# architecture (256x256 images, 256 tokens, codebook 16384, 1000 classes) once, caches the model directory
# under .cache/scale-models/<hash> (hash of the exporter's sources, its requirements and the export
# arguments), starts the real stack on it and runs test/scale through the public API.
# Env: GIGATOK_SCALE_CACHE (cache root, default .cache/scale-models).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
model="$root/gpu-backend/model"

# The official smallest pair with random weights; no --verify: the parity of exactly this export path is
# covered by the Python tests (gpu-backend/model/README.md has the S-S + GPT-B figures).
export_args=(--tokenizer-config S-S --ar-config GPT-B --random-init --seed 0 --model-id gigatok-s-s-gpt-b)

bash "$model/scripts/setup-python.sh"

hash="$(
  {
    printf '%s\n' "${export_args[@]}"
    cat "$model/requirements.txt" "$model/scripts/export.sh"
    # The package's sources and data (the class names), less the nano model's training code.
    find "$model/gigatok_model" -type f -not -path '*/nano/*' -not -path '*/__pycache__/*' | LC_ALL=C sort | xargs cat
  } | sha256sum | cut -c1-16
)"
cache_root="${GIGATOK_SCALE_CACHE:-$root/.cache/scale-models}"
dir="$cache_root/$hash"

if [[ -f "$dir/manifest.json" ]]; then
  echo "[scale] reusing $dir"
else
  mkdir -p "$cache_root"
  tmp="$(mktemp -d "$cache_root/.export-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  echo "[scale] exporting S-S + GPT-B (random weights) into $dir (about a minute on 2 cores, 3 GB of RAM) ..."
  started=$SECONDS
  bash "$model/scripts/export.sh" "${export_args[@]}" --out "$tmp/model"
  # Rename only a complete directory, so an interrupted export is never reused.
  mv "$tmp/model" "$dir"
  rm -rf "$tmp"
  trap - EXIT
  echo "[scale] exported in $((SECONDS - started)) s"
fi

cd "$root/test"
GIGATOK_E2E_MODEL_DIR="$dir" exec npx vitest run --config vitest.scale.config.ts "$@"
