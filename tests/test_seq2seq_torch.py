"""Parity of tfm's encoder-decoder (fp32) with torch.nn.Transformer + embeddings/positions/output layer (fp64 reference).

For each case this writes a checkpoint directory (model.safetensors with nn.Transformer's state_dict names + config.json),
inputs.safetensors (right-padded sources and targets with their lengths) and parity.json, runs
$TFM_BUILD/tests/tools/seq2seq_parity DIR, reads DIR/actual.safetensors and compares with the reference computed in float64
from the very same fp32 weights (so the figures measure tfm's error, not torch's).

Tolerances:
  logits       max |tfm - ref| <= 1e-4 (absolute), over every position (padded ones included: both mask them alike)
  loss         |tfm - ref| <= 1e-4 (label smoothing 0.1, padding ignored)
  gradients    per tensor, max|tfm - ref| / max(max|ref|, 1e-6) <= 1e-3
  step losses  10 Adam steps (0.9, 0.98, 1e-9) with the paper's warm-up schedule: max |tfm - ref| <= 1e-4
  greedy       before and after the 10 steps, tfm's cached greedy tokens equal the reference's uncached greedy search, except after a step where the
               reference's best two logits are within 1e-4 (a tie that fp32 may break either way)

A missing torch/numpy or seq2seq_parity tool is a failure, never a skip.
Set SEQ2SEQ_PARITY_TOOL to run another implementation of the tool.
"""
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import import_references  # noqa: E402

np, torch = import_references("numpy", "torch")  # missing: the test fails and names the set-up command

from torch_reference import harness, safetensors_io
from torch_reference.seq2seq import Seq2Seq, Seq2SeqConfig, save_checkpoint

LOGITS_TOL = 1e-4
LOSS_TOL = 1e-4
GRAD_REL_TOL = 1e-3
STEP_LOSS_TOL = 1e-4
TIE_TOL = 1e-4

PARITY = dict(steps=10, label_smoothing=0.1, lr_factor=0.5, warmup_steps=4, beta1=0.9, beta2=0.98, eps=1e-9,
              greedy_max_length_b=12)

def small_case(name, seed, batch=3, **settings):
    """A two-layer model (32 wide, 4 heads, F 48, post-LN) over 53 ids with `settings` changed: B 3, S 11, T 9."""
    config = dict(vocab_size=53, max_source_length=16, max_target_length=14, d_model=32, n_encoder_layers=2,
                  n_decoder_layers=2, n_heads=4, d_ff=48, pre_layernorm=False)
    config.update(settings)
    return dict(name=name, config=Seq2SeqConfig(**config), batch=batch, source_length=11, target_length=9, seed=seed)


