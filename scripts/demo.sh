#!/usr/bin/env bash
# The demo command (README). Installs uv and the Python dependencies, checks the embedded
# store, then runs `pilotproof demo`: a simulated 5G factory's month backfilled and sealed
# into SQLite, the real agent ingesting the factory live over an embedded MQTT broker, the
# KPI table, a signed evidence bundle built and verified offline, and the dashboard served
# at http://127.0.0.1:8080/ with a sign-in token printed (Ctrl-C stops it). Arguments go to
# `pilotproof demo` (e.g. --no-serve, --scenario process-plant, --mqtt mqtt://host:1883).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
ensure_uv
uv sync --frozen --no-dev
uv run --frozen --no-dev pilotproof store check
uv run --frozen --no-dev pilotproof demo "$@"
