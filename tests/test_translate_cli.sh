# tests/test_translate_cli.sh: end to end on a tiny synthetic corpus: seq2seq train + exact resume, translate's line policy, n-best, sampling, average, bad inputs.
set -u
TFM=${TFM_TRANSLATE_BIN:-${TFM_BIN:-}}
if [ -z "$TFM" ] || [ ! -x "$TFM" ]; then echo "TFM_BIN is not set to the tfm executable"; exit 1; fi
if "$TFM" translate --help 2>&1 | grep -q "unknown command"; then
  echo "SKIP: 'tfm translate' is not dispatched by src/cli/main.c yet (see the translation report)"; exit 77
fi
work=$(mktemp -d)
if [ -n "${KEEP:-}" ]; then trap "echo kept $work" EXIT; else trap "rm -rf $work" EXIT; fi
failures=0
pass=0
check() { # check "description" command...
  local what=$1; shift
  if "$@"; then pass=$((pass + 1)); else echo "FAILED: $what"; failures=$((failures + 1)); fi
}

# ---- A word-for-word "translation" task: English words map to German words, same order. ----
source "$TFM_SOURCE/tests/cli_checks.sh"
mkdir -p "$work/other"
make_word_task "$work/data" 600 30 6
"$TFM" tokenizer train --input "$work/data/train.en" --input "$work/data/train.de" --output "$work/data/tokenizer.json" \
  --vocab-size 300 --special "<pad>" --special "<s>" --special "</s>" >/dev/null 2>"$work/tok.err" || { cat "$work/tok.err"; exit 1; }
vocab=$("$TFM" tokenizer info --tokenizer "$work/data/tokenizer.json" 2>/dev/null | grep -o 'vocab[^0-9]*[0-9]*' | grep -o '[0-9]*$' | head -1)
[ -n "$vocab" ] || vocab=300
cat >"$work/config.json" <<EOF
{"model": {"model_type": "seq2seq", "vocab_size": $vocab, "max_source_length": 24, "max_target_length": 24, "d_model": 32,
           "n_encoder_layers": 1, "n_decoder_layers": 1, "n_heads": 2, "d_ff": 64, "dropout": 0.1, "attention_dropout": 0.1},
 "train": {"batch_tokens": 300, "max_steps": 40, "schedule": "constant", "learning_rate": 0.003, "warmup_steps": 5,
           "grad_clip": 1.0, "eval_every": 20, "bleu_sentences": 20, "save_every": 20, "log_every": 10, "seed": 3}}
EOF

# ---- Training, and resume equals an uninterrupted run ----
# Same thread count throughout: some OpenBLAS kernels (e.g. Haswell's on AMD Zen) round differently with 1 and 2 threads.
"$TFM" train --config "$work/config.json" --data "$work/data" --out "$work/full" --threads 2 >"$work/full.out" 2>"$work/full.err"
check "train exits 0 ($(tail -2 "$work/full.err"))" [ $? -eq 0 ]
check "the run directory holds the model, its config and the tokenizer" \
  test -f "$work/full/current/model.safetensors" -a -f "$work/full/current/config.json" -a -f "$work/full/tokenizer.json" -a -f "$work/full/best/tokenizer.json"
check "progress line with epoch, loss, lr, tokens/s and ETA" grep -q 'epoch .* loss .* lr .* tok/s | ETA' "$work/full.err"
check "validation BLEU is reported" grep -q 'valid loss .* BLEU' "$work/full.err"
check "summary line (plain JSON)" grep -q '^{"model":"seq2seq","steps":40,' "$work/full.out"
first_loss=$(grep -m1 '"step":1,' "$work/full/log.jsonl" | sed 's/.*"loss":\([^,]*\).*/\1/')
last_loss=$(grep '"step":40,' "$work/full/log.jsonl" | grep '"loss"' | sed 's/.*"loss":\([^,]*\).*/\1/')
check "the loss falls ($first_loss -> $last_loss)" awk -v a="$first_loss" -v b="$last_loss" 'BEGIN { exit !(b < 0.8 * a) }'
check "valid BLEU in the log" grep -q '"valid_bleu"' "$work/full/log.jsonl"

"$TFM" train --config "$work/config.json" --data "$work/data" --out "$work/split" --stop-after 20 --threads 2 >/dev/null 2>"$work/split1.err"
check "train --stop-after exits 0" [ $? -eq 0 ]
"$TFM" train --resume "$work/split" --threads 2 >/dev/null 2>"$work/split2.err"
check "train --resume exits 0 ($(tail -1 "$work/split2.err"))" [ $? -eq 0 ]
grep '"loss"' "$work/full/log.jsonl" | sed 's/,"wall_seconds":[0-9.]*//' >"$work/full.losses"
grep '"loss"' "$work/split/log.jsonl" | sed 's/,"wall_seconds":[0-9.]*//' >"$work/split.losses"
check "resumed losses equal the uninterrupted run's, step for step" cmp -s "$work/full.losses" "$work/split.losses"
# Tensor bytes (after the safetensors header, whose save id differs) and trainer state (save id aside).
tensors() { tail -c +$(( $(od -An -t u8 -N8 "$1" | tr -d ' ') + 9 )) "$1"; }
check "resumed final model equals the uninterrupted one" cmp -s <(tensors "$work/full/current/model.safetensors") <(tensors "$work/split/current/model.safetensors")
check "resumed optimizer state equals the uninterrupted one" \
  cmp -s <(tensors "$work/full/current/optimizer.safetensors") <(tensors "$work/split/current/optimizer.safetensors")
