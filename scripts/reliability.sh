#!/usr/bin/env bash
# The long reliability runs: 60 kill -9s, killed imports, two annotators x 50 pages.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pytest -m slow -n 0 -s -q tests/test_reliability.py "$@"
