#!/usr/bin/env python3
"""tfm vs PyTorch on translation (English -> German): training speed, BLEU, time to BLEU, decoding speed, peak RSS.

    bench/run-translation.sh                              (builds everything, then runs this with the defaults)
    .venv/bin/python bench/bench_seq2seq.py --tfm build/tfm --peak-rss build/bench/peak_rss \
        --data-tool build/bench/seq2seq_bench_data [--budget 300] [--test-sentences 500] [--json out.json]

What runs (each program a separate process under bench/peak_rss, both with the same environment and thread count):

  data      bench/seq2seq_bench_data exports tfm's own training pipeline for the PyTorch side: the train split
            tokenised by tfm's joint BPE, cut into tfm's token-count batches (length-sorted buckets, batch_tokens of
            the config), the per-epoch batch order drawn from the seed, and the initial weights `tfm train --seed S`
            starts from. So both programs train the same model from the same weights on the same batches in the same
            order with the same schedule (only dropout masks differ). The harness checks this: the target-token count
            of every step both programs ran must agree.
  training  PyTorch first: tests/torch_reference/seq2seq.py (torch.nn.Transformer + shared embeddings, sinusoidal
            positions, output layer; proven equal to tfm by tests/test_seq2seq_torch.py), eager mode, Adam with the
            config's betas/eps, the noam schedule, label smoothing, gradient clipping, dropout as the config (the FFN's
            inner dropout is set to activation_dropout), torch.set_num_threads(THREADS), for --budget seconds of
            training steps. Then tfm (`tfm train`, same config and seed) for the same number of training seconds.
            Training seconds = the time spent in training steps (start-up, data loading, checkpoint saves excluded;
            both programs load the data in a few seconds). tfm has no time limit option, so it runs in segments:
            `--stop-after N` saves and stops at step N, `--resume` continues bit-identically (same thread count), and
            the harness times each step from tfm's per-step progress lines (--log-every 1) and picks every next N
            from the measured rate (segments of at most 90 s) so that the run ends about a step short of its time
            target. Each segment's first step is a warm-up step (~0.5 s slower) counted in tfm's seconds.
            Training tokens/s = target tokens (the tokens the loss counts) / seconds, over all steps but the first of
            each process (tfm's own `summary` figure, summed over segments; PyTorch measures the same way).
  time to BLEU
            tfm saves a checkpoint after --early-fraction (0.6) of PyTorch's training seconds (aimed about a step short
            of it; should noise make it land later, the target counts as missed) and at the end; PyTorch after 0.6 of
            its budget (informational) and at the end. The target "tfm reaches PyTorch's BLEU in at most 0.6x the
            wall-clock" is met when BLEU(tfm at <= 0.6 x PyTorch's seconds) >= BLEU(PyTorch at its full budget), both
            beam 4 on the same test sentences. (The 0.6x checkpoints are decoded by tfm; the final models by each
            program itself.)
  decoding  the first --test-sentences lines of the test split, batches of up to 32 sentences (--batch-sentences) of
            similar length, greedy and beam 4 (GNMT length penalty 0.6, at most 1.5 x source + 10 tokens; the rules
            of src/decode/beam_search.c): `tfm translate` (KV cache) and a PyTorch search that re-runs
            nn.Transformer's decoder over the whole prefix at every step (nn.Transformer has no incremental
            decoding), batched the same way, finished sentences leaving the batch, in torch.inference_mode().
            Speed and decoding RSS come from both programs decoding the same weights (PyTorch's final model), so the
            output lengths are the same too; their outputs are compared line by line as a check of both searches.
            Sentences/s = translated sentences / decoding seconds (model loading and tokenisation excluded, as
            `tfm translate` reports it). BLEU: each program's final model decoded by itself (tfm decodes its own
            model in extra runs). Both tokenise with tfm's BPE, PyTorch's ids are detokenised by tfm's BPE, and BLEU
            is `tfm bleu` (sacreBLEU's).
  PyTorch   the pinned PyPI build of .venv (scripts/setup.sh --test; MKL, oneDNN), its set-up reported above the table
            (version, threads, BLAS, oneDNN, CPU capability, bf16 support). --torch-precisions (default fp32,bf16): fp32
            eager is the comparison above (the same arithmetic as tfm; the targets are defined against it); bf16 adds a
            PyTorch training run under torch.autocast("cpu", dtype=torch.bfloat16) for the same budget (training
            tokens/s, RSS, BLEU of its model decoded by tfm) and bf16-autocast decoding of the speed model, reported
            as extra rows; it is dropped where the CPU has no bf16 instructions.
  repeats   --train-repeats N trains N times per program (seeds S, S+1, ...), interleaved PyTorch/tfm;
            --decode-repeats M decodes M times per program and mode, interleaved. Medians and ratios are reported.

Output: progress on stderr, a Markdown table on stdout, every measurement in --json (per-step target tokens and
losses of both programs included: with dropout 0 in the config, the two loss curves agree to ~1e-6 over the first
steps, which checks weights, batches, loss, clipping, Adam and schedule end to end). The figures mean little while other
jobs use the cores (the report warns); on a shared machine OMP_WAIT_POLICY=passive (applied to both programs) limits
the damage to OpenMP's busy-waiting threads. The internal modes `torch-train` and `torch-translate` are the PyTorch
child processes.
"""
import argparse
import json
import math
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)                         # bench_gpt: the shared harness helpers
sys.path.insert(0, os.path.join(REPO, "tests"))   # torch_reference (imported only by the PyTorch child modes)
from bench_gpt import (cpu_busy_seconds, fmt, log, median_of, parse_summary, run_child, torch_blas_check,  # noqa: E402
                       torch_setup_line, verdict, PRECISION_LABELS)

# Targets for tfm relative to PyTorch (the issue's, for d_model 256 / 3+3 layers / vocab 8000 on 2 cores).
TRAIN_TARGET = 1.5
DECODE_TARGET = 10.0
RSS_TARGET = 0.5
EARLY_FRACTION = 0.6


# ---------------------------------------------------------------- small helpers

def read_json(path):
    with open(path) as f:
        return json.load(f)


def train_settings(config_path):
    """The "train" object of a seq2seq config with tfm's defaults (tfm_seq2seq_train_config_default) filled in."""
    defaults = {"batch_tokens": 4096, "max_sentences": 0, "grad_accum_steps": 1, "schedule": "noam", "learning_rate": 1.0,
                "warmup_steps": 4000, "beta1": 0.9, "beta2": 0.98, "eps": 1e-9, "weight_decay": 0.0, "grad_clip": 0.0,
                "label_smoothing": 0.1, "max_length_a": 1.5, "max_length_b": 10, "source_lang": "en",
                "target_lang": "de", "seed": 1}
    d = read_json(config_path)
    if d.get("model", {}).get("model_type") != "seq2seq":
        raise ValueError(f"{config_path}: not a seq2seq config (model.model_type)")
    defaults.update(d.get("train", {}))
    return defaults


def checkpoint_of(directory):
    """The checkpoint a tfm directory stands for: a run's current checkpoint (RUN/current), else the directory."""
    current = os.path.join(directory, "current")
    return current if os.path.isdir(current) else directory


def copy_model(src, dst):
    """A model-only copy of a run's current checkpoint, with the run's tokenizer."""
    os.makedirs(dst, exist_ok=True)
    for name in ("model.safetensors", "config.json"):
        shutil.copyfile(os.path.join(checkpoint_of(src), name), os.path.join(dst, name))
    shutil.copyfile(os.path.join(src, "tokenizer.json"), os.path.join(dst, "tokenizer.json"))


def bleu_of(args, hyp, ref, env):
    """sacreBLEU's score from `tfm bleu`, or None."""
    proc = subprocess.run([args.tfm, "bleu", "--ref", ref, "--hyp", hyp], capture_output=True, text=True, env=env)
    m = re.search(r"BLEU = ([0-9.]+)", proc.stdout)
    if proc.returncode != 0 or not m:
        log(f"  tfm bleu failed: {proc.stderr.strip()[-300:]}")
        return None
    return float(m.group(1))


