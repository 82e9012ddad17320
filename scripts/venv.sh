# Sourced by scripts/run, scripts/test and .ci/bench: makes .venv and installs
# the project (with the extras named in $1, or "base" for none) whenever
# pyproject.toml changes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$candidate"
      return
    fi
  done
  echo "Clarity Connect needs Python 3.11 or newer on PATH (or set PYTHON=/path/to/python)." >&2
  exit 1
}

if [ ! -x .venv/bin/python ]; then
  "$(find_python)" -m venv .venv
fi
profile="${1:?venv.sh needs an extras name or base}"
extras=""
[ "$profile" = base ] || extras="[$profile]"
stamp=".venv/.installed-$profile-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "Installing Clarity Connect into .venv (first run takes a minute)…" >&2
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extras"
  rm -f .venv/.installed-"$profile"-*
  touch "$stamp"
fi
