# tests/cli_checks.sh: what the CLI script tests share (sourced, not a test): checks that count into $passed and
# $failed, and a tiny English->German word-for-word task. The caller sets $work (a scratch directory).

# expect_error NAME PATTERN -- command...: exit code non-zero and not a signal, stderr matching the ERE PATTERN.
expect_error() {
  local name=$1 pattern=$2; shift 3
  "$@" > "$work/out" 2> "$work/err"; local code=$?
  if [ $code -eq 0 ] || [ $code -ge 128 ]; then
    echo "FAILED $name: exit code $code"; cat "$work/err"; failed=$((failed + 1)); return 1
  fi
  if ! grep -qE -- "$pattern" "$work/err"; then
    echo "FAILED $name: message does not match /$pattern/:"; cat "$work/err"; failed=$((failed + 1)); return 1
  fi
  passed=$((passed + 1))
}

# expect_refused NAME PATTERN PATH... -- command...: as expect_error, and no file under the PATHs (relative to
# $work) changed.
expect_refused() {
  local name=$1 pattern=$2; shift 2
  local paths=()
  while [ "$1" != "--" ]; do paths+=("$1"); shift; done
  local before; before=$(cd "$work" && find "${paths[@]}" -type f -print0 | sort -z | xargs -0 md5sum)
  expect_error "$name" "$pattern" "$@" || return 1
  if [ "$before" != "$(cd "$work" && find "${paths[@]}" -type f -print0 | sort -z | xargs -0 md5sum)" ]; then
    echo "FAILED $name: the files changed"; passed=$((passed - 1)); failed=$((failed + 1)); return 1
  fi
}

# make_word_task DIR TRAIN_LINES VALID_LINES MAX_WORDS: DIR/{train,valid}.{en,de}, 14 English words each mapped to
# one German word in the same order, 2 .. MAX_WORDS words a line, seeded.
make_word_task() {
  mkdir -p "$1"
  awk -v out="$1" -v n_train="$2" -v n_valid="$3" -v max_words="$4" 'BEGIN {
    split("the house is small big red green old new we see a dog cat", en, " ");
    split("das Haus ist klein gross rot gruen alt neu wir sehen ein Hund Katze", de, " ");
    srand(7);
    for (k = 0; k < 2; k++) {
      name = k == 0 ? "train" : "valid"; n = k == 0 ? n_train : n_valid;
      for (i = 0; i < n; i++) {
        len = 2 + int(rand() * (max_words - 1)); s = ""; t = "";
        for (j = 0; j < len; j++) { w = 1 + int(rand() * 14); s = s (j ? " " : "") en[w]; t = t (j ? " " : "") de[w]; }
        print s > (out "/" name ".en"); print t > (out "/" name ".de");
      }
    }
  }'
}

# expect_ok NAME command...: exit code 0 (else the end of stderr is shown).
expect_ok() {
  local name=$1; shift
  if "$@" > "$work/out" 2> "$work/err"; then passed=$((passed + 1)); else echo "FAILED $name: $(tail -2 "$work/err")"; failed=$((failed + 1)); fi
}

# tiny_gpt_run RUN MAX_STEPS: $work/data.txt (this repository's sources), $work/config.json (a GPT of 16 wide,
# one layer), and a trained run in RUN; exits the test when training fails.
tiny_gpt_run() {
  cat "$TFM_SOURCE"/src/*/*.c > "$work/data.txt"
  cat > "$work/config.json" <<JSON
{"model": {"context_length": 16, "d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32},
 "train": {"batch_size": 2, "seq_len": 16, "max_steps": $2, "eval_every": 0, "log_every": 1}}
JSON
  "$TFM_BIN" train --config "$work/config.json" --data "$work/data.txt" --out "$1" > /dev/null 2> "$work/err" \
    || { echo "setup training failed: $(tail -2 "$work/err")"; exit 1; }
}
