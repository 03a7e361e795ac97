"""tfm's trained English-German model as a MarianMTModel and as a CTranslate2 model: beam-4 translations side by side.

`tfm export --format marian` writes the model (it must have final_norm false; zero_start_embedding true for
CTranslate2, which starts every Marian decoder from a zero vector), `ct2-transformers-converter` converts that
directory, and the test split is translated three ways with the same search settings:

  tfm translate --beam 4 --length-penalty LP          (fairseq's search, transformers' length normalisation)
  MarianMTModel.generate(num_beams=4, length_penalty=LP, early_stopping=True, max_new_tokens=limit + 1)
  ctranslate2.Translator.translate_batch(beam_size=4, length_penalty=LP, max_decoding_length=limit)

one sentence at a time (no padding), where limit = min(floor(1.5 * source tokens + 10), max_target_length - 1) is tfm's
length cap. The export's generation_config.json makes transformers choose what tfm chooses (pad and BOS never, removed
after the log-softmax as tfm does; EOS forced at the cap); one rule it cannot say: transformers' forced EOS scores 0
where tfm's keeps its log-probability, so hypotheses that reach the cap may rank differently. Both are measured:
with the export's settings, and with a 10-line LogitsProcessor that ends at the cap as tfm does (EndAtTheCap). For every line that
differs, the script replays tfm's search in float64 on transformers' model and prints the smallest score gap between
neighbouring candidates at any step (or between the two best hypotheses): a gap at float32 rounding level means the
two searches met a tie and broke it differently. CTranslate2's beam search is its own (the K best continuations per
step, a beam that ends is not replaced that step): each line where it differs from tfm is replayed with that rule in
float64 (replay_ctranslate2), and the table counts the differences the rule reproduces. Output: a Markdown table and runs/bench-marian-<time>.json.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import torch
import transformers
import ctranslate2


class EndAtTheCap(transformers.LogitsProcessor):
    """tfm's (and fairseq's) length cap: after `limit` tokens only EOS may follow, with its own log-probability.
    transformers' ForcedEOSTokenLogitsProcessor gives the forced EOS log-probability 0 instead, which reorders
    hypotheses that reach the cap. In beam search the processors see log-probabilities, so this keeps tfm's score."""

    def __init__(self, limit, eos):
        self.length, self.eos = limit + 1, eos   # the start token and `limit` generated ones

    def __call__(self, input_ids, scores):
        if input_ids.shape[-1] >= self.length:
            eos = scores[:, self.eos].clone()
            scores[:] = -float("inf")
            scores[:, self.eos] = eos
        return scores


def tfm_translate(tfm, model, lines, beam, length_penalty, threads):
    start = time.time()
    proc = subprocess.run([tfm, "translate", "--model", model, "--beam", str(beam), "--length-penalty", str(length_penalty),
                           "--threads", str(threads)], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"bench_marian: tfm translate failed: {proc.stderr[-500:]}")
    return proc.stdout.split("\n")[:len(lines)], time.time() - start


def source_ids(tok, line, max_source_length, eos):
    ids = tok(line, add_special_tokens=False)["input_ids"][:max_source_length - 1]
    return ids + [eos]


def length_limit(source_length, max_target_length):
    return min(int(math.floor(1.5 * source_length + 10)), max_target_length - 1)


def replay_margin(marian, ids, beam, length_penalty, limit, never, eos, start):
    """tfm's search (fairseq's, as tfm_beam_search documents) in float64 on transformers' model: the smallest score gap
    between neighbours among the 2K + 1 best candidates of any step, or between the two best finished hypotheses: where
    a float32 search may order two candidates the other way round."""
    src = torch.tensor([ids])
    with torch.no_grad():
        memory = marian.get_encoder()(input_ids=src).last_hidden_state
    beams, finished, smallest = [([start], 0.0)], [], float("inf")
    for t in range(limit + 1):
        with torch.no_grad():
            dec = torch.tensor([b[0] for b in beams])
            out = marian(encoder_outputs=(memory.expand(len(beams), -1, -1),), decoder_input_ids=dec)
        logp = torch.log_softmax(out.logits[:, -1].double(), dim=-1).numpy()
        cands = []
        for k, (seq, score) in enumerate(beams):
            row = logp[k]
            choices = [eos] if t >= limit else [v for v in np.argsort(-row)[:2 * beam + len(never)] if v not in never][:2 * beam]
            cands += [(score + row[v], k, int(v)) for v in choices]
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))
        smallest = min([smallest] + [cands[j][0] - cands[j + 1][0] for j in range(min(len(cands), 2 * beam + 1) - 1)])
        cands = cands[:2 * beam]
        nxt = []
        for j, (score, k, v) in enumerate(cands):
            if v == eos:
                if j < beam and len(finished) < beam:
                    finished.append((score / (t + 1) ** length_penalty, beams[k][0][1:]))
            elif len(nxt) < beam:
                nxt.append((beams[k][0] + [v], score))
        if len(finished) >= beam or not nxt:
            break
        beams = nxt
    scores = sorted((f[0] for f in finished), reverse=True)
    return min(smallest, scores[0] - scores[1]) if len(scores) > 1 else smallest


