#!/usr/bin/env python3
"""BERT fine-tuning on a real task, tfm against its baselines in one run: classify Debian package descriptions into their
archive section (data/debian-text/sections: 35 sections, split by source package; scripts/make-debian-text.sh).

    .venv/bin/python bench/bench_bert_sections.py --tfm build/tfm [--budget 8] [--systems bow,tfm-scratch,...] [--json F]
    bench/run-bert-sections.sh ...      (builds tfm and the data first)

Systems, each given the same wall-clock budget (minutes) on the same machine, one after the other:
  bow            bag-of-words logistic regression (torch): log(1 + count) word features, L2-normalised, softmax
                 regression with Adam, the weight decay of three picked on valid.tsv
  tfm-scratch    tfm train --config configs/bert-sections.json (a BERT of the bert-small shape, random weights)
  tfm-pretrained the same with --init RUN/best (tfm's 15-minute pre-training on pretrain.txt, configs/bert-small.json)
  torch-pretrained  the same fine-tuning in PyTorch/transformers: BertForSequenceClassification loaded from the same
                 RUN/best (transformers reads tfm's saved BertForPreTraining), the same recipe (AdamW, betas, eps,
                 weight decay on matrices only, warm-up + cosine, clipping 1.0, batch 32, 128 tokens, dropout 0.1, the
                 classifier alone for freeze_steps), validated on all of valid.tsv as often, the best kept
  tfm-minilm     tfm train --config configs/bert-sections-minilm.json --init all-MiniLM-L6-v2 (a real BERT from PyPI)
Reported for each: steps, training tokens/s, best valid accuracy and the minutes to reach it, test accuracy of the best
(tfm: `tfm classify` on test.tsv), and tfm/torch ratios for the same model and recipe. Torch's set-up: its own threads
(torch.get_num_threads() = the cores), fp32 eager, oneDNN on (bench/torch_best_setup.py measures the alternatives).
"""
import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)


def log(message):
    print(message, file=sys.stderr, flush=True)


def read_tsv(path):
    labels, texts = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            label, text = line.rstrip("\n").split("\t", 1)
            labels.append(label)
            texts.append(text)
    return labels, texts


def load_task(data):
    names = [l.strip() for l in open(os.path.join(data, "labels.txt"), encoding="utf-8") if l.strip()]
    index = {n: i for i, n in enumerate(names)}
    split = {}
    for part in ("train", "valid", "test"):
        labels, texts = read_tsv(os.path.join(data, f"{part}.tsv"))
        split[part] = ([index[l] for l in labels], texts)
    return names, split


def majority(split):
    train = split["train"][0]
    top = max(set(train), key=train.count)
    return {part: 100.0 * sum(l == top for l in split[part][0]) / len(split[part][0]) for part in ("valid", "test")}


# ---- bag-of-words logistic regression ----

def run_bow(split, names, budget, torch):
    start = time.time()
    words = lambda text: re.findall(r"\w+", text.lower())
    counts = {}
    for text in split["train"][1]:
        for w in words(text):
            counts[w] = counts.get(w, 0) + 1
    vocabulary = {w: i for i, w in enumerate(sorted(w for w, c in counts.items() if c >= 2))}

    def features(texts):
        ids, weights, offsets = [], [], []
        for text in texts:
            bag = {}
            for w in words(text):
                if w in vocabulary:
                    bag[vocabulary[w]] = bag.get(vocabulary[w], 0) + 1
            values = {k: math.log1p(v) for k, v in bag.items()}
            norm = math.sqrt(sum(v * v for v in values.values())) or 1.0
            offsets.append(len(ids))
            ids.extend(values)
            weights.extend(v / norm for v in values.values())
        return torch.tensor(ids, dtype=torch.long), torch.tensor(weights), torch.tensor(offsets, dtype=torch.long)

    data = {part: features(split[part][1]) + (torch.tensor(split[part][0]),) for part in ("train", "valid", "test")}

    def predict(model, part, rows=None):
        ids, weights, offsets, labels = data[part]
        with torch.no_grad():
            return model(ids, offsets, per_sample_weights=weights).argmax(1)

    def accuracy(model, part):
        return 100.0 * float((predict(model, part) == data[part][3]).float().mean())

    best = None
    n = len(split["train"][0])
    for decay in (0.0, 1e-6, 1e-5):
        torch.manual_seed(0)
        model = torch.nn.EmbeddingBag(len(vocabulary), len(names), mode="sum")
        torch.nn.init.zeros_(model.weight)
        bias = torch.nn.Parameter(torch.zeros(len(names)))
        optimizer = torch.optim.Adam(list(model.parameters()) + [bias], lr=0.05, weight_decay=decay)
        forward = lambda ids, offsets, per_sample_weights: model(ids, offsets, per_sample_weights=per_sample_weights) + bias
        ids, weights, offsets, labels = data["train"]
        ends = torch.cat([offsets[1:], torch.tensor([len(ids)])])
        for epoch in range(15):
            order = torch.randperm(n)
            for first in range(0, n, 256):
                rows = order[first:first + 256]
                batch_ids = torch.cat([ids[offsets[r]:ends[r]] for r in rows.tolist()])
                batch_weights = torch.cat([weights[offsets[r]:ends[r]] for r in rows.tolist()])
                lengths = torch.tensor([int(ends[r] - offsets[r]) for r in rows.tolist()])
                batch_offsets = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]])
                loss = torch.nn.functional.cross_entropy(forward(batch_ids, batch_offsets, batch_weights), labels[rows])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        valid = accuracy(forward, "valid")
        log(f"  bow: weight decay {decay:g}: valid accuracy {valid:.2f}")
        if best is None or valid > best[0]:
            best = (valid, decay, accuracy(forward, "test"))
        if time.time() - start > 60 * budget:
            break
    return {"system": "bow", "valid_accuracy": best[0], "test_accuracy": best[2], "minutes_to_best": (time.time() - start) / 60,
            "setup": f"{len(vocabulary)} words (count >= 2 in train), log(1+tf) L2, Adam lr 0.05, 15 epochs, weight decay {best[1]:g} "
                     f"(of 0, 1e-6, 1e-5 on valid)"}


