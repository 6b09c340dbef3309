#!/usr/bin/env bash
# Claim (issue 31): one epoch of the Fashion-MNIST CNN with the built-in LibTorch trainer
# (`train.torch` run as a pipeline step on the platform, its `epoch_seconds` metric) against
# the same network, data, batch size, optimiser and thread count in PyTorch from Python
# (Debian's python3-torch, the same LibTorch 1.13 underneath), side by side in one run
# (goal >= 1.0x). Both time the training loop only: shuffling, batching, forward, backward
# and the optimiser step over the 60,000 training images. The peer runs before and after.
#   bench/train.sh        (THREADS=2 EPOCHS=3 ROWS=60000 BATCH=64)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/train.py "$@"