CASES = [
    # The paper's set-up: post-LN, ReLU, shared embeddings, sinusoidal positions scaled by sqrt(d_model).
    dict(name="post_ln_shared_sinusoidal",
         config=Seq2SeqConfig(vocab_size=53, max_source_length=16, max_target_length=14, d_model=32, n_encoder_layers=2,
                              n_decoder_layers=2, n_heads=4, d_ff=48, pre_layernorm=False, activation="relu",
                              positions="sinusoidal", scale_embeddings=True, share_embeddings=True),
         batch=3, source_length=11, target_length=9, seed=7),
    # Every other switch: pre-LN, tanh GELU, separate tables, learned positions, no scaling, 3 decoder layers,
    # an odd number of heads, eos used as the decoder start (bos == eos).
    dict(name="pre_ln_separate_learned",
         config=Seq2SeqConfig(vocab_size=61, max_source_length=12, max_target_length=16, d_model=36, n_encoder_layers=2,
                              n_decoder_layers=3, n_heads=3, d_ff=40, pre_layernorm=True, activation="gelu",
                              positions="learned", scale_embeddings=False, share_embeddings=False,
                              pad_id=1, bos_id=2, eos_id=2),
         batch=4, source_length=12, target_length=10, seed=11),
    # The toolbox's choices (model.norm, model.positions), each in encoder and decoder self-attention:
    # RMSNorm with rotary positions (transformers' Llama rotary code path in the reference),
    small_case("pre_ln_rmsnorm_rope", 21, pre_layernorm=True, norm="rmsnorm", positions="rope"),
    # BatchNorm over the real tokens (padding excluded from the statistics) with ALiBi over 3 heads (symmetric in the
    # encoder, causal in the decoder),
    small_case("post_ln_batchnorm_alibi", 22, batch=4, d_model=36, n_heads=3, norm="batchnorm", positions="alibi"),
    # and Shaw et al.'s relative positions clipped at 3.
    small_case("post_ln_relative", 23, positions="relative", relative_clip=3),
    # The attention layer's other scores, in every attention (self and cross): Luong's general with rotary positions,
    # Bahdanau's additive (width 6) with learned positions, and the unscaled dot product.
    small_case("pre_ln_general_rope", 24, pre_layernorm=True, positions="rope", attention_score="general"),
    small_case("post_ln_additive_learned", 25, positions="learned", attention_score="additive", score_width=6),
    small_case("pre_ln_dot", 26, pre_layernorm=True, attention_score="dot"),
    # PReLU in the FFN: one learned slope per layer.
    small_case("pre_ln_prelu", 27, pre_layernorm=True, activation="prelu"),
    # The paper's post-LN without torch's final norms (Marian's layout).
    small_case("post_ln_no_final_norm", 28, final_norm=False),
    small_case("zero_start_embedding", 29, final_norm=False, zero_start_embedding=True),
]


def build_model(config, seed):
    """Weights larger than the usual initialisation so the test has teeth: attention is far from uniform (a missing
    1/sqrt(hd), a wrong mask or swapped q/k rows change the logits well past the tolerance), ReLU/GELU inputs are O(1),
    and LayerNorm gains/biases and all biases are moved away from 1/0 so their use and gradients are tested."""
    torch.manual_seed(seed)
    model = Seq2Seq(config)
    C, F_ = config.d_model, config.d_ff
    # The unscaled dot product's scores would be sqrt(D) times larger: its queries and keys are D^(1/4) smaller, so
    # that the 10 steps below stay out of the chaotic regime where torch's own float32 leaves its float64 (2e-2)
    unscaled = (C // config.n_heads) ** -0.25 if config.attention_score == "dot" else 1.0
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".norm" in name or name.startswith(("encoder.norm", "decoder.norm")):
                p.add_(0.1 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.normal_(0.0, 0.05)
            elif name.endswith("score_weight"):  # q.(W k) as large as the scaled q.k / sqrt(D)
                p.normal_(0.0, 1.2 / p.shape[1])
            elif name.endswith(("score_query_weight", "score_key_weight")):
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[1]))
            elif name.endswith("activation.weight"):  # PReLU's slope
                p.fill_(0.3)
            elif name.endswith("score_vector"):
                p.normal_(0.0, 1.5)
            elif name.endswith(("self_attn.relative_keys", "self_attn.relative_values")):
                # 0.25, not larger: at 0.5 these 10 steps are chaotic (torch's own float32 run ends 7e-4 from its float64
                # run, as tfm's does), so the step-loss check would measure the trajectory, not tfm
                p.normal_(0.0, 0.25)
            elif "position_embedding" in name:
                p.normal_(0.0, 0.5)
            elif name.endswith("output_projection.weight"):
                p.normal_(0.0, 1.0 / math.sqrt(C))
            elif name.endswith("embedding.weight"):
                p.normal_(0.0, 1.0 / math.sqrt(C) if config.scale_embeddings else 1.0)
            elif name.endswith("in_proj_weight"):
                p.normal_(0.0, 1.2 / math.sqrt(C) * unscaled)
            elif name.endswith("linear1.weight"):
                p.normal_(0.0, 1.5 / math.sqrt(C))
            elif name.endswith("out_proj.weight"):
                p.normal_(0.0, 0.8 / math.sqrt(C))
            elif name.endswith("linear2.weight"):
                p.normal_(0.0, 0.8 / math.sqrt(F_))
            else:
                raise AssertionError(f"build_model: no initialisation rule for {name}")
    return model


