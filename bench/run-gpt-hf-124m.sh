#!/usr/bin/env bash
# GPT-2 124M's shape in Hugging Face layout, both ways (issue 15 item 1, the part too slow for the suite): a random
# GPT2LMHeadModel(50257, 768, 12 x 12) saved by transformers, run by tfm (logits, loss, every gradient, 200 greedy
# tokens against GPT2LMHeadModel.generate), and a tfm model of that shape saved by tfm_gpt_save, run by transformers.
# The checks are tests/test_gpt_hf.py's (same tolerances: logits 1e-4 abs), on its BENCH_CASES; a few minutes.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bench_setup run-gpt-hf-124m.sh "torch, transformers" tfm_cli gpt_parity
export TFM_BIN=$build/tfm TFM_BUILD=$build HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2
exec "$python" "$repo/tests/test_gpt_hf.py" --124m
