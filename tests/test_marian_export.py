"""Marian both ways (issue 15 item 3): transformers' MarianMTModel runs what `tfm export --format marian` wrote, and tfm
runs a MarianMTModel that transformers saved (random weights; tfm_seq2seq_load reads the directory as it is).

A random encoder-decoder in Marian's shape (post-LN, no final norms, sinusoidal positions, shared embeddings; ReLU and
tanh-GELU cases) is written as a tfm checkpoint (the torch reference's weights, as test_seq2seq_torch does), exported by
`tfm export --format marian`, and loaded with MarianMTModel.from_pretrained. On right-padded batches, Marian's logits
(float64) must equal tfm's own (tests/tools/seq2seq_parity on the checkpoint) within 1e-4 abs, and its greedy
generation must give tfm's greedy tokens. Marian's sinusoids are [sin | cos] halves where tfm's interleave: the export
writes the weights in the permuted basis, which this test would catch. A model Marian cannot hold (pre-LN, final norms)
is refused by name. A missing transformers or tool is a failure, never a skip.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import import_references  # noqa: E402

np, torch, transformers, tokenizers, ctranslate2 = import_references("numpy", "torch", "transformers", "tokenizers", "ctranslate2")

from torch_reference import harness, safetensors_io  # noqa: E402
from torch_reference.seq2seq import save_checkpoint  # noqa: E402
from test_seq2seq_torch import build_model, make_inputs, small_case  # noqa: E402

LOGITS_TOL = 1e-4
PARITY = dict(steps=0, label_smoothing=0.0, lr_factor=0.5, warmup_steps=4, beta1=0.9, beta2=0.98, eps=1e-9, greedy_max_length_b=12)


def marian_logits(marian, inputs, config):
    source, target = inputs["source"], inputs["target_input"]
    S, T = source.shape[1], target.shape[1]
    source_mask = (torch.arange(S)[None, :] < inputs["source_lengths"][:, None]).long()
    target_mask = (torch.arange(T)[None, :] < inputs["target_lengths"][:, None]).long()
    with torch.no_grad():
        out = marian(input_ids=source, attention_mask=source_mask, decoder_input_ids=target, decoder_attention_mask=target_mask)
    return out.logits.numpy(), target_mask.numpy().astype(bool)


def export_and_run(c, work, inputs, tool):
    """inputs and parity settings into the case directory, `tfm export --format marian`, then the parity tool on the
    checkpoint: the exported directory, or None (the failure recorded on c)."""
    safetensors_io.save(os.path.join(work, "inputs.safetensors"), {k: v.to(torch.int32).numpy() for k, v in inputs.items()})
    with open(os.path.join(work, "parity.json"), "w") as f:
        json.dump(PARITY, f)
    exported = os.path.join(work, "marian")
    proc = subprocess.run([os.environ["TFM_BIN"], "export", "--model", work, "--format", "marian", "--out", exported],
                          capture_output=True, text=True)
    ok = c.check(proc.returncode == 0, f"tfm export --format marian: exit {proc.returncode} {proc.stderr.strip()[-300:]}")
    return exported if ok and c.run(tool) else None


def run_case(case, tool, failures):
    name, config = case["name"], case["config"]
    work = tempfile.mkdtemp(prefix=f"tfm_marian_{name}_")
    model = build_model(config, case["seed"])
    inputs = make_inputs(config, case["batch"], case["source_length"], case["target_length"], case["seed"])
    save_checkpoint(work, model)
    c = harness.Case(name, work)
    print(f"case {name}: V={config.vocab_size} C={config.d_model} H={config.n_heads} activation={config.activation} in {work}")
    exported = export_and_run(c, work, inputs, tool)
    if exported is None:
        c.finish(failures)
        return
    marian = transformers.MarianMTModel.from_pretrained(exported).double().eval()
    theirs, real = marian_logits(marian, inputs, config)
    mine = c.get("logits", theirs.shape)
    if mine is not None:
        diff = float(np.abs(mine - theirs)[real].max())
        c.check(diff <= LOGITS_TOL, f"MarianMTModel's logits vs tfm's on the real target positions: max abs diff {diff:.3e} "
                                    f"(tol {LOGITS_TOL:g}; logits up to {float(np.abs(theirs[real]).max()):.2f})")
    greedy = c.get("greedy_initial", (case["batch"], PARITY["greedy_max_length_b"]))
    if greedy is not None:
        source_mask = (torch.arange(inputs["source"].shape[1])[None, :] < inputs["source_lengths"][:, None]).long()
        with torch.no_grad():
            out = marian.generate(input_ids=inputs["source"], attention_mask=source_mask, num_beams=1, do_sample=False,
                                  max_new_tokens=int(greedy.shape[1]), forced_eos_token_id=None)
        ok = 0
        for b in range(out.shape[0]):
            hyp = [int(t) for t in out[b, 1:] if int(t) != config.pad_id]
            want = [int(t) for t in greedy[b] if int(t) >= 0]
            ok += hyp[:len(want)] == want
        c.check(ok == out.shape[0], f"MarianMTModel.generate (greedy): {ok}/{out.shape[0]} sentences identical to tfm's")
    c.finish(failures)


def run_hf_saved(failures, tool):
    """transformers' own directory: a random MarianMTModel (SiLU, as Marian's default "swish", scaled embeddings, pad as
    the decoder start) saved by save_pretrained; tfm's logits and greedy tokens against MarianMTModel's."""
    config = transformers.MarianConfig(vocab_size=53, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                                       decoder_attention_heads=4, encoder_ffn_dim=48, decoder_ffn_dim=48, max_position_embeddings=16,
                                       activation_function="swish", scale_embedding=True, pad_token_id=52, eos_token_id=0,
                                       decoder_start_token_id=52, forced_eos_token_id=0, init_std=0.15, dropout=0.0)
    torch.manual_seed(41)
    marian = transformers.MarianMTModel(config).eval()
    work = tempfile.mkdtemp(prefix="tfm_marian_hf_saved_")
    marian.save_pretrained(work)
    ids = small_case("ids", 0, pad_id=52, bos_id=52, eos_id=0)["config"]  # only the special ids and vocabulary matter here
    inputs = make_inputs(ids, 3, 11, 9, 41)
    safetensors_io.save(os.path.join(work, "inputs.safetensors"), {k: v.to(torch.int32).numpy() for k, v in inputs.items()})
    with open(os.path.join(work, "parity.json"), "w") as f:
        json.dump(PARITY, f)
    c = harness.Case("hf_saved_marian", work)
    print(f"case hf_saved_marian: MarianMTModel saved by transformers {transformers.__version__} in {work}")
    if c.run(tool):
        theirs, real = marian_logits(marian.double(), inputs, ids)
        mine = c.get("logits", theirs.shape)
        if mine is not None:
            diff = float(np.abs(mine - theirs)[real].max())
            c.check(diff <= LOGITS_TOL, f"tfm's logits on transformers' Marian vs MarianMTModel's: max abs diff {diff:.3e} "
                                        f"(logits up to {float(np.abs(theirs[real]).max()):.2f})")
        greedy = c.get("greedy_initial", (3, PARITY["greedy_max_length_b"]))
        if greedy is not None:
            source_mask = (torch.arange(inputs["source"].shape[1])[None, :] < inputs["source_lengths"][:, None]).long()
            with torch.no_grad():
                out = marian.generate(input_ids=inputs["source"], attention_mask=source_mask, num_beams=1, do_sample=False,
                                      max_new_tokens=int(greedy.shape[1]), forced_eos_token_id=None)
            same = sum([int(t) for t in out[b, 1:] if int(t) != 52][:sum(greedy[b] >= 0)] == [int(t) for t in greedy[b] if t >= 0]
                       for b in range(3))
            c.check(same == 3, f"tfm's greedy on transformers' Marian: {same}/3 sentences identical to MarianMTModel.generate")
    c.finish(failures)


def alphabet_tokenizer(path, V):
    """A byte-level BPE of V tokens (<pad>, <s>, </s>, then single characters, no merges) for a random model."""
    chars = sorted(tokenizers.pre_tokenizers.ByteLevel.alphabet())[:V - 3]
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, **{ch: 3 + i for i, ch in enumerate(chars)}}
    tok = tokenizers.Tokenizer(tokenizers.models.BPE(vocab, []))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    tok.add_special_tokens(["<pad>", "<s>", "</s>"])
    tok.save(path)
    return chars


def run_zero_start(failures, tool):
    """zero_start_embedding: Marian's own start (a zero vector). The export appends the start token "<pad>" as id V with a
    zero row and a -1e9 logit bias; transformers must give tfm's logits on the other V ids and its greedy and beam-4
    tokens, and CTranslate2 (ct2-transformers-converter's converter) must convert it and give the same greedy tokens (its
    beam search keeps fewer live beams once one ends, see bench/run-marian.sh). tfm reads the export back as the same model."""
    case = small_case("marian_zero_start", 33, final_norm=False, zero_start_embedding=True)
    config, V = case["config"], case["config"].vocab_size
    work = tempfile.mkdtemp(prefix="tfm_marian_zero_start_")
    save_checkpoint(work, build_model(config, case["seed"]))
    chars = alphabet_tokenizer(os.path.join(work, "tokenizer.json"), V)
    inputs = make_inputs(config, case["batch"], case["source_length"], case["target_length"], case["seed"])
    c = harness.Case("marian_zero_start", work)
    print(f"case marian_zero_start: V={V} C={config.d_model}, tokenizer of {V} tokens, in {work}")
    exported = export_and_run(c, work, inputs, tool)
    if exported is None:
        c.finish(failures)
        return
    marian = transformers.MarianMTModel.from_pretrained(exported).double().eval()
    c.check(marian.config.decoder_start_token_id == V and marian.config.vocab_size == V + 1,
            f"Marian's start is the appended token {V}: decoder_start_token_id {marian.config.decoder_start_token_id}, "
            f"vocab_size {marian.config.vocab_size}")
    marian_inputs = dict(inputs, target_input=inputs["target_input"].clone())
    marian_inputs["target_input"][:, 0] = V   # tfm's BOS position is Marian's start token
    theirs, real = marian_logits(marian, marian_inputs, config)
    mine = c.get("logits", (theirs.shape[0], theirs.shape[1], V))
    if mine is not None:
        diff = float(np.abs(mine - theirs[:, :, :V])[real].max())
        c.check(diff <= LOGITS_TOL and float(theirs[:, :, V].max()) < -1e8,
                f"MarianMTModel's logits vs tfm's: max abs diff {diff:.3e} on ids < {V}; the start token's logit "
                f"{float(theirs[:, :, V].max()):.3g}")
    # Beam 4 (and greedy) on text: tfm translate against MarianMTModel.generate and CTranslate2.
    lines = ["".join(chars[(7 * i + 3 * k) % len(chars)] for k in range(4 + i)) for i in range(6)]
    ct2_dir = os.path.join(work, "ct2")
    ctranslate2.converters.TransformersConverter(exported).convert(ct2_dir, quantization="float32", force=True)
    translator = ctranslate2.Translator(ct2_dir, device="cpu", compute_type="float32", intra_threads=2)
    tok = transformers.AutoTokenizer.from_pretrained(exported)
    for beam in (1, 4):
        proc = subprocess.run([os.environ["TFM_BIN"], "translate", "--model", work, "--beam", str(beam), "--length-penalty", "1"],
                              input="\n".join(lines) + "\n", capture_output=True, text=True)
        if not c.check(proc.returncode == 0, f"tfm translate --beam {beam}: exit {proc.returncode} {proc.stderr.strip()[-300:]}"):
            continue
        tfm_lines = proc.stdout.split("\n")[:len(lines)]
        hf_lines, ct2_lines = [], []
        for line in lines:
            ids = tok(line, add_special_tokens=False)["input_ids"] + [config.eos_id]
            limit = min(int(1.5 * len(ids) + 10), config.max_target_length - 1)   # tfm's cap, then EOS
            with torch.no_grad():
                out = marian.generate(input_ids=torch.tensor([ids]), num_beams=beam, do_sample=False, length_penalty=1.0,
                                      early_stopping=True, max_new_tokens=limit + 1, max_length=None)
            hf_lines.append(tok.decode(out[0].tolist(), skip_special_tokens=True))
            if beam == 1:   # CTranslate2 ends a capped hypothesis without EOS: `limit` tokens are tfm's before its forced EOS
                result = translator.translate_batch([tok.convert_ids_to_tokens(ids)], beam_size=1, max_decoding_length=limit,
                                                    suppress_sequences=[["<unk>"], ["<s>"]])[0]
                ct2_lines.append(tok.convert_tokens_to_string(result.hypotheses[0]))
        same_hf = sum(a == b for a, b in zip(tfm_lines, hf_lines))
        same_ct2 = sum(a == b for a, b in zip(tfm_lines, ct2_lines))
        c.check(same_hf == len(lines) and len(set(tfm_lines)) > 1,
                f"beam {beam}: {same_hf}/{len(lines)} lines of tfm translate identical to MarianMTModel.generate "
                f"({len(set(tfm_lines))} distinct)")
        if beam == 1:
            c.check(same_ct2 == len(lines), f"greedy: {same_ct2}/{len(lines)} lines identical to CTranslate2's")
        back = subprocess.run([os.environ["TFM_BIN"], "translate", "--model", exported, "--beam", str(beam), "--length-penalty", "1"],
                              input="\n".join(lines) + "\n", capture_output=True, text=True)
        c.check(back.returncode == 0 and back.stdout.split("\n")[:len(lines)] == tfm_lines,
                f"beam {beam}: tfm translate on the exported directory gives the checkpoint's lines (exit {back.returncode} "
                f"{back.stderr.strip()[-200:]})")
    c.finish(failures)


def refusals(failures):
    """pre-LN and torch's final norms have no Marian field: the export names them and leaves nothing behind."""
    for name, settings, word in (("pre_ln", dict(pre_layernorm=True, final_norm=False), "pre_layernorm"),
                                 ("final_norm", dict(final_norm=True), "final_norm")):
        case = small_case(name, 5, **settings)
        work = tempfile.mkdtemp(prefix=f"tfm_marian_refuse_{name}_")
        save_checkpoint(work, build_model(case["config"], 5))
        out = os.path.join(work, "marian")
        proc = subprocess.run([os.environ["TFM_BIN"], "export", "--model", work, "--format", "marian", "--out", out],
                              capture_output=True, text=True)
        c = harness.Case(f"refuse_{name}", work)
        c.check(proc.returncode != 0 and word in proc.stderr and not os.path.exists(out),
                f"a model with {word} is refused by name: {proc.stderr.strip()}")
        c.finish(failures)


CASES = [small_case("marian_relu", 31, final_norm=False, activation="relu"),
         small_case("marian_gelu_unscaled", 32, final_norm=False, activation="gelu", scale_embeddings=False, d_model=40, n_heads=5)]


def main():
    code = harness.main(CASES, run_case, "SEQ2SEQ_PARITY_TOOL", "seq2seq_parity")
    failures = []
    run_hf_saved(failures, harness.find_tool("SEQ2SEQ_PARITY_TOOL", "seq2seq_parity"))
    run_zero_start(failures, harness.find_tool("SEQ2SEQ_PARITY_TOOL", "seq2seq_parity"))
    refusals(failures)
    for f in failures:
        print("FAILED:", f)
    return 1 if failures or code else 0


if __name__ == "__main__":
    sys.exit(main())
