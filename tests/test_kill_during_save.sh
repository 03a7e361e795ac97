#!/usr/bin/env bash
# tests/test_kill_during_save.sh: SIGKILL at random moments of training that saves every step, for every model
# type; after each kill the run resumes and its model generates (or translates). Then a file-size limit
# (a full disk) during a save fails the run with a clear error and leaves the previous checkpoint resumable.
#   KILLS=N (default 30 per model type) sets how many kills; the seed of the delays is fixed.
set -uo pipefail
tfm=${TFM_BIN:?TFM_BIN must point at the tfm binary}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
kills=${KILLS:-30}
passed=0; failed=0
source "$TFM_SOURCE/tests/cli_checks.sh"
fail() { echo "FAILED: $*"; failed=$((failed + 1)); }
RANDOM=7

# ---- Data and configs: a tiny GPT on this repository's sources, a tiny encoder-decoder on a word-for-word task ----
cat "$TFM_SOURCE"/src/*/*.c > "$work/gpt.txt"
cat > "$work/gpt.json" <<'JSON'
{"model": {"context_length": 16, "d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
 "train": {"batch_size": 2, "seq_len": 16, "max_steps": 1000000, "eval_every": 0, "save_every": 1, "log_every": 1}}
JSON
make_word_task "$work/ende" 300 10 5
"$tfm" tokenizer train --input "$work/ende/train.en" --input "$work/ende/train.de" --output "$work/ende/tokenizer.json" \
  --vocab-size 300 --special "<pad>" --special "<s>" --special "</s>" > /dev/null 2>&1 || { echo "tokenizer training failed"; exit 1; }
vocab=$("$tfm" tokenizer info --tokenizer "$work/ende/tokenizer.json" 2>/dev/null | grep -o 'vocab[^0-9]*[0-9]*' | grep -o '[0-9]*$' | head -1)
cat > "$work/seq2seq.json" <<JSON
{"model": {"model_type": "seq2seq", "vocab_size": ${vocab:-300}, "max_source_length": 16, "max_target_length": 16, "d_model": 16,
           "n_encoder_layers": 1, "n_decoder_layers": 1, "n_heads": 2, "d_ff": 32},
 "train": {"batch_tokens": 100, "max_steps": 1000000, "schedule": "constant", "learning_rate": 0.003, "warmup_steps": 0,
           "eval_every": 0, "bleu_sentences": 0, "save_every": 1, "log_every": 1}}
JSON

has_checkpoint() { [ -e "$1/current" ] || ls "$1/checkpoints" 2> /dev/null | grep -qE '^step-[0-9]+(\.[0-9]+)?$'; }
step_of() { grep -o '"step":[[:space:]]*[0-9]*' "$1/current/trainer_state.json" 2> /dev/null | head -1 | grep -o '[0-9]*$'; }
use_model() { # use_model TYPE RUN: the saved model loads and produces output
  if [ "$1" = gpt ]; then "$tfm" generate --model "$2" --prompt "int " --max-tokens 4 > /dev/null 2> "$work/use.err"
  else echo "the red house" | "$tfm" translate --model "$2" > /dev/null 2> "$work/use.err"; fi
}

# ---- SIGKILL at random moments ----
for type in gpt seq2seq; do
  run="$work/run-$type"
  if [ "$type" = gpt ]; then new=(--config "$work/gpt.json" --data "$work/gpt.txt"); else new=(--config "$work/seq2seq.json" --data "$work/ende"); fi
  resumed=0; mid_save=0; fresh=0; last_step=0
  for i in $(seq 1 "$kills"); do
    if has_checkpoint "$run"; then
      "$tfm" train --resume "$run" --threads 1 > /dev/null 2> "$work/train.err" & pid=$!
      resumed=$((resumed + 1))
    else
      "$tfm" train "${new[@]}" --out "$run" --force --threads 1 > /dev/null 2> "$work/train.err" & pid=$!
      fresh=$((fresh + 1))
    fi
    # 0.15 s .. 0.65 s: past start-up, and then anywhere in the cycle of steps and saves.
    sleep "0.$(( 15 + RANDOM % 50 ))"
    if ! kill -0 "$pid" 2> /dev/null; then wait "$pid"; fail "$type kill $i: training ended by itself: $(tail -2 "$work/train.err")"; break; fi
    kill -KILL "$pid"; wait "$pid" 2> /dev/null
    compgen -G "$run/checkpoints/*.tmp-$pid" > /dev/null || compgen -G "$run/checkpoints/*/*.tmp.$pid" > /dev/null && mid_save=$((mid_save + 1))
    if has_checkpoint "$run"; then
      if ! use_model "$type" "$run"; then fail "$type kill $i: the saved model does not load: $(tail -2 "$work/use.err")"; break; fi
      step=$(step_of "$run")
      if [ -n "$step" ] && [ "$step" -lt "$last_step" ]; then fail "$type kill $i: the run went back from step $last_step to $step"; break; fi
      last_step=${step:-$last_step}
    fi
  done
  # The run resumes once more, runs to a stop, and leaves nothing of the killed processes behind.
  "$tfm" train --resume "$run" --stop-after $((last_step + 2)) --threads 1 > /dev/null 2> "$work/final.err" \
    || fail "$type: the final resume failed: $(tail -2 "$work/final.err")"
  use_model "$type" "$run" || fail "$type: the final model does not load: $(tail -2 "$work/use.err")"
  leftovers=$(find "$run" -name '*.tmp*' | wc -l)
  [ "$leftovers" = 0 ] || fail "$type: temporaries left after the final run: $(find "$run" -name '*.tmp*' | head -3)"
  kept=$(find "$run/checkpoints" -mindepth 1 -maxdepth 1 | wc -l)
  [ "$kept" -le 2 ] || fail "$type: $kept checkpoints kept, expected at most keep_checkpoints = 2"
  steps=$(grep -c "\"loss\"" "$run/log.jsonl"); unique=$(grep "\"loss\"" "$run/log.jsonl" | grep -o "\"step\":[0-9]*" | sort -u | wc -l)
  [ "$steps" = "$unique" ] || fail "$type: log.jsonl repeats steps after the resumes ($steps lines, $unique steps)"
  # At least a tenth of the kills must have come in the middle of a save, or this test tests nothing.
  [ $((mid_save * 10)) -ge "$kills" ] || fail "$type: only $mid_save of $kills kills came during a save"
  echo "$type: $kills kills ($fresh fresh starts, $resumed resumes, $mid_save in the middle of a save), reached step $last_step; every kill resumable"
  passed=$((passed + 1))
