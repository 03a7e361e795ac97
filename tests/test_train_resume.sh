#!/usr/bin/env bash
# tests/test_train_resume.sh: a run stopped and resumed produces bit-identical losses to an uninterrupted run
# (optimizer moments, step, data position and dropout stream all restored), and progress/summary lines appear.
set -euo pipefail
tfm=${TFM_BIN:?TFM_BIN must point at the tfm binary}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
# Real text: this repository's own sources are UTF-8 text.
cat "$TFM_SOURCE"/src/*/*.c > "$work/data.txt"
cat > "$work/config.json" <<'JSON'
{"model": {"vocab_size": 256, "context_length": 32, "d_model": 32, "n_layers": 2, "n_heads": 4, "d_ff": 64, "dropout": 0.1},
 "train": {"batch_size": 4, "seq_len": 32, "max_steps": 12, "learning_rate": 0.003, "warmup_steps": 3, "eval_every": 0,
           "save_every": 0, "log_every": 4, "grad_accum_steps": 2}}
JSON
"$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/full" --threads 2 > "$work/full.out" 2> "$work/full.err"
grep -q '^step  *12/12 | loss' "$work/full.err" || { echo "no progress line"; cat "$work/full.err"; exit 1; }
grep -q '^{"model":"gpt","steps":12,' "$work/full.out" || { echo "no summary line"; cat "$work/full.out"; exit 1; }
"$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/split" --stop-after 5 --threads 2 2> /dev/null > /dev/null
"$tfm" train --resume "$work/split" --threads 2 2> "$work/resume.err" > /dev/null
grep -q 'resuming from step 5' "$work/resume.err" || { echo "resume did not start at step 5"; cat "$work/resume.err"; exit 1; }
# The step lines without their wall clock.
losses() { grep '"loss"' "$1" | sed 's/,"wall_seconds":[0-9.]*//'; }
losses "$work/full/log.jsonl" > "$work/a"
losses "$work/split/log.jsonl" > "$work/b"
[ "$(wc -l < "$work/a")" = 12 ] || { echo "expected 12 logged steps"; cat "$work/a"; exit 1; }
if ! diff "$work/a" "$work/b"; then echo "FAILED: resumed losses differ from the uninterrupted run"; exit 1; fi
# The same for an optimizer with three state slabs (RMSprop's momentum buffer) under the plateau schedule, whose
# record of validations (best, bad count, cooldown, reductions) must come back too: threshold 0.5 makes nearly
# every validation a plateau, so the rate falls at most validations, including those after the resume.
sed 's/"eval_every": 0,/"eval_every": 2, "optimizer": "rmsprop", "momentum": 0.5, "schedule": "plateau", "plateau_patience": 0, "plateau_threshold": 0.5, "plateau_factor": 0.5, "plateau_cooldown": 1, "eval_batches": 2,/' \
  "$work/config.json" > "$work/plateau.json"
"$tfm" train --config "$work/plateau.json" --data "$work/data.txt" --out "$work/pfull" --threads 2 > /dev/null 2> "$work/pfull.err" \
  || { echo "FAILED: rmsprop + plateau run: $(tail -3 "$work/pfull.err")"; exit 1; }
"$tfm" train --config "$work/plateau.json" --data "$work/data.txt" --out "$work/psplit" --stop-after 5 --threads 2 > /dev/null 2>&1
"$tfm" train --resume "$work/psplit" --threads 2 > /dev/null 2> "$work/presume.err" || { echo "FAILED: resume: $(tail -3 "$work/presume.err")"; exit 1; }
losses "$work/pfull/log.jsonl" > "$work/pa"
losses "$work/psplit/log.jsonl" > "$work/pb"
if ! diff "$work/pa" "$work/pb"; then echo "FAILED: rmsprop + plateau: resumed losses or rates differ from the uninterrupted run"; exit 1; fi
rates=$(grep -o '"lr":[0-9.e+-]*' "$work/pa" | sort -u | wc -l)
late=$(sed -n '7,12p' "$work/pa" | grep -o '"lr":[0-9.e+-]*' | sort -u | wc -l)
[ "$rates" -ge 4 ] && [ "$late" -ge 2 ] || { echo "FAILED: the plateau schedule reduced the rate too rarely ($rates rates, $late after step 6)"; cat "$work/pa"; exit 1; }
# A different thread count must not change the trajectory of a fresh run either (deterministic kernels).
"$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/one" --threads 1 2> /dev/null > /dev/null
losses "$work/one/log.jsonl" > "$work/c"
if ! diff "$work/a" "$work/c" > /dev/null; then echo "note: 1-thread losses differ in the last bits from 2-thread ones"; fi
# The loss must fall on this data within 12 steps.
first=$(head -1 "$work/a" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/'); last=$(tail -1 "$work/a" | sed 's/.*"loss":\([0-9.e+-]*\).*/\1/')
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a) }' || { echo "loss did not fall: $first -> $last"; exit 1; }
# Warm-up generations (benchmarks) leave the shown one unchanged: same bytes with and without, sampling on.
"$tfm" generate --model "$work/full" --prompt "ab" --max-tokens 40 --temperature 0.9 --top-k 5 --seed 3 > "$work/g0" 2> /dev/null
"$tfm" generate --model "$work/full" --prompt "ab" --max-tokens 40 --temperature 0.9 --top-k 5 --seed 3 --warmup 2 --stats > "$work/g2" 2> "$work/g2.err"
cmp -s "$work/g0" "$work/g2" || { echo "FAILED: --warmup changed the generated text"; exit 1; }
grep -q '"new_tokens":40,' "$work/g2.err" || { echo "FAILED: --stats summary after warm-up: $(cat "$work/g2.err")"; exit 1; }
# Ctrl-C (SIGINT) finishes the step, saves a resumable checkpoint and exits 0 with stop_reason "requested".
"$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/interrupted" --max-steps 100000000 --threads 2 \
  > "$work/int.out" 2> "$work/int.err" &
