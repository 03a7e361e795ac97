"""GPT-2 in Hugging Face layout, both ways (issue 15 item 1): tfm runs what transformers saved, transformers runs what tfm
saved, on the same inputs; tfm in float32, transformers in float64 on the very same weights.

Cases:
  hf_saved_small    a random GPT2LMHeadModel (vocab 300, 64 wide, 2 layers, 256 positions) saved by save_pretrained:
                    tfm (tests/tools/gpt_parity) loads the directory as it is; logits, the loss and every gradient
                    against GPT2LMHeadModel's, and 200 greedy tokens against GPT2LMHeadModel.generate(do_sample=False)
  hf_saved_wide     the same with GPT-2's own 124M proportions scaled down (vocab 1000, 192 wide, 3 heads of 64, 3 layers)
  hf_saved_penalty  hf_saved_small's shape, greedy with repetition penalty 1.3: transformers' RepetitionPenaltyLogitsProcessor vs tfm's sampler
  tfm_saved         a model `tfm init` wrote (the built-in tiny GPT), matrices scaled and saved by tfm_gpt_save:
                    GPT2LMHeadModel.from_pretrained loads what tfm wrote; logits, gradients and 100 greedy tokens

Tolerances: logits max abs 1e-4, loss 1e-4, gradients 1e-3 of each tensor's largest; greedy tokens identical, except
after a step where the reference's best two logits are within 1e-4 (a tie float32 may break either way).
A missing transformers or tool is a failure, never a skip.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import import_references  # noqa: E402

np, torch, transformers = import_references("numpy", "torch", "transformers")

from torch_reference import harness, safetensors_io  # noqa: E402
from torch_reference.gpt import give_teeth  # noqa: E402

LOGITS_TOL = 1e-4
LOSS_TOL = 1e-4
GRAD_REL_TOL = 1e-3
TIE_TOL = 1e-4
NEW_TOKENS = 200


def random_hf_model(vocab, width, heads, layers, seed):
    """A GPT2LMHeadModel with the parity tests' weights (torch_reference.gpt.give_teeth)."""
    config = transformers.GPT2Config(vocab_size=vocab, n_positions=256, n_embd=width, n_layer=layers, n_head=heads,
                                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=0, eos_token_id=0)
    torch.manual_seed(seed)
    model = transformers.GPT2LMHeadModel(config)
    give_teeth(model)
    with torch.no_grad():  # wide and tied, a token's own embedding would dominate its logits: greedy would repeat it
        model.transformer.wte.weight.mul_(min(1.0, 8.0 / np.sqrt(width)))
    return model.eval()


def write_case(work, tokens, targets, generate, **tool_options):
    safetensors_io.save(os.path.join(work, "inputs.safetensors"),
                        {"tokens": tokens.astype(np.int32), "targets": targets.astype(np.int32)})
    with open(os.path.join(work, "parity.json"), "w") as f:
        json.dump({"steps": 0, "generate": generate, **tool_options}, f)


def inputs_for(vocab, seed, B=2, T=16):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, size=(B, T))
    targets = rng.integers(0, vocab, size=(B, T))
    targets[rng.random((B, T)) < 0.2] = -100
    return tokens, targets


def reference(model, tokens, targets, new_tokens, repetition_penalty=1.0):
    """float64: logits, the mean cross-entropy over the non-ignored targets, every gradient, new_tokens greedy tokens from
    row 0 (with transformers' repetition penalty when given) and the margins (best minus second-best of the scores greedy
    chose from) along that path."""
    ref = model.double()
    ref.zero_grad(set_to_none=True)
    logits = ref(input_ids=torch.tensor(tokens)).logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), torch.tensor(targets).reshape(-1),
                                             ignore_index=-100)
    loss.backward()
    out = {"logits": logits.detach().numpy(), "loss": float(loss),
           "grads": {n: p.grad.numpy().copy() for n, p in ref.named_parameters() if p.grad is not None}}
    with torch.no_grad():
        prompt = torch.tensor(tokens[:1])
        result = ref.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new_tokens, do_sample=False,
                              eos_token_id=None, pad_token_id=0, min_new_tokens=new_tokens, repetition_penalty=repetition_penalty,
                              output_scores=True, return_dict_in_generate=True)
        out["greedy"] = result.sequences[0, tokens.shape[1]:].tolist()
        scores = torch.stack([step[0] for step in result.scores])  # [new_tokens, V], after the logits processors
        top = torch.topk(scores, 2, dim=-1).values
        out["margins"] = (top[:, 0] - top[:, 1]).tolist()
    return out


def compare_greedy(case, ref, new_tokens):
    mine = case.get("generated", (new_tokens,))
    if mine is None:
        return
    mine = [int(t) for t in mine]
    if mine == ref["greedy"]:
        distinct = len(set(mine))
        case.check(distinct > 1, f"{new_tokens} greedy tokens identical to transformers' generate ({distinct} distinct ids)")
        return
    first = next(i for i in range(new_tokens) if mine[i] != ref["greedy"][i])
    margin = ref["margins"][first]
    case.check(margin <= TIE_TOL, f"greedy tokens differ from transformers' at step {first} (tfm {mine[first]}, transformers "
                                  f"{ref['greedy'][first]}) where transformers' margin is {margin:.2e}")


