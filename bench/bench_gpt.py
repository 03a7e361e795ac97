#!/usr/bin/env python3
"""tfm vs PyTorch on CPU: training tokens/s, peak RSS, model-FLOPs utilisation, and KV-cached generation speed.

    .venv/bin/python bench/bench_gpt.py --tfm build/tfm --peak-rss build/bench/peak_rss \
        --sgemm-peak build/bench/sgemm_peak --data data/python-docs.txt      (bench/run.sh does all of this)

PyTorch is the pinned PyPI build of the repository's virtual environment (.venv, made by scripts/setup.sh --test:
torch with MKL and oneDNN). Its set-up is reported (version, threads, BLAS, oneDNN, CPU capability, bf16 support) and
it runs in each precision of --torch-precisions (default fp32,bf16): fp32 eager (the same arithmetic as tfm; the
targets are defined against it) and bf16 autocast (torch.autocast("cpu", dtype=torch.bfloat16); only where the CPU
has AVX-512 bf16 or AMX). --torch-setups first runs bench/torch_best_setup.py, which times the alternatives (threads,
oneDNN on/off, OpenMP wait policy, torch.compile) once on the tiny training step, so the report can show that the
set-up used is PyTorch's fastest here.

Training, per config (configs/gpt-tiny.json, configs/gpt-small.json): `tfm train --max-steps N --eval-every 0
--save-every 0` and the same model in PyTorch (tests/torch_reference, AdamW with the config's hyper-parameters,
dropout, clipping, same B and T, eager mode, torch.set_num_threads(THREADS)) run as separate processes, interleaved
A B A B ..., each run's peak RSS measured by bench/peak_rss (wait4's ru_maxrss of that process alone). Both report
tokens/s over the training steps after the first (warm-up) step. Data: byte-level ids of the corpus for a 256-token
vocabulary (tfm trains on the same file); random ids for larger vocabularies on the PyTorch side (speed does not
depend on the ids).

MFU = achieved FLOP/s / tfm's GEMM peak, with training FLOPs per token = 6 N + 12 L T C (the PaLM / nanoGPT estimate:
6N for the forward + backward matrix products of N weights, 12 L T C for attention scores and weighted sums at
sequence length T), N = all parameters except the position table (wte counts: it is the tied output projection).
The peak is bench/sgemm_peak's best square-GEMM GFLOPS of tfm's own fp32 kernel (src/ops/gemm.c, the GEMM all of tfm's
linear layers run) with the same thread count; OpenBLAS's sgemm is measured and reported alongside. PyTorch's rows are
divided by the same fp32 peak, its bf16 rows too (so bf16 MFU can exceed the fp32 figure; torch's own bf16 matmul peak is
reported beside it). An MFU above 100% is reported as a bug.

Generation: the tiny model's dimensions (context widened so prompt + new tokens fit), weights from `tfm init`, loaded
into PyTorch from the same model.safetensors; batch 1, greedy (top-k 1), both with a KV cache (PyTorch: preallocated
cache, torch.inference_mode(), warmed up, the faster of 1 and 2 threads, each --torch-precisions; tfm: one untimed warm-up generation in the
same process, `tfm generate --warmup 1`); tokens/s = new tokens / (prefill + decode seconds). The greedy outputs are compared as a sanity check of both implementations.

The internal modes `torch-train`, `torch-generate`, `torch-check` and `torch-init` are the PyTorch child processes.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))  # torch_reference (imported only by the PyTorch child modes)

# Targets for tfm relative to PyTorch.
TRAIN_TARGETS = {"tiny": 1.3, "small": 1.1}
RSS_TARGET = 0.5
GENERATION_TARGET = 5.0
MIN_TORCH_GFLOPS = 100.0
PROMPT = "The Python Tutorial\n*******************\n\nPython is an easy to learn, powerful programming language."


def log(message):
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- configs (plain JSON: the parent stays torch-free)

def read_config(path):
    """The dimensions the harness needs from a tfm training config ({"model": {...}, "train": {...}})."""
    with open(path) as f:
        d = json.load(f)
    m, t = d.get("model", {}), d.get("train", {})

    def pick(obj, *names, default=None):
        for n in names:
            if n in obj:
                return obj[n]
        if default is None:
            raise ValueError(f"{path}: missing {'/'.join(names)}")
        return default

    c = {
        "vocab_size": int(pick(m, "vocab_size")),
        "context_length": int(pick(m, "context_length", "n_positions")),
        "d_model": int(pick(m, "d_model", "n_embd")),
        "n_layers": int(pick(m, "n_layers", "n_layer")),
        "n_heads": int(pick(m, "n_heads", "n_head")),
    }
    c["d_ff"] = int(pick(m, "d_ff", "n_inner", default=4 * c["d_model"]) or 4 * c["d_model"])
    c["batch_size"] = int(pick(t, "batch_size", default=8))
    c["seq_len"] = int(pick(t, "seq_len", default=c["context_length"]))
    c["grad_accum_steps"] = int(pick(t, "grad_accum_steps", default=1))
    return c


def flops_per_token(c):
    """Training FLOPs per token: 6 N + 12 L T C, N = parameters except the position table."""
    C, L, V, F = c["d_model"], c["n_layers"], c["vocab_size"], c["d_ff"]
    per_layer = 4 * C + (3 * C * C + 3 * C) + (C * C + C) + (C * F + F) + (F * C + C)
    n = V * C + L * per_layer + 2 * C
    return 6 * n + 12 * L * c["seq_len"] * C, n


def find_config(name):
    for candidate in (os.path.join(REPO, "configs", f"gpt-{name}.json"), os.path.join(REPO, "bench", "configs", f"gpt-{name}.json")):
        if os.path.exists(candidate):
            return candidate
    raise FileNotFoundError(f"no configs/gpt-{name}.json (nor bench/configs/gpt-{name}.json)")


# ---------------------------------------------------------------- running children

def cpu_busy_seconds():
    """Seconds of CPU time the whole machine has spent busy (all cores, all processes), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run_child(args, peak_rss, env, workdir, label, timeout):
    """Run one benchmark process under peak_rss. Returns (exit code, stdout, stderr, process info) where the info
    has rss_mb (peak RSS) and other_cores: how many cores other processes kept busy on average during the run."""
    report = os.path.join(workdir, f"{label}.rss.json")
    out_path, err_path = os.path.join(workdir, f"{label}.out"), os.path.join(workdir, f"{label}.err")
    busy_before = cpu_busy_seconds()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        try:
            code = subprocess.run([peak_rss, report] + args, stdout=out, stderr=err, env=env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return -1, "", f"timed out after {timeout} s", {}
    busy_after = cpu_busy_seconds()
    with open(out_path, "rb") as f:
        stdout = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    info = {}
    try:
        with open(report) as f:
            r = json.load(f)
        info["rss_mb"] = r["max_rss_kb"] / 1024.0
        if busy_before is not None and busy_after is not None and r["wall_seconds"] > 0:
            own = r["user_seconds"] + r["system_seconds"]
            info["other_cores"] = max(0.0, (busy_after - busy_before - own) / r["wall_seconds"])
    except (OSError, ValueError, KeyError):
        pass
    return code, stdout, stderr, info


def parse_summary(text):
    """The JSON object of the last summary line in text (`tfm train` prints a plain JSON line, the references and
    `tfm generate --stats` a `summary {...}` one), or None."""
    for line in reversed(text.splitlines()):
        body = line[len("summary "):] if line.startswith("summary ") else line if line.startswith("{") else None
        if body is not None:
            try:
                return json.loads(body)
            except json.JSONDecodeError:
                return None
    return None


def measured(code, stdout, stderr, info, where):
    summary = parse_summary(stdout if where == "stdout" else stderr)
    if code != 0 or summary is None:
        tail = "\n".join((stderr or "").strip().splitlines()[-5:])
        return {"ok": False, "error": f"exit {code}, {'no summary line' if summary is None else 'failed'}: {tail}"}
    return {"ok": True, **info, **summary}


def median_of(runs, key):
    values = [r[key] for r in runs if r.get("ok") and r.get(key) is not None]
    return statistics.median(values) if values else None


# ---------------------------------------------------------------- the benchmark itself

def bench_training(name, args, env, workdir):
    config_path = find_config(name)
    c = read_config(config_path)
    steps = args.steps_tiny if name == "tiny" else args.steps_small
    fpt, n_params = flops_per_token(c)
    log(f"== training {name}: {config_path}: V={c['vocab_size']} C={c['d_model']} L={c['n_layers']} H={c['n_heads']} "
        f"B={c['batch_size']} T={c['seq_len']} accum={c['grad_accum_steps']}, N={n_params / 1e6:.2f}M, "
        f"{fpt / 1e6:.1f} MFLOP/token, {steps} steps per run")
    tfm_runs, torch_runs = [], {precision: [] for precision in args.torch_precisions}
    for rep in range(args.repeats):
        out_dir = os.path.join(workdir, f"train-{name}-{rep}")
        shutil.rmtree(out_dir, ignore_errors=True)
        tfm_args = [args.tfm, "train", "--config", config_path, "--data", args.data, "--out", out_dir,
                    "--max-steps", str(steps), "--threads", str(args.threads), "--seed", str(1 + rep),
                    "--eval-every", "0", "--save-every", "0", "--log-every", str(steps)]
        children = [("tfm", tfm_args, tfm_runs)]
        for precision in args.torch_precisions:
            children.append((f"torch-{precision}", [sys.executable, os.path.abspath(__file__), "torch-train", "--config",
                             config_path, "--data", args.data, "--steps", str(steps), "--threads", str(args.threads),
                             "--seed", str(1 + rep), "--precision", precision], torch_runs[precision]))
        for program, argv, runs in children:
            if program == "tfm" and args.skip_tfm:
                continue
            r = measured(*run_child(argv, args.peak_rss, env, workdir, f"train-{name}-{program}-{rep}", args.timeout), "stdout")
            runs.append(r)
            if r["ok"]:
                log(f"  {program:10s} run {rep + 1}: {r['tokens_per_second']:10.1f} tok/s  {r['rss_mb']:8.1f} MB  "
                    f"loss {r['final_train_loss']:.3f}  (other processes: {r.get('other_cores', 0):.2f} cores)")
            else:
                log(f"  {program:10s} run {rep + 1}: FAILED: {r['error']}")
        shutil.rmtree(out_dir, ignore_errors=True)
    return {"name": name, "config": config_path, "dims": c, "flops_per_token": fpt, "n_params_flops": n_params,
            "steps": steps, "tfm": tfm_runs, "torch": torch_runs}


def bench_generation(args, env, workdir):
    config_path = find_config("tiny")
    with open(config_path) as f:
        d = json.load(f)
    model = d.setdefault("model", {})
    key = "context_length" if "context_length" in model or "n_positions" not in model else "n_positions"
    needed = len(PROMPT.encode("utf-8")) + args.gen_tokens
    model[key] = max(int(model.get(key, 0)), needed)
    gen_config = os.path.join(workdir, "gpt-tiny-generate.json")
    with open(gen_config, "w") as f:
        json.dump(d, f, indent=2)
    model_dir = os.path.join(workdir, "generate-model")
    shutil.rmtree(model_dir, ignore_errors=True)
    log(f"== generation: tiny model with context {model[key]}, {args.gen_tokens} new tokens, batch 1, greedy, KV cache")
    result = {"context_length": model[key], "new_tokens": args.gen_tokens, "tfm": [],
              "torch": {precision: [] for precision in args.torch_precisions}, "agree": None}
    if not args.skip_tfm:
        proc = subprocess.run([args.tfm, "init", "--config", gen_config, "--out", model_dir, "--seed", "7"],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            result["error"] = f"tfm init failed: {proc.stderr.strip()[-500:]}"
            log("  " + result["error"])
            return result
    else:
        # Harness development without tfm: write the checkpoint from PyTorch.
        proc = subprocess.run([sys.executable, os.path.abspath(__file__), "torch-init", "--config", gen_config,
                               "--out", model_dir], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            result["error"] = f"torch-init failed: {proc.stderr.strip()[-500:]}"
            return result
    prompt_file = os.path.join(workdir, "prompt.txt")
    with open(prompt_file, "w") as f:
        f.write(PROMPT)
    tfm_text = torch_tokens = None
    for rep in range(args.repeats):
        tfm_args = [args.tfm, "generate", "--model", model_dir, "--prompt", PROMPT, "--max-tokens", str(args.gen_tokens),
                    "--top-k", "1", "--seed", "1", "--threads", str(args.threads), "--stats", "--warmup", "1"]
        children = [("tfm", tfm_args, result["tfm"])]
        for precision in args.torch_precisions:
            children.append((f"torch-{precision}", [sys.executable, os.path.abspath(__file__), "torch-generate", "--model",
                             model_dir, "--prompt-file", prompt_file, "--max-tokens", str(args.gen_tokens), "--threads",
                             args.gen_threads, "--precision", precision], result["torch"][precision]))
        for program, argv, runs in children:
            if program == "tfm" and args.skip_tfm:
                continue
            label = f"generate-{program}-{rep}"
            code, stdout, stderr, info = run_child(argv, args.peak_rss, env, workdir, label, args.timeout)
            r = measured(code, stdout, stderr, info, "stderr" if program == "tfm" else "stdout")
            runs.append(r)
            if r["ok"]:
                log(f"  {program:10s} run {rep + 1}: {r['tokens_per_second']:10.1f} tok/s  {r['rss_mb']:8.1f} MB  "
                    f"(other processes: {r.get('other_cores', 0):.2f} cores)")
                if program == "tfm":
                    with open(os.path.join(workdir, label + ".out"), "rb") as f:
                        tfm_text = f.read()
                elif program == "torch-fp32":  # the greedy check compares like with like: fp32
                    torch_tokens = r.get("tokens")
            else:
                log(f"  {program:10s} run {rep + 1}: FAILED: {r['error']}")
    if tfm_text is not None and torch_tokens is not None:
        # Same weights, greedy: tfm's output (prompt + new bytes) should carry the same bytes as PyTorch's argmaxes.
        expected = PROMPT.encode("utf-8") + bytes(t & 0xFF for t in torch_tokens)
        got = tfm_text[:len(expected)]
        same = sum(1 for a, b in zip(got, expected) if a == b) - len(PROMPT.encode("utf-8"))
        first_diff = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), None)
        result["agree"] = {"identical": got == expected, "matching_new_bytes": same,
                           "first_difference_at_new_token": None if first_diff is None else first_diff - len(PROMPT.encode())}
    return result


def torch_blas_check(args, env):
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "torch-check", "--threads", str(args.threads)],
                          capture_output=True, text=True, env=env)
    info = parse_summary(proc.stdout)
    if proc.returncode != 0 or info is None:
        log(f"WARNING: the PyTorch check failed: {proc.stderr.strip()[-500:]}")
        return {"ok": False}
    warnings = []
    if not info.get("mkl"):
        warnings.append(f"PyTorch has no MKL (BLAS_INFO={info['blas_info']}); the pinned .venv build has: "
                        "run scripts/setup.sh --test")
    if not info.get("mkldnn_enabled"):
        warnings.append("PyTorch's oneDNN (torch.backends.mkldnn) is unavailable or disabled")
    if info["matmul_gflops"] < MIN_TORCH_GFLOPS:
        warnings.append(f"PyTorch's 2048^3 fp32 matmul runs at {info['matmul_gflops']:.0f} GFLOPS "
                        f"(< {MIN_TORCH_GFLOPS:.0f}): its BLAS is slow or the machine is busy; the comparison is unfair to it")
    for w in warnings:
        log("!" * 100 + "\nWARNING: " + w + "\n" + "!" * 100)
    info["warnings"] = warnings
    info["ok"] = True
    return info


