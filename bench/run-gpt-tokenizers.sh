#!/usr/bin/env bash
# GPT on bytes against GPT on an 8k BPE that tfm trains on the same text, the same model size and the same wall time
# (issue 15 item 2): both validate on the text's tail, and validation is reported per token (perplexity) and per byte
# (bits per byte, byte perplexity), which makes the two tokenizers comparable. Data: data/debian-text/pretrain.txt
# (scripts/make-debian-text.sh). Prints a Markdown table of both validation curves and the final figures; the runs
# stay in runs/gpt-tokenizers-<time>/ and the figures in runs/gpt-tokenizers-<time>.json.
#   bench/run-gpt-tokenizers.sh [--minutes M]    M minutes of training for each model (default 7)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
minutes=7
while [ $# -gt 0 ]; do
  case $1 in
    --minutes) minutes=$2; shift 2 ;;
    *) die "unknown option $1 (usage: bench/run-gpt-tokenizers.sh [--minutes M])" ;;
  esac
done
bench_setup run-gpt-tokenizers.sh json tfm_cli
tfm=$build/tfm
data=$repo/data/debian-text/pretrain.txt
[ -f "$data" ] || die "$data not found: run scripts/make-debian-text.sh first"
out=$repo/runs/gpt-tokenizers-$(date +%Y%m%d-%H%M%S)
mkdir -p "$out"
"$tfm" tokenizer train --input "$data" --output "$out/bpe8k.json" --vocab-size 8192 --special "<|endoftext|>" >&2
# One model size for both; only the vocabulary differs (256 bytes, or the BPE's 8192 ids).
cat > "$out/config.json" <<'JSON'
{"model": {"context_length": 256, "d_model": 256, "n_layers": 4, "n_heads": 4, "d_ff": 1024, "dropout": 0.0,
           "attention_dropout": 0.0, "embedding_dropout": 0.0},
 "train": {"batch_size": 16, "seq_len": 256, "max_steps": 1000000, "learning_rate": 0.001, "warmup_steps": 200,
           "schedule": "constant", "eval_every": 100, "eval_batches": 16, "valid_fraction": 0.02, "save_every": 0, "log_every": 50}}
JSON
sed 's/"context_length"/"vocab_size": 256, "context_length"/' "$out/config.json" > "$out/bytes.json"
"$tfm" train --config "$out/bytes.json" --data "$data" --out "$out/bytes" --time-limit "$minutes" --threads 2 > "$out/bytes.summary" 2> "$out/bytes.err" \
  || { tail -5 "$out/bytes.err" >&2; die "the byte-level run failed"; }
"$tfm" train --config "$out/config.json" --data "$data" --tokenizer "$out/bpe8k.json" --out "$out/bpe" --time-limit "$minutes" --threads 2 \
  > "$out/bpe.summary" 2> "$out/bpe.err" || { tail -5 "$out/bpe.err" >&2; die "the BPE run failed"; }
exec "$python" - "$out" "$minutes" <<'PY'
import json, math, os, sys
out, minutes = sys.argv[1], float(sys.argv[2])
def run(name):
    log = [json.loads(l) for l in open(os.path.join(out, name, "log.jsonl"))]
    summary = json.loads(open(os.path.join(out, name + ".summary")).read().strip().splitlines()[-1])
    return [e for e in log if "valid_loss" in e], summary
runs = {"bytes": run("bytes"), "bpe 8k": run("bpe")}
print(f"GPT 4 layers x 256, context 256, batch 16 x 256 tokens, {minutes:g} min each on {os.cpu_count()} cores; "
      "validation on the last 2% of data/debian-text/pretrain.txt\n")
print("| model | step | minute | valid loss/token | perplexity/token | bits/byte | byte perplexity |")
print("|---|---:|---:|---:|---:|---:|---:|")
for name, (valid, _) in runs.items():
    for e in valid:
        print(f"| {name} | {e['step']} | {e['wall_seconds'] / 60:.1f} | {e['valid_loss']:.3f} | {e['valid_perplexity']:.1f} | "
              f"{e['valid_bits_per_byte']:.3f} | {e['valid_byte_perplexity']:.3f} |")
print("\n| model | steps | tokens/s | final bits/byte | byte perplexity | perplexity/token |")
print("|---|---:|---:|---:|---:|---:|")
result = {}
for name, (valid, summary) in runs.items():
    last = valid[-1]
    result[name] = {"steps": summary["final_step"], "tokens_per_second": summary["tokens_per_second"], "valid": valid}
    print(f"| {name} | {summary['final_step']} | {summary['tokens_per_second']:.0f} | {last['valid_bits_per_byte']:.3f} | "
          f"{last['valid_byte_perplexity']:.3f} | {last['valid_perplexity']:.1f} |")
ratio = runs["bytes"][0][-1]["valid_bits_per_byte"] / runs["bpe 8k"][0][-1]["valid_bits_per_byte"]
print(f"\nbytes / BPE bits per byte: {ratio:.3f}x (above 1: the BPE model predicts the text better in the same time)")
json.dump(result, open(out + ".json", "w"), indent=1)
PY
