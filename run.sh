#!/usr/bin/env bash
# Quick start: create .venv/, install MF² Studio with its pinned dependencies, start the studio.
# Arguments go to mf2-studio (e.g. ./run.sh video.mp4).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
bash scripts/setup.sh
exec .venv/bin/mf2-studio "$@"
