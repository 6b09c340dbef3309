#!/usr/bin/env bash
# Claim (cluster issue): jobs start fast and run at a good fraction of the machine's own rate.
# Side by side in one run on this machine, with a one-node Slurm (slurmctld, slurmd, munge)
# started here and one aimass with the Slurm executor configured:
#   (a) submit-to-running latency, p50 and p99, of JOBS jobs (`true`, one at a time, the queue
#       empty) on aimass's local executor, through aimass to Slurm (aimass sees Slurm's RUNNING
#       with a 0.5 s squeue poll), and of sbatch itself (Slurm's StartTime, whole seconds);
#   (b) MANY jobs of `true` to completion: aimass's local executor (unsandboxed, and sandboxed),
#       `xargs -P $(nproc)` running the same commands, and sbatch straight to Slurm.
# Goals: local p50 under 20 ms; (b) aimass >= 0.5x xargs and >= 5x Slurm.
#   bench/jobs.sh          (JOBS=200 MANY=1000 CLIENTS=8; SKIP_SLURM=1 leaves Slurm out)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/jobs.py "$@"
