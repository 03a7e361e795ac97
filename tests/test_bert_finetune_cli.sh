#!/usr/bin/env bash
# tests/test_bert_finetune_cli.sh: "tfm train" fine-tuning a BERT (sequence, sentence-pair and token classification) from
# scratch and from a pre-trained run with --init, the classifier trained alone first (freeze_steps), exact resume,
# "tfm classify" on what it saved, and bad set-ups refused naming the file, line, label or field.
set -uo pipefail
tfm=${TFM_BIN:?TFM_BIN must point at the tfm binary}
python=${TFM_PYTHON:?TFM_PYTHON must point at the reference Python}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
passed=0; failed=0
source "$TFM_SOURCE/tests/cli_checks.sh"
check() { # check NAME CONDITION-EXIT-CODE MESSAGE
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); else echo "FAILED $1: $3"; failed=$((failed + 1)); fi
}

"$python" "$TFM_SOURCE/tests/tools/make_labeled_tasks.py" "$TFM_SOURCE" "$work" || { echo "setup: making the tasks failed"; exit 1; }
cat "$TFM_SOURCE"/README.md "$TFM_SOURCE"/docs/*.md "$TFM_SOURCE"/src/*/*.c > "$work/text.txt"
"$tfm" tokenizer train --type wordpiece --input "$work/text.txt" --output "$work/vocab.txt" --vocab-size 1500 2> /dev/null \
  || { echo "setup: WordPiece training failed"; exit 1; }
config() { # config FILE OBJECTIVE MAX_STEPS [extra train JSON] [no-model]
  local model='"model": {"model_type": "bert", "vocab_size": 1500, "hidden_size": 32, "num_hidden_layers": 2,
           "num_attention_heads": 4, "intermediate_size": 64, "max_position_embeddings": 64},'
  [ "${5:-}" = no-model ] && model=""
  cat > "$1" <<JSON
{$model
 "train": {"objective": "$2", "batch_size": 16, "seq_len": 48, "max_predictions": 8, "max_steps": $3, "eval_every": 20,
           "warmup_steps": 4, "learning_rate": 0.002, "log_every": 1, "save_every": 0 ${4:-}}}
JSON
}
accuracy() { grep '"valid_accuracy"' "$1" | tail -1 | sed 's/.*"valid_accuracy":\([0-9.e+-]*\).*/\1/'; }
majority() { cut -f1 "$1" | sort | uniq -c | sort -rn | awk 'NR == 1 { top = $1 } { n += $1 } END { printf "%.2f", 100 * top / n }'; }

# Sequences from scratch: learns well above always answering the most frequent label.
config "$work/seq.json" sequence_classification 60
expect_ok "sequence classification" "$tfm" train --config "$work/seq.json" --data "$work/kind" --tokenizer "$work/vocab.txt" --out "$work/seq" --threads 2
grep -q 'bert sequence classification, .* 2 labels' "$work/err"; check "description" $? "$(head -1 "$work/err")"
a=$(accuracy "$work/seq/log.jsonl"); m=$(majority "$work/kind/valid.tsv")
awk -v a="$a" -v m="$m" 'BEGIN { exit !(a > m + 20) }'; check "learns the task" $? "valid accuracy $a vs the majority label's $m"
grep -q '"architectures":.*"BertForSequenceClassification"' <(tr -d '\n\t' < "$work/seq/best/config.json"); check "architecture" $? "$(cat "$work/seq/best/config.json")"
grep -q '"id2label":{"0":"code","1":"prose"}' <(tr -d '\n\t ' < "$work/seq/best/config.json"); check "id2label" $? "$(cat "$work/seq/best/config.json")"

# classify on the saved model: one JSON line per input line, labels of the label set, probabilities summing to 1.
head -5 "$work/kind/valid.tsv" | cut -f2 > "$work/lines.txt"
expect_ok "classify" "$tfm" classify --model "$work/seq/best" --input "$work/lines.txt" --top-k 2
[ "$(grep -c '^{"line":[0-9]*,"label":"\(code\|prose\)","probability":[0-9.e-]*,"top":\[' "$work/out")" = 5 ]; check "classify output" $? "$(cat "$work/out")"
"$python" - "$work/out" <<'PY'; check "probabilities" $? "top-2 probabilities do not sum to 1"
import json, sys
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert abs(sum(t["probability"] for t in o["top"]) - 1) < 1e-5 and o["top"][0]["label"] == o["label"], o
PY
expect_ok "classify a run" "$tfm" classify --model "$work/seq" --input "$work/lines.txt"