def same_lines(a, b):
    with open(a, "rb") as f, open(b, "rb") as g:  # byte-level BPE output need not be valid UTF-8
        x, y = f.read().splitlines(), g.read().splitlines()
    return sum(1 for p, q in zip(x, y) if p == q), max(len(x), len(y))


def rss_info(report, busy_before):
    """rss_mb and other_cores from a peak_rss report (as bench_gpt.run_child computes them)."""
    info = {}
    busy_after = cpu_busy_seconds()
    try:
        r = read_json(report)
        info["rss_mb"] = r["max_rss_kb"] / 1024.0
        if busy_before is not None and busy_after is not None and r["wall_seconds"] > 0:
            own = r["user_seconds"] + r["system_seconds"]
            info["other_cores"] = max(0.0, (busy_after - busy_before - own) / r["wall_seconds"])
    except (OSError, ValueError, KeyError):
        pass
    return info


# ---------------------------------------------------------------- data

def export_data(args, env, workdir, seed, epochs):
    out = os.path.join(workdir, f"export-seed{seed}")
    shutil.rmtree(out, ignore_errors=True)
    proc = subprocess.run([args.data_tool, "batches", "--config", args.config, "--data", args.data, "--out", out,
                           "--seed", str(seed), "--epochs", str(epochs)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"seq2seq_bench_data batches failed: {proc.stderr.strip()[-800:]}")
    log("  " + proc.stderr.strip().splitlines()[-1])
    return out


def prepare_test(args, env, workdir, settings):
    """The first --test-sentences lines of the test split (source, reference, source ids)."""
    src_lang, tgt_lang = settings["source_lang"], settings["target_lang"]
    test = {}
    for lang, key in ((src_lang, "src"), (tgt_lang, "ref")):
        with open(os.path.join(args.data, f"test.{lang}"), "rb") as f:
            lines = f.read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        lines = lines[:args.test_sentences]
        for line in lines:
            line.decode("utf-8")  # tfm translate replaces invalid UTF-8; the PyTorch side must see the same text
        test[key] = os.path.join(workdir, f"test.{lang}")
        with open(test[key], "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        test["count"] = len(lines)
    test["ids"] = os.path.join(workdir, "test.ids")
    with open(test["src"], "rb") as fin, open(test["ids"], "wb") as fout:
        proc = subprocess.run([args.data_tool, "encode", "--tokenizer", os.path.join(args.data, "tokenizer.json")],
                              stdin=fin, stdout=fout, stderr=subprocess.PIPE, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"seq2seq_bench_data encode failed: {proc.stderr.decode(errors='replace')[-500:]}")
    return test


# ---------------------------------------------------------------- training

def run_streaming(argv, args, env, workdir, label, on_line):
    """Run argv under peak_rss; call on_line(text, monotonic time) for every stderr line as it arrives.
    Returns (exit code, stdout, stderr, info)."""
    report = os.path.join(workdir, f"{label}.rss.json")
    out_path, err_path = os.path.join(workdir, f"{label}.out"), os.path.join(workdir, f"{label}.err")
    busy_before = cpu_busy_seconds()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen([args.peak_rss, report] + argv, stdout=out, stderr=subprocess.PIPE, env=env,
                                start_new_session=True)
        def kill():  # at the timeout: peak_rss and the program it runs (their own process group)
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        watchdog = threading.Timer(args.timeout, kill)
        watchdog.start()
        try:
            for raw in proc.stderr:
                now = time.monotonic()
                err.write(raw)
                on_line(raw.decode("utf-8", "replace"), now)
            code = proc.wait()
        finally:
            watchdog.cancel()
    with open(out_path, "rb") as f:
        stdout = f.read().decode("utf-8", "replace")
    with open(err_path, "rb") as f:
        stderr = f.read().decode("utf-8", "replace")
    if code == -signal.SIGKILL:
        return -1, stdout, stderr + f"\nkilled (timed out after {args.timeout} s?)", {}
    return code, stdout, stderr, rss_info(report, busy_before)


def train_torch(args, env, workdir, export, rep, seed, precision="fp32"):
    suffix = "" if precision == "fp32" else f"-{precision}"
    out = os.path.join(workdir, f"torch{suffix}-{rep}")
    shutil.rmtree(out, ignore_errors=True)
    argv = [sys.executable, os.path.abspath(__file__), "torch-train", "--export", export, "--config", args.config,
            "--budget", str(args.budget), "--early-fraction", str(args.early_fraction), "--out", out,
            "--threads", str(args.threads), "--precision", precision]

    def relay(line, now):  # the child's progress lines (every 50 steps)
        if line.startswith("torch step"):
            log("    " + line.rstrip())

    code, stdout, stderr, info = run_streaming(argv, args, env, workdir, f"train-torch{suffix}-{rep}", relay)
    summary = parse_summary(stdout)
    if code != 0 or summary is None:
        tail = "\n".join(stderr.strip().splitlines()[-8:])
        log(f"  torch {precision} training FAILED (exit {code}): {tail}")
        return {"ok": False, "error": tail}
    r = {"ok": True, "seed": seed, **info, **summary,
         "final_dir": os.path.join(out, "final"), "early_dir": os.path.join(out, "early")}
    log(f"  torch {precision} run {rep + 1}: {r['steps']} steps in {r['train_seconds']:.1f} s, {r['tokens_per_second']:.0f} tgt tok/s, "
        f"loss {r['final_train_loss']:.3f}, {r['rss_mb']:.0f} MB (other processes: {r.get('other_cores', 0):.2f} cores)")
    return r


def train_tfm(args, env, workdir, rep, seed, reference_seconds):
    """tfm for reference_seconds of training steps, in --stop-after/--resume segments; a checkpoint copy after
    early_fraction x reference_seconds (aimed about a step short of it) and at the end."""
    run = os.path.join(workdir, f"tfm-{rep}")
    shutil.rmtree(run, ignore_errors=True)
    common = ["--max-steps", "1000000000", "--eval-every", "0", "--save-every", "0", "--bleu-sentences", "0",
              "--log-every", "1", "--threads", str(args.threads)]
    state = {"step": 0, "seconds": 0.0, "tokens": 0, "timed_seconds": 0.0, "segments": 0, "rss_mb": 0.0, "other": []}
    checkpoints = {}
    targets = [("early", args.early_fraction * reference_seconds), ("final", reference_seconds)]

    def segment(stop_after):
        seen = {"header": None, "last": None, "step": None}

        def on_line(line, now):
            if line.startswith("tfm train: seq2seq"):
                seen["header"] = now
            m = re.match(r"step\s+(\d+)/\d+ \| epoch", line)
            if m:
                seen["last"], seen["step"] = now, int(m.group(1))

        first = state["segments"] == 0
        argv = [args.tfm, "train"] + (["--config", args.config, "--data", args.data, "--out", run, "--seed", str(seed)]
                                      if first else ["--resume", run, "--data", args.data]) + common + ["--stop-after", str(stop_after)]
        code, stdout, stderr, info = run_streaming(argv, args, env, workdir, f"train-tfm-{rep}-{state['segments']}", on_line)
        summary = parse_summary(stdout)
        if code != 0 or summary is None or seen["header"] is None or seen["step"] != stop_after:
            raise RuntimeError(f"tfm train (to step {stop_after}) failed, exit {code}: " + "\n".join(stderr.strip().splitlines()[-6:]))
        state["segments"] += 1
        state["seconds"] += seen["last"] - seen["header"]
        state["step"] = stop_after
        state["tokens"] += summary["tokens"]
        state["timed_seconds"] += summary["seconds"]
        state["rss_mb"] = max(state["rss_mb"], info.get("rss_mb", 0.0))
        if info.get("other_cores") is not None:
            state["other"].append(info["other_cores"])
        state["final_train_loss"] = summary["final_train_loss"]
        log(f"    tfm segment {state['segments']}: to step {stop_after}, {seen['last'] - seen['header']:.1f} s "
            f"(total {state['seconds']:.1f} s), {summary['tokens_per_second'] or 0:.0f} tgt tok/s "
            f"(other processes: {info.get('other_cores', 0):.2f} cores)")

    try:
        segment(args.calibration_steps)
        for name, target in targets:
            # Each segment aims at 90% of the remaining time, at most --segment-seconds (a machine that slows down
            # mid-segment then overshoots less), one step less for the early checkpoint, which must not come late;
            # stop when less than about a step remains.
            while True:
                rate = state["step"] / state["seconds"]
                aim = min(0.9 * (target - state["seconds"]), args.segment_seconds)
                steps = int(aim * rate) - (1 if name == "early" else 0)
                if steps < 1:
                    break
                segment(state["step"] + steps)
            if name == "early" and state["seconds"] > target:
                log(f"  tfm: {state['seconds']:.1f} s of training at step {state['step']}, past the {name} target of {target:.1f} s")
            copy_model(run, os.path.join(run, name))
            checkpoints[name] = {"step": state["step"], "seconds": state["seconds"], "dir": os.path.join(run, name)}
    except RuntimeError as e:
        log(f"  tfm training FAILED: {e}")
        return {"ok": False, "error": str(e)}
    step_tokens, step_losses = [], []
    with open(os.path.join(run, "log.jsonl")) as f:
        for line in f:
            d = json.loads(line)
            if "loss" in d:  # a step line: "tokens" are the target tokens its loss counted
                step_tokens.append(d["tokens"])
                step_losses.append(d["loss"])
    r = {"ok": True, "seed": seed, "steps": state["step"], "train_seconds": state["seconds"], "segments": state["segments"],
         "target_tokens": state["tokens"], "seconds": state["timed_seconds"],
         "tokens_per_second": state["tokens"] / state["timed_seconds"] if state["timed_seconds"] > 0 else None,
         "rss_mb": state["rss_mb"], "other_cores": max(state["other"]) if state["other"] else None,
         "final_train_loss": state["final_train_loss"], "step_tokens": step_tokens,
         "step_losses": step_losses, "checkpoints": checkpoints, "final_dir": checkpoints["final"]["dir"],
         "early_dir": checkpoints["early"]["dir"] if "early" in checkpoints else None}
    log(f"  tfm   run {rep + 1}: {r['steps']} steps in {r['train_seconds']:.1f} s ({r['segments']} segments), "
        f"{r['tokens_per_second']:.0f} tgt tok/s, loss {r['final_train_loss']:.3f}, {r['rss_mb']:.0f} MB; early checkpoint at "
        f"step {checkpoints['early']['step']}, {checkpoints['early']['seconds']:.1f} s")
    return r


# ---------------------------------------------------------------- decoding

def translate_tfm(args, env, workdir, model_dir, test, beam, label):
    hyp = os.path.join(workdir, f"{label}.hyp")
    argv = [args.tfm, "translate", "--model", model_dir, "--threads", str(args.threads),
            "--max-sentences", str(args.batch_sentences)] + (["--greedy"] if beam == 1 else ["--beam", str(beam)])
    report = os.path.join(workdir, f"{label}.rss.json")
    busy_before = cpu_busy_seconds()
    with open(test["src"], "rb") as fin, open(hyp, "wb") as fout:
        try:
            proc = subprocess.run([args.peak_rss, report] + argv, stdin=fin, stdout=fout, stderr=subprocess.PIPE, env=env,
                                  timeout=args.timeout)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"timed out after {args.timeout} s"}
    stderr = proc.stderr.decode("utf-8", "replace")
    m = re.search(r"\((\d+) translated[^)]*\) in ([0-9.]+)s, ([0-9.]+) sentences/s", stderr)
    if proc.returncode != 0 or not m:
        return {"ok": False, "error": f"exit {proc.returncode}: {stderr.strip()[-400:]}"}
    # tfm's own figure (computed from unrounded seconds; the printed seconds have 2 decimals).
    return {"ok": True, "hyp": hyp, "sentences": int(m.group(1)), "seconds": float(m.group(2)),
            "sentences_per_second": float(m.group(3)), **rss_info(report, busy_before)}


def translate_torch(args, env, workdir, model_dir, test, beam, label, precision="fp32"):
    out_ids, hyp = os.path.join(workdir, f"{label}.ids"), os.path.join(workdir, f"{label}.hyp")
    argv = [sys.executable, os.path.abspath(__file__), "torch-translate", "--model", model_dir, "--ids", test["ids"],
            "--out", out_ids, "--beam", str(beam), "--max-sentences", str(args.batch_sentences),
            "--threads", str(args.threads), "--precision", precision]
    code, stdout, stderr, info = run_child(argv, args.peak_rss, env, workdir, label, args.timeout)
    summary = parse_summary(stdout)
    if code != 0 or summary is None:
        return {"ok": False, "error": f"exit {code}: " + "\n".join(stderr.strip().splitlines()[-5:])}
    with open(out_ids, "rb") as fin, open(hyp, "wb") as fout:
        proc = subprocess.run([args.data_tool, "decode", "--tokenizer", os.path.join(model_dir, "tokenizer.json")],
                              stdin=fin, stdout=fout, stderr=subprocess.PIPE, env=env)
    if proc.returncode != 0:
        return {"ok": False, "error": f"detokenising failed: {proc.stderr.decode(errors='replace')[-300:]}"}
    return {"ok": True, "hyp": hyp, **info, **summary}


def decode_all(args, env, workdir, test, rep, tfm_run, torch_run):
    """Speed: both programs decode the same weights (PyTorch's final model; tfm's if PyTorch's training failed),
    greedy and beam, interleaved, --decode-repeats times, and their first outputs are compared. BLEU: each program's
    own final model decoded by itself (PyTorch's = its speed runs); tfm also decodes both 0.6x checkpoints."""
    result = {"greedy": {"tfm": [], "torch": []}, "beam": {"tfm": [], "torch": []}, "agreement": {}, "bleu": {}, "extra": {}}
    speed_run = torch_run if torch_run.get("ok") else tfm_run
    if not speed_run.get("ok"):
        return result
    result["speed_model"] = "PyTorch's final model" if speed_run is torch_run else "tfm's final model"
    log(f"  speed: both programs decode {result['speed_model']}")
    for r in range(args.decode_repeats):
        for mode, beam in (("greedy", 1), ("beam", args.beam)):
            for program, fn in (("tfm", translate_tfm), ("torch", translate_torch)):
                d = fn(args, env, workdir, speed_run["final_dir"], test, beam, f"{program}-{rep}-{mode}-{r}")
                if d["ok"] and r == 0:
                    d["bleu"] = bleu_of(args, d["hyp"], test["ref"], env)
                result[mode][program].append(d)
                if d["ok"]:
                    log(f"  {program:5s} {mode:6s} run {r + 1}: {d['sentences_per_second']:8.2f} sentences/s "
                        f"({d['sentences']} in {d['seconds']:.1f} s), {d.get('rss_mb', 0):.0f} MB"
                        + (f", BLEU {fmt(d.get('bleu'), '.2f')}" if r == 0 else "")
                        + f" (other processes: {d.get('other_cores', 0):.2f} cores)")
                else:
                    log(f"  {program:5s} {mode:6s} run {r + 1}: FAILED: {d['error']}")
        if r == 0:
            for mode in ("greedy", "beam"):
                a, b = result[mode]["tfm"][0], result[mode]["torch"][0]
                if a["ok"] and b["ok"]:
                    same, total = same_lines(a["hyp"], b["hyp"])
                    result["agreement"][mode] = {"identical_lines": same, "lines": total}
                    log(f"  {mode} check: tfm and PyTorch decode the same weights to {same}/{total} identical lines")
    if speed_run is torch_run:
        for mode in ("greedy", "beam"):
            first = result[mode]["torch"][0]
            result["bleu"][f"torch_{mode}"] = first.get("bleu") if first["ok"] else None
    # tfm's own model (and, if PyTorch failed, its speed runs already did this), and the 0.6x checkpoints.
    jobs = [("tfm_early", tfm_run, "early_dir", args.beam, f"tfm's {args.early_fraction}x checkpoint"),
            ("torch_early", torch_run, "early_dir", args.beam, f"PyTorch's {args.early_fraction}x checkpoint")]
    if speed_run is torch_run:
        jobs = [("tfm_greedy", tfm_run, "final_dir", 1, "tfm's final model"),
                ("tfm_beam", tfm_run, "final_dir", args.beam, "tfm's final model")] + jobs
    else:
        for mode in ("greedy", "beam"):
            first = result[mode]["tfm"][0]
            result["bleu"][f"tfm_{mode}"] = first.get("bleu") if first["ok"] else None
    if "bf16" in args.torch_precisions:
        result["torch_bf16"] = {}
        for mode, beam in (("greedy", 1), ("beam", args.beam)):
            d = translate_torch(args, env, workdir, speed_run["final_dir"], test, beam, f"torch-bf16-{rep}-{mode}", "bf16")
            result["torch_bf16"][mode] = d
            if d["ok"]:
                log(f"  torch bf16 {mode:6s}: {d['sentences_per_second']:8.2f} sentences/s ({d['sentences']} in "
                    f"{d['seconds']:.1f} s), {d.get('rss_mb', 0):.0f} MB")
            else:
                log(f"  torch bf16 {mode:6s}: FAILED: {d['error']}")
        bf16_run = getattr(args, "_torch_bf16_run", None) or {}
        if bf16_run.get("ok"):
            jobs.append(("torch_bf16_beam", bf16_run, "final_dir", args.beam, "PyTorch bf16's final model"))
    for name, run, key, beam, label in jobs:
        if not run.get("ok") or not run.get(key) or not os.path.exists(run[key]):
            continue
        d = translate_tfm(args, env, workdir, run[key], test, beam, f"{name}-{rep}")
        if d["ok"]:
            d["bleu"] = result["bleu"][name] = bleu_of(args, d["hyp"], test["ref"], env)
            log(f"  tfm decodes {label} ({'greedy' if beam == 1 else f'beam {beam}'}): BLEU {fmt(d['bleu'], '.2f')}")
        else:
            log(f"  tfm decoding {label} FAILED: {d['error']}")
        result["extra"][name] = d
    return result


# ---------------------------------------------------------------- report

def report(results, args):
    reps = results["reps"]
    tfm_train = [r["tfm"] for r in reps]
    torch_train = [r["torch"] for r in reps]

    def med(runs, key):
        return median_of(runs, key)

    def ratio(a, b):
        return a / b if a and b else None

    def dec(mode, program, key):
        return median_of([d for r in reps for d in r["decode"][mode][program]], key)

    def bleu(name):  # median over training repeats of a BLEU in decode_all's "bleu" dict
        values = [r["decode"]["bleu"].get(name) for r in reps]
        values = [v for v in values if v is not None]
        return statistics.median(values) if values else None

    s = {}
    s["tfm_tokens_per_second"], s["torch_tokens_per_second"] = med(tfm_train, "tokens_per_second"), med(torch_train, "tokens_per_second")
    s["train_ratio"] = ratio(s["tfm_tokens_per_second"], s["torch_tokens_per_second"])
    s["tfm_train_rss_mb"], s["torch_train_rss_mb"] = med(tfm_train, "rss_mb"), med(torch_train, "rss_mb")
    s["train_rss_ratio"] = ratio(s["tfm_train_rss_mb"], s["torch_train_rss_mb"])
    s["tfm_train_seconds"], s["torch_train_seconds"] = med(tfm_train, "train_seconds"), med(torch_train, "train_seconds")
    s["tfm_steps"], s["torch_steps"] = med(tfm_train, "steps"), med(torch_train, "steps")
    s["tfm_bleu"], s["torch_bleu"] = bleu("tfm_beam"), bleu("torch_beam")
    s["tfm_bleu_greedy"], s["torch_bleu_greedy"] = bleu("tfm_greedy"), bleu("torch_greedy")
    for mode in ("greedy", "beam"):
        s[f"tfm_{mode}_sps"], s[f"torch_{mode}_sps"] = dec(mode, "tfm", "sentences_per_second"), dec(mode, "torch", "sentences_per_second")
        s[f"{mode}_ratio"] = ratio(s[f"tfm_{mode}_sps"], s[f"torch_{mode}_sps"])
        s[f"tfm_{mode}_rss_mb"], s[f"torch_{mode}_rss_mb"] = dec(mode, "tfm", "rss_mb"), dec(mode, "torch", "rss_mb")
        s[f"{mode}_rss_ratio"] = ratio(s[f"tfm_{mode}_rss_mb"], s[f"torch_{mode}_rss_mb"])

    # Time to BLEU, per training repeat, then the median of the early BLEU and of the fractions.
    ttb = []
    for r in reps:
        t, p, b = r["tfm"], r["torch"], r["decode"]["bleu"]
        early = (t.get("checkpoints") or {}).get("early") if t.get("ok") else None
        eb, pb = b.get("tfm_early"), b.get("torch_beam")
        if early and p.get("ok") and eb is not None and pb is not None:
            ttb.append({"tfm_seconds": early["seconds"], "tfm_step": early["step"], "torch_seconds": p["train_seconds"],
                        "fraction": early["seconds"] / p["train_seconds"], "tfm_bleu": eb, "torch_bleu": pb,
                        "torch_early_bleu": b.get("torch_early"),
                        "met": eb >= pb and early["seconds"] <= EARLY_FRACTION * p["train_seconds"] + 1e-9})
    if ttb:
        s["early_tfm_bleu"] = statistics.median(x["tfm_bleu"] for x in ttb)
        s["early_fraction"] = statistics.median(x["fraction"] for x in ttb)
        s["early_tfm_seconds"] = statistics.median(x["tfm_seconds"] for x in ttb)
        s["time_to_bleu_met"] = sum(x["met"] for x in ttb) > len(ttb) / 2
    results["time_to_bleu"] = ttb
    results["summary"] = s

    n = results["test_sentences"]
    lines = ["", torch_setup_line(results.get("torch_check", {}), args.threads) + ".",
             "", "| measure | tfm | PyTorch (fp32 eager unless stated) | tfm / PyTorch (target) |", "|---|---|---|---|"]
    lines.append(f"| training target tokens/s | {fmt(s['tfm_tokens_per_second'], ',.0f')} | {fmt(s['torch_tokens_per_second'], ',.0f')} "
                 f"| {verdict(s['train_ratio'], TRAIN_TARGET)} |")
    lines.append(f"| training steps in the budget (tfm {fmt(s['tfm_train_seconds'], '.0f')} s, PyTorch {fmt(s['torch_train_seconds'], '.0f')} s) "
                 f"| {fmt(s['tfm_steps'], '.0f')} | {fmt(s['torch_steps'], '.0f')} | {fmt(ratio(s['tfm_steps'], s['torch_steps']), '.2f', 'x')} |")
    lines.append(f"| training peak RSS MB | {fmt(s['tfm_train_rss_mb'], ',.0f')} | {fmt(s['torch_train_rss_mb'], ',.0f')} "
                 f"| {verdict(s['train_rss_ratio'], RSS_TARGET, at_most=True)} |")
    lines.append(f"| BLEU, beam {args.beam}, own model after the full budget | {fmt(s['tfm_bleu'], '.2f')} | {fmt(s['torch_bleu'], '.2f')} | |")
    lines.append(f"| BLEU, greedy, own model after the full budget | {fmt(s['tfm_bleu_greedy'], '.2f')} | {fmt(s['torch_bleu_greedy'], '.2f')} | |")
    if ttb:
        lines.append(f"| time to BLEU: tfm at {fmt(s['early_tfm_seconds'], '.0f')} s ({s['early_fraction']:.2f}x PyTorch's time) "
                     f"vs PyTorch at its full budget | {fmt(s['early_tfm_bleu'], '.2f')} | {fmt(s['torch_bleu'], '.2f')} "
                     f"| {'met' if s['time_to_bleu_met'] else 'MISSED'} (tfm's BLEU >= PyTorch's in <= {EARLY_FRACTION}x the time) |")
    else:
        lines.append("| time to BLEU | n/a | n/a | n/a (a run failed) |")
    speed_model = next((r["decode"].get("speed_model") for r in reps if r["decode"].get("speed_model")), "n/a")
    for mode, label in (("greedy", "greedy"), ("beam", f"beam {args.beam}")):
        lines.append(f"| decoding sentences/s, {label}, batch {args.batch_sentences}, same weights | {fmt(s[f'tfm_{mode}_sps'], ',.1f')} "
                     f"| {fmt(s[f'torch_{mode}_sps'], ',.2f')} | {verdict(s[f'{mode}_ratio'], DECODE_TARGET)} |")
    if "bf16" in args.torch_precisions:
        b16 = [r.get("torch_bf16") or {} for r in reps]
        s["torch_bf16_tokens_per_second"], s["torch_bf16_train_rss_mb"] = med(b16, "tokens_per_second"), med(b16, "rss_mb")
        s["torch_bf16_bleu"] = bleu("torch_bf16_beam")
        lines.append(f"| training target tokens/s, PyTorch bf16 autocast | {fmt(s['tfm_tokens_per_second'], ',.0f')} "
                     f"| {fmt(s['torch_bf16_tokens_per_second'], ',.0f')} "
                     f"| {fmt(ratio(s['tfm_tokens_per_second'], s['torch_bf16_tokens_per_second']), '.2f', 'x')} |")
        lines.append(f"| training peak RSS MB, PyTorch bf16 autocast | {fmt(s['tfm_train_rss_mb'], ',.0f')} "
                     f"| {fmt(s['torch_bf16_train_rss_mb'], ',.0f')} "
                     f"| {fmt(ratio(s['tfm_train_rss_mb'], s['torch_bf16_train_rss_mb']), '.2f', 'x')} |")
        lines.append(f"| BLEU, beam {args.beam}, after the full budget, PyTorch bf16 autocast (decoded by tfm) "
                     f"| {fmt(s['tfm_bleu'], '.2f')} | {fmt(s['torch_bf16_bleu'], '.2f')} | |")
        for mode, label in (("greedy", "greedy"), ("beam", f"beam {args.beam}")):
            runs = [r["decode"].get("torch_bf16", {}).get(mode) or {} for r in reps]
            s[f"torch_bf16_{mode}_sps"] = med(runs, "sentences_per_second")
            lines.append(f"| decoding sentences/s, {label}, PyTorch bf16 autocast, same weights | {fmt(s[f'tfm_{mode}_sps'], ',.1f')} "
                         f"| {fmt(s[f'torch_bf16_{mode}_sps'], ',.2f')} | {fmt(ratio(s[f'tfm_{mode}_sps'], s[f'torch_bf16_{mode}_sps']), '.2f', 'x')} |")
    for mode, label in (("greedy", "greedy"), ("beam", f"beam {args.beam}")):
        lines.append(f"| decoding peak RSS MB, {label} | {fmt(s[f'tfm_{mode}_rss_mb'], ',.0f')} | {fmt(s[f'torch_{mode}_rss_mb'], ',.0f')} "
                     f"| {verdict(s[f'{mode}_rss_ratio'], RSS_TARGET, at_most=True)} |")
    lines.append("")
    if "bf16" in args.torch_precisions:
        lines.append("The targets are defined against PyTorch fp32 (the same arithmetic as tfm); the bf16 autocast rows are "
                     "PyTorch's faster, lower-precision option, for reference (no targets).")
    lines.append(f"Config {os.path.relpath(args.config, REPO)}, data {os.path.relpath(args.data, REPO)}; "
                 f"{len(reps)} training run(s) per program (seeds {', '.join(str(r['seed']) for r in reps)}), "
                 f"{args.decode_repeats} decoding run(s) per program and mode, interleaved; medians. "
                 f"Training budget {args.budget:.0f} s of training steps each (start-up, data loading and saves excluded); "
                 f"tfm ran in --stop-after/--resume segments timed from its per-step progress lines "
                 f"({', '.join(str(r['tfm'].get('segments')) for r in reps)} segments). Tokens/s exclude each process's first step.")
    checks = [r["batch_check"] for r in reps]
    lines.append("Same batches: both programs train on tfm's batches (bench/seq2seq_bench_data) from tfm's initial weights; "
                 + (checks[0] if len(checks) == 1 else "; ".join(f"run {i + 1}: {c}" for i, c in enumerate(checks))) + ".")
    if ttb:
        x = ttb[0]
        lines.append(f"Time to BLEU: tfm's checkpoint after {x['tfm_seconds']:.1f} s of training (step {x['tfm_step']}, "
                     f"{x['fraction']:.2f}x PyTorch's {x['torch_seconds']:.1f} s; aimed just under {args.early_fraction}x) scores BLEU "
                     f"{x['tfm_bleu']:.2f} (decoded by tfm, beam {args.beam}); PyTorch scores {x['torch_bleu']:.2f} after its whole "
                     f"budget" + (f" and {x['torch_early_bleu']:.2f} after {args.early_fraction}x of it (decoded by tfm)"
                                   if x.get("torch_early_bleu") is not None else "") + ".")
    lines.append(f"Decoding: the first {n} lines of the test split, batches of <= {args.batch_sentences} sentences of similar "
                 f"length. Speed and decoding RSS: both programs decode the same weights ({speed_model}); PyTorch re-runs the "
                 f"decoder over the whole prefix each step (nn.Transformer has no incremental decoding); sentences/s exclude "
                 f"model loading and tokenisation. BLEU (`tfm bleu`, sacreBLEU's 13a): each program's own model decoded by "
                 f"itself.")
    agree = [r["decode"]["agreement"] for r in reps if r["decode"]["agreement"]]
    if agree:
        parts = [f"{mode} {a['identical_lines']}/{a['lines']}" for mode, a in agree[0].items()]
        exact = all(a["identical_lines"] == a["lines"] for a in agree[0].values())
        lines.append("Search check: tfm's and PyTorch's outputs for the same weights are identical on " + ", ".join(parts)
                     + " lines" + ("." if exact else " (the rest differ by float rounding between the incremental and the "
                                                     "full-prefix decoder, or by a bug in one search)."))
    all_runs = [r[p] for r in reps for p in ("tfm", "torch")] + \
        [d for r in reps for mode in ("greedy", "beam") for p in ("tfm", "torch") for d in r["decode"][mode][p]]
    busy = [r["other_cores"] for r in all_runs if r.get("ok") and r.get("other_cores") is not None]
    if busy:
        lines.append(f"Other processes kept {statistics.median(busy):.2f} cores busy during the median run (max {max(busy):.2f}).")
        if max(busy) > 0.25:
            lines.append(f"**WARNING: the machine was busy with other work during some runs (up to {max(busy):.2f} of "
                         f"{os.cpu_count()} cores): the figures are unreliable; rerun on a quiet machine.**")
    env_note = results["environment"]
    lines.append(f"Environment for both programs: {env_note if env_note else 'no OPENBLAS_* variables set'}; "
                 f"OMP_NUM_THREADS={args.threads}, {args.threads} threads each.")
    tc = results.get("torch_check", {})
    if tc.get("ok"):
        lines.append(f"PyTorch {tc['version']} (BLAS_INFO={tc['blas_info']}): loaded {', '.join(tc['blas_libraries']) or 'no BLAS library'}, "
                     f"2048^3 matmul fp32 {tc['matmul_gflops']:.0f} GFLOPS, bf16 {fmt(tc.get('matmul_bf16_gflops'), '.0f')} GFLOPS "
                 f"with {tc['threads']} threads.")
        for w in tc.get("warnings", []):
            lines.append(f"**WARNING: {w}**")
    print("\n".join(lines), flush=True)


def batch_check(tfm_run, torch_run):
    """Do the two programs' steps count the same target tokens (i.e. see the same batches)?"""
    a, b = tfm_run.get("step_tokens") or [], torch_run.get("step_tokens") or []
    n = min(len(a), len(b))
    if n == 0:
        return "not checked (a run failed)"
    bad = next((i for i in range(n) if a[i] != b[i]), None)
    if bad is None:
        return f"the target-token counts of the first {n} steps agree"
    return f"**MISMATCH: step {bad + 1} counts {a[bad]} target tokens in tfm but {b[bad]} in PyTorch**"


def main_run(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tfm", default=os.environ.get("TFM_BIN", os.path.join(REPO, "build-bench-release", "tfm")),
                   help="the tfm CLI (default: $TFM_BIN, else build-bench-release/tfm)")
    p.add_argument("--peak-rss", required=True, help="bench/peak_rss.c, built")
    p.add_argument("--data-tool", required=True, help="bench/seq2seq_bench_data.c, built")
    p.add_argument("--config", default=os.path.join(REPO, "configs", "transformer-small.json"), help="seq2seq training config")
    p.add_argument("--data", default=os.path.join(REPO, "data", "en-de"),
                   help="corpus directory: {train,valid,test}.{en,de} + tokenizer.json (scripts/make-ende-corpus.sh)")
    p.add_argument("--budget", type=float, default=300, help="seconds of training steps per program (default 300)")
    p.add_argument("--early-fraction", type=float, default=EARLY_FRACTION,
                   help=f"tfm's early checkpoint, as a fraction of PyTorch's training time (default {EARLY_FRACTION})")
    p.add_argument("--test-sentences", type=int, default=500, help="first N lines of the test split to translate (default 500)")
    p.add_argument("--beam", type=int, default=4, help="beam size (default 4)")
    p.add_argument("--batch-sentences", type=int, default=32, help="sentences per decoding batch (default 32)")
    p.add_argument("--train-repeats", type=int, default=1, help="training runs per program, interleaved (default 1)")
    p.add_argument("--decode-repeats", type=int, default=1, help="decoding runs per program and mode, interleaved (default 1)")
    p.add_argument("--seed", type=int, help="seed of the first training run (default: the config's)")
    p.add_argument("--calibration-steps", type=int, default=5, help="steps of tfm's first segment, which measures its rate")
    p.add_argument("--segment-seconds", type=float, default=90, help="longest tfm training segment aimed at (default 90 s)")
    p.add_argument("--threads", type=int, default=2, help="threads for both programs (OMP_NUM_THREADS, --threads, torch)")
    p.add_argument("--torch-precisions", default="fp32,bf16",
                   help="PyTorch precisions: fp32 (eager, the comparison) and/or bf16 (autocast, extra rows; dropped without CPU bf16)")
    p.add_argument("--timeout", type=float, default=7200, help="seconds before a process is abandoned")
    p.add_argument("--json", help="also write all measurements here")
    p.add_argument("--workdir", help="scratch directory, kept (default: a temporary one, removed at the end)")
    args = p.parse_args(argv)
    if args.budget <= 0 or not 0 < args.early_fraction < 1 or args.test_sentences < 1 or args.train_repeats < 1 \
            or args.decode_repeats < 1 or args.beam < 2 or args.calibration_steps < 2 or args.segment_seconds <= 0:
        p.error("need --budget > 0, 0 < --early-fraction < 1, --test-sentences/--*-repeats >= 1, --beam >= 2, "
                "--calibration-steps >= 2, --segment-seconds > 0")
    for tool in (args.tfm, args.peak_rss, args.data_tool):
        if not os.access(tool, os.X_OK):
            p.error(f"{tool} not found (build it: bench/run-translation.sh does)")
    args.config, args.data = os.path.abspath(args.config), os.path.abspath(args.data)
    if not os.path.exists(os.path.join(args.data, "tokenizer.json")):
        p.error(f"{args.data}/tokenizer.json not found: run scripts/make-ende-corpus.sh")
    args.torch_precisions = [x for x in args.torch_precisions.split(",") if x]
    if "fp32" not in args.torch_precisions or any(x not in ("fp32", "bf16") for x in args.torch_precisions):
        p.error("--torch-precisions: fp32 (required: the comparison) and optionally bf16")
    settings = train_settings(args.config)
    first_seed = args.seed if args.seed is not None else int(settings["seed"])

    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(args.threads)
    openblas_env = {k: v for k, v in env.items() if k.startswith("OPENBLAS")}
    if openblas_env:
        log(f"NOTE: OpenBLAS variables are set and apply to both programs: {openblas_env}")
    workdir = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="tfm-bench-seq2seq-")
    os.makedirs(workdir, exist_ok=True)
    results = {"threads": args.threads, "environment": openblas_env, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
               "config": args.config, "data": args.data, "budget_seconds": args.budget, "beam": args.beam,
               "batch_sentences": args.batch_sentences, "early_fraction": args.early_fraction, "reps": []}
    failed = False
    try:
        results["torch_check"] = tc = torch_blas_check(args, env)
        if "bf16" in args.torch_precisions and tc.get("ok") and not tc.get("bf16_supported"):
            log("NOTE: the CPU has no bf16 instructions (avx512_bf16 / amx_bf16): PyTorch runs fp32 only")
            args.torch_precisions = ["fp32"]
        tc["precisions_run"] = [PRECISION_LABELS[x] for x in args.torch_precisions]
        results["torch_precisions"] = args.torch_precisions
        log(torch_setup_line(tc, args.threads))
        test = prepare_test(args, env, workdir, settings)
        results["test_sentences"] = test["count"]
        log(f"== test set: the first {test['count']} lines of {args.data}/test.{settings['source_lang']}")
        for rep in range(args.train_repeats):
            seed = first_seed + rep
            log(f"== training run {rep + 1}/{args.train_repeats} (seed {seed}): {args.budget:.0f} s of training steps each")
            # Enough epochs of batch order for a fast PyTorch (the export is cheap: ~10 KB per epoch).
            export = export_data(args, env, workdir, seed, epochs=50)
            torch_run = train_torch(args, env, workdir, export, rep, seed)
            reference = torch_run["train_seconds"] if torch_run.get("ok") else args.budget
            tfm_run = train_tfm(args, env, workdir, rep, seed, reference)
            rec = {"seed": seed, "tfm": tfm_run, "torch": torch_run, "batch_check": batch_check(tfm_run, torch_run)}
            args._torch_bf16_run = None
            if "bf16" in args.torch_precisions:
                rec["torch_bf16"] = args._torch_bf16_run = train_torch(args, env, workdir, export, rep, seed, "bf16")
                failed = failed or not rec["torch_bf16"].get("ok")
            log(f"  batches: {rec['batch_check']}")
            log(f"== decoding run {rep + 1}: {test['count']} sentences, greedy and beam {args.beam}, batch {args.batch_sentences}")
            rec["decode"] = decode_all(args, env, workdir, test, rep, tfm_run, torch_run)
            results["reps"].append(rec)
            failed = failed or not tfm_run.get("ok") or not torch_run.get("ok") or "MISMATCH" in rec["batch_check"]
        report(results, args)
        decodes = [d for r in results["reps"] for m in ("greedy", "beam") for q in ("tfm", "torch") for d in r["decode"][m][q]]
        decodes += [d for r in results["reps"] for d in (r["decode"].get("torch_bf16") or {}).values()]
        failed = failed or any(not d["ok"] for d in decodes)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
            log(f"wrote {args.json}")
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    if failed:
        log("bench_seq2seq.py: some runs failed or disagree; see the messages above")
    return 1 if failed else 0


