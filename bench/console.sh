#!/usr/bin/env bash
# The console's sizes and speed in Chromium (bench/console.mjs); builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
make build >/dev/null
node bench/console.mjs