def make_inputs(config, batch, source_length, target_length, seed):
    """Right-padded sources and targets; the first sentence is full length, the others shorter (lengths >= 1)."""
    g = torch.Generator().manual_seed(seed + 1)
    specials = {config.pad_id, config.bos_id, config.eos_id}
    normal = torch.tensor([v for v in range(config.vocab_size) if v not in specials])

    def draw(shape):
        return normal[torch.randint(0, len(normal), shape, generator=g)]

    source_lengths = torch.randint(2, source_length + 1, (batch,), generator=g, dtype=torch.int32)
    target_lengths = torch.randint(1, target_length + 1, (batch,), generator=g, dtype=torch.int32)
    source_lengths[0], target_lengths[0] = source_length, target_length
    source_lengths[1], target_lengths[1] = min(3, source_length), 1
    source = draw((batch, source_length))
    body = draw((batch, target_length + 1))
    target_input = torch.full((batch, target_length), config.pad_id, dtype=torch.long)
    target_output = torch.full((batch, target_length), config.pad_id, dtype=torch.long)
    for b in range(batch):
        n, m = int(source_lengths[b]), int(target_lengths[b])
        source[b, n - 1] = config.eos_id
        source[b, n:] = config.pad_id
        # input = BOS y1 .. y_{m-1}; output = y1 .. y_{m-1} EOS
        target_input[b, 0] = config.bos_id
        target_input[b, 1:m] = body[b, :m - 1]
        target_output[b, :m - 1] = body[b, :m - 1]
        target_output[b, m - 1] = config.eos_id
    return dict(source=source, source_lengths=source_lengths.long(), target_input=target_input,
                target_output=target_output, target_lengths=target_lengths.long())


def noam(step, d_model, factor, warmup):
    """The paper's schedule for 1-based step."""
    return factor * d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