# ---------------------------------------------------------------- PyTorch child processes

def torch_model(model_dir, threads):
    """The reference model with the weights of a tfm checkpoint directory (config.json + model.safetensors)."""
    import dataclasses
    import warnings
    import torch
    torch.set_num_threads(threads)
    # torch 1.13's encoder fast path (eval mode, padding mask) warns that nested tensors are a prototype.
    warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors")
    from torch_reference import safetensors_io
    from torch_reference.seq2seq import Seq2Seq, Seq2SeqConfig
    model_dir = checkpoint_of(model_dir)
    d = read_json(os.path.join(model_dir, "config.json"))
    fields = {f.name for f in dataclasses.fields(Seq2SeqConfig)}
    kw = {k: v for k, v in d.items() if k in fields}
    attention_dropout, activation_dropout = kw.get("attention_dropout", 0.0), kw.get("activation_dropout", 0.0)
    kw["attention_dropout"] = kw["activation_dropout"] = kw.get("dropout", 0.0)  # nn.Transformer takes one rate ...
    model = Seq2Seq(Seq2SeqConfig(**kw))
    for layer in list(model.encoder.layers) + list(model.decoder.layers):  # ... so set the other two per module
        layer.self_attn.dropout = attention_dropout
        if hasattr(layer, "multihead_attn"):
            layer.multihead_attn.dropout = attention_dropout
        layer.dropout = torch.nn.Dropout(activation_dropout) if activation_dropout > 0 else torch.nn.Identity()
    tensors = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in tensors.items()}, strict=True)
    return model