check "resumed trainer state (data position, dropout stream, best BLEU) equals the uninterrupted one" \
  cmp -s <(grep -v tfm_save_id "$work/full/current/trainer_state.json") <(grep -v tfm_save_id "$work/split/current/trainer_state.json")
"$TFM" train --config "$work/config.json" --data "$work/data" --out "$work/full" >/dev/null 2>"$work/exists.err"
check "refuses to overwrite a run" grep -q "holds a training run" "$work/exists.err"
cp "$work/data/"* "$work/other/"
head -n 100 "$work/data/train.en" >"$work/other/train.en"
head -n 100 "$work/data/train.de" >"$work/other/train.de"
"$TFM" train --config "$work/config.json" --data "$work/data" --out "$work/split2" --stop-after 5 >/dev/null 2>&1
"$TFM" train --resume "$work/split2" --data "$work/other" >/dev/null 2>"$work/differs.err"
check "resume on different data is an error ($(cat "$work/differs.err"))" grep -q 'differs' "$work/differs.err"

# Early stopping: with a learning rate of 1e-30 (updates vanish in rounding) the validation BLEU never improves, so patience 1 stops at the second validation.
sed 's/"learning_rate": 0.003/"learning_rate": 1e-30/' "$work/config.json" >"$work/frozen.json"
"$TFM" train --config "$work/frozen.json" --data "$work/data" --out "$work/frozen" --eval-every 5 --patience 1 >"$work/frozen.out" 2>"$work/frozen.err"
check "early stopping on validation BLEU after 'patience' validations without gain" \
  sh -c "grep -q 'stopping early' '$work/frozen.err' && grep -q '\"steps\":10,.*\"stopped_early\":true' '$work/frozen.out'"
check "early stopping saves a resumable checkpoint" test -f "$work/frozen/current/trainer_state.json"

# A time limit ends the run like max_steps: validation, checkpoint, summary.
"$TFM" train --config "$work/config.json" --data "$work/data" --out "$work/timed" --max-steps 1000000 --time-limit 0.01 \
  >"$work/timed.out" 2>"$work/timed.err"
check "--time-limit stops the run, validates and saves ($(tail -1 "$work/timed.err"))" \
  sh -c "grep -q 'time limit of 0.01 minutes reached' '$work/timed.err' && grep -q 'valid loss' '$work/timed.err' && \
         grep -q '\"wall_seconds\"' '$work/timed.out' && test -f '$work/timed/current/trainer_state.json'"

# ---- translate: one output line per input line ----
long=$(for i in $(seq 1 60); do printf 'the red house '; done)
printf 'the house is small\n\nwe see a dog\n   \n%s\nthe cat \xff\xfe is old\nnew green cat\r\nthe dog' "$long" >"$work/in.en"
n_in=8
"$TFM" translate --model "$work/full" --beam 4 <"$work/in.en" >"$work/beam.de" 2>"$work/beam.err"
check "translate exits 0 ($(tail -1 "$work/beam.err"))" [ $? -eq 0 ]
check "one output line per input line ($(wc -l <"$work/beam.de") for $n_in)" [ "$(wc -l <"$work/beam.de")" -eq $n_in ]
check "empty input line -> empty output line" [ -z "$(sed -n 2p "$work/beam.de")" ]
check "blank input line -> empty output line" [ -z "$(sed -n 4p "$work/beam.de")" ]
check "non-empty input lines are translated" [ -n "$(sed -n 1p "$work/beam.de")" ]
check "over-long line: truncated with a warning" grep -q 'line 5 .*truncated' "$work/beam.err"
check "invalid UTF-8 is reported as replaced" grep -q 'invalid UTF-8' "$work/beam.err"
"$TFM" translate --model "$work/full" --greedy <"$work/in.en" >"$work/greedy.de" 2>/dev/null
"$TFM" translate --model "$work/full" --beam 1 <"$work/in.en" >"$work/beam1.de" 2>/dev/null
check "--greedy equals --beam 1" cmp -s "$work/greedy.de" "$work/beam1.de"
# One checkpoint of the run translates too: its tokenizer is the run's.
"$TFM" translate --model "$work/full/checkpoints/step-00000040" --beam 4 <"$work/in.en" >"$work/step.de" 2>/dev/null
check "--model RUN/checkpoints/step-N uses the run's tokenizer" cmp -s "$work/step.de" "$work/beam.de"
# Batch independence at the CLI: the same lines translated one per batch give the same output.
"$TFM" translate --model "$work/full" --beam 4 --max-sentences 1 <"$work/in.en" >"$work/single.de" 2>/dev/null
check "a line's translation does not depend on its batch" cmp -s "$work/beam.de" "$work/single.de"