# Exact resume: stopped at step 25 and resumed, the same losses and validations as without the stop.
expect_ok "stopped" "$tfm" train --config "$work/seq.json" --data "$work/kind" --tokenizer "$work/vocab.txt" --out "$work/split" --stop-after 25 --threads 2
expect_ok "resumed" "$tfm" train --resume "$work/split" --threads 2
clean() { sed 's/,"wall_seconds":[0-9.]*//' "$1"; }
diff <(clean "$work/seq/log.jsonl") <(clean "$work/split/log.jsonl") > "$work/diff"; check "resume" $? "$(head -4 "$work/diff")"

# From a pre-trained BERT (--init, the model and vocabulary its own), the classifier alone for the first 100 steps:
# after 5 steps the body is the pre-trained one, byte for byte, and the classifier has moved since step 1.
sed -e 's/"objective": "sequence_classification"/"objective": "nsp"/' -e 's/"eval_every": 20/"eval_every": 5, "eval_batches": 1/' \
  -e 's/"model_type": "bert",/"model_type": "bert", "architectures": ["BertForPreTraining"],/' "$work/seq.json" > "$work/nsp.json"
expect_ok "pre-training" "$tfm" train --config "$work/nsp.json" --data "$work/text.txt" --tokenizer "$work/vocab.txt" --out "$work/pre" --max-steps 5 --threads 2
config "$work/frozen.json" sequence_classification 5 ', "freeze_steps": 100' no-model
expect_ok "--init" "$tfm" train --config "$work/frozen.json" --init "$work/pre/best" --data "$work/kind" --out "$work/frozen" --threads 2
cmp -s "$work/pre/best/vocab.txt" "$work/frozen/vocab.txt"; check "--init's vocabulary" $? "the run's vocab.txt is not --init's"
# tensors.py A B: the tensors of two safetensors files, byte for byte: "same NAME...", "differ NAME...", "body" (every
# bert.* tensor of B equals A's, and B has no pre-training head).
cat > "$work/tensors.py" <<'PY'
import json, struct, sys
def tensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    return {k: data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]] for k, v in header.items() if k != "__metadata__"}
a, b, check, names = tensors(sys.argv[1]), tensors(sys.argv[2]), sys.argv[3], sys.argv[4:]
if check == "body":
    body = [k for k in b if k.startswith("bert.")]
    assert len(body) > 20 and all(b[k] == a[k] for k in body), [k for k in body if b[k] != a.get(k)]
    assert "bert.pooler.dense.weight" in body and "cls.predictions.bias" not in b
else:
    assert all((a[k] == b[k]) == (check == "same") for k in names), (check, names)
PY
"$python" "$work/tensors.py" "$work/pre/best/model.safetensors" "$work/frozen/best/model.safetensors" body; check "frozen body" $? "see above"
expect_ok "--init, 1 step" "$tfm" train --config "$work/frozen.json" --init "$work/pre/best" --data "$work/kind" --out "$work/frozen1" --max-steps 1
"$python" "$work/tensors.py" "$work/frozen1/best/model.safetensors" "$work/frozen/best/model.safetensors" differ classifier.weight classifier.bias
check "the classifier trains while the body is frozen" $? "see above"
config "$work/unfrozen.json" sequence_classification 5 ', "freeze_steps": 2' no-model
expect_ok "unfrozen" "$tfm" train --config "$work/unfrozen.json" --init "$work/pre/best" --data "$work/kind" --out "$work/unfrozen" --threads 2
"$python" "$work/tensors.py" "$work/pre/best/model.safetensors" "$work/unfrozen/best/model.safetensors" differ \
  bert.encoder.layer.0.attention.self.query.weight
check "unfrozen body" $? "see above"

# Sentence pairs and word labels.
expect_ok "pair classification" "$tfm" train --config "$work/seq.json" --data "$work/pairs" --tokenizer "$work/vocab.txt" --out "$work/pairs-run" --max-steps 4
grep -q 'bert sentence-pair classification' "$work/err"; check "pairs" $? "$(head -1 "$work/err")"
head -3 "$work/pairs/valid.tsv" | cut -f2,3 > "$work/pair-lines.txt"
expect_ok "classify pairs" "$tfm" classify --model "$work/pairs-run/best" --input "$work/pair-lines.txt"
[ "$(grep -c '"label":"\(same\|different\)"' "$work/out")" = 3 ]; check "pair output" $? "$(cat "$work/out")"
config "$work/tok.json" token_classification 60
expect_ok "token classification" "$tfm" train --config "$work/tok.json" --data "$work/shapes" --tokenizer "$work/vocab.txt" --out "$work/tok" --threads 2
a=$(accuracy "$work/tok/log.jsonl")
awk -v a="$a" 'BEGIN { exit !(a > 85) }'; check "learns word shapes" $? "valid accuracy $a"
grep -q '"BertForTokenClassification"' "$work/tok/best/config.json"; check "token architecture" $? "$(head -3 "$work/tok/best/config.json")"
printf 'Hello world 42 (x)\n' > "$work/words.txt"
expect_ok "classify words" "$tfm" classify --model "$work/tok/best" --input "$work/words.txt"
grep -q '^{"line":1,"words":\[{"word":"Hello","label":"[a-z]*","probability":[0-9.e-]*},{"word":"world",.*{"word":"(x)",' "$work/out"
check "word output" $? "$(cat "$work/out")"