# ---- tfm ----

def tfm_run(args, name, config, init, names):
    out = os.path.join(REPO, "runs", f"bench-sections-{name}")
    command = [args.tfm, "train", "--config", config, "--data", args.data, "--out", out, "--time-limit", str(args.budget), "--force"]
    if init:
        command += ["--init", init]
    log(f"  {' '.join(command)}")
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{name}: tfm train failed: {result.stderr[-600:]}")
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    valid = [json.loads(l) for l in open(os.path.join(out, "log.jsonl")) if '"valid_accuracy"' in l]
    best = max(valid, key=lambda v: v["valid_accuracy"])
    test_labels, test_texts = load_task(args.data)[1]["test"]
    classified = subprocess.run([args.tfm, "classify", "--model", os.path.join(out, "best"), "--max-length", "128"],
                                input="\n".join(test_texts) + "\n", capture_output=True, text=True)
    if classified.returncode != 0:
        raise RuntimeError(f"{name}: tfm classify failed: {classified.stderr[-400:]}")
    predicted = [json.loads(l)["label"] for l in classified.stdout.splitlines()]
    test = 100.0 * sum(names[t] == p for t, p in zip(test_labels, predicted)) / len(test_labels)
    return {"system": name, "steps": summary["final_step"], "tokens_per_second": summary["tokens_per_second"],
            "valid_accuracy": best["valid_accuracy"], "minutes_to_best": best["wall_seconds"] / 60, "test_accuracy": test,
            "curve": [(v["step"], round(v["wall_seconds"] / 60, 2), v["valid_accuracy"]) for v in valid],
            "setup": f"tfm train {os.path.relpath(config, REPO)}" + (f" --init {init}" if init else "")}


# ---- PyTorch / transformers, the same recipe ----