def torch_setup_line(tc, threads):
    """One line naming PyTorch's set-up, for the table header."""
    if not tc.get("ok"):
        return "PyTorch: set-up unknown (the PyTorch check failed)"
    return (f"PyTorch {tc['version']}, {threads} threads (torch.get_num_threads() = {tc['threads']}, ATen backend "
            f"{tc.get('parallel_backend', '?')}), BLAS_INFO={tc['blas_info']} (MKL {'yes' if tc.get('mkl') else 'no'}), "
            f"oneDNN {tc.get('mkldnn_version') or ''} {'enabled' if tc.get('mkldnn_enabled') else 'DISABLED'}, CPU capability "
            f"{tc.get('cpu_capability', '?')}, bf16 {'supported' if tc.get('bf16_supported') else 'not supported'} by the CPU; "
            f"eager mode; precisions run: {', '.join(tc.get('precisions_run', []))}")


def sgemm_peak(args, env):
    proc = subprocess.run([args.sgemm_peak, "--threads", str(args.threads)], capture_output=True, text=True, env=env)
    info = parse_summary(proc.stdout.replace("sgemm_peak {", "summary {"))
    if proc.returncode != 0 or info is None:
        log(f"WARNING: sgemm_peak failed: {proc.stderr.strip()[-300:]}")
        return None
    return info