def reference(model32, inputs, parity):
    """fp64 reference: logits, loss, gradients at the initial weights, the losses before each Adam step, and the
    greedy outputs (with margins) of the initial and the trained weights."""
    model = Seq2Seq(model32.config).double()
    model.load_state_dict(model32.state_dict())  # exact fp32 values, widened
    model.train()  # dropout is 0; train mode keeps torch off its inference fast path
    C = model32.config.d_model
    opt = torch.optim.Adam(model.parameters(), lr=1.0, betas=(parity["beta1"], parity["beta2"]), eps=parity["eps"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda k: noam(k + 1, C, parity["lr_factor"], parity["warmup_steps"]))
    args = (inputs["source"], inputs["source_lengths"], inputs["target_input"], inputs["target_lengths"],
            inputs["target_output"], parity["label_smoothing"])
    out = {"step_losses": []}
    # As seq2seq_parity: one forward and backward at the given weights (which moves BatchNorm's running statistics
    # once), greedy search, then the Adam steps.
    logits, loss = model(*args)
    loss.backward()
    out["logits"] = logits.detach().numpy()
    out["loss"] = float(loss)
    out["grads"] = {n: p.grad.detach().numpy().copy() for n, p in model.named_parameters()}
    model.eval()  # decoding is inference: BatchNorm's running statistics, as tfm's
    out["greedy_initial"] = model.greedy(inputs["source"], inputs["source_lengths"], 0.0, parity["greedy_max_length_b"])
    out["greedy_initial_margins"] = greedy_margins(model, inputs, out["greedy_initial"])
    model.train()
    for step in range(parity["steps"]):
        opt.zero_grad(set_to_none=True)
        logits, loss = model(*args)
        loss.backward()
        out["step_losses"].append(float(loss))
        opt.step()
        sched.step()
    # Greedy search with the trained weights: after fitting this batch the model emits EOS, so stopping is exercised.
    model.eval()
    out["greedy_trained"] = model.greedy(inputs["source"], inputs["source_lengths"], 0.0, parity["greedy_max_length_b"])
    out["greedy_trained_margins"] = greedy_margins(model, inputs, out["greedy_trained"])
    return out


@torch.no_grad()
def greedy_margins(model, inputs, hypotheses):
    """For each sentence and step of the reference's greedy output: best minus second-best allowed logit."""
    c = model.config
    margins = []
    for b, hyp in enumerate(hypotheses):
        n = int(inputs["source_lengths"][b])
        memory, src_pad = model.encode(inputs["source"][b:b + 1, :n], inputs["source_lengths"][b:b + 1])
        logits = model.decode(memory, src_pad, torch.tensor([[c.bos_id] + hyp]))[0].clone()
        logits[:, c.pad_id] = -math.inf
        if c.bos_id != c.eos_id:
            logits[:, c.bos_id] = -math.inf
        top = torch.topk(logits, 2, dim=-1).values
        margins.append((top[:, 0] - top[:, 1]).tolist())
    return margins


def run_case(case, tool, failures):
    name, config = case["name"], case["config"]
    model = build_model(config, case["seed"])
    inputs = make_inputs(config, case["batch"], case["source_length"], case["target_length"], case["seed"])
    work = tempfile.mkdtemp(prefix=f"tfm_seq2seq_parity_{name}_")
    save_checkpoint(work, model)
    safetensors_io.save(os.path.join(work, "inputs.safetensors"),
                        {k: v.to(torch.int32).numpy() for k, v in inputs.items()})
    with open(os.path.join(work, "parity.json"), "w") as f:
        json.dump(PARITY, f, indent=2)

    ref = reference(model, inputs, PARITY)
    c = harness.Case(name, work)
    print(f"case {name}: V={config.vocab_size} C={config.d_model} H={config.n_heads} F={config.d_ff} "
          f"L={config.n_encoder_layers}+{config.n_decoder_layers} pre_ln={config.pre_layernorm} "
          f"B={case['batch']} S={case['source_length']} T={case['target_length']} "
          f"source_lengths={inputs['source_lengths'].tolist()} target_lengths={inputs['target_lengths'].tolist()} dir={work}")
    if not c.run(tool):
        c.finish(failures)
        return
    c.compare_forward_backward(ref, LOGITS_TOL, LOSS_TOL, GRAD_REL_TOL, require_nonzero_grads=True)
    c.compare_steps(ref["step_losses"], STEP_LOSS_TOL, "Adam steps (paper schedule, smoothing 0.1)", 1e-2)
    for which in ("initial", "trained"):
        greedy = c.get("greedy_" + which, (case["batch"], PARITY["greedy_max_length_b"]))
        if greedy is None:
            continue
        agree = 0
        for b, hyp in enumerate(ref["greedy_" + which]):
            mine = [int(t) for t in greedy[b] if t >= 0]
            if mine == hyp:
                agree += 1
                continue
            first = next((i for i in range(min(len(mine), len(hyp))) if mine[i] != hyp[i]), min(len(mine), len(hyp)))
            margin = ref[f"greedy_{which}_margins"][b][first]
            c.check(margin <= TIE_TOL, f"greedy ({which} weights) sentence {b}: tfm {mine} vs reference {hyp} differ at "
                                     f"step {first} where the reference margin is {margin:.2e}")
        lengths = [len(h) for h in ref["greedy_" + which]]
        c.check(True, f"greedy ({which} weights): {agree}/{len(lengths)} sentences identical to the reference "
                    f"(lengths {lengths})")
    c.finish(failures)


def main():
    return harness.main(CASES, run_case, "SEQ2SEQ_PARITY_TOOL", "seq2seq_parity")


if __name__ == "__main__":
    sys.exit(main())
