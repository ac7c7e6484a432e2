#!/usr/bin/env bash
# Install the edge agent as a systemd service on a Debian/Ubuntu gateway, from a checkout:
#
#   sudo bash deploy/systemd/install.sh                # install (enable and start yourself)
#   DESTDIR=/tmp/root bash deploy/systemd/install.sh   # a dry install into a folder
#
# What goes where (the unit, pilotproof-agent.service, expects exactly this):
#   /opt/pilotproof/                 a virtual environment with pilotproof in it — Debian 12's
#                                    Python is "externally managed" (PEP 668): `pip install .`
#                                    into it is refused, and `uv tool install` puts the command
#                                    in ~/.local/bin, where the unit does not look
#   /usr/local/bin/pilotproof        a link to /opt/pilotproof/bin/pilotproof
#   /etc/pilotproof/                 site.toml (a template: edit it), pilotproof-agent.env
#   /var/lib/pilotproof/             the agent's key and buffer, owned by the user pilotproof;
#                                    the only folder the service may write (ProtectSystem=strict)
#   /etc/systemd/system/pilotproof-agent.service
#
# Existing files in /etc/pilotproof are never overwritten. With DESTDIR set, no user is
# created and systemctl is not called. PYTHON picks the interpreter (default: python3).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
ROOT=${DESTDIR:-}
PREFIX=/opt/pilotproof
PYTHON=${PYTHON:-python3}

if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (sudo bash $0), or set DESTDIR=/some/folder for a dry install" >&2
  exit 2
fi

echo "pilotproof: a virtual environment in $ROOT$PREFIX" >&2
"$PYTHON" -m venv "$ROOT$PREFIX"
if command -v uv >/dev/null 2>&1; then
  uv pip install --quiet --python "$ROOT$PREFIX/bin/python" "$SRC"
else
  "$ROOT$PREFIX/bin/pip" install --quiet "$SRC"
fi

install -d "$ROOT/usr/local/bin" "$ROOT/etc/systemd/system"
ln -sfn "$PREFIX/bin/pilotproof" "$ROOT/usr/local/bin/pilotproof"
install -d -m 0755 "$ROOT/etc/pilotproof"
install -d -m 0750 "$ROOT/var/lib/pilotproof"
install -m 0644 "$SRC/deploy/systemd/pilotproof-agent.service" "$ROOT/etc/systemd/system/"
for f in site.toml pilotproof-agent.env; do
  if [ ! -e "$ROOT/etc/pilotproof/$f" ]; then
    install -m 0640 "$SRC/deploy/systemd/$f" "$ROOT/etc/pilotproof/$f"
  fi
done

if [ -z "$ROOT" ]; then
  id pilotproof >/dev/null 2>&1 ||
    useradd --system --home-dir /var/lib/pilotproof --shell /usr/sbin/nologin pilotproof
  chown pilotproof:pilotproof /var/lib/pilotproof
  chgrp pilotproof /etc/pilotproof/site.toml /etc/pilotproof/pilotproof-agent.env
  systemctl daemon-reload
fi

cat >&2 <<EOF
pilotproof: installed $("$ROOT$PREFIX/bin/pilotproof" --version). Next:
  1. edit $ROOT/etc/pilotproof/site.toml (the inventory and the sources) and the store token
     in $ROOT/etc/pilotproof/pilotproof-agent.env
  2. sudo -u pilotproof pilotproof agent keygen /var/lib/pilotproof/agent.pem
  3. sudo -u pilotproof pilotproof agent check /etc/pilotproof/site.toml
  4. sudo systemctl enable --now pilotproof-agent && journalctl -u pilotproof-agent -f
EOF