"$TFM" translate --model "$work/full" --beam 3 --nbest 3 <"$work/in.en" >"$work/nbest.de" 2>/dev/null
check "--nbest 3: three lines per input line" [ "$(wc -l <"$work/nbest.de")" -eq $((3 * n_in)) ]
check "--nbest lines are LINE<TAB>SCORE<TAB>TEXT, in input order" \
  awk -F'\t' '{ want = int((NR - 1) / 3) + 1; if ($1 != want || $2 !~ /^-?[0-9.]+$/ || NF != 3) bad = 1 } END { exit bad }' "$work/nbest.de"

"$TFM" translate --model "$work/full" --temperature 1.0 --top-p 0.9 --seed 5 <"$work/in.en" >"$work/sample1.de" 2>/dev/null
"$TFM" translate --model "$work/full" --temperature 1.0 --top-p 0.9 --seed 5 --max-sentences 2 <"$work/in.en" >"$work/sample2.de" 2>/dev/null
check "sampling: one line per input line" [ "$(wc -l <"$work/sample1.de")" -eq $n_in ]
check "sampling is reproducible and batch-independent for a seed" cmp -s "$work/sample1.de" "$work/sample2.de"
: | "$TFM" translate --model "$work/full" >"$work/empty.de" 2>/dev/null
check "empty input -> empty output" [ ! -s "$work/empty.de" ]

# ---- average ----
"$TFM" average --out "$work/avg" "$work/full" "$work/split" >/dev/null 2>"$work/avg.err"
check "average exits 0 ($(cat "$work/avg.err"))" [ $? -eq 0 ]
"$TFM" translate --model "$work/avg" --beam 4 <"$work/in.en" >"$work/avg.de" 2>/dev/null
check "the average of two identical checkpoints translates as they do" cmp -s "$work/avg.de" "$work/beam.de"
"$TFM" average --out "$work/avg2" "$work/full" "$work/split2" >/dev/null 2>&1
"$TFM" translate --model "$work/avg2" <"$work/in.en" >"$work/avg2.de" 2>/dev/null
check "average of different checkpoints gives a usable model" [ "$(wc -l <"$work/avg2.de")" -eq $n_in ]

# ---- bad inputs ----
mkdir -p "$work/notok"
cp "$work/full/current/config.json" "$work/full/current/model.safetensors" "$work/notok/"
"$TFM" translate --model "$work/notok" <"$work/in.en" >/dev/null 2>"$work/notok.err"
code=$?
check "model directory without a tokenizer: exit 1 naming tokenizer.json ($(cat "$work/notok.err"))" \
  sh -c "[ $code -eq 1 ] && grep -q 'tokenizer.json' '$work/notok.err'"
"$TFM" tokenizer train --input "$work/data/train.en" --output "$work/small_tok.json" --vocab-size 280 \
  --special "<pad>" --special "<s>" --special "</s>" >/dev/null 2>&1
mkdir -p "$work/mismatch"
cp "$work/full/current/config.json" "$work/full/current/model.safetensors" "$work/mismatch/"
cp "$work/small_tok.json" "$work/mismatch/tokenizer.json"
"$TFM" translate --model "$work/mismatch" <"$work/in.en" >/dev/null 2>"$work/mismatch.err"
code=$?
check "tokenizer/checkpoint vocabulary mismatch: exit 1 naming both sizes ($(cat "$work/mismatch.err"))" \
  sh -c "[ $code -eq 1 ] && grep -q 'vocab_size is $vocab' '$work/mismatch.err'"
"$TFM" train --config "$work/config.json" --data "$work/data" --tokenizer "$work/small_tok.json" --out "$work/bad_train" >/dev/null 2>"$work/bad_train.err"
check "training with a tokenizer of another size is an error" grep -q "vocab_size" "$work/bad_train.err"
"$TFM" translate <"$work/in.en" >/dev/null 2>&1
check "translate without --model: usage error (exit 2)" [ $? -eq 2 ]
"$TFM" translate --model "$work/full" --beam 2 --nbest 3 <"$work/in.en" >/dev/null 2>&1
check "--nbest larger than --beam: usage error (exit 2)" [ $? -eq 2 ]
"$TFM" translate --model "$work/nonexistent" <"$work/in.en" >/dev/null 2>"$work/missing.err"
check "missing model directory: exit 1" [ $? -eq 1 ]

echo "$pass passed, $failures failed"
[ $failures -eq 0 ]
