#!/usr/bin/env bash
# The demo command (README). Installs uv and the Python dependencies, then runs what exists
# end to end on embedded defaults: the store self-check on SQLite, then a simulated 5G
# factory — its true KPIs, 30 days of its history backfilled and sealed into SQLite, its
# KPI table evaluated from that store, and a signed evidence bundle built and verified
# offline as an auditor would. Arguments
# go to `pilotproof store check` (e.g. --influxd, or --store http://host:8086/?db=pilotproof).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
ensure_uv
uv sync --frozen --no-dev
uv run --frozen --no-dev pilotproof store check "$@"
demo="$(mktemp -d)"
demo_db="$demo/demo.db"
pp() { uv run --frozen --no-dev pilotproof "$@"; }
pp simulate truth fiveg-factory-pass
# sealed as an agent would: signed, hash-chained batches, so evidence can be built from it
pp simulate backfill fiveg-factory-pass --store "sqlite:$demo_db" --days 30 \
    --seal "$demo/agent.key" --agent demo-agent
echo "history written to $demo_db"
# the auditor's trusted keys: the bundle signer's and the agent's
pp keys gen "$demo/builder.key" --name demo-builder > "$demo/trusted-keys.toml"
pp keys show "$demo/agent.pub" --name demo-agent --role agent >> "$demo/trusted-keys.toml"
# the KPI table of the 2021 5G-factory profile, computed from that store
pp kpi evaluate --profile miit2021-5g-factory --scenario fiveg-factory-pass \
    --store "sqlite:$demo_db"
# a signed evidence bundle of the same window, then verified offline from the archive alone
pp evidence build --profile miit2021-5g-factory --scenario fiveg-factory-pass \
    --store "sqlite:$demo_db" --key "$demo/builder.key" --out "$demo/bundle" --tar
pp evidence verify "$demo/bundle.tar.gz" --trust "$demo/trusted-keys.toml" \
    --report "$demo/verified.html"
echo "bundle: $demo/bundle.tar.gz — report: $demo/verified.html"
