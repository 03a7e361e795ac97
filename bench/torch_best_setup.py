#!/usr/bin/env python3
"""PyTorch's best CPU set-up on this machine, found once: times the alternatives on the tiny GPT training step.

    .venv/bin/python bench/torch_best_setup.py [--config configs/gpt-tiny.json] [--steps 8] [--threads 2] [--json out.json]
    bench/run.sh --torch-setups ...          (the same probe before the benchmark; its result goes into the report)

Each alternative is one `bench_gpt.py torch-train` process (the benchmark's own PyTorch training loop: tests/
torch_reference's GPT, AdamW, the config's B and T; tokens/s over the steps after the first): threads 1 vs N; oneDNN
(torch.backends.mkldnn.enabled) on vs off; the OpenMP runtime's settings (this torch wheel links GNU libgomp, so the
relevant knobs are OMP_WAIT_POLICY and OMP_PROC_BIND/OMP_PLACES; KMP_* variables are Intel OpenMP's and do nothing
here); fp32 eager vs bf16 autocast; and torch.compile (inductor), skipped with the reason if it fails (it needs a
working C++ compiler) or takes longer than --compile-timeout. Prints a table, fastest first, and which set-up wins,
fp32 and overall. One run each: on a busy machine the ranking of close alternatives is noise.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
BENCH_GPT = os.path.join(BENCH, "bench_gpt.py")


def log(message):
    print(message, file=sys.stderr, flush=True)


def alternatives(threads, bf16):
    """(label, threads, precision, mkldnn, compile, extra environment) for every set-up tried."""
    n = threads
    alts = [(f"fp32 eager, {n} threads, oneDNN on (the benchmark's set-up)", n, "fp32", "on", False, {}),
            ("fp32 eager, 1 thread, oneDNN on", 1, "fp32", "on", False, {}),
            (f"fp32 eager, {n} threads, oneDNN off", n, "fp32", "off", False, {}),
            (f"fp32 eager, {n} threads, OMP_WAIT_POLICY=passive", n, "fp32", "on", False, {"OMP_WAIT_POLICY": "passive"}),
            (f"fp32 eager, {n} threads, OMP_WAIT_POLICY=active", n, "fp32", "on", False, {"OMP_WAIT_POLICY": "active"}),
            (f"fp32 eager, {n} threads, OMP_PROC_BIND=close OMP_PLACES=cores", n, "fp32", "on", False,
             {"OMP_PROC_BIND": "close", "OMP_PLACES": "cores"})]
    if bf16:
        alts += [(f"bf16 autocast, {n} threads, oneDNN on (the benchmark's bf16 set-up)", n, "bf16", "on", False, {}),
                 ("bf16 autocast, 1 thread, oneDNN on", 1, "bf16", "on", False, {}),
                 (f"bf16 autocast, {n} threads, oneDNN off", n, "bf16", "off", False, {})]
    alts.append((f"fp32 torch.compile, {n} threads, oneDNN on", n, "fp32", "on", True, {}))
    return alts


def run_one(config, data, steps, threads, precision, mkldnn, compile_, extra_env, env, timeout):
    e = dict(env)
    e.update(extra_env)
    e["OMP_NUM_THREADS"] = str(threads)
    argv = [sys.executable, BENCH_GPT, "torch-train", "--config", config, "--data", data, "--steps", str(steps),
            "--threads", str(threads), "--precision", precision, "--mkldnn", mkldnn] + (["--compile"] if compile_ else [])
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, env=e, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
    wall = time.perf_counter() - t0
    summary = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("summary "):
            summary = json.loads(line[len("summary "):])
            break
    if proc.returncode != 0 or summary is None:
        tail = [x for x in proc.stderr.strip().splitlines() if x.strip()][-1:] or ["no output"]
        return {"ok": False, "error": f"exit {proc.returncode}: {tail[0][:200]}"}
    return {"ok": True, "wall_seconds": round(wall, 1), **summary}


def probe(args, env, workdir=None, steps=None, compile_timeout=240.0, print_table=True):
    """Runs every alternative once; returns the results and the winners (also used by bench_gpt.py --torch-setups)."""
    import bench_gpt
    config = getattr(args, "probe_config", None) or bench_gpt.find_config("tiny")
    steps = steps or getattr(args, "probe_steps", None) or 8
    threads = args.threads
    bf16 = bench_gpt.cpu_has_bf16()
    log(f"== PyTorch set-up probe: {os.path.relpath(config, REPO)}, {steps} steps per set-up (the first is warm-up), "
        f"bf16 {'supported' if bf16 else 'not supported'} by the CPU")
    rows = []
    for label, n, precision, mkldnn, compile_, extra in alternatives(threads, bf16):
        r = run_one(config, args.data, steps, n, precision, mkldnn, compile_, extra, env,
                    compile_timeout if compile_ else max(120.0, 30.0 * steps))
        r.update({"label": label, "threads_set": n, "precision": precision, "mkldnn_set": mkldnn, "compile": compile_,
                  "env": extra})
        rows.append(r)
        log(f"  {label:70s} " + (f"{r['tokens_per_second']:9.0f} tok/s" if r["ok"] else f"skipped: {r['error']}"))
    ok = sorted((r for r in rows if r["ok"]), key=lambda r: -r["tokens_per_second"])
    fp32 = [r for r in ok if r["precision"] == "fp32"]
    default = rows[0] if rows[0]["ok"] else None
    result = {"config": config, "steps": steps, "rows": rows,
              "best_label": ok[0]["label"] if ok else None, "best_tokens_per_second": ok[0]["tokens_per_second"] if ok else None,
              "best_fp32_label": fp32[0]["label"] if fp32 else None,
              "best_fp32_tokens_per_second": fp32[0]["tokens_per_second"] if fp32 else None,
              "default_fp32_label": rows[0]["label"], "default_fp32_tokens_per_second": default["tokens_per_second"] if default else None}
    if print_table:
        lines = ["", f"PyTorch set-ups on the tiny training step ({steps} steps, one run each), fastest first:", "",
                 "| set-up | tok/s | vs the benchmark's fp32 set-up |", "|---|---|---|"]
        for r in ok:
            rel = r["tokens_per_second"] / default["tokens_per_second"] if default else None
            lines.append(f"| {r['label']} | {r['tokens_per_second']:.0f} | {'n/a' if rel is None else f'{rel:.2f}x'} |")
        for r in rows:
            if not r["ok"]:
                lines.append(f"| {r['label']} | skipped: {r['error']} | |")
        lines.append("")
        lines.append(f"Fastest: {result['best_label']}; fastest fp32: {result['best_fp32_label']}.")
        if default and fp32 and fp32[0] is not default and fp32[0]["tokens_per_second"] > 1.05 * default["tokens_per_second"]:
            lines.append(f"NOTE: an fp32 set-up beats the benchmark's by more than 5%: {fp32[0]['label']} (rerun to rule out noise).")
        print("\n".join(lines), flush=True)
    return result


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", dest="probe_config", help="training config (default configs/gpt-tiny.json)")
    p.add_argument("--data", default=os.path.join(REPO, "data", "python-docs.txt"), help="training text (scripts/get-corpus.sh)")
    p.add_argument("--steps", dest="probe_steps", type=int, default=8, help="training steps per set-up (the first is warm-up)")
    p.add_argument("--threads", type=int, default=2, help="the benchmark's thread count (1 is tried as well)")
    p.add_argument("--compile-timeout", type=float, default=240.0, help="seconds before torch.compile's run is given up")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args(argv)
    if args.probe_steps < 2:
        p.error("--steps must be >= 2 (the first step is warm-up)")
    if not os.path.exists(args.data):
        p.error(f"{args.data} not found: run scripts/get-corpus.sh")
    sys.path.insert(0, BENCH)
    result = probe(args, dict(os.environ), compile_timeout=args.compile_timeout)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0 if result["best_label"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
