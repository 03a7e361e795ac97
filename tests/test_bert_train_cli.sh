#!/usr/bin/env bash
# tests/test_bert_train_cli.sh: "tfm train" for BERT pre-training: NSP, SOP and masked-LM-only runs on real text, held-out
# accuracies in log.jsonl, a Hugging Face layout in best/, a stopped and resumed run equal to an uninterrupted one, and
# bad set-ups refused naming what is wrong.
set -uo pipefail
tfm=${TFM_BIN:?TFM_BIN must point at the tfm binary}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
passed=0; failed=0
source "$TFM_SOURCE/tests/cli_checks.sh"

# Real text: this repository's documentation, one line a sentence, paragraphs as documents.
cat "$TFM_SOURCE"/README.md "$TFM_SOURCE"/docs/*.md > "$work/text.txt"
"$tfm" tokenizer train --type wordpiece --input "$work/text.txt" --output "$work/vocab.txt" --vocab-size 1500 2> /dev/null \
  || { echo "setup: WordPiece training failed"; exit 1; }
config() { # config FILE OBJECTIVE MAX_STEPS [extra model JSON] [extra train JSON]
  cat > "$1" <<JSON
{"model": {"model_type": "bert", "architectures": ["BertForPreTraining"], "vocab_size": 1500, "hidden_size": 32,
           "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64 $4},
 "train": {"objective": "$2", "batch_size": 8, "seq_len": 48, "max_predictions": 8, "max_steps": $3, "eval_every": 10,
           "eval_batches": 2, "warmup_steps": 4, "learning_rate": 0.002, "log_every": 1, "save_every": 0 $5}}
JSON
}
config "$work/nsp.json" nsp 24 "" ""
expect_ok "NSP run" "$tfm" train --config "$work/nsp.json" --data "$work/text.txt" --out "$work/nsp" --threads 2
grep -q '"model":"bert"' "$work/out" || { echo "FAILED: no summary line: $(cat "$work/out")"; failed=$((failed + 1)); }
grep -q 'valid loss .*mlm_accuracy .*nsp_accuracy' "$work/err" && passed=$((passed + 1)) || { echo "FAILED: no accuracies in the progress: $(grep valid "$work/err")"; failed=$((failed + 1)); }
for key in valid_mlm_accuracy valid_nsp_accuracy valid_mlm_loss valid_nsp_loss; do
  grep -q "\"$key\":" "$work/nsp/log.jsonl" && passed=$((passed + 1)) || { echo "FAILED: log.jsonl lacks $key"; failed=$((failed + 1)); }
done
for file in config.json model.safetensors vocab.txt tokenizer_config.json; do
  [ -s "$work/nsp/best/$file" ] && passed=$((passed + 1)) || { echo "FAILED: best/ lacks $file"; failed=$((failed + 1)); }
done
cmp -s "$work/vocab.txt" "$work/nsp/vocab.txt" && passed=$((passed + 1)) || { echo "FAILED: the run's vocab.txt is not the given one"; failed=$((failed + 1)); }
grep -q '"BertForPreTraining"' "$work/nsp/best/config.json" && passed=$((passed + 1)) \
  || { echo "FAILED: best/config.json: $(cat "$work/nsp/best/config.json")"; failed=$((failed + 1)); }
losses() { grep '"loss"' "$1" | sed 's/,"wall_seconds":[0-9.]*//'; }
first=$(losses "$work/nsp/log.jsonl" | head -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
last=$(losses "$work/nsp/log.jsonl" | tail -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.2) }' && passed=$((passed + 1)) || { echo "FAILED: the loss did not fall: $first -> $last"; failed=$((failed + 1)); }

# Stopped at step 9 and resumed: the same losses as without the stop (data order, masks, dropout, moments).
expect_ok "stopped run" "$tfm" train --config "$work/nsp.json" --data "$work/text.txt" --out "$work/split" --stop-after 9 --threads 2
expect_ok "resumed run" "$tfm" train --resume "$work/split" --threads 2
grep -q 'resuming from step 9' "$work/err" && passed=$((passed + 1)) || { echo "FAILED: resume did not start at step 9"; failed=$((failed + 1)); }
if diff <(losses "$work/nsp/log.jsonl") <(losses "$work/split/log.jsonl") > "$work/diff"; then passed=$((passed + 1)); else
  echo "FAILED: resumed losses differ:"; head "$work/diff"; failed=$((failed + 1)); fi
grep -v '"loss"' "$work/nsp/log.jsonl" | sed 's/,"wall_seconds":[0-9.]*//' > "$work/v1"
grep -v '"loss"' "$work/split/log.jsonl" | sed 's/,"wall_seconds":[0-9.]*//' > "$work/v2"
cmp -s "$work/v1" "$work/v2" && passed=$((passed + 1)) || { echo "FAILED: resumed validations differ"; diff "$work/v1" "$work/v2" | head; failed=$((failed + 1)); }

