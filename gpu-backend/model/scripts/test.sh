#!/usr/bin/env bash
# Runs the model tooling's Python tests (pytest). Any non-zero pytest status fails, including 5
# ("no tests collected"), which would mean the suite silently went missing.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$here/scripts/setup-python.sh"
cd "$here"
exec "$here/.venv/bin/python" -m pytest -q "$@"
