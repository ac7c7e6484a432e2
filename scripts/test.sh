#!/usr/bin/env bash
# The test command (README, .ci/run). On a fresh Debian machine with only Python it installs
# what the tests need — uv and the Python dependencies, and the Debian packages `influxdb`
# and `mosquitto` (real servers the tests start on free loopback ports), `chromium` (the
# dashboard's end-to-end tests and the PDF report) and `fonts-wqy-zenhei` (Chinese text in
# screenshots and PDFs) — then runs ruff, mypy and pytest. Extra arguments go to pytest.
# The field suite (tests/field) also needs Node.js >= 20.19 and npm: its third-party OPC UA
# and Modbus servers (node-opcua, modbus-serial) are installed from npm on first use into
# ~/.cache/pilotproof/field-npm ($PILOTPROOF_NPM_CACHE), never into the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/bootstrap.sh
ensure_uv

missing=()
command -v influxd >/dev/null 2>&1 || [ -x /usr/bin/influxd ] || missing+=(influxdb)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc ] || missing+=(fonts-wqy-zenhei)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
      sudo=(sudo)
    else
      echo "error: the tests need the Debian packages: ${missing[*]} (real InfluxDB 1.x and" \
           "Mosquitto servers, Chromium for the dashboard). Installing them needs root; run" \
           "'sudo apt-get install -y ${missing[*]}' and then this script again." >&2
      exit 2
    fi
  fi
  echo "pilotproof: installing ${missing[*]} with apt-get" >&2
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "error: the field tests need Node.js >= 20.19 and npm (node-opcua and modbus-serial" \
       "are the servers the agent is tested against); install them from nodejs.org or" \
       "NodeSource — Debian's nodejs package is too old — and run this script again." >&2
  exit 2
fi

uv sync --frozen
uv run --frozen ruff check .
uv run --frozen ruff format --check .
uv run --frozen mypy
# pytest exits 5 when it collected no test; with `set -e` that fails this script, as it must.
# One worker per core (pytest-xdist): most of the suite waits on real servers and agent
# processes, and `worksteal` keeps both cores busy to the end despite a few long tests.
# The C extensions must have built here (tests/telemetry/test_merkle_native.py, test_split_native.py):
# without it the suite would pass on the Python fallback and never run the C road.
PILOTPROOF_REQUIRE_NATIVE=1 uv run --frozen pytest -n auto --dist worksteal "$@"