# SOP, and RoBERTa's masked LM only with dynamic masks and whole words.
config "$work/sop.json" sop 4 "" ""
expect_ok "SOP run" "$tfm" train --config "$work/sop.json" --data "$work/text.txt" --out "$work/sop" --eval-every 4
grep -q '"valid_sop_accuracy":' "$work/sop/log.jsonl" && passed=$((passed + 1)) || { echo "FAILED: SOP logs no sop_accuracy"; failed=$((failed + 1)); }
config "$work/mlm.json" mlm 4 "" ', "dynamic_masking": true, "whole_word_masking": true'
expect_ok "MLM run" "$tfm" train --config "$work/mlm.json" --data "$work/text.txt" --out "$work/mlm" --eval-every 4
grep -q '"valid_mlm_accuracy":' "$work/mlm/log.jsonl" && ! grep -q 'nsp' "$work/mlm/log.jsonl" && passed=$((passed + 1)) \
  || { echo "FAILED: an MLM-only run logs: $(tail -1 "$work/mlm/log.jsonl")"; failed=$((failed + 1)); }

# Refused, each naming what is wrong.
grep -v '^\[MASK\]$' "$work/vocab.txt" > "$work/no-mask.txt"
expect_error "vocabulary without [MASK]" 'no \[MASK\]' -- "$tfm" train --config "$work/nsp.json" --data "$work/text.txt" --tokenizer "$work/no-mask.txt" --out "$work/e1"
expect_error "no vocab.txt" 'BERT needs a WordPiece vocab.txt' -- "$tfm" train --config "$work/nsp.json" --data "$TFM_SOURCE/README.md" --out "$work/e2"
config "$work/base.json" nsp 4 ', "type_vocab_size": 2' ""
sed -i 's/"BertForPreTraining"/"BertModel"/' "$work/base.json"
expect_error "BertModel" 'architectures must be \["BertForPreTraining"\]' -- "$tfm" train --config "$work/base.json" --data "$work/text.txt" --out "$work/e3"
config "$work/long.json" nsp 4 "" ""
sed -i 's/"seq_len": 48/"seq_len": 100/' "$work/long.json"
expect_error "seq_len too long" 'train.seq_len \(100\) exceeds model.max_position_embeddings \(64\)' -- "$tfm" train --config "$work/long.json" --data "$work/text.txt" --out "$work/e4"
config "$work/small.json" nsp 4 "" ""
sed -i 's/"vocab_size": 1500/"vocab_size": 1000/' "$work/small.json"
expect_error "vocabulary larger than the model's" 'the tokenizer has 1500 pieces, more than model.vocab_size \(1000\)' -- "$tfm" train --config "$work/small.json" --data "$work/text.txt" --out "$work/e5"
config "$work/other.json" nsp 4 "" ', "batch_tokens": 100'
expect_error "an encoder-decoder setting" 'train.batch_tokens: a setting of encoder-decoder training, not of BERT' -- "$tfm" train --config "$work/other.json" --data "$work/text.txt" --out "$work/e6"
config "$work/objective.json" nsp 4 "" ', "objective": "xyz"'
expect_error "unknown objective" 'objective' -- "$tfm" train --config "$work/objective.json" --data "$work/text.txt" --out "$work/e7"
printf 'one document only\nwith two sentences\n' > "$work/one.txt"
expect_error "one document" 'has 1 documents .*too few' -- "$tfm" train --config "$work/nsp.json" --data "$work/one.txt" --tokenizer "$work/vocab.txt" --out "$work/e8"
printf 'a\n\nb\xff\n\nc\n' > "$work/bad.txt"
expect_error "invalid UTF-8" 'bad.txt: invalid UTF-8 at byte offset 4 \(line 3\)' -- "$tfm" train --config "$work/nsp.json" --data "$work/bad.txt" --tokenizer "$work/vocab.txt" --out "$work/e9"
config "$work/mask.json" nsp 4 "" ', "mask_token_probability": 0.95'
expect_error "80/10/10 over 1" 'train.mask_token_probability \(0.95\) \+ train.random_token_probability' -- "$tfm" train --config "$work/mask.json" --data "$work/text.txt" --out "$work/e10"

# fill-mask on the run (its vocab.txt is found beside the checkpoints), and its refusals.
printf 'the [MASK] of the model\n' > "$work/masked.txt"
expect_ok "fill-mask on a run" "$tfm" fill-mask --model "$work/nsp" --input "$work/masked.txt" --top-k 3
grep -q '^{"line":1,"masks":\[\[{"token":' "$work/out" && passed=$((passed + 1)) || { echo "FAILED: fill-mask output: $(cat "$work/out")"; failed=$((failed + 1)); }
expect_ok "fill-mask on one checkpoint" "$tfm" fill-mask --model "$(ls -d "$work"/nsp/checkpoints/step-* | tail -1)" --input "$work/masked.txt"
printf 'the [MASK] of\nno mask here\n' > "$work/unmasked.txt"
expect_error "a line without [MASK]" 'line 2: no \[MASK\] token' -- "$tfm" fill-mask --model "$work/nsp" --input "$work/unmasked.txt"
mkdir -p "$work/bare" && cp "$work/nsp/best/config.json" "$work/nsp/best/model.safetensors" "$work/bare/"
expect_error "no vocab.txt for fill-mask" 'bare: no vocab.txt' -- "$tfm" fill-mask --model "$work/bare" --input "$work/masked.txt"