done

# ---- A full disk during a save: a clear error, and the previous checkpoint stays resumable ----
for type in gpt seq2seq; do
  run="$work/run-$type"
  before=$(readlink "$run/current")
  size=$(du -k "$run/current/model.safetensors" | cut -f1)
  # ulimit -f counts 1024-byte blocks here; half the model file cannot be written.
  # SIGXFSZ ignored (as a shell's trap '' survives exec): the write fails with EFBIG instead of killing tfm.
  ( trap '' XFSZ; ulimit -f $((size / 2)); exec "$tfm" train --resume "$run" --stop-after 100000000 --threads 1 ) > /dev/null 2> "$work/full.err"
  code=$?
  if [ $code -eq 0 ] || [ $code -ge 128 ]; then fail "$type disk full: exit code $code"; fi
  grep -qE 'cannot write .*model.safetensors.*(File too large|No space)' "$work/full.err" \
    || fail "$type disk full: the message does not name the file and the cause: $(tail -2 "$work/full.err")"
  [ "$(readlink "$run/current")" = "$before" ] || fail "$type disk full: current moved from $before to $(readlink "$run/current")"
  [ "$(find "$run" -name '*.tmp*' | wc -l)" = 0 ] || fail "$type disk full: a failed save left temporaries"
  "$tfm" train --resume "$run" --stop-after $(( $(step_of "$run") + 1 )) \
    --threads 1 > /dev/null 2> "$work/after.err" || fail "$type disk full: no resume once space is back: $(tail -2 "$work/after.err")"
  use_model "$type" "$run" || fail "$type disk full: the model does not load afterwards"
  echo "$type: a file-size limit during a save: \"$(grep -m1 "cannot write" "$work/full.err" | sed "s#$work/##g")\"; the previous checkpoint resumed"
  passed=$((passed + 1))
done

echo "$passed passed, $failed failed"
[ $failed = 0 ]