def replay_ctranslate2(marian, ids, beam, length_penalty, max_length, never, eos, start, count_eos):
    """CTranslate2's beam search as its decoding.cc describes it, in float64 on transformers' model: each step keeps the
    K best continuations of the live beams; those ending in EOS (or at the last step) finish, the others go on (so a
    step with an EOS continues fewer beams); done when K have finished (patience 1). Scores are
    log P / length^length_penalty, the length counting EOS when count_eos. Returns the best hypothesis' ids."""
    src = torch.tensor([ids])
    with torch.no_grad():
        memory = marian.get_encoder()(input_ids=src).last_hidden_state
    beams, finished = [([start], 0.0)], []
    for step in range(max_length):
        with torch.no_grad():
            out = marian(encoder_outputs=(memory.expand(len(beams), -1, -1),), decoder_input_ids=torch.tensor([b[0] for b in beams]))
        logp = torch.log_softmax(out.logits[:, -1].double(), dim=-1).numpy()
        cands = []
        for k, (seq, score) in enumerate(beams):
            cands += [(score + logp[k][v], k, int(v)) for v in np.argsort(-logp[k])[:beam + len(never)] if v not in never][:beam]
        cands.sort(key=lambda c: (-c[0], c[1], c[2]))
        nxt = []
        for score, k, v in cands[:beam]:
            if v == eos or step + 1 == max_length:
                tokens = beams[k][0][1:] + ([] if v == eos else [v])
                length = len(tokens) + (1 if v == eos and count_eos else 0)
                finished.append((score / max(length, 1) ** length_penalty, tokens))
            else:
                nxt.append((beams[k][0] + [v], score))
        if len(finished) >= beam or not nxt:
            break
        beams = nxt
    return max(finished, key=lambda f: f[0])[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tfm", required=True)
    ap.add_argument("--model", required=True, help="tfm model directory (a run's best/)")
    ap.add_argument("--data", required=True, help="corpus directory with test.en / test.de")
    ap.add_argument("--work", required=True, help="directory for the exported and converted models")
    ap.add_argument("--sentences", type=int, default=0, help="first N test sentences (0 = all)")
    ap.add_argument("--beam", type=int, default=4)
    ap.add_argument("--length-penalty", type=float, nargs="+", default=[1.0, 0.0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    exported, ct2_dir = os.path.join(args.work, "marian"), os.path.join(args.work, "ct2")
    for d in (exported, ct2_dir):
        subprocess.run(["rm", "-rf", d], check=True)
    os.makedirs(args.work, exist_ok=True)
    export = [args.tfm, "export", "--model", args.model, "--format", "marian", "--out", exported]
    convert = [os.path.join(os.path.dirname(sys.executable), "ct2-transformers-converter"), "--model", exported, "--output_dir", ct2_dir]
    for command in (export, convert):
        print("bench_marian:", " ".join(command), file=sys.stderr)
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"bench_marian: {' '.join(command)} failed: {proc.stderr[-800:]}")

    config = json.load(open(os.path.join(args.model, "config.json")))
    config = config.get("model", config)
    lines = open(os.path.join(args.data, "test.en"), encoding="utf-8").read().split("\n")[:-1]
    if args.sentences:
        lines = lines[:args.sentences]
    tok = transformers.AutoTokenizer.from_pretrained(exported)
    marian = transformers.MarianMTModel.from_pretrained(exported).eval()
    translator = ctranslate2.Translator(ct2_dir, device="cpu", compute_type="float32", intra_threads=args.threads)
    gen = marian.generation_config
    never = {w[0] for w in gen.bad_words_ids}
    suppress = [[tok.convert_ids_to_tokens(i)] for i in sorted(never) if i < len(tok) and i != gen.decoder_start_token_id]
    results = dict(tfm=args.tfm, model=args.model, sentences=len(lines), beam=args.beam, torch=torch.__version__,
                   transformers=transformers.__version__, ctranslate2=ctranslate2.__version__, settings=[])
    rows = []
    for lp in args.length_penalty:
        mine, tfm_seconds = tfm_translate(args.tfm, args.model, lines, args.beam, lp, args.threads)
        hf, hf_forced, ct2, ct2_capped, capped, hf_seconds, ct2_seconds = [], [], [], [], 0, 0.0, 0.0
        for line in lines:
            ids = source_ids(tok, line, config["max_source_length"], gen.eos_token_id)
            limit = length_limit(len(ids), config["max_target_length"])
            start = time.time()
            with torch.no_grad():
                out = marian.generate(input_ids=torch.tensor([ids]), num_beams=args.beam, do_sample=False, length_penalty=lp,
                                      early_stopping=True, max_new_tokens=limit + 1, max_length=None, forced_eos_token_id=None,
                                      logits_processor=transformers.LogitsProcessorList([EndAtTheCap(limit, gen.eos_token_id)]))
            hf_seconds += time.time() - start
            hf_ids = out[0].tolist()
            capped += len(hf_ids) - 1 >= limit + 1
            hf.append(tok.decode(hf_ids, skip_special_tokens=True, clean_up_tokenization_spaces=False))
            with torch.no_grad():   # as the export's generation_config.json has it: ForcedEOSTokenLogitsProcessor
                forced = marian.generate(input_ids=torch.tensor([ids]), num_beams=args.beam, do_sample=False, length_penalty=lp,
                                         early_stopping=True, max_new_tokens=limit + 1, max_length=None)
            hf_forced.append(tok.decode(forced[0].tolist(), skip_special_tokens=True, clean_up_tokenization_spaces=False))
            start = time.time()
            r = translator.translate_batch([tok.convert_ids_to_tokens(ids)], beam_size=args.beam, length_penalty=lp,
                                           max_decoding_length=limit, suppress_sequences=suppress)[0]
            ct2_seconds += time.time() - start
            ct2.append(tok.convert_tokens_to_string(r.hypotheses[0]))
            ct2_capped.append(len(r.hypotheses[0]) >= limit)
        differ_hf = [i for i in range(len(lines)) if mine[i] != hf[i]]
        differ_ct2 = [i for i in range(len(lines)) if mine[i] != ct2[i]]
        explained = []
        for i in differ_hf:
            ids = source_ids(tok, lines[i], config["max_source_length"], gen.eos_token_id)
            margin = replay_margin(marian.double(), ids, args.beam, lp, length_limit(len(ids), config["max_target_length"]),
                                   never, gen.eos_token_id, gen.decoder_start_token_id)
            marian.float()
            explained.append(dict(line=i + 1, margin=margin, tfm=mine[i], transformers=hf[i]))
        ct2_explained = []
        marian.double()
        for i in differ_ct2:
            ids = source_ids(tok, lines[i], config["max_source_length"], gen.eos_token_id)
            limit = length_limit(len(ids), config["max_target_length"])
            replays = {count: tok.decode(replay_ctranslate2(marian, ids, args.beam, lp, limit, never, gen.eos_token_id,
                                                            gen.decoder_start_token_id, count), skip_special_tokens=True,
                                         clean_up_tokenization_spaces=False) for count in (False, True)}
            ct2_explained.append(dict(line=i + 1, tfm=mine[i], ctranslate2=ct2[i], at_the_cap=ct2_capped[i],
                                      replay_matches=[k for k, v in replays.items() if v == ct2[i]]))
        marian.float()
        differ_forced = [i for i in range(len(lines)) if mine[i] != hf_forced[i]]
        setting = dict(length_penalty=lp, identical_transformers=len(lines) - len(differ_hf),
                       identical_transformers_forced_eos=len(lines) - len(differ_forced), identical_ctranslate2=len(lines) - len(differ_ct2),
                       hypotheses_at_the_cap=capped, tfm_seconds=tfm_seconds, transformers_seconds=hf_seconds, ctranslate2_seconds=ct2_seconds,
                       differences_transformers=explained,
                       differences_ctranslate2=ct2_explained,
                       ctranslate2_reproduced_by_its_rule=sum(bool(d["replay_matches"]) for d in ct2_explained),
                       ctranslate2_differences_at_the_cap=sum(d["at_the_cap"] for d in ct2_explained))
        results["settings"].append(setting)
        rows.append(setting)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
    print(f"tfm export --format marian -> MarianMTModel (transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{args.threads} threads) and ct2-transformers-converter -> CTranslate2 {ctranslate2.__version__} (float32); "
          f"{len(lines)} test sentences, beam {args.beam}, one sentence at a time\n")
    print("| length penalty | identical to transformers (EOS at the cap scored as tfm) | identical to transformers "
          "(ForcedEOS, scored 0) | identical to CTranslate2 | CTranslate2's differences: its rule reproduces / at the cap "
          "| hypotheses at the cap | tfm s | transformers s | CTranslate2 s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for s in rows:
        d = len(lines) - s["identical_ctranslate2"]
        print(f"| {s['length_penalty']:g} | {s['identical_transformers']}/{len(lines)} | {s['identical_transformers_forced_eos']}/{len(lines)} | "
              f"{s['identical_ctranslate2']}/{len(lines)} | {s['ctranslate2_reproduced_by_its_rule']}/{d} / "
              f"{s['ctranslate2_differences_at_the_cap']}/{d} | {s['hypotheses_at_the_cap']} | {s['tfm_seconds']:.1f} | "
              f"{s['transformers_seconds']:.1f} | {s['ctranslate2_seconds']:.1f} |")
    for s in rows:
        for d in s["differences_transformers"]:
            print(f"\nlength penalty {s['length_penalty']:g}, line {d['line']}: smallest gap between neighbouring candidates or the "
                  f"two best hypotheses, float64: {d['margin']:.2e}\n  tfm:          {d['tfm']}\n  transformers: {d['transformers']}")
    print(f"\nall measurements: {args.json}")


if __name__ == "__main__":
    main()
