"""Parity of tfm's GPT (fp32) with the PyTorch reference (fp64): logits, loss, every gradient, and 10 AdamW steps.

For each case this writes a checkpoint directory (model.safetensors + config.json from tests/torch_reference),
inputs.safetensors ("tokens", "targets" with some -100 = ignored) and parity.json, runs
$TFM_BUILD/tests/tools/gpt_parity DIR, reads DIR/actual.safetensors and compares with the reference computed in
float64 from the very same fp32 weights (so the figures measure tfm's error, not torch's).

Tolerances:
  logits       max |tfm - ref| <= 1e-4 (absolute)
  loss         |tfm - ref| <= 1e-4
  gradients    per tensor, relative error = max|tfm - ref| / max(max|ref|, 1e-4 max over all tensors, 1e-6) <= 1e-3
               (normalised by the tensor's largest reference gradient, so near-zero elements cannot blow it up, and
               at least 1e-4 of the model's: under BatchNorm the biases just before it have a gradient of exactly 0)
  step losses  max |tfm - ref| over the 10 pre-step losses <= 1e-4

A missing torch/numpy or gpt_parity tool is a failure, never a skip.
Set GPT_PARITY_TOOL to run another implementation of the tool (for developing this test).
"""
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import import_references  # noqa: E402

np, torch = import_references("numpy", "torch")  # missing: the test fails and names the set-up command

from torch_reference import checkpoint, harness, safetensors_io
from torch_reference.gpt import GPT, GPTConfig, give_teeth

LOGITS_TOL = 1e-4
LOSS_TOL = 1e-4
GRAD_REL_TOL = 1e-3
STEP_LOSS_TOL = 1e-4

# The variants' optimizer run: 5 AdamW steps with weight decay and clipping.
FIVE_STEPS = dict(steps=5, learning_rate=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.1, grad_clip=1.0)

CASES = [
    # A non-power-of-two vocabulary, T below the context length, weight decay, and gradient clipping that triggers.
    dict(name="v97_t16_clip",
         config=GPTConfig(vocab_size=97, n_positions=24, n_embd=32, n_layer=2, n_head=4),
         batch=3, seq_len=16, seed=1234,
         parity=dict(steps=10, learning_rate=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, weight_decay=0.5, grad_clip=0.5)),
    # The byte vocabulary, T = the full context length, a non-default FFN width, no clipping.
    dict(name="v256_full_context",
         config=GPTConfig(vocab_size=256, n_positions=32, n_embd=48, n_layer=2, n_head=3, n_inner=80),
         batch=2, seq_len=32, seed=99,
         parity=dict(steps=10, learning_rate=1e-3, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.05, grad_clip=0.0)),
    # Other FFN activations of the config: SiLU (transformers' name in config.json) and SELU (tfm's own name).
    dict(name="v97_silu",
         config=GPTConfig(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4, activation_function="silu"),
         batch=2, seq_len=16, seed=7,
         parity=FIVE_STEPS),
    # The other norms of model.norm: RMSNorm, and BatchNorm over every position (training statistics, running ones
    # updated each step).
    dict(name="v97_rmsnorm",
         config=GPTConfig(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4, norm="rmsnorm"),
         batch=2, seq_len=16, seed=9,
         parity=FIVE_STEPS),
    dict(name="v97_batchnorm",
         config=GPTConfig(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4, norm="batchnorm"),
         batch=2, seq_len=16, seed=10,
         parity=FIVE_STEPS),
    # Rotary positions (no wpe): transformers' LlamaRotaryEmbedding + apply_rotary_pos_emb in the reference.
    dict(name="v97_rope",
         config=GPTConfig(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4, positions="rope"),
         batch=2, seq_len=16, seed=11,
         parity=FIVE_STEPS),
    # ALiBi (no wpe): linear biases with the authors' slopes; 3 heads, not a power of two.
    dict(name="v97_alibi",
         config=GPTConfig(vocab_size=97, n_positions=16, n_embd=36, n_layer=2, n_head=3, positions="alibi"),
         batch=2, seq_len=16, seed=12,
         parity=FIVE_STEPS),
    # The paper's fixed sinusoidal table added to the token embeddings (no wpe).
    dict(name="v97_sinusoidal",
         config=GPTConfig(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4, positions="sinusoidal"),
         batch=2, seq_len=16, seed=13,
         parity=FIVE_STEPS),
    # Shaw et al.'s relative positions, clipped at 3 (distances up to 15 occur): Shaw's equations written in torch.
    dict(name="v97_relative",
         config=GPTConfig(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4, positions="relative",
                          relative_clip=3),
         batch=2, seq_len=16, seed=14,
         parity=FIVE_STEPS),
    # PReLU in the FFN (tfm's FFN-only choice): one learned slope per layer.
    dict(name="v97_prelu",
         config=GPTConfig(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4, activation_function="prelu"),
         batch=2, seq_len=16, seed=15,
         parity=FIVE_STEPS),
    dict(name="v97_selu",
         config=GPTConfig(vocab_size=97, n_positions=16, n_embd=32, n_layer=2, n_head=4, activation_function="selu"),
         batch=2, seq_len=16, seed=8,
         parity=FIVE_STEPS),
]


