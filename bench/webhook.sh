#!/usr/bin/env bash
# make bench: the webhook benchmark (bench/webhook.py) against the built binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/webhook.py --build "${BUILD:-build}" "$@"