pid=$!
for _ in $(seq 1 100); do [ -s "$work/interrupted/log.jsonl" ] && break; sleep 0.05; done
kill -INT "$pid"
wait "$pid" || { echo "FAILED: an interrupted run exits non-zero: $(tail -2 "$work/int.err")"; exit 1; }
grep -q '"stop_reason":"requested"' "$work/int.out" || { echo "FAILED: no stop_reason requested: $(cat "$work/int.out")"; exit 1; }
grep -q 'stopped on request' "$work/int.err" || { echo "FAILED: no message about the stop: $(tail -2 "$work/int.err")"; exit 1; }
"$tfm" train --resume "$work/interrupted" --stop-after "$(( $(grep -o '"final_step":[0-9]*' "$work/int.out" | cut -d: -f2) + 2 ))" \
  --threads 2 > /dev/null 2> "$work/int2.err" || { echo "FAILED: the interrupted run does not resume: $(tail -2 "$work/int2.err")"; exit 1; }
# A resumed run drops log lines after its checkpoint: each step once. A new run moves an old log aside.
steps=$(grep -c '"loss"' "$work/interrupted/log.jsonl"); unique=$(grep -o '"step":[0-9]*,"loss"' "$work/interrupted/log.jsonl" | sort -u | wc -l)
[ "$steps" = "$unique" ] || { echo "FAILED: log.jsonl repeats steps after a resume ($steps lines, $unique steps)"; exit 1; }
mkdir -p "$work/oldlog" && echo '{"step":1,"loss":9}' > "$work/oldlog/log.jsonl"
"$tfm" train --config "$work/config.json" --data "$work/data.txt" --out "$work/oldlog" --max-steps 2 > /dev/null 2>&1
[ "$(head -c 19 "$work/oldlog/log.jsonl.1")" = '{"step":1,"loss":9}' ] && ! grep -q '"loss":9}' "$work/oldlog/log.jsonl" \
  || { echo "FAILED: a new run appended to an old log.jsonl instead of moving it aside"; exit 1; }
# Extending a run under the cosine schedule says how the learning rate changes.
cp -r "$work/full" "$work/extended"
"$tfm" train --resume "$work/extended" --max-steps 20 --threads 2 > /dev/null 2> "$work/extend.err"
grep -q 're-plans the cosine schedule' "$work/extend.err" || { echo "FAILED: no word about the schedule change: $(head -3 "$work/extend.err")"; exit 1; }
# tfm average works for GPT checkpoints too: the mean of a checkpoint with itself is that checkpoint.
"$tfm" average --out "$work/avg" "$work/full" "$work/split" 2> "$work/avg.err" || { echo "FAILED: tfm average on GPT: $(cat "$work/avg.err")"; exit 1; }
tensors() { tail -c +$(( $(od -An -t u8 -N8 "$1" | tr -d ' ') + 9 )) "$1"; }
cmp -s <(tensors "$work/avg/model.safetensors") <(tensors "$work/full/current/model.safetensors") \
  || { echo "FAILED: the average of two identical GPT checkpoints differs from them"; exit 1; }
"$tfm" generate --model "$work/avg" --prompt "ab" --max-tokens 5 > /dev/null 2>&1 || { echo "FAILED: the averaged GPT does not load"; exit 1; }
echo "1 passed, 0 failed"