def build_model(config, seed):
    """The reference GPT with weights that give the test teeth (torch_reference.gpt.give_teeth)."""
    torch.manual_seed(seed)
    return give_teeth(GPT(config))


def make_inputs(config, batch, seq_len, seed):
    g = torch.Generator().manual_seed(seed + 1)
    tokens = torch.randint(0, config.vocab_size, (batch, seq_len), generator=g, dtype=torch.int32)
    targets = torch.randint(0, config.vocab_size, (batch, seq_len), generator=g, dtype=torch.int32)
    ignore = torch.rand(batch, seq_len, generator=g) < 0.2
    ignore[0, 0] = True      # at least one ignored position, whatever the draw
    ignore[:, -1] = False    # and a valid last position in every row
    targets[ignore] = -100
    return tokens, targets


def reference(model32, tokens, targets, parity):
    """fp64 reference: logits, loss and gradients at the initial weights, and the losses before each AdamW step."""
    model = GPT(model32.config).double()
    model.load_state_dict(model32.state_dict())  # exact fp32 values, widened
    model.train()  # dropout is 0 in these configs, so train mode is deterministic
    opt = model.make_optimizer(parity["learning_rate"], (parity["beta1"], parity["beta2"]), parity["eps"],
                               parity["weight_decay"])
    tokens, targets = tokens.long(), targets.long()
    out = {"step_losses": [], "grad_norms": []}
    for step in range(parity["steps"]):
        opt.zero_grad(set_to_none=True)
        logits, loss = model(tokens, targets)
        loss.backward()
        if step == 0:
            out["logits"] = logits.detach().numpy()
            out["loss"] = float(loss)
            out["grads"] = {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()}
        norm = math.sqrt(sum(float((p.grad ** 2).sum()) for p in model.parameters()))
        out["grad_norms"].append(norm)
        if parity["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), parity["grad_clip"])
        out["step_losses"].append(float(loss))
        opt.step()
    return out


def run_case(case, tool, failures):
    name, config = case["name"], case["config"]
    model = build_model(config, case["seed"])
    tokens, targets = make_inputs(config, case["batch"], case["seq_len"], case["seed"])
    work = tempfile.mkdtemp(prefix=f"tfm_parity_{name}_")
    checkpoint.save_checkpoint(work, model)
    safetensors_io.save(os.path.join(work, "inputs.safetensors"),
                        {"tokens": tokens.numpy(), "targets": targets.numpy()})
    with open(os.path.join(work, "parity.json"), "w") as f:
        json.dump(case["parity"], f, indent=2)

    ref = reference(model, tokens, targets, case["parity"])
    c = harness.Case(name, work)
    print(f"case {name}: V={config.vocab_size} Tmax={config.n_positions} C={config.n_embd} L={config.n_layer} "
          f"H={config.n_head} F={config.d_ff} B={case['batch']} T={case['seq_len']} "
          f"ignored={int((targets == -100).sum())}/{targets.numel()} dir={work}")
    if case["parity"]["grad_clip"] > 0:
        clipped = sum(n > case["parity"]["grad_clip"] for n in ref["grad_norms"])
        print(f"  reference grad norms {ref['grad_norms'][0]:.4f} .. {ref['grad_norms'][-1]:.4f}; "
              f"clipping active in {clipped}/{len(ref['grad_norms'])} steps")
        c.check(clipped > 0, "gradient clipping is exercised by this case")
    if c.run(tool):
        c.compare_forward_backward(ref, LOGITS_TOL, LOSS_TOL, GRAD_REL_TOL)
        # The optimizer must actually move the loss, or the step comparison proves nothing.
        c.compare_steps(ref["step_losses"], STEP_LOSS_TOL, "AdamW steps", 1e-3)
    c.finish(failures)


def main():
    return harness.main(CASES, run_case, "GPT_PARITY_TOOL", "gpt_parity")


if __name__ == "__main__":
    sys.exit(main())
