#!/usr/bin/env bash
# Quick start: create .venv/, install MF² Studio with its test tools, run the whole test suite.
# Arguments go to pytest (e.g. ./test.sh -k cli).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"