def run_hf_saved(case_spec, tool, failures):
    name, (vocab, width, heads, layers) = case_spec["name"], case_spec["shape"]
    work = tempfile.mkdtemp(prefix=f"tfm_gpt_hf_{name}_")
    model = random_hf_model(vocab, width, heads, layers, seed=case_spec["seed"])
    model.save_pretrained(work)  # transformers' own files: config.json, generation_config.json, model.safetensors
    tokens, targets = inputs_for(vocab, case_spec["seed"])
    penalty = case_spec.get("repetition_penalty", 1.0)
    write_case(work, tokens, targets, NEW_TOKENS, repetition_penalty=penalty)
    case = harness.Case(name, work)
    print(f"case {name}: GPT2LMHeadModel V={vocab} C={width} H={heads} L={layers} saved by transformers "
          f"{transformers.__version__} in {work}, greedy with repetition penalty {penalty}")
    if case.run(tool):
        ref = reference(model, tokens, targets, NEW_TOKENS, penalty)
        case.compare_forward_backward(ref, LOGITS_TOL, LOSS_TOL, GRAD_REL_TOL, require_nonzero_grads=True)
        compare_greedy(case, ref, NEW_TOKENS)
    case.finish(failures)


def run_tfm_saved(case_spec, tool, failures):
    """tfm's writer: `tfm init` makes the built-in tiny GPT; the tool scales its matrices (GPT-2's 0.02 start predicts
    nearly uniformly, which would hide a wrong layout) and writes it back with tfm_gpt_save into DIR/saved; transformers
    loads that directory."""
    name = case_spec["name"]
    work = tempfile.mkdtemp(prefix=f"tfm_gpt_hf_{name}_")
    saved = os.path.join(work, "saved")
    tfm = os.environ.get("TFM_BIN")
    case = harness.Case(name, work)
    print(f"case {name}: `tfm init`, saved again by tfm_gpt_save, read by GPT2LMHeadModel.from_pretrained, in {work}")
    if not case.check(bool(tfm), "TFM_BIN points at the tfm binary"):
        case.finish(failures)
        return
    config_path = os.path.join(work, "train.json")  # the built-in tiny GPT without dropout: the tool runs in training mode
    with open(config_path, "w") as f:
        json.dump({"model": {"dropout": 0.0, "attention_dropout": 0.0, "embedding_dropout": 0.0, **case_spec.get("model", {})}}, f)
    proc = subprocess.run([tfm, "init", "--config", config_path, "--out", work, "--seed", "11", "--force"], capture_output=True,
                          text=True)
    if not case.check(proc.returncode == 0, f"tfm init: exit {proc.returncode} {proc.stderr.strip()[-500:]}"):
        case.finish(failures)
        return
    with open(os.path.join(work, "config.json")) as f:
        vocab = json.load(f)["vocab_size"]
    tokens, targets = inputs_for(vocab, case_spec["seed"])
    write_case(work, tokens, targets, case_spec["generate"], save_to=saved, scale_matrices=case_spec.get("scale", 8.0))
    if case.run(tool):
        model = transformers.GPT2LMHeadModel.from_pretrained(saved).eval()
        ref = reference(model, tokens, targets, case_spec["generate"])
        case.compare_forward_backward(ref, LOGITS_TOL, LOSS_TOL, GRAD_REL_TOL, require_nonzero_grads=True)
        compare_greedy(case, ref, case_spec["generate"])
    case.finish(failures)


CASES = [dict(name="hf_saved_small", shape=(300, 64, 4, 2), seed=3, run=run_hf_saved),
         dict(name="hf_saved_wide", shape=(1000, 192, 3, 3), seed=4, run=run_hf_saved),
         # transformers' RepetitionPenaltyLogitsProcessor against tfm's sampler, on the tokens both chose so far
         dict(name="hf_saved_penalty", shape=(300, 64, 4, 2), seed=6, repetition_penalty=1.3, run=run_hf_saved),
         dict(name="tfm_saved", seed=5, generate=100, run=run_tfm_saved)]  # the tiny GPT's context is 128


# GPT-2 124M's shape both ways: too slow for the suite (float64 gradients of 124M parameters), run by
# bench/run-gpt-hf-124m.sh as `test_gpt_hf.py --124m`. Wider matrices need a smaller scale to stay out of saturation.
GPT2_124M = {"vocab_size": 50257, "context_length": 1024, "d_model": 768, "n_layers": 12, "n_heads": 12, "d_ff": 3072}
BENCH_CASES = [dict(name="hf_saved_124m", shape=(50257, 768, 12, 12), seed=7, run=run_hf_saved),
               dict(name="tfm_saved_124m", seed=8, generate=200, model=GPT2_124M, scale=3.0, run=run_tfm_saved)]


def main():
    cases = BENCH_CASES if "--124m" in sys.argv[1:] else CASES
    return harness.main(cases, lambda case, tool, failures: case["run"](case, tool, failures), "GPT_PARITY_TOOL", "gpt_parity")


if __name__ == "__main__":
    sys.exit(main())
