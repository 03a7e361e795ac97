// Dumps, for every Unicode scalar value, what each stage of the Hugging Face BERT normalizer and
// pre-tokenizer does to it alone. One line per code point (hex):
//   cp clean chinese strip_accents lowercase pieces
// where the middle columns are the stage's output (comma-separated hex, empty when removed) and
// `pieces` is how many pieces the BERT pre-tokenizer makes of "a" + cp + "a" (3 = punctuation,
// 2 = whitespace, 1 = neither). test_wordpiece_unicode.sh compares tfm's answers with this dump, and
// wordpiece_unicode_generate.py derives tfm's compatibility tables from it.
const path = require('path');
const tk = require(process.argv[2] || path.join(__dirname, 'node_modules', '@anush008', 'tokenizers'));
const clean = tk.bertNormalizer({cleanText: true, handleChineseChars: false, stripAccents: false, lowercase: false});
const chinese = tk.bertNormalizer({cleanText: false, handleChineseChars: true, stripAccents: false, lowercase: false});
const strip = tk.bertNormalizer({cleanText: false, handleChineseChars: false, stripAccents: true, lowercase: false});
const lower = tk.bertNormalizer({cleanText: false, handleChineseChars: false, stripAccents: false, lowercase: true});
const pre = tk.bertPreTokenizer();
const hex = (s) => Array.from(s).map((c) => c.codePointAt(0).toString(16)).join(',');
const lines = [];
for (let cp = 0; cp <= 0x10ffff; cp++) {
  if (cp >= 0xd800 && cp <= 0xdfff) continue;
  const s = String.fromCodePoint(cp);
  lines.push([cp.toString(16), hex(clean.normalizeString(s)), hex(chinese.normalizeString(s)),
              hex(strip.normalizeString(s)), hex(lower.normalizeString(s)),
              pre.preTokenizeString('a' + s + 'a').length].join(' '));
}
process.stdout.write(lines.join('\n') + '\n');
