#!/usr/bin/env python3
"""PyTorch F.linear on the gemv shapes of the issue, in the same rotation as encore-ops-bench.

For each shape: enough bf16 weight copies that together they exceed --rotation L2 caches, and at
least --min-calls calls of F.linear(x, W) per measurement (x bf16 [1, cols], as a batch-1 decode
step calls it), timed with CUDA events, median of --replays:
  graph  the calls captured once into a torch.cuda.CUDAGraph and replayed;
  eager  the same calls launched one by one.
Prints a table like encore-ops-bench's (us/call, GB/s, % of read bandwidth) and, with --json, the
rows as JSON. The read bandwidth is --read-gbs when given (e.g. the value encore-ops-bench
measured, so both tables share one yardstick), or else measured here with a sum over a large
bf16 tensor (a lower bound: torch.sum is not a pure streaming read).

Run on the GPU machine:  python3 bench/ops/gemv_torch.py --json gemv_torch.json
"""

import argparse
import json
import math
import statistics

import torch
import torch.nn.functional as F

SHAPES = [
    ("llama-1b gate+up", 16384, 2048, True),
    ("llama-1b lm_head", 128256, 2048, True),
    ("qwen-0.5b lm_head", 151936, 896, True),
    ("llama-1b q/o", 2048, 2048, False),
    ("llama-1b k/v", 512, 2048, False),
    ("llama-1b down", 2048, 8192, False),
    ("qwen-0.5b down", 896, 4864, False),
    ("qwen-0.5b gate+up", 9728, 896, False),
]


def plan(rows, cols, rotation_bytes, min_calls):
    """Copies whose total exceeds rotation_bytes, and a multiple of them >= min_calls calls."""
    nbytes = 2 * rows * cols
    copies = max(1, math.ceil(rotation_bytes / nbytes))
    calls = max(copies, math.ceil(min_calls / copies) * copies)
    return copies, calls


def time_us(fn, replays):
    """Median time of fn() in microseconds, CUDA events around each call, after a warm-up."""
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    for _ in range(2):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(replays):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) * 1000.0)
    return statistics.median(times)


def read_bandwidth_gbs(gib):
    data = torch.ones(int(gib * (1 << 30)) // 2, dtype=torch.bfloat16, device="cuda")
    us = time_us(lambda: data.sum(dtype=torch.float32), 10)
    return data.numel() * 2 / (us * 1e3)


def measure(rows, cols, copies, calls, replays):
    weights = [torch.randn(rows, cols, dtype=torch.bfloat16, device="cuda") for _ in range(copies)]
    x = torch.randn(1, cols, dtype=torch.bfloat16, device="cuda")
    out = {}

    def eager():
        for i in range(calls):
            F.linear(x, weights[i % copies])

    out["eager"] = time_us(eager, replays) / calls
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        eager()  # warm-up outside the capture (cuBLAS handles, workspaces)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        for i in range(calls):
            F.linear(x, weights[i % copies])
    out["graph"] = time_us(graph.replay, replays) / calls
    del graph, weights
    torch.cuda.empty_cache()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replays", type=int, default=20)
    parser.add_argument("--rotation", type=float, default=4.0, help="L2 sizes in rotation")
    parser.add_argument("--min-calls", type=int, default=32)
    parser.add_argument("--read-gbs", type=float, default=None)
    parser.add_argument("--bandwidth-gib", type=float, default=2.0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    read_gbs = args.read_gbs or read_bandwidth_gbs(args.bandwidth_gib)
    print(f"gemv_torch.py, torch {torch.__version__}, CUDA {torch.version.cuda}")
    print(f"{props.name}, {props.multi_processor_count} SMs, L2 {l2 >> 20} MiB")
    source = "given" if args.read_gbs else "measured with torch.sum"
    print(f"read bandwidth {read_gbs:.0f} GB/s ({source})\n")
    header = (f"{'shape':<20} {'rows x cols':<13} {'copies':>6} {'calls':>5}  "
              f"{'graph us':>9} {'GB/s':>7} {'%read':>6}  {'eager us':>9} {'GB/s':>7} {'%read':>6}")
    print(header)
    rows_out = []
    for name, rows, cols, large in SHAPES:
        copies, calls = plan(rows, cols, args.rotation * l2, args.min_calls)
        t = measure(rows, cols, copies, calls, args.replays)
        nbytes = 2 * rows * cols
        row = {"shape": name, "rows": rows, "cols": cols, "large": large, "copies": copies,
               "calls": calls}
        cells = []
        for mode in ("graph", "eager"):
            gbs = nbytes / (t[mode] * 1e3)
            row[f"{mode}_us_per_call"] = t[mode]
            row[f"{mode}_gbs"] = gbs
            cells.append(f"{t[mode]:9.2f} {gbs:7.0f} {100 * gbs / read_gbs:5.1f}%")
        print(f"{name:<20} {rows:>6}x{cols:<6} {copies:>6} {calls:>5}  {cells[0]}  {cells[1]}")
        rows_out.append(row)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": props.name, "torch": torch.__version__,
                       "read_bandwidth_gbs": read_gbs, "gemv": rows_out}, f, indent=2)


if __name__ == "__main__":
    main()
