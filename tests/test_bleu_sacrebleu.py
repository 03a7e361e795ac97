"""tests/test_bleu_sacrebleu.py: "tfm bleu" against the real sacrebleu package (pinned environment, 2.6.0):
corpus BLEU (--tokenize 13a/intl/none/char, --lowercase), chrF and chrF++ (word order 2), the printed lines,
--score-only and --signature, on the en-de test split (one and two reference sets), on empty lines, empty
references and empty corpora, on one-line inputs, and on Unicode-heavy lines of the tokenizer corpus
(French/Spanish/German accents, Japanese, Chinese, emoji, control characters, long whitespace runs).

Hypotheses are made from the references deterministically (per-line seeded word drops, swaps, duplicates, case
changes, character edits), so the scores are mid-range. The data are built if missing (with a lock):
  scripts/make-ende-corpus.sh --tfm build/tfm            -> data/en-de/test.de
  TFM_CORPUS_IF_MISSING=1 bash scripts/tokenizer-corpus.sh -> data/tokenizer-corpus/corpus.txt
"""
import fcntl
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference import import_references  # noqa: E402

sacrebleu = import_references("sacrebleu")
from sacrebleu.metrics import BLEU, CHRF  # noqa: E402

source = os.environ.get("TFM_SOURCE") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
tfm = os.environ.get("TFM_BIN") or os.path.join(source, "build", "tfm")
start = time.time()
passed = failed = 0
workdir = tempfile.mkdtemp(prefix="tfm-bleu-sacrebleu-")


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAILED", name + (":\n  " + detail.replace("\n", "\n  ") if detail else ""))


