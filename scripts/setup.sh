#!/usr/bin/env bash
# Create .venv/ in the repository root and install the project with its pinned dependencies.
# Re-running is cheap: the install is skipped while pyproject.toml is unchanged.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
extras="${1:-}"
py="$(command -v python3.11 || command -v python3)"
if ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
    echo "mf2: Python 3.11 is required (found $("$py" --version 2>&1) at $py)" >&2
    exit 2
fi
[ -x .venv/bin/python ] || "$py" -m venv .venv
stamp=".venv/.mf2-installed${extras:+-$extras}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
    echo "$want" > "$stamp"
fi
