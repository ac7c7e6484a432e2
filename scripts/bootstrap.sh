# Sourced by scripts/test.sh and scripts/demo.sh: make sure `uv` exists and never downloads
# a Python (the machine's own Python >= 3.11 is used).
export UV_PYTHON_DOWNLOADS=never
export PATH="$HOME/.local/bin:$PATH"

ensure_uv() {
  if command -v uv >/dev/null 2>&1; then return 0; fi
  echo "pilotproof: uv not found; installing it with pip (PyPI package 'uv')" >&2
  if ! python3 -m pip --version >/dev/null 2>&1; then
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip
    else
      echo "error: neither uv nor pip is available. Install uv (pip install uv) or pip" \
           "(apt-get install python3-pip) and run this again." >&2
      return 1
    fi
  fi
  # --user keeps a distribution's Python clean; Debian marks it externally managed, so say
  # explicitly that a user-level tool install is intended.
  local flags=()
  [ "$(id -u)" -ne 0 ] && flags+=(--user)
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet "${flags[@]}" "uv>=0.4" || {
    echo "error: could not install uv with pip; install it by hand (pip install uv)." >&2
    return 1
  }
  command -v uv >/dev/null 2>&1 || { echo "error: uv installed but not on PATH" >&2; return 1; }
}