# ------------------------------------------------------------------------------------------------ data
def build_if_missing(path, command, env=None):
    """Run `command` (under a lock in data/, so parallel tests do not collide) unless `path` exists."""
    if os.path.exists(path):
        return True
    os.makedirs(os.path.join(source, "data"), exist_ok=True)
    with open(os.path.join(source, "data", ".test-bleu-sacrebleu.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            print("building", path, "with:", " ".join(command), flush=True)
            r = subprocess.run(command, cwd=source, env=dict(os.environ, **(env or {})), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0 or not os.path.exists(path):
                print(r.stdout[-3000:])
                return False
    return True


ende_test = os.path.join(source, "data", "en-de", "test.de")
if not build_if_missing(ende_test, ["bash", "scripts/make-ende-corpus.sh", "--tfm", tfm]):
    print(f"FAILED: {ende_test} is missing and could not be built; run scripts/make-ende-corpus.sh --tfm build/tfm")
    sys.exit(1)
corpus_txt = os.path.join(source, "data", "tokenizer-corpus", "corpus.txt")
if not build_if_missing(corpus_txt, ["bash", "scripts/tokenizer-corpus.sh"], {"TFM_CORPUS_IF_MISSING": "1"}):
    print(f"FAILED: {corpus_txt} is missing and could not be built; run TFM_CORPUS_IF_MISSING=1 bash scripts/tokenizer-corpus.sh")
    sys.exit(1)


def read_lines(path):
    """Lines as tfm bleu reads them (and Python with newline="\\n"): split on '\\n' only."""
    with open(path, encoding="utf-8", newline="\n") as f:
        return [line[:-1] if line.endswith("\n") else line for line in f]


def perturb(line, seed, vocabulary):
    """A deterministic 'translation' of `line`: a few word and character edits chosen by a per-line seed."""
    rng = random.Random(seed)
    if rng.random() < 0.04:
        return ""                                           # empty hypothesis line
    if rng.random() < 0.05:
        return line                                         # exact
    words = line.split(" ")
    for _ in range(rng.randint(2, 5)):
        if not words:
            break
        op, i = rng.randrange(8), rng.randrange(len(words))
        if op == 0 and len(words) > 1:
            del words[i]                                    # drop
        elif op == 1 and i + 1 < len(words):
            words[i], words[i + 1] = words[i + 1], words[i]  # swap
        elif op == 2:
            words.insert(i, words[i])                       # duplicate
        elif op == 3:
            words[i] = words[i].upper()                     # case change
        elif op == 4:
            words[i] = words[i].lower() if rng.random() < 0.5 else words[i].capitalize()
        elif op == 5:
            words[i] = rng.choice(vocabulary)               # substitute
        elif op == 6 and len(words[i]) > 1:
            k = rng.randrange(len(words[i]))                # character drop (CJK lines are one "word")
            words[i] = words[i][:k] + words[i][k + 1:]
        else:
            words.insert(i, rng.choice([",", ".", "!", "(", ")", "-", "«", "»", "、", "。"]))
    return " ".join(words)


def sacre_lines(hyps, refs, tokenize, lowercase, chrf, word_order):
    """What tfm bleu must print, computed by sacrebleu: (full lines, --score-only lines)."""
    full, only = [], []
    if chrf != "only":
        bleu = BLEU(tokenize=tokenize, lowercase=lowercase)
        s = bleu.corpus_score(hyps, refs)
        full.append(str(s))
        only.append(f"{s.score:.2f}")
        signature = bleu.get_signature().format()
        full.append(signature.rsplit("|version:", 1)[0])
    if chrf:
        c = CHRF(word_order=word_order, lowercase=lowercase).corpus_score(hyps, refs)
        full.append(str(c))
        only.append(f"{c.score:.2f}")
    return full, only


file_counter = 0


def write(lines):
    global file_counter
    file_counter += 1
    path = os.path.join(workdir, f"f{file_counter}.txt")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("".join(line + "\n" for line in lines))
    return path


def run_tfm(args):
    r = subprocess.run([tfm, "bleu"] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return r.returncode, r.stdout.decode("utf-8", "replace").splitlines(), r.stderr.decode("utf-8", "replace")


def compare(name, hyps, refs, tokenizers=("13a", "intl", "none", "char"), lowercases=(False, True)):
    """All settings on one hypothesis / reference-set pair."""
    hyp_path = write(hyps)
    ref_args = []
    for r in refs:
        ref_args += ["--ref", write(r)]
    settings = []  # (label, tfm flags, tokenize, lowercase, chrf, word_order)
    for lc in lowercases:
        for tok in tokenizers:
            # chrF does not depend on --tokenize: print it with the first tokenizer only
            settings.append((f"tok={tok}{' lc' if lc else ''}{' +chrF' if tok == tokenizers[0] else ''}",
                             ["--tokenize", tok, "--signature"] + (["--chrf"] if tok == tokenizers[0] else []) +
                             (["--lowercase"] if lc else []), tok, lc, tok == tokenizers[0], 0))
        settings.append((f"chrF++{' lc' if lc else ''}", ["--chrf-only", "--chrf-word-order", "2"] + (["--lowercase"] if lc else []),
                         "13a", lc, "only", 2))
    for label, flags, tok, lc, chrf, order in settings:
        want_full, want_only = sacre_lines(hyps, refs, tok, lc, chrf, order)
        rc, got, err = run_tfm(ref_args + ["--hyp", hyp_path] + flags)
        report(rc == 0 and got == want_full, f"{name} [{label}] {' | '.join(want_full)}",
               f"tfm exit {rc} {err.strip()}\n  tfm:       {got}\n  sacrebleu: {want_full}")
        score_flags = [f for f in flags if f != "--signature"] + ["--score-only"]
        rc, got, err = run_tfm(ref_args + ["--hyp", hyp_path] + score_flags)
        report(rc == 0 and got == want_only, f"{name} [{label} --score-only] {' '.join(want_only)}",
               f"tfm exit {rc} {err.strip()}\n  tfm:       {got}\n  sacrebleu: {want_only}")


# ------------------------------------------------------------------------------ (a) the en-de test split
refs_de = read_lines(ende_test)
vocabulary = sorted({w for line in refs_de for w in line.split()})
hyps_de = [perturb(line, 1000 + i, vocabulary) for i, line in enumerate(refs_de)]
# a second reference set: another deterministic variant of the same sentences
refs_de2 = [perturb(line, 50000 + i, vocabulary) for i, line in enumerate(refs_de)]
compare("en-de test, 1 ref", hyps_de, [refs_de])
compare("en-de test, 2 refs", hyps_de, [refs_de, refs_de2], tokenizers=("13a", "intl"))

# ------------------------------------------------------------------------ (b) empty lines and corpora
few_refs = refs_de[:20]
compare("all hypotheses empty", [""] * len(few_refs), [few_refs], tokenizers=("13a", "char"))
compare("every other hypothesis empty", [h if i % 2 else "" for i, h in enumerate(hyps_de[:20])], [few_refs],
        tokenizers=("13a", "none"))
compare("whitespace-only hypotheses", [" ", "\t", "  \u00a0 ", "x"], [["a b", "c", "d e f", "x"]], tokenizers=("13a", "none"),
        lowercases=(False,))
# an empty reference line is a reference of length 0 for sacrebleu (only None is skipped)
compare("some empty reference lines", hyps_de[:20], [[r if i % 5 else "" for i, r in enumerate(few_refs)]],
        tokenizers=("13a",), lowercases=(False,))
compare("empty lines in the second reference set", hyps_de[:20],
        [few_refs, [r if i % 3 else "" for i, r in enumerate(refs_de2[:20])]], tokenizers=("13a",), lowercases=(False,))
compare("all empty (hypotheses and references)", ["", "", ""], [["", "", ""]], tokenizers=("13a",), lowercases=(False,))
# an empty corpus: sacrebleu cannot score it (it raises); tfm must refuse it with a message, not print a score
try:
    BLEU().corpus_score([], [[]])
    sacre_empty = "scored"
except Exception as e:  # noqa: BLE001
    sacre_empty = f"raises {type(e).__name__}"
rc, got, err = run_tfm(["--ref", write([]), "--hyp", write([])])
report(sacre_empty != "scored" and rc == 1 and not got and "empty" in err,
       f"empty corpus: sacrebleu {sacre_empty}, tfm exit {rc}: {err.strip()}")

# ------------------------------------------------------------------------------------- (c) one line
compare("one line", [hyps_de[3]], [[refs_de[3]]])
compare("one line, exact", [refs_de[3]], [[refs_de[3]]], tokenizers=("13a", "char"))
compare("one word", ["Haus"], [["Das Haus"]], tokenizers=("13a", "char"))
compare("one line, no match", ["xyz"], [["abc def"]], tokenizers=("13a",))

# ------------------------------------------------------------------ (d) Unicode-heavy lines of the corpus
with open(corpus_txt, "rb") as f:
    corpus = f.read().split(b"\n")
sections, current = {}, None
for raw in corpus:
    if raw.startswith(b"=== ") and raw.endswith(b" ===") and len(raw) < 80:
        current = raw[4:-4].decode("utf-8")
        sections[current] = []
    elif current is not None:
        sections[current].append(raw)
wanted = ["French: Debian Reference", "Spanish: fortunes", "German: fortunes", "Japanese: Debian Reference",
          "Japanese: man pages", "Chinese: Debian Reference", "Chinese: man pages (traditional)", "Chinese: classical poems",
          "Emoji", "Control characters", "Whitespace and digit runs"]
unicode_refs = []
for name in wanted:
    lines = []
    for raw in sections.get(name, []):
        if b"\0" in raw or not raw.strip():
            continue  # tfm refuses NUL bytes (binary input); blank lines are covered above
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue  # sacrebleu reads UTF-8 strictly
        if len(text) <= 400 and text.strip():
            lines.append(text)
    if not lines:
        report(False, f"corpus section '{name}' has no usable lines")
        continue
    step = max(1, len(lines) // 40)
    unicode_refs += lines[::step][:40]
unicode_vocab = sorted({w for line in unicode_refs for w in line.split()})
unicode_hyps = [perturb(line, 7000 + i, unicode_vocab) for i, line in enumerate(unicode_refs)]
compare(f"Unicode lines ({len(unicode_refs)})", unicode_hyps, [unicode_refs])
compare("Unicode lines, 2 refs", unicode_hyps, [unicode_refs, [perturb(r, 9000 + i, unicode_vocab) for i, r in enumerate(unicode_refs)]],
        tokenizers=("13a", "intl"))
special = ["İstanbul ΣΊΣΥΦΟΣ straße ǅemal", "Ⅻ ⅻ ﬁ ＡＢＣ", "「日本語」、テスト。", "“quoted” — dash… 1,000.5 $5 €3",
           "a\u200bb c\u3000d e\u00a0f", "🇩🇪👍🏽 👨‍👩‍👧 ❤️"]
compare("Unicode specials", [perturb(s, 11 + i, ["x"]) for i, s in enumerate(special)], [special])

shutil.rmtree(workdir, ignore_errors=True)
print(f"{passed} passed, {failed} failed ({time.time() - start:.1f} s)")
sys.exit(1 if failed else 0)
