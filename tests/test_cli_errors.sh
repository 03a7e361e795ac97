#!/usr/bin/env bash
# tests/test_cli_errors.sh: bad input to the tfm CLI gives a non-zero exit and a message naming the problem,
# never a crash, and nothing the user had is overwritten or lost.
set -uo pipefail
tfm=${TFM_BIN:?TFM_BIN must point at the tfm binary}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
passed=0; failed=0

source "$TFM_SOURCE/tests/cli_checks.sh"

tiny_gpt_run "$work/run" 2
sum_before=$(md5sum "$work/run/current/model.safetensors" | cut -d' ' -f1)

# options
expect_error "unknown command" "unknown command 'trian'" -- "$tfm" trian
expect_error "unknown option" "unknown option '--step'" -- "$tfm" train --step 3
expect_error "bad number" "--max-steps: expected an integer" -- "$tfm" train --data x --out y --max-steps ten
expect_error "out of range" "--top-p: expected a number in" -- "$tfm" generate --model "$work/run" --prompt a --top-p 1.5
expect_error "missing value" "--out needs" -- "$tfm" train --data x --out
expect_error "missing required" "needs --data FILE and --out DIR" -- "$tfm" train

# data files
: > "$work/empty.txt"
printf 'good text\n\xff\xfe bad bytes\n' > "$work/binary.txt"
expect_error "missing data" "cannot open data file .*nope.txt" -- "$tfm" train --config "$work/config.json" --data "$work/nope.txt" --out "$work/r1"
expect_error "empty data" "empty.txt is empty" -- "$tfm" train --config "$work/config.json" --data "$work/empty.txt" --out "$work/r2"
expect_error "non-UTF-8 data" "invalid UTF-8 at byte offset 10 \(line 2\)" -- "$tfm" train --config "$work/config.json" --data "$work/binary.txt" --out "$work/r3"

# configs
printf '{"model": {"d_model": 16,}}' > "$work/bad_json.json"
printf '{"model": {"n_heads": "four"}}' > "$work/bad_type.json"
printf '{"model": {"n_head": 4}}' > "$work/bad_field.json"
printf '{"model": {"d_model": 30, "n_heads": 4}}' > "$work/bad_heads.json"
expect_error "malformed JSON" "bad_json.json.*line 1" -- "$tfm" train --config "$work/bad_json.json" --data "$work/data.txt" --out "$work/r4"
expect_error "wrong type" "bad_type.json: model.n_heads: expected" -- "$tfm" train --config "$work/bad_type.json" --data "$work/data.txt" --out "$work/r5"
expect_error "unknown field" "bad_field.json: model.n_head: unknown field" -- "$tfm" train --config "$work/bad_field.json" --data "$work/data.txt" --out "$work/r6"
expect_error "inconsistent" "d_model.*n_heads|n_heads.*d_model" -- "$tfm" train --config "$work/bad_heads.json" --data "$work/data.txt" --out "$work/r7"
expect_error "missing config" "cannot open .*nope.json" -- "$tfm" train --config "$work/nope.json" --data "$work/data.txt" --out "$work/r8"

# checkpoints
expect_error "missing checkpoint" "nowhere" -- "$tfm" generate --model "$work/nowhere" --prompt hi
mkdir -p "$work/trunc" && cp "$work/run/current/config.json" "$work/trunc/"
head -c 300 "$work/run/current/model.safetensors" > "$work/trunc/model.safetensors"
expect_error "truncated checkpoint" "trunc/model.safetensors.*(truncated|beyond|short)" -- "$tfm" generate --model "$work/trunc" --prompt hi
mkdir -p "$work/corrupt" && cp "$work/run/current/config.json" "$work/corrupt/"
printf '\x10\x00\x00\x00\x00\x00\x00\x00{not json at all' > "$work/corrupt/model.safetensors"
expect_error "corrupt checkpoint" "corrupt/model.safetensors" -- "$tfm" generate --model "$work/corrupt" --prompt hi
mkdir -p "$work/foreign" && cp "$work/run/current/config.json" "$work/foreign/"
printf 'PK\x03\x04 this is a zip file, e.g. a PyTorch .bin' > "$work/foreign/model.safetensors"
expect_error "foreign checkpoint" "not a safetensors file" -- "$tfm" generate --model "$work/foreign" --prompt hi
mkdir -p "$work/mismatch" && cp "$work/run/current/model.safetensors" "$work/mismatch/"
sed -E 's/"n_embd":[[:space:]]*16/"n_embd": 32/' "$work/run/current/config.json" > "$work/mismatch/config.json"
grep -q '"n_embd": 32' "$work/mismatch/config.json" || { echo "FAILED: could not edit config for the mismatch case"; failed=$((failed + 1)); }
expect_error "config/tensor mismatch" "shape" -- "$tfm" generate --model "$work/mismatch" --prompt hi

# generation and resume
long_prompt=$(head -c 40 /dev/zero | tr '\0' 'a')
expect_error "prompt too long" "longer than the model's context length 16" -- "$tfm" generate --model "$work/run" --prompt "$long_prompt"
head -c 20000 "$work/data.txt" > "$work/other.txt"
expect_error "resume on other data" "differs from the one this checkpoint was trained on" -- "$tfm" train --resume "$work/run" --data "$work/other.txt" --max-steps 4
expect_error "train over a checkpoint" "holds a training run.*--resume.*--force" -- "$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/run"

# nothing was lost
sum_after=$(md5sum "$work/run/current/model.safetensors" | cut -d' ' -f1)
if [ "$sum_before" = "$sum_after" ]; then passed=$((passed + 1)); else echo "FAILED: the existing checkpoint changed"; failed=$((failed + 1)); fi
if "$tfm" generate --model "$work/run" --prompt "int " --max-tokens 5 > /dev/null 2>&1; then passed=$((passed + 1)); else echo "FAILED: the checkpoint no longer loads"; failed=$((failed + 1)); fi
leftovers=$(find "$work/run" -name '*.tmp*' | wc -l)
if [ "$leftovers" = 0 ]; then passed=$((passed + 1)); else echo "FAILED: temporary files left behind"; failed=$((failed + 1)); fi

echo "$passed passed, $failed failed"
[ $failed = 0 ]
