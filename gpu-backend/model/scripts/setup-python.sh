#!/usr/bin/env bash
# Creates gpu-backend/model/.venv from the pinned requirements.txt (idempotent: reinstalls only when
# requirements.txt changed). Used by `npm run model:*` scripts and by .ci/run.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$here/.venv"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
python="${PYTHON:-python3}"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/python" ]]; then
  exit 0
fi
echo "setting up the model tooling venv in $venv" >&2
"$python" -m venv "$venv"
# One retry only: on machines that reach just a local wheel mirror, every retry against an
# unreachable default index costs seconds per package (PIP_RETRIES overrides).
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --retries "${PIP_RETRIES:-1}" \
  -r "$here/requirements.txt"
echo "$want" > "$stamp"
