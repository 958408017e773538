#!/usr/bin/env bash
# The main job: set up, then push real ShareGPT traffic through the real gateway and report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/distillguard demo --workdir demo-output "$@"
