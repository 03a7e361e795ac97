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
expect_error "missing required" "needs --data FILE.DIR and --out DIR" -- "$tfm" train

# data files
: > "$work/empty.txt"
printf 'good text\n\xff\xfe bad bytes\n' > "$work/binary.txt"
expect_error "missing data" "data file: cannot open .*nope.txt" -- "$tfm" train --config "$work/config.json" --data "$work/nope.txt" --out "$work/r1"
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

# a Hugging Face directory of an architecture tfm does not implement: named, before any of its keys
mkdir -p "$work/llama"
echo '{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 100, "hidden_size": 64}' > "$work/llama/config.json"
expect_error "unimplemented architecture" 'model_type: expected "gpt2", got "llama" .LlamaForCausalLM.: not an architecture tfm implements' -- "$tfm" generate --model "$work/llama" --prompt hi

# generation and resume
long_prompt=$(head -c 40 /dev/zero | tr '\0' 'a')
expect_error "prompt too long (--no-truncate)" "longer than the model's context length 16 .--no-truncate." -- "$tfm" generate --model "$work/run" --prompt "$long_prompt" --no-truncate
head -c 20000 "$work/data.txt" > "$work/other.txt"
expect_error "resume on other data" "differs from the one this checkpoint was trained on" -- "$tfm" train --resume "$work/run" --data "$work/other.txt" --max-steps 4
expect_error "train over a checkpoint" "holds a training run.*--resume.*--force" -- "$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/run"

# nothing was lost
sum_after=$(md5sum "$work/run/current/model.safetensors" | cut -d' ' -f1)
if [ "$sum_before" = "$sum_after" ]; then passed=$((passed + 1)); else echo "FAILED: the existing checkpoint changed"; failed=$((failed + 1)); fi
if "$tfm" generate --model "$work/run" --prompt "int " --max-tokens 5 > /dev/null 2>&1; then passed=$((passed + 1)); else echo "FAILED: the checkpoint no longer loads"; failed=$((failed + 1)); fi
# Files that are not regular files: refused at once, never read as empty or waited on.
mkdir -p "$work/a_directory"
mkfifo "$work/a_fifo"
expect_error "--data is a directory" "data file: cannot read .*a_directory: it is a directory, expected a regular file" \
  -- "$tfm" train --config "$work/config.json" --data "$work/a_directory" --out "$work/r4"
expect_error "--data is a FIFO" "cannot read .*a_fifo: it is a FIFO \(named pipe\), expected a regular file" \
  -- timeout 20 "$tfm" train --config "$work/config.json" --data "$work/a_fifo" --out "$work/r5"
cp -a "$work/run" "$work/fifo_run"
rm "$work/fifo_run/current/model.safetensors" && mkfifo "$work/fifo_run/current/model.safetensors"
expect_error "a FIFO for model.safetensors" "model.safetensors: it is a FIFO" -- timeout 20 "$tfm" generate --model "$work/fifo_run" --prompt a
"$tfm" tokenizer train --input "$work/data.txt" --output "$work/tok.json" --vocab-size 300 > /dev/null 2>&1 || { echo "setup tokenizer failed"; exit 1; }
expect_error "standard input is a directory" "is a directory" -- sh -c '"$0" tokenizer encode --tokenizer "$1" < "$2"' "$tfm" "$work/tok.json" "$work/a_directory"
expect_error "tokenizer train: input is a directory" "a_directory: it is a directory" -- "$tfm" tokenizer train --input "$work/a_directory" --output "$work/t2.json" --vocab-size 300

# Tokenizer files whose merges went missing: refused, not encoded one id per byte.
python3 -c 'import json,sys; t=json.load(open(sys.argv[1])); t["model"]["merges"]=[]; json.dump(t,open(sys.argv[2],"w"))' "$work/tok.json" "$work/no_merges.json"
expect_error "tokenizer.json without merges" "no_merges.json: model.merges: no merges, yet [0-9]+ tokens of the vocabulary are longer than one byte" \
  -- "$tfm" tokenizer info --tokenizer "$work/no_merges.json"
"$tfm" tokenizer convert --tokenizer "$work/tok.json" --to-gpt2-encoder "$work/encoder.json" --to-gpt2-merges "$work/vocab.bpe" > /dev/null 2>&1 \
  || { echo "setup convert failed"; exit 1; }
: > "$work/vocab.bpe"
expect_error "an empty vocab.bpe" "vocab.bpe: no merges, yet" -- "$tfm" tokenizer info --gpt2-encoder "$work/encoder.json" --gpt2-merges "$work/vocab.bpe"

# Sizes: every count that sizes memory is bounded, and the message names the fields.
printf '{"model": {"context_length": 16, "d_model": 16, "n_layers": 100000, "n_heads": 2, "d_ff": 32}}' > "$work/deep.json"
expect_error "n_layers 100000" "model.n_layers: expected 1 to 1024, got 100000" -- timeout 20 "$tfm" init --config "$work/deep.json" --out "$work/m1"
printf '{"model": {"context_length": 256, "d_model": 16384, "n_layers": 100, "n_heads": 2, "d_ff": 65536, "vocab_size": 50000}}' > "$work/huge.json"
expect_error "a model larger than memory" "model \(vocab_size 50000, d_model 16384, n_layers 100, d_ff 65536.*billion parameters.*GiB, more than this machine's" \
  -- "$tfm" init --config "$work/huge.json" --out "$work/m2"
printf '{"model": {"context_length": 1024, "d_model": 16, "n_layers": 1, "n_heads": 2, "d_ff": 32}, "train": {"batch_size": 1000000, "seq_len": 1024}}' > "$work/wide.json"
expect_error "a batch larger than memory" "a training step of train.batch_size 1000000 x train.seq_len 1024 .* more than this machine's" \
  -- "$tfm" train --config "$work/wide.json" --data "$work/data.txt" --out "$work/r6"

# trainer_state.json: every field is checked before a run resumes from it.
tamper() { # tamper NAME KEY JSON-VALUE PATTERN
  rm -rf "$work/tampered"; cp -a "$work/run" "$work/tampered"
  python3 -c 'import json,sys; p=sys.argv[1]; s=json.load(open(p)); s[sys.argv[2]]=json.loads(sys.argv[3]); json.dump(s,open(p,"w"))' \
    "$work/tampered/current/trainer_state.json" "$2" "$3"
  expect_error "$1" "$4" -- "$tfm" train --resume "$work/tampered" --max-steps 4
}
tamper "data_counter -1" data_counter '"-1"' 'trainer_state.json: data_counter: expected a decimal string of a 64-bit unsigned integer, got "-1"'
tamper "data_counter past 2^64" data_counter '"99999999999999999999999"' "data_counter: expected a decimal string of a 64-bit unsigned integer"
tamper "data_counter a number" data_counter '12' "data_counter: expected a decimal string"
tamper "another format" format '"tfm-seq2seq-trainer-state"' 'format is "tfm-seq2seq-trainer-state", not "tfm-trainer-state"'
tamper "a future version" version '99' "version 99: this tfm reads versions 1 to 2"
tamper "a negative step" step '-1' 'inconsistent checkpoint: steps differ .*trainer state "-1"'
tamper "a fractional step" step '1.5' 'inconsistent checkpoint: steps differ .*trainer state ""'

leftovers=$(find "$work/run" -name '*.tmp*' | wc -l)
if [ "$leftovers" = 0 ]; then passed=$((passed + 1)); else echo "FAILED: temporary files left behind"; failed=$((failed + 1)); fi

echo "$passed passed, $failed failed"
[ $failed = 0 ]
