#!/usr/bin/python3
"""The in-process limit of bench/serving.sh: forward passes of the same TorchScript file, called
straight from LibTorch (Debian's python3-torch is LibTorch 1.13, the library aimass links), with
no server, no network and no (de)serialisation.

  /usr/bin/python3 bench/serving_limit.py cnn  MODEL.pt [SECONDS]
      samples/s at batch sizes 1..128 (SECONDS each, default 2, after a warm-up; three sweeps,
      the best of each size kept) in two arrangements: one caller with every core as an
      intra-op thread, and (with more than one core) one single-threaded caller per core, run
      together, their rates summed. Each arrangement ends with
      "SWEEP callers=<n> threads=<n> best_sps=<samples/s> batch=<size>", and the better one is
      "LIMIT best_sps=<samples/s> batch=<size> callers=<n> threads=<n> form=<form>"
      Both arrangements are swept with the module in each of two forms: as loaded, and frozen
      and optimised for inference (torch.jit.freeze + torch.jit.optimize_for_inference), the form
      aimass serves by default (deployment field `optimize`); the best of all counts.
  /usr/bin/python3 bench/serving_limit.py trivial MODEL.pt [SECONDS]
      p50 time of one forward of a [1,4] input in the optimised form (the one the server runs),
      then "TRIVIAL p50_us=<µs> mean_us=<µs>"
"""
import multiprocessing
import os
import statistics
import sys
import time

import torch

# The limit is what the hardware can do with this model, and a server is free to use all cores
# for it (aimass: instances x threads), so the in-process run gets all of them too, in either of
# the two ways a server can use them: one forward at a time split over every core (intra-op
# threads), or one single-threaded forward per core at once. On a 2-core VM the second was
# 1.1-1.4x the first for this CNN (one thread's batch stays in its core's cache, and no OpenMP
# fork/join per layer), so measuring only the first would understate the limit.
CORES = len(os.sched_getaffinity(0))

BATCHES = [1, 2, 4, 8, 16, 32, 64, 128]
REPEATS = 3


FORMS = ["as-loaded", "optimized"]


def load(path, form):
    """The TorchScript module at `path` in eval mode, frozen and optimised when `form` says so
    (what aimass does at load with `optimize` on)."""
    model = torch.jit.load(path).eval()
    if form == "optimized":
        model = torch.jit.optimize_for_inference(torch.jit.freeze(model))
    return model


def rate(model, batch, seconds, start=None):
    """samples/s of back-to-back forwards at one batch size. Warm-up first: TorchScript's
    profiling executor profiles and re-optimises on the first calls with a new shape, and 0.3 s
    of calls gets past it; then `start` (a barrier) lines parallel callers up."""
    x = torch.rand(batch, 1, 28, 28)
    with torch.inference_mode():
        t_end = time.perf_counter() + 0.3
        while time.perf_counter() < t_end:
            model(x)
        if start is not None:
            start.wait()
        n = 0
        t0 = time.perf_counter()
        t_end = t0 + seconds
        while True:
            model(x)
            n += 1
            t = time.perf_counter()
            if t >= t_end:
                break
    return n * batch / (t - t0)


def caller(path, form, jobs, start, results):
    """One single-threaded caller, a process of its own (Python threads would take turns at the
    GIL between forwards): a rate for each batch size it is sent."""
    torch.set_num_threads(1)
    model = load(path, form)
    for batch, seconds in iter(jobs.get, None):
        results.put(rate(model, batch, seconds, start))


def sweep(measure, label, callers, threads, form):
    """Each batch size is timed REPEATS times, the sweeps interleaved, and its best kept: noise
    on a shared machine only ever lowers a rate, and the limit must not be understated."""
    best = {}
    for _ in range(REPEATS):
        for b in BATCHES:
            best[b] = max(best.get(b, 0.0), measure(b))
    for b in BATCHES:
        print(f"  in-process batch {b:4d}, {label}: {best[b]:10.0f} samples/s (best of {REPEATS})", flush=True)
    best_b = max(BATCHES, key=best.get)
    print(f"SWEEP callers={callers} threads={threads} form={form} best_sps={best[best_b]:.1f} batch={best_b}",
          flush=True)
    return best[best_b], best_b, callers, threads, form


def cnn(path, seconds):
    torch.set_num_threads(CORES)  # Debian's torch would otherwise start with 1
    results = []
    for form in FORMS:
        model = load(path, form)
        results.append(sweep(lambda b: rate(model, b, seconds), f"1 caller x {CORES} threads, {form}", 1, CORES, form))
        if CORES > 1:
            ctx = multiprocessing.get_context("spawn")  # a fresh LibTorch per caller, not a fork of this one
            start, jobs, rates = ctx.Barrier(CORES), ctx.Queue(), ctx.Queue()
            procs = [ctx.Process(target=caller, args=(path, form, jobs, start, rates)) for _ in range(CORES)]
            for p in procs:
                p.start()

            def together(b):
                for _ in procs:
                    jobs.put((b, seconds))
                return sum(rates.get() for _ in procs)

            results.append(sweep(together, f"{CORES} callers x 1 thread, {form}", CORES, 1, form))
            for _ in procs:
                jobs.put(None)
            for p in procs:
                p.join()
    sps, batch, callers, threads, form = max(results)
    print(f"LIMIT best_sps={sps:.1f} batch={batch} callers={callers} threads={threads} form={form}")


def trivial(path, seconds):
    model = load(path, "optimized")
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
