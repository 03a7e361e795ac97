"""CTranslate2 runs what tfm trained (issue 15 item 4, the GPT half): a GPT trained by `tfm train` on a tfm-trained BPE
is converted by CTranslate2's own converter (ctranslate2.converters.TransformersConverter, what ct2-transformers-converter
runs) from the run's best/ directory, as it is; CTranslate2's greedy generation (float32) must give the same 100 token
ids as tfm's greedy generation (KV cache) from the same prompt, except after a step where transformers' float64 logits
of the same model tie within 1e-4 (test_gpt_hf's rule). A missing ctranslate2 is a failure, never a skip.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import import_references  # noqa: E402

np, torch, transformers, ctranslate2, tokenizers = import_references("numpy", "torch", "transformers", "ctranslate2", "tokenizers")

from torch_reference import harness  # noqa: E402
from test_gpt_hf import TIE_TOL, inputs_for, reference, write_case  # noqa: E402

NEW_TOKENS = 100


def train_gpt(tfm, source, work, case):
    """A small GPT on this repository's C sources with a 400-token BPE; returns the run's best/ directory."""
    data = os.path.join(work, "data.txt")
    with open(data, "w") as f:
        for d in ("src/ops", "src/nn", "src/models"):
            for name in sorted(os.listdir(os.path.join(source, d))):
                f.write(open(os.path.join(source, d, name)).read())
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump({"model": {"context_length": 128, "d_model": 64, "n_layers": 2, "n_heads": 4, "d_ff": 256},
                   "train": {"batch_size": 8, "seq_len": 64, "max_steps": 150, "learning_rate": 0.003, "eval_every": 150}}, f)
    tokenizer = os.path.join(work, "tok.json")
    for args in (["tokenizer", "train", "--input", data, "--output", tokenizer, "--vocab-size", "400", "--special", "<|endoftext|>"],
                 ["train", "--config", config, "--data", data, "--tokenizer", tokenizer, "--out", os.path.join(work, "run")]):
        proc = subprocess.run([tfm] + args, capture_output=True, text=True)
        if not case.check(proc.returncode == 0, f"tfm {args[0]} {args[1]}: exit {proc.returncode} {proc.stderr.strip()[-300:]}"):
            return None
    return os.path.join(work, "run", "best")


def run_case(spec, tool, failures):
    tfm, source = os.environ.get("TFM_BIN"), os.environ.get("TFM_SOURCE")
    work = tempfile.mkdtemp(prefix="tfm_ct2_gpt_")
    case = harness.Case(spec["name"], work)
    print(f"case {spec['name']}: tfm-trained GPT + BPE, converted by ctranslate2 {ctranslate2.__version__}, in {work}")
    best = train_gpt(tfm, source, work, case) if case.check(bool(tfm and source), "TFM_BIN and TFM_SOURCE are set") else None
    if best is None:
        case.finish(failures)
        return
    ct2_dir = os.path.join(work, "ct2")
    ctranslate2.converters.TransformersConverter(best).convert(ct2_dir, quantization="float32", force=True)
    # tfm's greedy ids from the parity tool, on a copy of the model (the tool writes its outputs beside it)
    parity = os.path.join(work, "parity")
    shutil.copytree(best, parity)
    vocab = json.load(open(os.path.join(best, "config.json")))["vocab_size"]
    tokens, targets = inputs_for(vocab, spec["seed"])
    write_case(parity, tokens, targets, NEW_TOKENS)
    ptool = harness.Case(spec["name"], parity)
    if not ptool.run(tool):
        case.check(False, "gpt_parity ran")
        case.finish(failures)
        return
    mine = [int(t) for t in ptool.get("generated", (NEW_TOKENS,))]
    tok = tokenizers.Tokenizer.from_file(os.path.join(best, "tokenizer.json"))
    prompt = [tok.id_to_token(int(i)) for i in tokens[0]]
    generator = ctranslate2.Generator(ct2_dir, device="cpu", compute_type="float32", inter_threads=1, intra_threads=2)
    result = generator.generate_batch([prompt], max_length=NEW_TOKENS, sampling_topk=1, include_prompt_in_result=False,
                                      end_token=[], return_end_token=True)[0]
    theirs = [int(i) for i in result.sequences_ids[0]]
    case.check(len(theirs) == NEW_TOKENS, f"CTranslate2 generated {len(theirs)} tokens (asked {NEW_TOKENS})")
    if mine == theirs:
        case.check(len(set(mine)) > 1, f"{NEW_TOKENS} greedy tokens identical to CTranslate2's ({len(set(mine))} distinct ids)")
    else:
        first = next((i for i in range(min(len(mine), len(theirs))) if mine[i] != theirs[i]), min(len(mine), len(theirs)))
        ref = reference(transformers.GPT2LMHeadModel.from_pretrained(best).eval(), tokens, targets, NEW_TOKENS)
        margin = ref["margins"][first] if first < len(ref["margins"]) else float("inf")
        case.check(margin <= TIE_TOL, f"greedy tokens differ from CTranslate2's at step {first} (tfm {mine[first:first + 3]}, "
                                      f"CTranslate2 {theirs[first:first + 3]}) where transformers' float64 margin is {margin:.2e}")
    case.finish(failures)


CASES = [dict(name="gpt_bpe_greedy", seed=3)]


def main():
    return harness.main(CASES, run_case, "GPT_PARITY_TOOL", "gpt_parity")


if __name__ == "__main__":
    sys.exit(main())