def fmt(value, spec, suffix=""):
    return "n/a" if value is None else format(value, spec) + suffix


def verdict(value, target, at_most=False):
    if value is None:
        return "n/a"
    ok = value <= target if at_most else value >= target
    return f"{value:.2f}x ({'met' if ok else 'MISSED'}: {'<=' if at_most else '>='} {target}x)"


PRECISION_LABELS = {"fp32": "fp32 eager", "bf16": "bf16 autocast"}


def report(results):
    peak = results.get("sgemm_gflops")  # tfm's own GEMM: the one tfm's linear layers run
    tc = results.get("torch_check", {})
    over_100 = []
    lines = ["", torch_setup_line(tc, results["threads"]) + ".",
             f"GEMM peaks, {results['threads']} threads (bench/sgemm_peak): tfm's AVX-512 GEMM {fmt(peak, '.1f')} GFLOPS "
             f"(the MFU denominator), OpenBLAS sgemm {fmt(results.get('openblas_gflops'), '.1f')} GFLOPS"
             + (f", PyTorch's matmul fp32 {tc['matmul_gflops']:.0f} / bf16 {fmt(tc.get('matmul_bf16_gflops'), '.0f')} GFLOPS"
                if tc.get("ok") else "") + ".",
             "", "| config | PyTorch precision | tfm tok/s | torch tok/s | ratio (target) | tfm RSS MB | torch RSS MB | RSS ratio (target) | tfm MFU | torch MFU |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def mfu(tps, fpt, what, precision="fp32"):
        if not tps or not peak:
            return None
        value = tps * fpt / (peak * 1e9) * 100
        # fp32 work cannot beat the fp32 GEMM peak: above 100% is a bug. bf16 rows use the same fp32 denominator, so
        # for them only more than PyTorch's own bf16 matmul peak allows is.
        limit = 100 if precision == "fp32" else 100 * max(1.0, (tc.get("matmul_bf16_gflops") or 0) / peak)
        if value > limit:
            over_100.append(f"{what}: {value:.1f}%")
        return value

    for t in results["training"]:
        tfm_tps, tfm_rss = median_of(t["tfm"], "tokens_per_second"), median_of(t["tfm"], "rss_mb")
        d = t["dims"]
        label = f"{t['name']} (B{d['batch_size']} T{d['seq_len']} C{d['d_model']} L{d['n_layers']} V{d['vocab_size']})"
        t["summary"] = {"tfm_tokens_per_second": tfm_tps, "tfm_rss_mb": tfm_rss,
                        "tfm_mfu_percent": mfu(tfm_tps, t["flops_per_token"], f"tfm {t['name']}"), "torch": {}}
        for precision, runs in t["torch"].items():
            torch_tps, torch_rss = median_of(runs, "tokens_per_second"), median_of(runs, "rss_mb")
            ratio = tfm_tps / torch_tps if tfm_tps and torch_tps else None
            rss_ratio = tfm_rss / torch_rss if tfm_rss and torch_rss else None
            torch_mfu = mfu(torch_tps, t["flops_per_token"], f"PyTorch {precision} {t['name']}", precision)
            lines.append(f"| {label} | {PRECISION_LABELS.get(precision, precision)} | {fmt(tfm_tps, '.0f')} | {fmt(torch_tps, '.0f')} "
                         f"| {verdict(ratio, TRAIN_TARGETS.get(t['name'], 1.0))} "
                         f"| {fmt(tfm_rss, '.0f')} | {fmt(torch_rss, '.0f')} | {verdict(rss_ratio, RSS_TARGET, at_most=True)} "
                         f"| {fmt(t['summary']['tfm_mfu_percent'], '.1f', '%')} | {fmt(torch_mfu, '.1f', '%')} |")
            t["summary"]["torch"][precision] = {"tokens_per_second": torch_tps, "ratio": ratio, "rss_mb": torch_rss,
                                                "rss_ratio": rss_ratio, "mfu_percent": torch_mfu}
        fp32 = t["summary"]["torch"].get("fp32", {})  # the flat keys of earlier reports: fp32
        t["summary"].update({"torch_tokens_per_second": fp32.get("tokens_per_second"), "ratio": fp32.get("ratio"),
                             "torch_rss_mb": fp32.get("rss_mb"), "rss_ratio": fp32.get("rss_ratio"),
                             "torch_mfu_percent": fp32.get("mfu_percent")})
    g = results.get("generation")
    if g:
        tfm_tps, tfm_rss = median_of(g["tfm"], "tokens_per_second"), median_of(g["tfm"], "rss_mb")
        g["summary"] = {"tfm_tokens_per_second": tfm_tps, "tfm_rss_mb": tfm_rss, "torch": {}}
        for precision, runs in g["torch"].items():
            torch_tps, torch_rss = median_of(runs, "tokens_per_second"), median_of(runs, "rss_mb")
            ratio = tfm_tps / torch_tps if tfm_tps and torch_tps else None
            rss_ratio = tfm_rss / torch_rss if tfm_rss and torch_rss else None
            threads = [r.get("threads") for r in runs if r.get("ok")]
            lines.append(f"| generate tiny (batch 1, {g['new_tokens']} new, KV cache) | {PRECISION_LABELS.get(precision, precision)}"
                         f"{' (' + '/'.join(map(str, sorted(set(threads)))) + ' thr)' if threads else ''} | {fmt(tfm_tps, '.0f')} "
                         f"| {fmt(torch_tps, '.0f')} | {verdict(ratio, GENERATION_TARGET)} | {fmt(tfm_rss, '.0f')} | {fmt(torch_rss, '.0f')} "
                         f"| {verdict(rss_ratio, RSS_TARGET, at_most=True)} | | |")
            g["summary"]["torch"][precision] = {"tokens_per_second": torch_tps, "ratio": ratio, "rss_mb": torch_rss,
                                                "rss_ratio": rss_ratio}
        fp32 = g["summary"]["torch"].get("fp32", {})
        g["summary"].update({"torch_tokens_per_second": fp32.get("tokens_per_second"), "ratio": fp32.get("ratio"),
                             "torch_rss_mb": fp32.get("rss_mb"), "rss_ratio": fp32.get("rss_ratio")})
    lines.append("")
    lines.append(f"Medians of {results['repeats']} interleaved runs per program; tok/s exclude each run's first (warm-up) step. "
                 f"MFU = tok/s x (6N + 12 L T C) / the fp32 peak of tfm's own GEMM ({fmt(peak, '.1f')} GFLOPS, "
                 f"{results['threads']} threads, bench/sgemm_peak; OpenBLAS's sgemm: {fmt(results.get('openblas_gflops'), '.1f')}), "
                 f"N = parameters except the position table. PyTorch's MFU uses the same denominator, for its bf16 "
                 f"autocast rows too (the fp32 peak, not a bf16 one: PyTorch's own bf16 matmul reaches "
                 f"{fmt(tc.get('matmul_bf16_gflops') if tc.get('ok') else None, '.0f')} GFLOPS here), so every MFU is "
                 f"comparable. The targets are defined against PyTorch fp32 (the same arithmetic as tfm); the bf16 rows show "
                 f"PyTorch's faster, lower-precision option for reference.")
    if over_100:
        lines.append(f"**WARNING: MFU above 100% ({'; '.join(over_100)}): a bug in the FLOP count, the peak or the timing.**")
        log("!" * 100 + f"\nWARNING: MFU above 100%: {'; '.join(over_100)}\n" + "!" * 100)
    if results.get("torch_setups"):
        ts = results["torch_setups"]
        lines.append(f"PyTorch set-up probe (bench/torch_best_setup.py, tiny training step): fastest {ts.get('best_label', 'n/a')} "
                     f"at {fmt(ts.get('best_tokens_per_second'), '.0f')} tok/s; the benchmark's fp32 set-up "
                     f"({ts.get('default_fp32_label', 'n/a')}) {fmt(ts.get('default_fp32_tokens_per_second'), '.0f')} tok/s.")
    if g and g.get("agree"):
        a = g["agree"]
        lines.append(f"Greedy generation from the same weights: tfm and PyTorch outputs "
                     f"{'are identical' if a['identical'] else 'differ first at new token ' + str(a['first_difference_at_new_token'])}.")
    all_runs = [r for t in results["training"] for r in t["tfm"] + [x for runs in t["torch"].values() for x in runs]] + \
        ((g or {}).get("tfm", []) + [x for runs in (g or {}).get("torch", {}).values() for x in runs])
    busy = [r["other_cores"] for r in all_runs if r.get("ok") and r.get("other_cores") is not None]
    if busy:
        lines.append(f"Other processes kept {statistics.median(busy):.2f} cores busy during the median run (max {max(busy):.2f}).")
        if max(busy) > 0.25:
            lines.append(f"**WARNING: the machine was busy with other work during some runs (up to {max(busy):.2f} of "
                         f"{os.cpu_count()} cores): the figures are unreliable; rerun on a quiet machine.**")
    env_note = results["environment"]
    lines.append(f"Environment for both programs: {env_note if env_note else 'no OPENBLAS_* variables set'}; OMP_NUM_THREADS={results['threads']}.")
    if tc.get("ok"):
        lines.append(f"PyTorch {tc['version']} ({sys.executable}; BLAS_INFO={tc['blas_info']}, oneDNN "
                     f"{'enabled' if tc.get('mkldnn_enabled') else 'disabled'}): loaded "
                     f"{', '.join(os.path.basename(x) for x in tc['blas_libraries']) or 'no separate BLAS library'}, "
                     f"2048^3 matmul fp32 {tc['matmul_gflops']:.0f} GFLOPS, bf16 {fmt(tc.get('matmul_bf16_gflops'), '.0f')} "
                     f"GFLOPS with {tc['threads']} threads.")
        for w in tc.get("warnings", []):
            lines.append(f"**WARNING: {w}**")
    print("\n".join(lines))


def main_run(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tfm", default=os.environ.get("TFM_BIN", os.path.join(REPO, "build-bench-release", "tfm")),
                   help="the tfm CLI (default: $TFM_BIN, else build-bench-release/tfm)")
    p.add_argument("--peak-rss", required=True, help="bench/peak_rss.c, built")
    p.add_argument("--sgemm-peak", help="bench/sgemm_peak.c, built (MFU is n/a without it)")
    p.add_argument("--data", default=os.path.join(REPO, "data", "python-docs.txt"), help="training text (scripts/get-corpus.sh)")
    p.add_argument("--configs", default="tiny,small", help="comma-separated: tiny, small (empty: none)")
    p.add_argument("--repeats", type=int, default=3, help="runs per program and config, interleaved")
    p.add_argument("--steps-tiny", type=int, default=30, help="optimizer steps per tiny run (the first is warm-up)")
    p.add_argument("--steps-small", type=int, default=8, help="optimizer steps per small run (the first is warm-up)")
    p.add_argument("--gen-tokens", type=int, default=256, help="new tokens per generation run")
    p.add_argument("--gen-threads", default="1,2", help="PyTorch thread counts to try for generation (fastest reported)")
    p.add_argument("--threads", type=int, default=2, help="threads for both programs (OMP_NUM_THREADS, --threads, torch)")
    p.add_argument("--no-generate", action="store_true", help="skip the generation benchmark")
    p.add_argument("--torch-precisions", default="fp32,bf16",
                   help="PyTorch precisions to run: fp32 (eager) and/or bf16 (autocast; dropped where the CPU lacks bf16)")
    p.add_argument("--torch-setups", action="store_true",
                   help="first time PyTorch's set-up alternatives once on the tiny training step (bench/torch_best_setup.py)")
    p.add_argument("--skip-tfm", action="store_true", help="PyTorch only (to develop the harness)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before a run is abandoned")
    p.add_argument("--json", help="also write all measurements here")
    p.add_argument("--workdir", help="scratch directory (default: a temporary one, removed at the end)")
    args = p.parse_args(argv)
    if args.repeats < 1 or args.steps_tiny < 2 or args.steps_small < 2:
        p.error("--repeats must be >= 1 and --steps-* >= 2 (the first step is warm-up)")
    if not args.skip_tfm and not os.access(args.tfm, os.X_OK):
        p.error(f"tfm binary {args.tfm} not found (build it, or pass --tfm)")
    if not os.path.exists(args.data):
        p.error(f"{args.data} not found: run scripts/get-corpus.sh")
    args.torch_precisions = [x for x in args.torch_precisions.split(",") if x]
    if not args.torch_precisions or any(x not in ("fp32", "bf16") for x in args.torch_precisions):
        p.error("--torch-precisions: a comma-separated list of fp32, bf16")

    # Both programs get the very same environment; OPENBLAS_* settings found here are kept and reported.
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    openblas_env = {k: v for k, v in env.items() if k.startswith("OPENBLAS")}
    if openblas_env:
        log(f"NOTE: OpenBLAS variables are set and apply to both programs: {openblas_env}")
    workdir = args.workdir or tempfile.mkdtemp(prefix="tfm-bench-")
    os.makedirs(workdir, exist_ok=True)
    results = {"repeats": args.repeats, "threads": args.threads, "environment": openblas_env,
               "started": time.strftime("%Y-%m-%d %H:%M:%S"), "training": []}
    try:
        results["torch_check"] = tc = torch_blas_check(args, env)
        if "bf16" in args.torch_precisions and tc.get("ok") and not tc.get("bf16_supported"):
            log("NOTE: the CPU has no bf16 instructions (avx512_bf16 / amx_bf16): PyTorch runs fp32 only")
            args.torch_precisions = [x for x in args.torch_precisions if x != "bf16"] or ["fp32"]
        tc["precisions_run"] = [PRECISION_LABELS[x] for x in args.torch_precisions]
        results["torch_precisions"] = args.torch_precisions
        log(torch_setup_line(tc, args.threads))
        if args.torch_setups:
            import torch_best_setup
            results["torch_setups"] = torch_best_setup.probe(args, env, workdir)
        if args.sgemm_peak:
            info = sgemm_peak(args, env)
            results["sgemm_gflops"] = info["gflops"] if info else None  # tfm's own GEMM
            results["openblas_gflops"] = info.get("openblas_gflops") if info else None
            results["sgemm_peak"] = info
            log(f"GEMM peak: tfm {fmt(results['sgemm_gflops'], '.1f')} GFLOPS, OpenBLAS "
                f"{fmt(results['openblas_gflops'], '.1f')} GFLOPS ({args.threads} threads)")
        for name in [n for n in args.configs.split(",") if n]:
            results["training"].append(bench_training(name, args, env, workdir))
        if not args.no_generate:
            results["generation"] = bench_generation(args, env, workdir)
        report(results)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
            log(f"wrote {args.json}")
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    runs = [r for t in results["training"] for r in t["tfm"] + [x for v in t["torch"].values() for x in v]]
    generation = results.get("generation") or {}
    runs += generation.get("tfm", []) + [x for v in generation.get("torch", {}).values() for x in v]
    failed = [r for r in runs if not r["ok"]] or ([generation["error"]] if generation.get("error") else [])
    if failed:
        log(f"bench_gpt.py: {len(failed)} run(s) failed; see the messages above")
    return 1 if failed else 0


# ---------------------------------------------------------------- PyTorch child processes

def torch_setup(threads, mkldnn="on"):
    import torch
    torch.set_num_threads(threads)
    torch.autograd.set_detect_anomaly(False)
    torch.backends.mkldnn.enabled = mkldnn == "on"
    return torch


def torch_precision(torch, precision):
    """The context the forward pass runs in: nothing for fp32, CPU autocast to bfloat16 for bf16."""
    import contextlib
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def cpu_has_bf16():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main_torch_train(argv):
    p = argparse.ArgumentParser(prog="bench_gpt.py torch-train")
    p.add_argument("--config", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: forward under CPU autocast")
    p.add_argument("--mkldnn", choices=("on", "off"), default="on", help="torch.backends.mkldnn.enabled")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (inductor; needs a C++ compiler)")
    args = p.parse_args(argv)
    torch = torch_setup(args.threads, args.mkldnn)
    import numpy as np
    from torch_reference import checkpoint
    from torch_reference.gpt import GPT
    config, train = checkpoint.load_train_config(args.config)
    B = int(train.get("batch_size", 8))
    T = int(train.get("seq_len", config.n_positions))
    accum = int(train.get("grad_accum_steps", 1))
    torch.manual_seed(args.seed)
    model = GPT(config)
    model.train()
    opt = model.make_optimizer(float(train.get("learning_rate", 1e-3)), (float(train.get("beta1", 0.9)),
                               float(train.get("beta2", 0.95))), float(train.get("eps", 1e-8)),
                               float(train.get("weight_decay", 0.1)))
    grad_clip = float(train.get("grad_clip", 0.0))
    rng = np.random.default_rng(args.seed)
    data = np.fromfile(args.data, dtype=np.uint8) if config.vocab_size == 256 else None
    offsets = np.arange(T + 1)

    def batch():
        if data is not None:
            starts = rng.integers(0, len(data) - T - 1, B)
            xy = torch.from_numpy(data[starts[:, None] + offsets].astype(np.int64))
        else:
            xy = torch.from_numpy(rng.integers(0, config.vocab_size, (B, T + 1)))
        return xy[:, :-1], xy[:, 1:]

    forward = torch.compile(model) if args.compile else model
    times, loss_value = [], float("nan")
    for _ in range(args.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for _ in range(accum):
            x, y = batch()
            with torch_precision(torch, args.precision):
                _, loss = forward(x, y)
            (loss / accum).backward()
            total += loss.item()
        if grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        opt.step()
        times.append(time.perf_counter() - t0)
        loss_value = total / accum
    timed = times[1:]  # the first step warms up allocators and thread pools
    tokens = len(timed) * B * T * accum
    seconds = sum(timed)
    print("summary " + json.dumps({"steps": len(timed), "tokens": tokens, "seconds": round(seconds, 4),
                                   "tokens_per_second": tokens / seconds, "final_train_loss": loss_value,
                                   "final_valid_loss": -1, "precision": args.precision, "threads": torch.get_num_threads(),
                                   "mkldnn": torch.backends.mkldnn.enabled, "compile": args.compile}), flush=True)
    return 0


def main_torch_generate(argv):
    p = argparse.ArgumentParser(prog="bench_gpt.py torch-generate")
    p.add_argument("--model", required=True)
    p.add_argument("--prompt-file", required=True)
    p.add_argument("--max-tokens", type=int, required=True)
    p.add_argument("--threads", default="1,2", help="thread counts to try; the fastest is reported")
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: under CPU autocast")
    args = p.parse_args(argv)
    torch = torch_setup(1)
    from torch_reference import checkpoint
    model = checkpoint.load_checkpoint(args.model)
    model.eval()
    with open(args.prompt_file, "rb") as f:
        prompt = list(f.read())
    # PyTorch's best set-up: warmed up, and the faster of the thread counts (batch-1 decoding is dominated by
    # per-operator overhead, where one thread often beats two). tfm is warmed up the same way (--warmup 1: one
    # untimed generation in the same process first).
    best = None
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        with torch.inference_mode(), torch_precision(torch, args.precision):
            model.generate(prompt, 8)
            t0 = time.perf_counter()
            tokens = model.generate(prompt, args.max_tokens)  # greedy, KV cache
            seconds = time.perf_counter() - t0
        if best is None or seconds < best[0]:
            best = (seconds, threads, tokens)
    seconds, threads, tokens = best
    print("summary " + json.dumps({"prompt_tokens": len(prompt), "new_tokens": len(tokens), "seconds": round(seconds, 4),
                                   "tokens_per_second": len(tokens) / seconds, "threads": threads, "tokens": tokens,
                                   "precision": args.precision}),
          flush=True)
    return 0


def main_torch_init(argv):
    p = argparse.ArgumentParser(prog="bench_gpt.py torch-init")
    p.add_argument("--config", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    torch = torch_setup(1)
    from torch_reference import checkpoint
    from torch_reference.gpt import GPT
    config, _ = checkpoint.load_train_config(args.config)
    torch.manual_seed(7)
    checkpoint.save_checkpoint(args.out, GPT(config))
    return 0


def main_torch_check(argv):
    p = argparse.ArgumentParser(prog="bench_gpt.py torch-check")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch = torch_setup(args.threads)
    bf16 = cpu_has_bf16()

    def matmul_peak(dtype, n=2048, repeats=5):
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        a @ b
        best = 0.0
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = max(best, 2 * n ** 3 / (time.perf_counter() - t0) / 1e9)
        return best

    fp32_peak = matmul_peak(torch.float32)
    bf16_peak = matmul_peak(torch.bfloat16) if bf16 else None
    with open("/proc/self/maps") as f:
        libs = sorted({line.split()[-1] for line in f
                       if any(k in line.split()[-1].lower() for k in ("blas", "mkl", "gomp", "iomp"))})
    build = torch.__config__.show()
    blas_info = next((part.split("=", 1)[1] for part in build.replace(",", " ").split() if part.startswith("BLAS_INFO=")), "?")
    mkldnn_version = next((line.split("v", 1)[1].split()[0] for line in build.splitlines() if "MKL-DNN v" in line), None)
    parallel = torch.__config__.parallel_info()
    backend = next((line.split(":", 1)[1].strip() for line in parallel.splitlines() if "parallel backend" in line), "?")
    print("summary " + json.dumps({"version": torch.__version__, "threads": torch.get_num_threads(), "blas_info": blas_info,
                                   "mkl": torch.backends.mkl.is_available(), "mkldnn_available": torch.backends.mkldnn.is_available(),
                                   "mkldnn_enabled": torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled,
                                   "mkldnn_version": mkldnn_version, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                                   "bf16_supported": bf16, "parallel_backend": backend, "interop_threads": torch.get_num_interop_threads(),
                                   "blas_libraries": [os.path.realpath(x) for x in libs], "matmul_gflops": fp32_peak,
                                   "matmul_bf16_gflops": bf16_peak}))
    return 0


if __name__ == "__main__":
    modes = {"torch-train": main_torch_train, "torch-generate": main_torch_generate, "torch-check": main_torch_check,
             "torch-init": main_torch_init}
    if len(sys.argv) > 1 and sys.argv[1] in modes:
        sys.exit(modes[sys.argv[1]](sys.argv[2:]))
    sys.exit(main_run(sys.argv[1:]))
