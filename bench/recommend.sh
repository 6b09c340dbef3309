#!/usr/bin/env bash
# Claims (recommend issue), measured in one run on this machine, on UCI Online Retail (the
# purchases of ~4,300 customers, cleaned as tests/e2e/test_recommend.py cleans them) loaded
# through the API into an app, as that test's fixture loads it:
#   (a) implicit ALS (64 factors, 15 iterations, regularization 0.1, alpha 10, 3 CG steps): the
#       platform's training time (the offline evaluation's seconds.als, split 2011-11-09: ALS
#       alone on the feedback before the split) against the same algorithm in numpy
#       (bench/recommend_als.py: blocks of rows in lockstep on all cores; and, LOOP=1, a Python
#       loop over rows as implicit's pure-Python CG) on the same matrix, the ratio numpy/aimass of
#       the median times, and NDCG@10 of both on the split (goal: within 2% of each other), as
#       means over ORDERS evaluations (the purchases loaded in other orders: other random
#       starts) and SEEDS numpy trainings;
#   (b) recommendations through the API for the model trained as a pipeline run (POST …/train):
#       GET …/users/{customer}/recommendations?n=10, the customers in turn: p50/p99 latency of one
#       client, then at a constant RATE requests/s (wrk paced by bench/recommend_request.lua as
#       wrk2 would pace it: requests/s achieved, p50/p99, and how many requests went out late),
#       then flat out (wrk, 2 threads, CONNECTIONS connections, SECONDS s each), with the
#       server's CPU time per request;
#   (c) FRESH_USERS new users each POST three purchases of one kind of product and GET their
#       recommendations until they change: median and p99 of the time from sending the POST to
#       receiving the changed answer.
#   bench/recommend.sh        (ORDERS=3 SEEDS=5 LOOP=1 RATE=1000 SECONDS=20 CONNECTIONS=32 FRESH_USERS=50)
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/recommend.py "$@"
