#!/usr/bin/env bash
# tests/test_gpt_tokenizer_cli.sh: a GPT trained on a BPE tokenizer through the CLI (tokenized once into a token file,
# the tokenizer kept in the run, per-byte validation, resume), generation that decodes with it, the sampling flags
# (fixed seed, top-k 1 = greedy, min-p 1 = greedy, stop strings, several sequences, prompt files, truncation), and
# the errors: mismatched vocab_size, a big vocabulary with no tokenizer, a bad token file.
set -euo pipefail
tfm=${TFM_BIN:?TFM_BIN must point at the tfm binary}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
fail() { echo "FAILED: $*"; exit 1; }
cat "$TFM_SOURCE"/src/*/*.c "$TFM_SOURCE"/README.md > "$work/data.txt"
"$tfm" tokenizer train --input "$work/data.txt" --output "$work/tok.json" --vocab-size 600 --special "<|endoftext|>" > /dev/null 2>&1 \
  || fail "tokenizer train"
cat > "$work/config.json" <<'JSON'
{"model": {"context_length": 48, "d_model": 32, "n_layers": 2, "n_heads": 2, "d_ff": 64},
 "train": {"batch_size": 4, "seq_len": 48, "max_steps": 120, "learning_rate": 0.003, "eval_every": 60, "save_every": 0}}
JSON
"$tfm" train --config "$work/config.json" --data "$work/data.txt" --tokenizer "$work/tok.json" --out "$work/run" --stop-after 60 \
  > /dev/null 2> "$work/train.err" || fail "train: $(tail -3 "$work/train.err")"
for f in tokenizer.json data.tokens best/tokenizer.json; do [ -f "$work/run/$f" ] || fail "the run has no $f"; done
grep -q '"vocab_size":[[:space:]]*600,' "$work/run/current/config.json" || fail "the model's vocab_size is not the tokenizer's 600"
grep -q '"valid_bits_per_byte"' "$work/run/log.jsonl" || fail "no bits per byte in the log"
# Resume continues from the run's token file and tokenizer, with no flags.
"$tfm" train --resume "$work/run" > /dev/null 2> "$work/resume.err" || fail "resume: $(tail -3 "$work/resume.err")"
grep -q 'resuming from step 60' "$work/resume.err" || fail "resume did not start at step 60"

# --init from a model directory (Hugging Face GPT-2 layout, tokenizer inside) keeps training from its weights: its first
# loss is near the run's last ones, well below the run's first (a fresh model's).
echo '{"train": {"batch_size": 4, "seq_len": 48, "max_steps": 3, "learning_rate": 0.001, "eval_every": 0}}' > "$work/continue.json"
"$tfm" train --init "$work/run/best" --config "$work/continue.json" --data "$work/data.txt" --out "$work/continued" > /dev/null 2> "$work/init.err" \
  || fail "--init a GPT: $(tail -3 "$work/init.err")"
loss_at() { grep '"loss"' "$1" | sed -n "$2" | grep -o '"loss":[0-9.]*' | cut -d: -f2; }
fresh=$(loss_at "$work/run/log.jsonl" 1p) trained=$(loss_at "$work/run/log.jsonl" '$p') continued=$(loss_at "$work/continued/log.jsonl" 1p)
"${TFM_PYTHON:-python3}" -c "import sys; f, t, c = $fresh, $trained, $continued; sys.exit(0 if abs(c - t) < 0.5 < f - c else 1)" \
  || fail "--init did not start from the trained weights (first loss $continued; the run went from $fresh to $trained)"
[ -f "$work/continued/tokenizer.json" ] || fail "--init did not keep the model's tokenizer"

gen() { "$tfm" generate --model "$work/run" --max-tokens 24 "$@"; }
gen --prompt "static int" --seed 7 > "$work/a"
gen --prompt "static int" --seed 7 > "$work/b"
cmp -s "$work/a" "$work/b" || fail "the same seed gave different text"
gen --prompt "static int" --seed 8 > "$work/c"
cmp -s "$work/a" "$work/c" && fail "seeds 7 and 8 gave the same 24 sampled tokens"
head -c 10 "$work/a" | grep -q '^static int' || fail "the output does not start with the prompt"
gen --prompt "static int" --temperature 0 > "$work/greedy"
gen --prompt "static int" --top-k 1 --seed 3 > "$work/top1"
cmp -s "$work/greedy" "$work/top1" || fail "top-k 1 differs from greedy"
gen --prompt "static int" --min-p 1 --seed 3 > "$work/minp1"
cmp -s "$work/greedy" "$work/minp1" || fail "min-p 1 differs from greedy"
gen --prompt "static int" --temperature 0 --repetition-penalty 3 > "$work/penalty"
cmp -s "$work/greedy" "$work/penalty" && fail "a repetition penalty of 3 left 24 greedy tokens unchanged"
# A stop string cut from the greedy continuation: the output ends just before it.
cont=$(tail -c +11 "$work/greedy" | head -c 40)
stop=${cont:12:4}
[ -n "$stop" ] || fail "greedy continuation too short for a stop string"
gen --prompt "static int" --temperature 0 --stop "$stop" > "$work/stopped"
"${TFM_PYTHON:-python3}" - "$work/greedy" "$work/stopped" "$stop" <<'PY' || fail "--stop output is not the greedy text up to the stop string"
import sys
full, cut, stop = open(sys.argv[1], 'rb').read(), open(sys.argv[2], 'rb').read(), sys.argv[3].encode()
at = full.index(stop, len(b"static int"))
assert cut == full[:at] + b"\n", (full, cut, stop)
PY
gen --prompt "Zq" --num-return-sequences 3 --seed 5 --max-tokens 8 > "$work/three"
[ "$(grep -o Zq "$work/three" | wc -l)" -ge 3 ] || fail "--num-return-sequences 3 did not print three sequences"
# Prompt from a file and from stdin; a long one is cut from the left with a warning, or refused.
printf 'static int' > "$work/prompt.txt"
gen --prompt-file "$work/prompt.txt" --temperature 0 | cmp -s - "$work/greedy" || fail "--prompt-file differs from --prompt"
printf 'static int' | gen --prompt-file - --temperature 0 | cmp -s - "$work/greedy" || fail "--prompt-file - differs from --prompt"
head -c 3000 "$work/data.txt" > "$work/long.txt"
gen --prompt-file "$work/long.txt" --max-tokens 2 > /dev/null 2> "$work/long.err" || fail "a long prompt failed: $(cat "$work/long.err")"
grep -q 'warning: the prompt has [0-9]* tokens, more than the context length 48' "$work/long.err" || fail "no truncation warning"
if gen --prompt-file "$work/long.txt" --no-truncate > /dev/null 2> "$work/refused.err"; then fail "--no-truncate accepted a long prompt"; fi
grep -q 'longer than the model.s context length 48' "$work/refused.err" || fail "unclear refusal: $(cat "$work/refused.err")"

# Errors. A config whose vocab_size is not the tokenizer's:
sed 's/"context_length"/"vocab_size": 500, "context_length"/' "$work/config.json" > "$work/v500.json"
if "$tfm" train --config "$work/v500.json" --data "$work/data.txt" --tokenizer "$work/tok.json" --out "$work/v500" > /dev/null 2> "$work/v500.err"; then
  fail "vocab_size 500 with a 600-token tokenizer was accepted"; fi
grep -q 'vocab_size is 500 but the tokenizer has 600 ids' "$work/v500.err" || fail "unclear vocab error: $(cat "$work/v500.err")"
# A model of 600 ids without its tokenizer cannot print text:
mkdir "$work/bare"; cp "$work/run/best/config.json" "$work/run/best/model.safetensors" "$work/bare/"
if "$tfm" generate --model "$work/bare" --prompt x > /dev/null 2> "$work/bare.err"; then fail "generate printed ids of a 600-token model without a tokenizer"; fi
grep -q 'has 600 token ids but no tokenizer' "$work/bare.err" || fail "unclear missing-tokenizer error: $(cat "$work/bare.err")"
# A token file with an id past its vocabulary, and one cut short:
"${TFM_PYTHON:-python3}" - "$work" <<'PY'
import struct, sys
w = sys.argv[1]
ids = list(range(200)) * 10
ids[777] = 650
open(w + "/bad.tokens", "wb").write(b"TFMTOK01" + struct.pack("<IIQ", 600, 0, len(ids)) + struct.pack("<%dI" % len(ids), *ids))
good = list(range(200)) * 10
open(w + "/short.tokens", "wb").write((b"TFMTOK01" + struct.pack("<IIQ", 600, 0, len(good)) + struct.pack("<%dI" % len(good), *good))[:-6])
PY
if "$tfm" train --config "$work/config.json" --data "$work/bad.tokens" --tokenizer "$work/tok.json" --out "$work/bad" > /dev/null 2> "$work/bad.err"; then
  fail "a token file with id 650 >= 600 was accepted"; fi
grep -q 'bad.tokens: token 777 is id 650, outside the vocabulary of 600' "$work/bad.err" || fail "unclear bad-id error: $(cat "$work/bad.err")"
if "$tfm" train --config "$work/config.json" --data "$work/short.tokens" --tokenizer "$work/tok.json" --out "$work/short" > /dev/null 2> "$work/short.err"; then
  fail "a truncated token file was accepted"; fi
grep -q 'short.tokens: the header says 2000 tokens' "$work/short.err" || fail "unclear truncation error: $(cat "$work/short.err")"
echo "GPT on a BPE tokenizer: train, resume, generate, sampling flags and errors OK"
