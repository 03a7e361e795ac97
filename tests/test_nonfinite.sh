#!/usr/bin/env bash
# tests/test_nonfinite.sh: NaN and infinity are never silent: weights holding them are refused at load (the
# tensor named) unless --allow-nonfinite, decoding then fails at the first non-finite logit instead of
# printing arbitrary tokens, and a training run whose loss turns non-finite saves its last good step and says
# so; "--on-nonfinite skip" drops such steps. GPT and the encoder-decoder alike.
set -uo pipefail
tfm=${TFM_BIN:?TFM_BIN must point at the tfm binary}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
passed=0; failed=0
source "$TFM_SOURCE/tests/cli_checks.sh"

# poison FILE TENSOR INDEX VALUE: overwrite one float32 element of a tensor in a safetensors file in place.
poison() {
  python3 - "$@" <<'PY'
import json, math, struct, sys
path, name, index, value = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
with open(path, "r+b") as f:
    size = struct.unpack("<Q", f.read(8))[0]
    entry = json.loads(f.read(size))[name]
    assert entry["dtype"] == "F32", entry
    f.seek(8 + size + entry["data_offsets"][0] + 4 * index)
    f.write(struct.pack("<f", value))
PY
}

# ---- GPT ----
tiny_gpt_run "$work/run" 3
model="$work/run/current/model.safetensors"
poison "$model" transformer.h.0.mlp.c_fc.weight 5 nan
expect_error "generate: NaN weights are refused" 'model.safetensors: tensor "transformer.h.0.mlp.c_fc.weight" holds NaN \(first at element 5 of 512\).*--allow-nonfinite' \
  -- "$tfm" generate --model "$work/run" --prompt "int " --max-tokens 5
expect_error "generate --allow-nonfinite: fails at the first token" "decoding step 1: logit 0 is nan.*no token can be chosen" \
  -- "$tfm" generate --model "$work/run" --prompt "int " --max-tokens 5 --allow-nonfinite
if [ -s "$work/out" ] && tr -d '\000' < "$work/out" | cmp -s - "$work/out"; then passed=$((passed + 1)); else
  echo "FAILED: generate printed NUL bytes or nothing: $(od -c "$work/out" | head -2)"; failed=$((failed + 1)); fi
poison "$model" transformer.wte.weight 0 inf
expect_error "infinity is refused as well" 'tensor "transformer.wte.weight" holds \+infinity' -- "$tfm" generate --model "$work/run" --prompt "x"
expect_error "average refuses a NaN model" 'holds \+infinity' -- "$tfm" average --out "$work/avg" "$work/run" "$work/run"
expect_error "resume refuses NaN weights" 'holds \+infinity' -- "$tfm" train --resume "$work/run" --max-steps 5

# A learning rate that overflows the weights: the run stops at the first non-finite step, saving the last good one.
cat > "$work/blowup.json" <<JSON
{"model": {"context_length": 16, "d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
 "train": {"batch_size": 2, "seq_len": 16, "max_steps": 50, "eval_every": 0, "save_every": 0, "log_every": 1,
           "schedule": "constant", "warmup_steps": 0, "learning_rate": 1e30, "grad_clip": 0}}
JSON
expect_error "a non-finite loss stops the run and saves" \
  "step [0-9]+: the (loss|gradient norm) is [-a-z]*(nan|inf).*(weights of|gradient is that of) [a-z_.0-9]+.*the run is saved at step [0-9]+ in .*blowup: resume it" \
  -- "$tfm" train --config "$work/blowup.json" --data "$work/data.txt" --out "$work/blowup"
saved=$(sed -nE 's/.*the run is saved at step ([0-9]+) in.*/\1/p' "$work/err")
if [ -n "$saved" ] && [ -L "$work/blowup/current" ] && grep -qE "\"step\":[[:space:]]*$saved," "$work/blowup/current/trainer_state.json"; then
  passed=$((passed + 1)); else echo "FAILED: no checkpoint of step '$saved': $(ls "$work/blowup" "$work/blowup/checkpoints" 2>&1)"; failed=$((failed + 1)); fi
# Skipping resumes it, drops each bad step with a warning, and gives up after nonfinite_skip_limit in a row.
expect_error "--on-nonfinite skip drops the steps, then gives up" "10 non-finite steps in a row \(nonfinite_skip_limit\)" \
  -- "$tfm" train --resume "$work/blowup" --on-nonfinite skip
if [ "$(grep -c "tfm train: skipped (on_nonfinite \"skip\"" "$work/err")" = 9 ] && grep -q '"skipped":"step ' "$work/blowup/log.jsonl"; then
  passed=$((passed + 1)); else echo "FAILED: skip warnings or log lines missing:"; tail -3 "$work/err"; failed=$((failed + 1)); fi
expect_error "--on-nonfinite takes stop or skip" 'expected "stop" or "skip", got "ignore"' \
  -- "$tfm" train --resume "$work/blowup" --on-nonfinite ignore

# ---- The encoder-decoder ----
make_word_task "$work/words" 200 10 5
"$tfm" tokenizer train --input "$work/words/train.en" --input "$work/words/train.de" --output "$work/words/tokenizer.json" \
  --vocab-size 300 --special "<pad>" --special "<s>" --special "</s>" > /dev/null 2>&1 || { echo "setup tokenizer failed"; exit 1; }
vocab=$("$tfm" tokenizer info --tokenizer "$work/words/tokenizer.json" 2>/dev/null | grep -o 'vocab[^0-9]*[0-9]*' | grep -o '[0-9]*$' | head -1)
cat > "$work/seq2seq.json" <<JSON
{"model": {"model_type": "seq2seq", "vocab_size": ${vocab:-300}, "max_source_length": 16, "max_target_length": 16, "d_model": 16,
           "n_encoder_layers": 1, "n_decoder_layers": 1, "n_heads": 2, "d_ff": 32},
 "train": {"batch_tokens": 200, "max_steps": 2, "schedule": "constant", "learning_rate": 0.001, "warmup_steps": 0,
           "eval_every": 0, "bleu_sentences": 0, "log_every": 1}}
JSON
"$tfm" train --config "$work/seq2seq.json" --data "$work/words" --out "$work/s2s" > /dev/null 2> "$work/err" \
  || { echo "setup seq2seq training failed: $(tail -2 "$work/err")"; exit 1; }
head -3 "$work/words/valid.en" > "$work/source.en"
poison "$work/s2s/current/model.safetensors" decoder.layers.0.linear1.weight 7 nan
expect_error "translate: NaN weights are refused" 'tensor "decoder.layers.0.linear1.weight" holds NaN \(first at element 7' \
  -- sh -c '"$0" translate --model "$1" < "$2"' "$tfm" "$work/s2s" "$work/source.en"
expect_error "translate --allow-nonfinite: beam search fails at step 1" "decoding step 1: logit [0-9]+ is nan" \
  -- sh -c '"$0" translate --model "$1" --allow-nonfinite < "$2"' "$tfm" "$work/s2s" "$work/source.en"
expect_error "greedy translation fails too" "decoding step 1: logit [0-9]+ is nan" \
  -- sh -c '"$0" translate --model "$1" --allow-nonfinite --beam 1 < "$2"' "$tfm" "$work/s2s" "$work/source.en"

echo "$passed passed, $failed failed"
[ $failed = 0 ]
