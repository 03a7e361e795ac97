#!/usr/bin/env python3
"""tfm vs PyTorch on the toolbox layers issue 16 names: LSTM, GRU and BatchNorm, forward + backward, same shapes.

    .venv/bin/python bench/bench_layers.py --bench-layers build/bench/bench_layers --sgemm-peak build/bench/sgemm_peak
    bench/run-layers.sh                                   (builds them, then runs this)

Each step, on both sides: the forward, loss = sum(out * w) with w fixed, backward to x and every weight. LSTM and
GRU: one layer, batch-first x [64, 50, 256], hidden 256 (torch.nn.LSTM / GRU, fp32, eager); BatchNorm: training mode
on x [4096, 768] (BatchNorm1d). tfm runs bench/bench_layers (seconds per step after the first), PyTorch runs in a
child of this script with its best set-up (torch.set_num_threads(THREADS); oneDNN on, which its RNNs use on CPU).
Runs interleave tfm, torch, tfm, torch (--repeats times) and the medians are compared: the ratio is torch's time
over tfm's (target >= 1.2x). The fraction of the machine: the recurrent layers' GEMM FLOP/s (6 (I + H) G H per
sequence step) over bench/sgemm_peak's best fp32 GEMM rate; BatchNorm's minimal memory traffic (x and y forward, x,
dy and dx backward: 20 bytes per element) over bench_layers' measured copy rate.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = 1.2
WORKS = {
    "lstm": {"shape": [64, 50, 256, 256], "gates": 4},
    "gru": {"shape": [64, 50, 256, 256], "gates": 3},
    "batchnorm": {"shape": [4096, 768]},
}


def log(message):
    print(message, file=sys.stderr, flush=True)


def summary(text):
    for line in text.splitlines():
        for prefix in ("summary ", "sgemm_peak "):
            if line.startswith(prefix):
                return json.loads(line[len(prefix):])
    return None


def run(argv, env):
    proc = subprocess.run(argv, capture_output=True, text=True, env=env)
    result = summary(proc.stdout)
    if proc.returncode != 0 or result is None:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()[-400:]}")
    return result


def torch_child(argv):
    """The PyTorch side, in its own process: prints a summary line like bench_layers'."""
    work, threads, seconds = argv[0], int(argv[1]), float(argv[2])
    import time

    import torch
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = True
    shape = WORKS[work]["shape"]
    if work == "batchnorm":
        module = torch.nn.BatchNorm1d(shape[1])
        x = torch.randn(*shape, requires_grad=True)
        w = torch.randn(*shape)
        step = lambda: (module(x) * w).sum().backward()  # noqa: E731
    else:
        B, T, I, H = shape
        module = (torch.nn.LSTM if work == "lstm" else torch.nn.GRU)(I, H, batch_first=True)
        x = torch.randn(B, T, I, requires_grad=True)
        w = torch.randn(B, T, H)
        step = lambda: (module(x)[0] * w).sum().backward()  # noqa: E731
    step()
    steps, start = 0, time.perf_counter()
    while steps < 3 or time.perf_counter() - start < seconds:
        step()
        steps += 1
    config = torch.__config__.show()
    blas = next((part.split("=")[1] for part in config.replace(",", " ").split() if part.startswith("BLAS_INFO=")), "?")
    print("summary " + json.dumps({"seconds_per_step": (time.perf_counter() - start) / steps, "steps": steps,
                                   "threads": torch.get_num_threads(), "version": torch.__version__, "blas": blas,
                                   "mkldnn": torch.backends.mkldnn.is_available()}))
    return 0


def flops_per_step(work):
    B, T, I, H = WORKS[work]["shape"]
    return 6.0 * B * T * (I + H) * WORKS[work]["gates"] * H


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "torch-child":
        return torch_child(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bench-layers", required=True)
    parser.add_argument("--sgemm-peak", required=True)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--only", choices=sorted(WORKS), action="append")
    parser.add_argument("--json")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    peak = run([args.sgemm_peak, "--threads", str(args.threads)], env)
    peak_flops = peak["gflops"] * 1e9
    copy = run([args.bench_layers, "copy"], env)["copy_bytes_per_second"]
    rows, torch_info = [], None
    for work in args.only or list(WORKS):
        shape = [str(n) for n in WORKS[work]["shape"]]
        tfm_times, torch_times = [], []
        for rep in range(args.repeats):
            tfm_times.append(run([args.bench_layers, work, *shape, str(args.seconds)], env)["seconds_per_step"])
            torch_info = run([sys.executable, os.path.abspath(__file__), "torch-child", work, str(args.threads), str(args.seconds)], env)
            torch_times.append(torch_info["seconds_per_step"])
            log(f"{work} run {rep + 1}: tfm {tfm_times[-1] * 1e3:.2f} ms, torch {torch_times[-1] * 1e3:.2f} ms")
        tfm_s, torch_s = statistics.median(tfm_times), statistics.median(torch_times)
        if work == "batchnorm":
            limit = lambda s: 20.0 * WORKS[work]["shape"][0] * WORKS[work]["shape"][1] / s / copy  # noqa: E731
            what = "of the copy rate"
        else:
            limit = lambda s: flops_per_step(work) / s / peak_flops  # noqa: E731
            what = "of the GEMM peak"
        rows.append({"work": work, "shape": WORKS[work]["shape"], "tfm_ms": tfm_s * 1e3, "torch_ms": torch_s * 1e3,
                     "ratio": torch_s / tfm_s, "tfm_fraction": limit(tfm_s), "torch_fraction": limit(torch_s), "limit": what})
    print(f"PyTorch {torch_info['version']}, {torch_info['threads']} threads, BLAS_INFO={torch_info['blas']}, oneDNN "
          f"{'available' if torch_info['mkldnn'] else 'missing'}, fp32 eager; tfm {args.threads} threads; GEMM peak "
          f"{peak_flops / 1e9:.0f} GFLOPS, copy {copy / 1e9:.1f} GB/s; medians of {args.repeats} interleaved runs\n")
    print("| work (forward + backward) | tfm ms | torch ms | ratio (target 1.2x) | tfm / torch fraction of the limit |")
    print("|---|---:|---:|---|---|")
    for r in rows:
        ok = "met" if r["ratio"] >= TARGET else "MISSED"
        print(f"| {r['work']} {'x'.join(map(str, r['shape']))} | {r['tfm_ms']:.2f} | {r['torch_ms']:.2f} | {r['ratio']:.2f}x ({ok}) | "
              f"{100 * r['tfm_fraction']:.1f}% / {100 * r['torch_fraction']:.1f}% {r['limit']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "torch": torch_info, "peak_flops": peak_flops, "copy_bytes_per_second": copy}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
