// The reference side of the WordPiece tests: Hugging Face tokenizers (@anush008/tokenizers) set up as
// BertWordPieceTokenizer / BertTokenizerFast is, printing in wordpiece_tool's formats.
//   node wordpiece_reference.js encode VOCAB FILE [--cased] [--special]
//   node wordpiece_reference.js pair VOCAB FILE MAX_LENGTH
//   node wordpiece_reference.js decode VOCAB FILE
//   node wordpiece_reference.js train FILE OUT_VOCAB [--cased]
//   node wordpiece_reference.js bench VOCAB FILE        (prints MB/s of single-threaded encoding)
// Input files are split into lines on the byte 0x0A and each line decoded as UTF-8 with U+FFFD for
// invalid sequences (WHATWG "maximal subpart" rule), the documented tfm policy.
const fs = require('fs');
const path = require('path');
const tk = require(path.join(__dirname, 'node_modules', '@anush008', 'tokenizers'));

const SPECIALS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];

async function makeTokenizer(vocab, lowercase, withSpecials) {
  const model = await tk.WordPiece.fromFile(vocab, {unkToken: '[UNK]', continuingSubwordPrefix: '##',
                                                      maxInputCharsPerWord: 100});
  const t = new tk.Tokenizer(model);
  t.setNormalizer(tk.bertNormalizer({cleanText: true, handleChineseChars: true, stripAccents: lowercase,
                                     lowercase: lowercase}));
  t.setPreTokenizer(tk.bertPreTokenizer());
  t.setPostProcessor(tk.bertProcessing(['[SEP]', t.tokenToId('[SEP]')], ['[CLS]', t.tokenToId('[CLS]')]));
  t.setDecoder(tk.wordPieceDecoder('##', true));
  if (withSpecials) t.addSpecialTokens(SPECIALS);
  return t;
}

function lines(file) {
  const buf = fs.readFileSync(file);
  const out = [];
  const decoder = new TextDecoder('utf-8', {fatal: false});
  let start = 0;
  while (start < buf.length) {
    let end = buf.indexOf(0x0a, start);
    if (end < 0) end = buf.length;
    out.push(decoder.decode(buf.subarray(start, end)));
    start = end + 1;
  }
  return out;
}

function write(parts) {
  // Large outputs: write in pieces to keep memory modest.
  const fd = 1;
  for (let i = 0; i < parts.length; i += 10000) fs.writeSync(fd, parts.slice(i, i + 10000).join('\n') + '\n');
}

async function main() {
  const [mode, ...args] = process.argv.slice(2);
  const cased = args.includes('--cased');
  const special = args.includes('--special');
  if (mode === 'encode') {
    const t = await makeTokenizer(args[0], !cased, special);
    const input = lines(args[1]);
    const out = [];
    for (let i = 0; i < input.length; i += 2000) {
      const batch = await t.encodeBatch(input.slice(i, i + 2000), {addSpecialTokens: false});
      for (const e of batch) out.push(e.getIds().join(' '));
    }
    write(out);
  } else if (mode === 'pair') {
    const t = await makeTokenizer(args[0], true, false);
    const maxLength = parseInt(args[2], 10);
    t.setTruncation(maxLength, {strategy: 'LongestFirst'});
    t.setPadding({maxLength: maxLength, padId: t.tokenToId('[PAD]'), padToken: '[PAD]', direction: 'right'});
    const out = [];
    for (const line of lines(args[1])) {
      const tab = line.indexOf('\t');
      const e = tab >= 0 ? await t.encode(line.slice(0, tab), line.slice(tab + 1)) : await t.encode(line);
      out.push(e.getIds().join(' ') + '|' + e.getTypeIds().join(' ') + '|' + e.getAttentionMask().join(' '));
    }
    write(out);
  } else if (mode === 'decode') {
    const t = await makeTokenizer(args[0], true, true);
    const out = [];
    for (const line of lines(args[1])) {
      const ids = line.trim() === '' ? [] : line.trim().split(/ +/).map(Number);
      out.push(await t.decode(ids, true));
    }
    write(out);
  } else if (mode === 'train') {
    // The binding exposes only the model's default trainer: WordPieceTrainer with vocab_size 30000,
    // min_frequency 0, no special tokens, no alphabet limit.
    const t = new tk.Tokenizer(tk.WordPiece.empty());
    t.setNormalizer(tk.bertNormalizer({cleanText: true, handleChineseChars: true, stripAccents: !cased,
                                       lowercase: !cased}));
    t.setPreTokenizer(tk.bertPreTokenizer());
    t.train([args[0]]);
    const vocab = t.getVocab(false);
    const byId = [];
    for (const [piece, id] of Object.entries(vocab)) byId[id] = piece;
    fs.writeFileSync(args[1], byId.join('\n') + '\n');
  } else if (mode === 'bench') {
    const t = await makeTokenizer(args[0], true, false);
    const text = fs.readFileSync(args[1], 'utf8');
    // Encode in ~4 KB pieces cut at newlines (one call per piece; the reference is fastest at about this
    // size, slower on longer pieces), single-threaded: RAYON_NUM_THREADS=1.
    const pieces = [];
    for (let i = 0; i < text.length;) {
      let end = text.indexOf("\n", i + 4096);
      if (end < 0) end = text.length;
      pieces.push(text.slice(i, end + 1));
      i = end + 1;
    }
    const bytes = Buffer.byteLength(text, 'utf8');
    let best = Infinity, tokens = 0;
    for (let round = 0; round < 3; round++) {
      const t0 = process.hrtime.bigint();
      tokens = 0;
      for (const p of pieces) tokens += (await t.encode(p, null, {addSpecialTokens: false})).getLength();
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      best = Math.min(best, seconds);
    }
    console.log(JSON.stringify({bytes, tokens, seconds: best, mb_per_s: bytes / 1e6 / best}));
  } else {
    console.error('usage: see the top of wordpiece_reference.js');
    process.exit(2);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
