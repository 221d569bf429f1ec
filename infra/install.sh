#!/usr/bin/env bash
# Creates .venv and installs Registervård with its test dependencies.
# Skips pip when pyproject.toml has not changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "install.sh: Registervård needs Python 3.11 or newer; set PYTHON to one (found: $("$python" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $("$python" --version)"
  "$python" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -f "$stamp" ]; then
  echo "Installing Python dependencies into .venv (a minute the first time)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e '.[test]'
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The console's browser tests drive Debian's Chromium through its ChromeDriver.
# Set REGISTERVARD_SKIP_BROWSER=1 to skip this; the browser tests then fail, saying why.
if [ -z "${REGISTERVARD_SKIP_BROWSER:-}" ] && { [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; }; then
  echo "Installing Chromium and ChromeDriver from Debian's packages, for the console's browser tests"
  sudo_cmd=""
  if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get install -y -q chromium chromium-driver >/dev/null ||
    { $sudo_cmd apt-get update -q >/dev/null && $sudo_cmd apt-get install -y -q chromium chromium-driver >/dev/null; }
fi