# ALBERT: factorized embeddings (16 -> 32) and one block shared by the 2 layers, sentence-order prediction; a fresh
# model's gradient is of the size of a BERT's (every LayerNorm gain starts at 1, ALBERT's full_layer_layer_norm too).
sed -e 's/"model_type": "bert", "architectures": \["BertForPreTraining"\]/"model_type": "albert", "architectures": ["AlbertForPreTraining"], "embedding_size": 16, "num_hidden_groups": 1/' \
  -e 's/"objective": "nsp"/"objective": "sop"/' "$work/nsp.json" > "$work/albert.json"
# 48 steps: the text is this repository's documentation, which changes; 24 left too little margin for the loss test.
expect_ok "ALBERT run" "$tfm" train --config "$work/albert.json" --data "$work/text.txt" --out "$work/albert" --max-steps 48 --threads 2
grep -q 'bert, ALBERT, [0-9]* parameters, 2 layers sharing 1 block, embeddings 16 -> d_model 32' "$work/err" && passed=$((passed + 1)) \
  || { echo "FAILED: ALBERT description: $(head -1 "$work/err")"; failed=$((failed + 1)); }
norm=$(grep '"step":1,' "$work/albert/log.jsonl" | sed 's/.*"grad_norm":\([0-9.e+-]*\).*/\1/')
awk -v n="$norm" 'BEGIN { exit !(n < 20) }' && passed=$((passed + 1)) || { echo "FAILED: ALBERT's first gradient norm is $norm"; failed=$((failed + 1)); }
first=$(losses "$work/albert/log.jsonl" | head -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
last=$(losses "$work/albert/log.jsonl" | tail -1 | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a - 0.2) }' && passed=$((passed + 1)) || { echo "FAILED: ALBERT's loss did not fall: $first -> $last"; failed=$((failed + 1)); }
tr -d ' \n\t' < "$work/albert/best/config.json" | grep -q '"architectures":\["AlbertForPreTraining"\],"model_type":"albert".*"embedding_size":16,"num_hidden_groups":1' \
  && passed=$((passed + 1)) || { echo "FAILED: ALBERT's config.json: $(cat "$work/albert/best/config.json")"; failed=$((failed + 1)); }
expect_ok "fill-mask on an ALBERT" "$tfm" fill-mask --model "$work/albert" --input "$work/masked.txt"
printf '{"train": {"objective": "sequence_classification", "batch_size": 4, "seq_len": 32, "max_steps": 2, "eval_every": 0, "eval_batches": 1}}\n' > "$work/tune.json"
mkdir -p "$work/labelled" && printf 'a\nb\n' > "$work/labelled/labels.txt"
printf 'a\tthe model\nb\tthe data\na\tthe layers\nb\tthe text\n' | tee "$work/labelled/valid.tsv" > "$work/labelled/train.tsv"
expect_ok "fine-tune an ALBERT" "$tfm" train --config "$work/tune.json" --init "$work/albert/best" --data "$work/labelled" --out "$work/albert-tuned"
grep -q '"AlbertForSequenceClassification"' "$work/albert-tuned/best/config.json" && passed=$((passed + 1)) \
  || { echo "FAILED: the fine-tuned ALBERT: $(head -3 "$work/albert-tuned/best/config.json")"; failed=$((failed + 1)); }
sed 's/"num_hidden_groups": 1/"num_hidden_groups": 3/' "$work/albert.json" > "$work/groups.json"
expect_error "groups not dividing the layers" 'num_hidden_groups: expected a divisor of num_hidden_layers \(2\), got 3' -- "$tfm" train --config "$work/groups.json" --data "$work/text.txt" --out "$work/e11"
sed 's/"num_hidden_groups": 1/"inner_group_num": 2/' "$work/albert.json" > "$work/inner.json"
expect_error "inner groups" 'inner_group_num: tfm.s ALBERT has one layer per group' -- "$tfm" train --config "$work/inner.json" --data "$work/text.txt" --out "$work/e12"
config "$work/bert-e.json" nsp 4 ', "embedding_size": 16' ""
expect_error "an ALBERT setting in a BERT" 'model.embedding_size: an ALBERT setting|embedding_size: an ALBERT setting' -- "$tfm" train --config "$work/bert-e.json" --data "$work/text.txt" --out "$work/e13"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
