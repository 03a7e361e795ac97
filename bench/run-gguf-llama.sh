#!/usr/bin/env bash
# GGUF files from `tfm export` in llama.cpp itself (issue 15 item 5, the part that needs llama.cpp): llama-cpp-python
# 0.3.36, built from PyPI's source into its own environment (.venv-llama; the first run compiles llama.cpp, ~10 min),
# loads tfm's f32, f16 and q8_0 exports of a GPT trained on a BPE; at f32 its greedy tokens must equal tfm's.
#   bench/run-gguf-llama.sh [MODEL_DIR]   a GPT run or model directory (default: a small one trained here)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_setup run-gguf-llama.sh json tfm_cli gpt_parity
llama_venv=$repo/.venv-llama
if ! "$llama_venv/bin/python" -c "import llama_cpp" 2>/dev/null; then
  python3 -m venv "$llama_venv"
  CMAKE_ARGS="-DGGML_NATIVE=ON -DLLAMA_CURL=OFF" "$llama_venv/bin/pip" install --no-input -q --no-binary llama-cpp-python \
    llama-cpp-python==0.3.36 numpy || die "could not build llama-cpp-python 0.3.36 from source"
fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
model=${1:-}
if [ -z "$model" ]; then
  cat "$repo"/src/*/*.c > "$work/data.txt"
  "$build/tfm" tokenizer train --input "$work/data.txt" --output "$work/tok.json" --vocab-size 1024 --special "<|endoftext|>" >&2
  echo '{"model": {"context_length": 256, "d_model": 128, "n_layers": 4, "n_heads": 4, "d_ff": 512},
         "train": {"batch_size": 16, "seq_len": 128, "max_steps": 400, "learning_rate": 0.003, "eval_every": 400}}' > "$work/config.json"
  "$build/tfm" train --config "$work/config.json" --data "$work/data.txt" --tokenizer "$work/tok.json" --out "$work/run" > /dev/null
  model=$work/run/best
fi
for type in f32 f16 q8_0; do "$build/tfm" export --model "$model" --type $type --out "$work/model-$type.gguf"; done
prompt="static tfm_status"
"$build/tfm" generate --model "$model" --prompt "$prompt" --temperature 0 --max-tokens 64 > "$work/tfm.txt"
exec "$llama_venv/bin/python" - "$work" "$prompt" <<'PY'
import sys, llama_cpp
work, prompt = sys.argv[1], sys.argv[2]
tfm_text = open(f"{work}/tfm.txt", encoding="utf-8", errors="replace").read().rstrip("\n")
print(f"llama-cpp-python {llama_cpp.__version__}; tfm greedy: {tfm_text[len(prompt):][:80]!r}")
ok = True
for kind in ("f32", "f16", "q8_0"):
    llm = llama_cpp.Llama(model_path=f"{work}/model-{kind}.gguf", n_ctx=256, n_threads=2, verbose=False)
    ids = llm.tokenize(prompt.encode(), add_bos=False)
    out = []
    for token in llm.generate(ids, top_k=1, temp=0.0, repeat_penalty=1.0):
        if len(out) == 64:
            break
        out.append(token)
    text = prompt + llm.detokenize(out).decode("utf-8", errors="replace")
    same = text == tfm_text
    print(f"{kind}: {'identical to tfm' if same else 'differs from tfm'}: {text[len(prompt):][:80]!r}")
    ok = ok and (same or kind != "f32")
sys.exit(0 if ok else 1)
PY
