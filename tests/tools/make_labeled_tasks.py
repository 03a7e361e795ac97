"""tests/tools/make_labeled_tasks.py: three small labelled tasks from this repository's own text, for the BERT fine-tuning
tests. usage: make_labeled_tasks.py REPO OUT -> OUT/{kind,pairs,shapes}/{labels.txt,train.tsv,valid.tsv}
  kind    a line of C source or of documentation prose ("code" / "prose"): one label per line
  pairs   two such lines, "same" kind or "different": one label per sentence pair
  shapes  each word's shape (lower / upper / number / other): one label per word
Every fifth example is held out; seeded, standard library only."""
import glob, random, re, sys, os
S, out = sys.argv[1], sys.argv[2]
random.seed(7)
def lines(paths):
    r = []
    for p in paths:
        for line in open(p, encoding='utf-8'):
            line = ' '.join(line.split())
            if len(line.split()) >= 4: r.append(line)
    return r
code = lines(sorted(glob.glob(S + '/src/*/*.c')))[:600]
prose = lines([S + '/README.md'] + sorted(glob.glob(S + '/docs/*.md')))[:600]
def write(d, labels, rows):
    os.makedirs(d, exist_ok=True)
    open(d + '/labels.txt', 'w').write(''.join(l + '\n' for l in labels))
    with open(d + '/train.tsv', 'w') as tr, open(d + '/valid.tsv', 'w') as va:
        for i, r in enumerate(rows): (va if i % 5 == 0 else tr).write('\t'.join(r) + '\n')
rows = [('code', t) for t in code] + [('prose', t) for t in prose]
random.shuffle(rows)
write(out + '/kind', ['code', 'prose'], rows)
pairs = []
for i in range(len(rows)):
    a, b = rows[i], random.choice(rows)
    pairs.append(('same' if a[0] == b[0] else 'different', a[1], b[1]))
write(out + '/pairs', ['same', 'different'], pairs)
def shape(w):
    return 'number' if re.fullmatch(r'[0-9.,]+', w) else 'upper' if w[:1].isupper() else 'lower' if w[:1].isalpha() else 'other'
words = [(' '.join(shape(w) for w in t.split()), t) for _, t in rows if len(t.split()) <= 30]
write(out + '/shapes', ['lower', 'upper', 'number', 'other'], words)
