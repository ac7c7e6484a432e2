#!/usr/bin/env bash
# The demo command (README). Installs uv and the Python dependencies, then runs what exists
# end to end on embedded defaults: today, the store self-check on SQLite, then a simulated
# 5G factory — its true KPIs, 30 days of its history backfilled into SQLite, and its KPI
# table evaluated from that store. Arguments
# go to `pilotproof store check` (e.g. --influxd, or --store http://host:8086/?db=pilotproof).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
ensure_uv
uv sync --frozen --no-dev
uv run --frozen --no-dev pilotproof store check "$@"
demo_db="$(mktemp -d)/demo.db"
uv run --frozen --no-dev pilotproof simulate truth fiveg-factory-pass
uv run --frozen --no-dev pilotproof simulate backfill fiveg-factory-pass --store "sqlite:$demo_db" --days 30
echo "history written to $demo_db"
# the KPI table of the 2021 5G-factory profile, computed from that store
uv run --frozen --no-dev pilotproof kpi evaluate --profile miit2021-5g-factory \
    --scenario fiveg-factory-pass --store "sqlite:$demo_db"