def torch_finetune(args, pretrained, names, split, torch, transformers):
    recipe = json.load(open(os.path.join(REPO, "configs", "bert-sections.json")))["train"]
    torch.manual_seed(12345)
    tokenizer = transformers.BertTokenizerFast.from_pretrained(pretrained)
    model = transformers.BertForSequenceClassification.from_pretrained(
        pretrained, num_labels=len(names), id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
    model.train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}],
                                  lr=recipe["learning_rate"], betas=(0.9, 0.999), eps=1e-6)
    lr, min_lr, warmup, steps = recipe["learning_rate"], recipe["min_lr"], recipe["warmup_steps"], recipe["max_steps"]

    def rate(step):
        if step <= warmup:
            return lr * step / warmup
        return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * min(1.0, (step - warmup) / (steps - warmup))))

    def encode(texts):
        return tokenizer(texts, truncation=True, max_length=recipe["seq_len"], padding=True, return_tensors="pt")

    def evaluate(part):
        model.eval()
        labels, texts = split[part]
        correct = 0
        with torch.no_grad():
            for first in range(0, len(texts), 64):
                logits = model(**encode(texts[first:first + 64])).logits
                correct += int((logits.argmax(1) == torch.tensor(labels[first:first + 64])).sum())
        model.train()
        return 100.0 * correct / len(texts)

    labels, texts = split["train"]
    start, step, tokens, best, curve = time.time(), 0, 0, None, []
    train_seconds = 0.0
    generator = torch.Generator().manual_seed(1)
    order = torch.randperm(len(texts), generator=generator).tolist()
    position = 0
    body = [p for n, p in model.named_parameters() if not n.startswith("classifier.")]
    while step < steps and time.time() - start < 60 * args.budget:
        for p in body:  # the classifier alone for the first freeze_steps steps, as tfm's freeze_steps
            p.requires_grad_(step >= recipe["freeze_steps"])
        t0 = time.time()
        if position + recipe["batch_size"] > len(order):
            order, position = torch.randperm(len(texts), generator=generator).tolist(), 0
        rows = order[position:position + recipe["batch_size"]]
        position += recipe["batch_size"]
        batch = encode([texts[r] for r in rows])
        loss = model(**batch, labels=torch.tensor([labels[r] for r in rows])).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        step += 1
        for group in optimizer.param_groups:
            group["lr"] = rate(step)
        optimizer.step()
        train_seconds += time.time() - t0
        tokens += int(batch["attention_mask"].sum())
        if step % recipe["eval_every"] == 0:
            valid = evaluate("valid")
            curve.append((step, round((time.time() - start) / 60, 2), valid))
            log(f"  torch step {step}: valid accuracy {valid:.2f}")
            if best is None or valid > best[0]:
                best = (valid, (time.time() - start) / 60, {k: v.detach().clone() for k, v in model.state_dict().items()})
    valid = evaluate("valid")
    curve.append((step, round((time.time() - start) / 60, 2), valid))
    if best is None or valid > best[0]:
        best = (valid, (time.time() - start) / 60, None)
    if best[2] is not None:
        model.load_state_dict(best[2])
    return {"system": "torch-pretrained", "steps": step, "tokens_per_second": tokens / train_seconds, "valid_accuracy": best[0],
            "minutes_to_best": best[1], "test_accuracy": evaluate("test"), "curve": curve,
            "setup": f"torch {torch.__version__}, transformers {transformers.__version__}, {torch.get_num_threads()} threads, fp32 eager, "
                     f"oneDNN {'on' if torch.backends.mkldnn.enabled else 'off'}; BertForSequenceClassification.from_pretrained({pretrained})"}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tfm", default=os.path.join(REPO, "build", "tfm"))
    parser.add_argument("--data", default=os.path.join(REPO, "data", "debian-text", "sections"))
    parser.add_argument("--pretrained", default=os.path.join(REPO, "runs", "bert-small", "best"))
    parser.add_argument("--minilm", default=os.path.join(REPO, ".venv", "assets", "all-MiniLM-L6-v2"))
    parser.add_argument("--budget", type=float, default=8.0, help="minutes of fine-tuning for each system (default 8)")
    parser.add_argument("--systems", default="bow,tfm-scratch,tfm-pretrained,torch-pretrained,tfm-minilm")
    parser.add_argument("--json", help="write every measurement here")
    args = parser.parse_args()
    import torch
    import transformers
    names, split = load_task(args.data)
    base = majority(split)
    log(f"bench_bert_sections: {len(names)} sections, {len(split['train'][0])} train / {len(split['valid'][0])} valid / "
        f"{len(split['test'][0])} test; the most frequent section: {base['valid']:.2f}% valid, {base['test']:.2f}% test")
    results = []
    for system in args.systems.split(","):
        log(f"{system}:")
        if system == "bow":
            results.append(run_bow(split, names, args.budget, torch))
        elif system == "tfm-scratch":
            results.append(tfm_run(args, system, os.path.join(REPO, "configs", "bert-sections.json"), None, names))
        elif system == "tfm-pretrained":
            results.append(tfm_run(args, system, os.path.join(REPO, "configs", "bert-sections.json"), args.pretrained, names))
        elif system == "torch-pretrained":
            results.append(torch_finetune(args, args.pretrained, names, split, torch, transformers))
        elif system == "tfm-minilm":
            results.append(tfm_run(args, system, os.path.join(REPO, "configs", "bert-sections-minilm.json"), args.minilm, names))
        else:
            parser.error(f"unknown system {system}")
        log(f"  {json.dumps({k: v for k, v in results[-1].items() if k != 'curve'})}")
    print(f"| system | steps | train tokens/s | best valid accuracy % | minutes to it | test accuracy % |")
    print(f"|---|---|---|---|---|---|")
    print(f"| most frequent section | | | {base['valid']:.2f} | | {base['test']:.2f} |")
    for r in results:
        speed = f"{r['tokens_per_second']:.0f}" if "tokens_per_second" in r else ""
        print(f"| {r['system']} | {r.get('steps', '')} | {speed} | {r['valid_accuracy']:.2f} | {r['minutes_to_best']:.1f} | {r['test_accuracy']:.2f} |")
    by = {r["system"]: r for r in results}
    if "tfm-pretrained" in by and "torch-pretrained" in by:
        a, b = by["tfm-pretrained"], by["torch-pretrained"]
        print(f"\ntfm / torch on the same model and recipe: training tokens/s x{a['tokens_per_second'] / b['tokens_per_second']:.2f}, "
              f"test accuracy {a['test_accuracy'] - b['test_accuracy']:+.2f} points")
    for r in results:
        print(f"- {r['system']}: {r['setup']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"budget_minutes": args.budget, "majority": base, "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