def torch_save(model, directory, like):
    """A tfm checkpoint directory: the parameters + config.json and tokenizer.json of `like`."""
    from torch_reference import safetensors_io
    os.makedirs(directory, exist_ok=True)
    tensors = {name: p.detach().float().cpu().numpy() for name, p in model.named_parameters()}
    safetensors_io.save(os.path.join(directory, "model.safetensors"), tensors, {"format": "pt"})
    for name in ("config.json", "tokenizer.json"):
        shutil.copyfile(os.path.join(like, name), os.path.join(directory, name))


def main_torch_train(argv):
    p = argparse.ArgumentParser(prog="bench_seq2seq.py torch-train")
    p.add_argument("--export", required=True, help="seq2seq_bench_data batches output")
    p.add_argument("--config", required=True)
    p.add_argument("--budget", type=float, required=True, help="seconds of training steps")
    p.add_argument("--early-fraction", type=float, default=EARLY_FRACTION)
    p.add_argument("--out", required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: forward under CPU autocast")
    args = p.parse_args(argv)
    import numpy as np
    import torch
    from bench_gpt import torch_precision
    t = train_settings(args.config)
    meta = read_json(os.path.join(args.export, "batches.json"))
    lengths = np.fromfile(os.path.join(args.export, "lengths.i32"), dtype="<i4").reshape(-1, 2).astype(np.int64)
    ids = np.fromfile(os.path.join(args.export, "ids.i32"), dtype="<i4").astype(np.int64)
    begin = np.fromfile(os.path.join(args.export, "batch_begin.i64"), dtype="<i8")
    order = np.fromfile(os.path.join(args.export, "order.i64"), dtype="<i8").reshape(meta["epochs"], meta["batch_count"])
    offsets = np.concatenate([[0], np.cumsum(lengths.sum(axis=1))])
    pad, bos, eos = meta["pad_id"], meta["bos_id"], meta["eos_id"]
    init = os.path.join(args.export, "init")
    model = torch_model(init, args.threads)
    model.train()
    C = model.config.d_model
    if t["schedule"] not in ("noam", "constant"):
        raise SystemExit(f"{args.config}: schedule {t['schedule']!r}: only noam and constant make sense for a time budget")

    def learning_rate(step):  # src/train/schedule.c, 1-based step
        lr, warmup = float(t["learning_rate"]), float(t["warmup_steps"])
        if t["schedule"] == "noam":
            w = warmup if warmup > 0 else 1.0
            return lr * C ** -0.5 * min(step ** -0.5, step * w ** -1.5)
        return lr * step / warmup if warmup > 0 and step <= warmup else lr

    def batch(index):  # tfm_seq2seq_data_fill
        rows = range(begin[index], begin[index + 1])
        sl, tl = lengths[begin[index]:begin[index + 1], 0], lengths[begin[index]:begin[index + 1], 1]
        B, S, T = len(rows), int(sl.max()) + 1, int(tl.max()) + 1
        src = np.full((B, S), pad, dtype=np.int64)
        tin = np.full((B, T), pad, dtype=np.int64)
        tout = np.full((B, T), pad, dtype=np.int64)
        for r, i in enumerate(rows):
            o, s, n = offsets[i], sl[r], tl[r]
            src[r, :s], src[r, s] = ids[o:o + s], eos
            tin[r, 0], tin[r, 1:n + 1] = bos, ids[o + s:o + s + n]
            tout[r, :n], tout[r, n] = ids[o + s:o + s + n], eos
        return (torch.from_numpy(src), torch.from_numpy(sl + 1), torch.from_numpy(tin), torch.from_numpy(tl + 1),
                torch.from_numpy(tout), int((tl + 1).sum()))

    params = list(model.parameters())
    opt = torch.optim.AdamW(params, lr=0.0, betas=(float(t["beta1"]), float(t["beta2"])), eps=float(t["eps"]),
                            weight_decay=float(t["weight_decay"]), foreach=True)
    accum, clip, smoothing = int(t["grad_accum_steps"]), float(t["grad_clip"]), float(t["label_smoothing"])
    spent = timed = 0.0
    step = micro = timed_tokens = 0
    step_tokens, step_losses, saved = [], [], {}
    loss_value = float("nan")
    while spent < args.budget:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss_sum, tokens = 0.0, 0
        for _ in range(accum):
            epoch, position = divmod(micro, meta["batch_count"])
            if epoch >= meta["epochs"]:
                raise SystemExit(f"the export holds {meta['epochs']} epochs of batch order; more are needed")
            src, src_len, tin, tgt_len, tout, n = batch(int(order[epoch, position]))
            micro += 1
            with torch_precision(torch, args.precision):
                _, loss = model(src, src_len, tin, tgt_len, tout, smoothing)
            (loss * n).backward()  # weighed by tokens; divided by the step's total below (tfm's mean over the step)
            loss_sum += loss.item() * n
            tokens += n
        for q in params:
            if q.grad is not None:
                q.grad.div_(tokens)
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(params, clip)
        step += 1
        for g in opt.param_groups:
            g["lr"] = learning_rate(step)
        opt.step()
        dt = time.perf_counter() - t0
        spent += dt
        loss_value = loss_sum / tokens
        step_tokens.append(tokens)
        step_losses.append(round(loss_value, 6))
        if step > 1:  # the first step warms up allocators and thread pools
            timed += dt
            timed_tokens += tokens
        if step % 50 == 0:
            print(f"torch step {step} | loss {loss_value:.4f} | {spent:.1f}/{args.budget:.0f} s of training | "
                  f"{timed_tokens / timed:.0f} tgt tok/s", file=sys.stderr, flush=True)
        if "early" not in saved and spent >= args.early_fraction * args.budget:
            torch_save(model, os.path.join(args.out, "early"), init)
            saved["early"] = {"step": step, "seconds": spent}
    torch_save(model, os.path.join(args.out, "final"), init)
    saved["final"] = {"step": step, "seconds": spent}
    print("summary " + json.dumps({"steps": step, "train_seconds": spent, "seconds": timed, "target_tokens": timed_tokens,
                                   "tokens_per_second": timed_tokens / timed if timed > 0 else None,
                                   "final_train_loss": loss_value, "checkpoints": saved, "step_tokens": step_tokens,
                                   "step_losses": step_losses, "precision": args.precision}),
          flush=True)
    return 0


def last_logits(model, memory, src_pad, prefix):
    """Seq2Seq.decode for the last position only: nn.Transformer's decoder runs over the whole prefix (it has no
    incremental mode), but only the last position goes through the [C, V] output layer (PyTorch's best here)."""
    import torch
    import torch.nn.functional as F
    c = model.config
    T = prefix.shape[1]
    causal = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
    table = model.embedding if c.share_embeddings else model.target_embedding
    positions = model.target_position_embedding if c.positions == "learned" else None
    y = model.decoder(model._embed(prefix, table, positions), memory, tgt_mask=causal, memory_key_padding_mask=src_pad)
    weight = model.embedding.weight if c.share_embeddings else model.output_projection.weight
    return F.linear(y[:, -1], weight)


def torch_greedy(model, src, src_len, limits):
    """Greedy search without a cache: the decoder re-runs over the whole prefix each step. -> token lists."""
    import torch
    c = model.config
    memory, src_pad = model.encode(src, src_len)
    B = src.shape[0]
    prefix = torch.full((B, 1), c.bos_id, dtype=torch.long)
    rows = torch.arange(B)          # sentence of each active row
    out = [[] for _ in range(B)]
    t = 0
    while len(rows) > 0:
        logits = last_logits(model, memory, src_pad, prefix)
        logits[:, c.pad_id] = -math.inf
        if c.bos_id != c.eos_id:
            logits[:, c.bos_id] = -math.inf
        nxt = torch.argmax(logits, dim=-1).tolist()
        keep = []
        for i, b in enumerate(rows.tolist()):
            token = c.eos_id if t >= limits[b] else nxt[i]
            if token != c.eos_id:
                out[b].append(token)
                keep.append(i)
            else:
                nxt[i] = c.eos_id
        prefix = torch.cat([prefix, torch.tensor(nxt, dtype=torch.long)[:, None]], dim=1)
        if len(keep) < len(rows):   # finished sentences leave the batch
            k = torch.tensor(keep, dtype=torch.long)
            rows, prefix, memory, src_pad = rows[k], prefix[k], memory[k], src_pad[k]
        t += 1
    return out


def torch_beam(model, src, src_len, limits, K, alpha):
    """src/decode/beam_search.c's search without a cache: per sentence K beams from BOS (the first step expands
    beam 0 only); each step the 2K best (beam, token) continuations by cumulative log-probability (pad and BOS never,
    ties to the lower beam then the lower token); an EOS among the first K finishes a hypothesis (score = log P /
    ((5 + length + 1) / 6)^alpha), the first K others become the beams; past the length limit only EOS; a sentence
    is done with K finished hypotheses. The decoder re-runs over every beam's whole prefix each step."""
    import torch
    c = model.config
    V = c.vocab_size
    memory, src_pad = model.encode(src, src_len)
    B = src.shape[0]
    active = list(range(B))                       # sentences in the batch, K rows each
    prefix = torch.full((B * K, 1), c.bos_id, dtype=torch.long)
    scores = torch.full((B, K), -math.inf, dtype=torch.float64)
    scores[:, 0] = 0.0
    memory, src_pad = memory.repeat_interleave(K, 0), src_pad.repeat_interleave(K, 0)
    finished = [[] for _ in range(B)]
    t = 0
    while active:
        n = len(active)
        logits = last_logits(model, memory, src_pad, prefix)
        lp = torch.log_softmax(logits.double(), dim=-1).view(n, K, V)
        allowed = lp.clone()
        allowed[:, :, c.pad_id] = -math.inf
        if c.bos_id != c.eos_id:
            allowed[:, :, c.bos_id] = -math.inf
        forced = torch.tensor([t >= limits[b] for b in active])
        if forced.any():
            only_eos = torch.full_like(allowed[forced], -math.inf)
            only_eos[:, :, c.eos_id] = lp[forced][:, :, c.eos_id]
            allowed[forced] = only_eos
        cand = (scores[:n, :, None] + allowed).view(n, K * V)
        values, index = torch.topk(cand, 2 * K, dim=1)
        values, index = values.tolist(), index.tolist()
        next_rows, next_tokens, next_scores, keep = [], [], [], []
        for i, b in enumerate(active):
            # Ties: the lower beam, then the lower token (flat index = beam * V + token).
            top = sorted(((v, j) for v, j in zip(values[i], index[i]) if v != -math.inf), key=lambda x: (-x[0], x[1]))
            kept, rows, toks, scs = 0, [], [], []
            for rank, (v, j) in enumerate(top):
                beam, token = divmod(j, V)
                if token == c.eos_id:
                    if rank < K and len(finished[b]) < K:
                        hyp = prefix[i * K + beam, 1:].tolist()
                        finished[b].append((v / ((5.0 + t + 1) / 6.0) ** alpha if alpha else v, hyp))
                elif kept < K:
                    rows.append(i * K + beam)
                    toks.append(token)
                    scs.append(v)
                    kept += 1
            if len(finished[b]) >= K or kept == 0:
                continue
            keep.append(b)
            pad_rows = K - kept   # dead beams repeat the first parent and never expand (score -inf)
            next_rows += rows + [rows[0]] * pad_rows
            next_tokens += toks + [c.pad_id] * pad_rows
            next_scores.append(scs + [-math.inf] * pad_rows)
        if not keep:
            break
        r = torch.tensor(next_rows, dtype=torch.long)
        prefix = torch.cat([prefix[r], torch.tensor(next_tokens, dtype=torch.long)[:, None]], dim=1)
        memory, src_pad = memory[r], src_pad[r]
        scores = torch.tensor(next_scores, dtype=torch.float64)
        active = keep
        t += 1
    out = []
    for b in range(B):
        ranked = sorted(enumerate(finished[b]), key=lambda x: (-x[1][0], x[0]))  # stable: earlier-finished first
        out.append(ranked[0][1][1] if ranked else [])
    return out


def main_torch_translate(argv):
    p = argparse.ArgumentParser(prog="bench_seq2seq.py torch-translate")
    p.add_argument("--model", required=True)
    p.add_argument("--ids", required=True, help="source ids, one line per sentence (seq2seq_bench_data encode)")
    p.add_argument("--out", required=True, help="output ids, one line per input line")
    p.add_argument("--beam", type=int, default=4, help="1 = greedy")
    p.add_argument("--alpha", type=float, default=0.6)
    p.add_argument("--max-length-a", type=float, default=1.5)
    p.add_argument("--max-length-b", type=int, default=10)
    p.add_argument("--batch-tokens", type=int, default=4096)
    p.add_argument("--max-sentences", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16: under CPU autocast")
    args = p.parse_args(argv)
    import torch
    from bench_gpt import torch_precision
    if args.precision == "bf16":  # the fused inference fast path of nn.Transformer* refuses autocast's bf16 tensors
        torch.backends.mha.set_fastpath_enabled(False)
    model = torch_model(args.model, args.threads)
    model.eval()
    c = model.config
    with open(args.ids) as f:
        sources = [[int(x) for x in line.split()][:c.max_source_length - 1] for line in f.read().splitlines()]
    # tfm translate's batching: by source length (then line), while B * S <= batch_tokens and B <= max_sentences.
    order = sorted((i for i, s in enumerate(sources) if s), key=lambda i: (len(sources[i]), i))
    results = [[] for _ in sources]
    t0 = time.perf_counter()
    with torch.inference_mode(), torch_precision(torch, args.precision):
        first = 0
        while first < len(order):
            B, S = 0, 0
            while first + B < len(order):
                S2 = max(S, len(sources[order[first + B]]) + 1)
                if B > 0 and ((B + 1) * S2 > args.batch_tokens or B + 1 > args.max_sentences):
                    break
                S, B = S2, B + 1
            batch = order[first:first + B]
            src = torch.full((B, S), c.pad_id, dtype=torch.long)
            for r, i in enumerate(batch):
                src[r, :len(sources[i])] = torch.tensor(sources[i])
                src[r, len(sources[i])] = c.eos_id
            src_len = torch.tensor([len(sources[i]) + 1 for i in batch])
            limits = [min(int(math.floor(args.max_length_a * int(n) + args.max_length_b)), c.max_target_length - 1)
                      for n in src_len]
            if args.beam == 1:
                outs = torch_greedy(model, src, src_len, limits)
            else:
                outs = torch_beam(model, src, src_len, limits, args.beam, args.alpha)
            for i, o in zip(batch, outs):
                results[i] = o
            first += B
    seconds = time.perf_counter() - t0
    with open(args.out, "w") as f:
        for o in results:
            f.write(" ".join(map(str, o)) + "\n")
    print("summary " + json.dumps({"sentences": len(order), "seconds": seconds,
                                   "sentences_per_second": len(order) / seconds if seconds > 0 else None,
                                   "threads": torch.get_num_threads(), "beam": args.beam, "precision": args.precision}),
          flush=True)
    return 0


if __name__ == "__main__":
    modes = {"torch-train": main_torch_train, "torch-translate": main_torch_translate}
    if len(sys.argv) > 1 and sys.argv[1] in modes:
        sys.exit(modes[sys.argv[1]](sys.argv[2:]))
    sys.exit(main_run(sys.argv[1:]))
