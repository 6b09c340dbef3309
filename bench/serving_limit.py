#!/usr/bin/python3
"""The in-process limit of bench/serving.sh: forward passes of the same TorchScript file, called
straight from LibTorch (Debian's python3-torch is LibTorch 1.13, the library aimass links), with
no server, no network and no (de)serialisation.

  /usr/bin/python3 bench/serving_limit.py cnn  MODEL.pt [SECONDS]
      samples/s at batch sizes 1..128 (SECONDS each, default 2, after a warm-up; three sweeps,
      the best of each size kept), then
      "LIMIT best_sps=<samples/s> batch=<size> threads=<n>"
  /usr/bin/python3 bench/serving_limit.py trivial MODEL.pt [SECONDS]
      p50 time of one forward of a [1,4] input, then "TRIVIAL p50_us=<µs> mean_us=<µs>"
"""
import os
import statistics
import sys
import time

import torch

# Intra-op threads = every core this process may run on. The limit is what the hardware can do
# with this model, and a server is free to use all cores for it (aimass: instances x threads),
# so the in-process run gets all of them too. (Debian's torch would otherwise start with 1.)
CORES = len(os.sched_getaffinity(0))
torch.set_num_threads(CORES)

BATCHES = [1, 2, 4, 8, 16, 32, 64, 128]


def cnn(path, seconds, repeats=3):
    """Each batch size is timed `repeats` times, the sweeps interleaved, and its best kept: noise
    on a shared machine only ever lowers a rate, and the limit must not be understated."""
    model = torch.jit.load(path).eval()
    best_per = {}
    with torch.inference_mode():
        for _ in range(repeats):
            for b in BATCHES:
                x = torch.rand(b, 1, 28, 28)
                # Warm-up: TorchScript's profiling executor profiles and re-optimises on the
                # first calls with a new shape; 0.3 s of calls gets past it.
                t_end = time.perf_counter() + 0.3
                while time.perf_counter() < t_end:
                    model(x)
                n = 0
                t0 = time.perf_counter()
                t_end = t0 + seconds
                while True:
                    model(x)
                    n += 1
                    t = time.perf_counter()
                    if t >= t_end:
                        break
                sps = n * b / (t - t0)
                if sps > best_per.get(b, (0.0, 0.0))[0]:
                    best_per[b] = (sps, (t - t0) / n * 1e6)
    for b in BATCHES:
        sps, us = best_per[b]
        print(f"  in-process batch {b:4d}: {sps:10.0f} samples/s  ({us:8.1f} µs per forward, best of {repeats})",
              flush=True)
    best_b = max(BATCHES, key=lambda b: best_per[b][0])
    print(f"LIMIT best_sps={best_per[best_b][0]:.1f} batch={best_b} threads={CORES}")


def trivial(path, seconds):
    model = torch.jit.load(path).eval()
    x = torch.rand(1, 4)
    times = []
    with torch.inference_mode():
        for _ in range(200):
            model(x)
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            t0 = time.perf_counter_ns()
            model(x)
            times.append(time.perf_counter_ns() - t0)
    print(f"TRIVIAL p50_us={statistics.median(times) / 1000:.1f} mean_us={statistics.fmean(times) / 1000:.1f}")


if __name__ == "__main__":
    mode, path = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 2.0
    {"cnn": cnn, "trivial": trivial}[mode](path, seconds)
