#!/usr/bin/env bash
# The backend benchmarks on an NVIDIA GPU with onnxruntime's CUDA provider: the default nano model and a
# random-init S-S tokenizer + GPT-B (the paper's smallest released sizes, exported once by the model
# tooling), each through bench/run.ts (in process, HTTP batching on/off for nano, generate.onnx vs the
# per-step loop, open-loop arrivals on the whole-run / per-step / chunked generate paths, PyTorch eager
# where a CUDA torch is present, dataset tokenization with flip), then the headline ratios side by side.
# Sized for one run under 8 minutes on one GPU host (most of it the S-S + GPT-B export, cached).
#
#   bash bench/gpu.sh              # GPU: needs nvidia-smi and onnxruntime-node's CUDA provider
#   bash bench/gpu.sh --dry-run    # CPU, tiny sizes: checks every step of this script anywhere
#
# Environment: GIGATOK_BENCH_BIG_DIR (where the S-S + GPT-B export is kept, default
# /tmp/gigatok-bench-ss-gptb), GIGATOK_BENCH_SKIP_BIG=1 (nano only), GIGATOK_BENCH_OUT (results folder).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

dry_run=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/gpu.sh: unknown option '$arg' (use --dry-run or --help)" >&2; exit 2 ;;
  esac
done

tsx="$repo/node_modules/.bin/tsx"
python="$repo/gpu-backend/model/.venv/bin/python"
out="${GIGATOK_BENCH_OUT:-$repo/bench/results}"
stamp="$(date -u +%Y-%m-%d-%H-%M)"
started=$SECONDS
log() { printf '[gpu.sh %3ds] %s\n' $((SECONDS - started)) "$*" >&2; }

if [[ ! -x "$tsx" ]]; then
  echo "bench/gpu.sh: node_modules is missing; run 'npm ci' first" >&2
  exit 1
fi

device=cpu
if [[ $dry_run == 0 ]]; then
  if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    log "no NVIDIA GPU here (nvidia-smi fails): running the CPU dry run instead"
    dry_run=1
  else
    device=cuda
    nvidia-smi -L >&2
  fi
fi

nano="$repo/models/gigatok-nano"
if [[ ! -f "$nano/manifest.json" ]]; then
  log "models/gigatok-nano does not exist: using the tiny-random test fixture as the small model"
  nano="$repo/gpu-backend/test/fixtures/tiny-random"
fi

if [[ $device == cuda ]]; then
  # A CUDA provider that cannot load must stop the run, never fall back to the CPU silently.
  if ! "$tsx" bench/run.ts --check --device cuda --model-dir "$nano"; then
    cat >&2 <<'MSG'
bench/gpu.sh: onnxruntime-node could not create a CUDA session (reason above).
Install its CUDA provider: ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node
(CUDA 12 + cuDNN 9 on the library path; see shared/TOOLCHAIN.md for CUDA 13 hosts), then run again.
MSG
    exit 1
  fi
fi

have_python=0
if [[ -x "$python" ]] && "$python" -c 'import torch' >/dev/null 2>&1; then have_python=1; fi

# The big pair: S-S + GPT-B on a GPU, tiny + gpt-tiny in the dry run (same export path, seconds).
big=""
if [[ "${GIGATOK_BENCH_SKIP_BIG:-0}" != 1 ]]; then
  if [[ $dry_run == 1 ]]; then
    big_dir="${GIGATOK_BENCH_BIG_DIR:-${TMPDIR:-/tmp}/gigatok-bench-tiny-export}"
    export_args=(--tokenizer-config tiny --ar-config gpt-tiny --model-id bench-tiny-export)
  else
    big_dir="${GIGATOK_BENCH_BIG_DIR:-${TMPDIR:-/tmp}/gigatok-bench-ss-gptb}"
    export_args=(--tokenizer-config S-S --ar-config GPT-B --model-id bench-ss-gptb)
  fi
  if [[ -f "$big_dir/manifest.json" ]]; then
    log "reusing the export in $big_dir"
    big="$big_dir"
  elif [[ $have_python == 1 || -n "$(command -v python3)" ]]; then
    log "exporting ${export_args[*]} with random weights to $big_dir (model tooling, PyTorch on the CPU)"
    if bash gpu-backend/model/scripts/export.sh "${export_args[@]}" --random-init --out "$big_dir" >&2; then
      big="$big_dir"
    else
      log "the export failed; the big model is left out"
      rm -rf "$big_dir"
    fi
  else
    log "no Python: the big model is left out"
  fi
  if [[ -x "$python" ]] && "$python" -c 'import torch' >/dev/null 2>&1; then have_python=1; fi
fi
[[ $have_python == 1 ]] || log "no PyTorch in gpu-backend/model/.venv: the PyTorch reference is left out"

files=()
if [[ $dry_run == 1 ]]; then
  small_args=(--quick)
  big_args=(--quick --generate-batches 1,2 --graph-batches 1 --ref-batches 1 --arrival-batch 2 --chunk-steps 0,4)
else
  small_args=(--seconds 1 --http-seconds 1.5 --ref-threads 1)
  # GPT-B copies its whole KV cache to the host at every one of 256 steps (~75 MB per tensor at the
  # last step of batch 4), so generation stays at small batches and recompute (32,896 runs/image) is left out.
  # Open-loop arrivals with chunked generation at the default S (from the warm-up timing) and at
  # S = 32 and 128 (docs/performance.md, "Chunked generation": the chunk copies the state, 36 MiB per
  # image, out of the GPU once).
  big_args=(--seconds 1 --generate-batches 1,4 --recompute-batches '' --graph-batches 1,4 --ref-batches 1,4
    --ref-threads 1 --arrival-batch 8 --arrival-requests 48 --chunk-steps 0,32,128 --dataset-images 128)
fi

# A section that fails is reported in the results and makes run.ts exit 1; carry on to the summary.
status=0
log "small model: $nano on $device"
"$tsx" bench/run.ts --device "$device" --model-dir "$nano" --sections backend,http,graph,arrivals,reference,dataset \
  --out "$out" --label "gpu-$stamp-small-$device" "${small_args[@]}" >/dev/null || status=1
files+=("$out/gpu-$stamp-small-$device.json")

if [[ -n "$big" ]]; then
  log "big model: $big on $device"
  "$tsx" bench/run.ts --device "$device" --model-dir "$big" --sections backend,graph,arrivals,reference,dataset \
    --out "$out" --label "gpu-$stamp-big-$device" "${big_args[@]}" >/dev/null || status=1
  files+=("$out/gpu-$stamp-big-$device.json")
fi

"$tsx" bench/summary.ts "${files[@]}"
log "done in $((SECONDS - started)) s; full reports: ${files[*]/%.json/.md}"
exit $status
