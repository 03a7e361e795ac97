#!/usr/bin/env bash
# tests/test_no_overwrite.sh: no command overwrites what it did not make unless told: init, average and train
# refuse an --out holding a run or a model (--force replaces it), and the tokenizer commands refuse an output
# that is one of their inputs, by device and inode (another path, a hard link), even with the same bytes.
set -uo pipefail
tfm=${TFM_BIN:?TFM_BIN must point at the tfm binary}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
passed=0; failed=0
source "$TFM_SOURCE/tests/cli_checks.sh"

tiny_gpt_run "$work/run" 3
"$tfm" init --config "$work/config.json" --out "$work/model" > /dev/null 2>&1 || { echo "setup init failed"; exit 1; }

# ---- Model and run directories ----
expect_refused "init over a run" "--out .*run holds a training run.*--force" run -- "$tfm" init --config "$work/config.json" --out "$work/run"
expect_refused "init over a model" "--out .*model holds a model.*--force" model -- "$tfm" init --config "$work/config.json" --out "$work/model" --seed 9
expect_refused "average over a run" "holds a training run" run -- "$tfm" average --out "$work/run" "$work/model"
expect_refused "average over an input model" "holds a model" model -- "$tfm" average --out "$work/model" "$work/model" "$work/run"
expect_refused "train over a run" "holds a training run.*--resume .*run.*--force" run -- \
  "$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/run"
expect_refused "train over a model" "holds a model" model -- "$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/model"
echo "not a directory" > "$work/plain"
expect_refused "--out is a file" "exists and is not a directory" plain -- "$tfm" init --out "$work/plain"
# A bad config with --force loses nothing: the old run goes only once the new one is set up.
echo '{"model": {"n_heads": 3, "d_model": 16}}' > "$work/bad.json"
expect_refused "train --force with a bad config" "n_heads" run -- "$tfm" train --config "$work/bad.json" --data "$work/data.txt" --out "$work/run" --force
"$tfm" generate --model "$work/run" --prompt "int " --max-tokens 3 > /dev/null 2>&1 && passed=$((passed + 1)) || { echo "FAILED: the run no longer loads"; failed=$((failed + 1)); }

# --force replaces, and only tfm's files: the user's notes stay.
echo "mine" > "$work/run/notes.txt"
expect_ok "train --force over a run" "$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/run" --force --max-steps 2
grep -q '"step":2' "$work/run/current/trainer_state.json" 2> /dev/null || grep -q '"step":[[:space:]]*2' "$work/run/current/trainer_state.json" \
  && [ "$(ls "$work/run/checkpoints")" = "step-00000002" ] && [ "$(cat "$work/run/notes.txt")" = mine ] \
  && passed=$((passed + 1)) || { echo "FAILED: --force did not replace the run cleanly: $(ls "$work/run" "$work/run/checkpoints")"; failed=$((failed + 1)); }
expect_ok "init --force over a model" "$tfm" init --config "$work/config.json" --out "$work/model" --seed 9 --force
expect_ok "average --force into one of its inputs" "$tfm" average --force --out "$work/model" "$work/model" "$work/run"
expect_ok "the average loads" "$tfm" generate --model "$work/model" --prompt "int " --max-tokens 3
expect_ok "init into a directory of other files" sh -c "mkdir -p '$work/other' && echo x > '$work/other/README' && '$tfm' init --out '$work/other'"

# ---- Tokenizer commands: an output that is an input, under any name ----
"$tfm" tokenizer train --input "$work/data.txt" --output "$work/tok.json" --vocab-size 300 > /dev/null 2>&1 || { echo "setup tokenizer failed"; exit 1; }
ln "$work/data.txt" "$work/data-link.txt"
mkdir -p "$work/sub"
expect_refused "bpe train: output = input" "--output .*data.txt is the input file" data.txt tok.json -- \
  "$tfm" tokenizer train --input "$work/data.txt" --output "$work/data.txt" --vocab-size 300
expect_refused "bpe train: output = input by another path" "is the input file" data.txt -- \
  "$tfm" tokenizer train --input "$work/data.txt" --output "$work/sub/../data.txt" --vocab-size 300
expect_refused "bpe train: output = a hard link of the input" "is the input file" data.txt -- \
  "$tfm" tokenizer train --input "$work/data.txt" --output "$work/data-link.txt" --vocab-size 300
expect_refused "bpe encode: output = input" "is the input file" data.txt -- \
  "$tfm" tokenizer encode --tokenizer "$work/tok.json" --input "$work/data.txt" --output "$work/data-link.txt"
expect_refused "bpe encode: output = the tokenizer" "--output .*tok.json is the input file" tok.json -- \
  "$tfm" tokenizer encode --tokenizer "$work/tok.json" --input "$work/data.txt" --output "$work/tok.json"
expect_refused "bpe convert: output = the tokenizer" "--to-tokenizer .*tok.json is the input file" tok.json -- \
  "$tfm" tokenizer convert --tokenizer "$work/tok.json" --to-tokenizer "$work/sub/../tok.json"
"$tfm" tokenizer train --type wordpiece --input "$work/data.txt" --output "$work/vocab.txt" --vocab-size 400 > /dev/null 2>&1 \
  || { echo "setup wordpiece failed"; exit 1; }
expect_refused "wordpiece train: output = input" "is the input file" data.txt -- \
  "$tfm" tokenizer train --type wordpiece --input "$work/data.txt" --output "$work/data-link.txt"
expect_refused "wordpiece encode: output = the vocabulary" "is the input file" vocab.txt -- \
  "$tfm" tokenizer encode --type wordpiece --vocab "$work/vocab.txt" --input "$work/data.txt" --output "$work/vocab.txt"
expect_ok "bpe encode to a new file still works" "$tfm" tokenizer encode --tokenizer "$work/tok.json" --input "$work/data.txt" --output "$work/ids.txt"

echo "$passed passed, $failed failed"
[ $failed = 0 ]
