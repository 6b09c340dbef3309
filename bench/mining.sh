#!/usr/bin/env bash
# Claims (analysis issue: mining jobs), side by side in one run on this machine, through the API
# (POST /api/v1/analysis/mining, polled to its end) of an `aimass server` on loopback with its own
# data directory (analysis.mining_threads=THREADS):
#   (1) association rules by FP-growth on the UCI Online Retail invoices (the purchases cleaned as
#       tests/e2e/online_retail.py cleans them; baskets of stock codes) at min_support 1% and 0.5%:
#       the job's timing_ms.compute and its duration_ms against a textbook Apriori in Python
#       (bench/mining_apriori.py: level-wise candidates with the subset prune, support counted over
#       the baskets as frozensets), ratio Apriori / AI Mass of the medians; both must find the same
#       number of frequent itemsets (and the same counts for the job's top itemsets), else exit 1;
#   (2) k-means (k-means++, n_init 1, max_iter 300, tol 1e-4) on ROWS x DIMS Gaussian blobs (made
#       with numpy, seed 42, kept in WORK; uploaded once as CSV, the upload timed apart) against
#       scikit-learn's KMeans(algorithm="lloyd") under threadpool_limits(THREADS) on the same
#       doubles: compute time, time per iteration (and the marginal iteration: the fit minus the
#       same seed's max_iter=1 fit), iterations and inertias (within 1% of each other, else exit 1);
#       goal: scikit-learn's time / ours >= 1.0;
#   then a summary block for docs/benchmarks.md (machine, date, command, medians, ratios).
# Results on stdout, progress on stderr. The server and the run's directory go on exit (KEEP=1 keeps it).
#   bench/mining.sh
#   AIMASS_BIN=build/aimass REPEAT=3 (AI Mass jobs and scikit-learn fits) APRIORI_REPEAT=3 SUPPORTS=0.01,0.005
#   MIN_CONFIDENCE=0.5 ROWS=1000000 DIMS=20 K=8 THREADS=2 WORK=/tmp/aimass-bench-mining (the blobs' CSV is kept
#   there) KEEP=1 QUIET_WAIT_S=300 QUIET_CORES=0.3 (before each timed run, wait up to that long for other processes
#   to use under that many cores; "others" in the output says how busy the machine was during each run)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
run_python_bench mining bench/mining.py "$@"