# Refused, each naming what is wrong.
mkdir -p "$work/bad"; cp "$work/kind/labels.txt" "$work/kind/valid.tsv" "$work/bad/"
{ head -3 "$work/kind/train.tsv"; printf 'poetry\tRoses are red\n'; } > "$work/bad/train.tsv"
expect_error "unknown label" 'bad/train.tsv: line 4: label "poetry" is not in .*labels.txt' -- "$tfm" train --config "$work/seq.json" --data "$work/bad" --tokenizer "$work/vocab.txt" --out "$work/e1"
{ head -3 "$work/kind/train.tsv"; printf 'code\n'; } > "$work/bad/train.tsv"
expect_error "one field" 'train.tsv: line 4: expected label<TAB>text' -- "$tfm" train --config "$work/seq.json" --data "$work/bad" --tokenizer "$work/vocab.txt" --out "$work/e2"
{ head -3 "$work/kind/train.tsv"; printf 'code\ta\tb\n'; } > "$work/bad/train.tsv"
expect_error "pairs and single texts" 'line 4: 2 texts, but the first line has 1' -- "$tfm" train --config "$work/seq.json" --data "$work/bad" --tokenizer "$work/vocab.txt" --out "$work/e3"
cp "$work/shapes/labels.txt" "$work/bad/labels.txt"; printf 'lower upper\tone two three\n' > "$work/bad/train.tsv"
expect_error "labels for words" 'line 1: 2 labels for 3 words' -- "$tfm" train --config "$work/tok.json" --data "$work/bad" --tokenizer "$work/vocab.txt" --out "$work/e4"
rm "$work/bad/labels.txt"
expect_error "no labels.txt" 'bad/labels.txt: no such file' -- "$tfm" train --config "$work/seq.json" --data "$work/bad" --tokenizer "$work/vocab.txt" --out "$work/e5"
printf 'code\nprose\ncode\n' > "$work/bad/labels.txt"
expect_error "repeated label" 'labels.txt: line 3: .*code' -- "$tfm" train --config "$work/seq.json" --data "$work/bad" --tokenizer "$work/vocab.txt" --out "$work/e6"
sed 's/"hidden_size": 32/"hidden_size": 16/' "$work/seq.json" > "$work/wide.json"
expect_error "--init of another size" 'pre/best/config.json: hidden_size is 32, but the model being initialised from it has 16' -- "$tfm" train --config "$work/wide.json" --init "$work/pre/best" --data "$work/kind" --out "$work/e7"
tiny_gpt_run "$work/gpt" 2
expect_error "--init a GPT with a BERT fine-tuning config" 'frozen.json: train.objective: a setting of BERT training, not of GPT' -- "$tfm" train --config "$work/frozen.json" --init "$work/gpt" --data "$work/kind" --out "$work/e8"
expect_error "--init on resume" '--resume continues with the saved .*weights' -- "$tfm" train --resume "$work/seq" --init "$work/pre/best"
sed 's/"eval_batches": 1/"eval_batches": 1, "freeze_steps": 3/' "$work/nsp.json" > "$work/freeze.json"
expect_error "freeze_steps in pre-training" 'train.freeze_steps: .*0 unless fine-tuning' -- "$tfm" train --config "$work/freeze.json" --data "$work/text.txt" --tokenizer "$work/vocab.txt" --out "$work/e9"
expect_error "classify a pre-trained BERT" 'not a classifier' -- "$tfm" classify --model "$work/pre/best" --input "$work/lines.txt"
printf 'a\tb\tc\n' > "$work/three.txt"
expect_error "classify three texts" 'line 1: more than two tab-separated texts' -- "$tfm" classify --model "$work/seq/best" --input "$work/three.txt"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
