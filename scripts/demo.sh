#!/usr/bin/env bash
# The demo command (README). Installs uv and the Python dependencies, then runs what exists
# end to end on embedded defaults: today, the store self-check on SQLite. Arguments go to
# `pilotproof store check` (e.g. --influxd, or --store http://host:8086/?db=pilotproof).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
ensure_uv
uv sync --frozen --no-dev
uv run --frozen --no-dev pilotproof store check "$@"
