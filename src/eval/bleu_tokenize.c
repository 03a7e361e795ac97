/* eval/bleu_tokenize.c: the mteval-v13a and v14-international tokenizers, rule for rule as sacreBLEU applies them. */
#include "eval/bleu_tokenize.h"

#include <string.h>
#include <utf8proc.h>

static void swap_text(eval_text *a, eval_text *b) {
    eval_text t = *a;
    *a = *b;
    *b = t;
}

/* Python's str.replace(pattern, replacement) with ASCII pattern and replacement: non-overlapping,
 * left to right. Result in *text (scratch is clobbered). */
static tfm_status replace_all(eval_text *text, eval_text *scratch, const char *pattern, const char *replacement) {
    size_t plen = strlen(pattern), rlen = strlen(replacement);
    scratch->count = 0;
    tfm_status st = eval_text_reserve(scratch, text->count + 1);
    if (st) return st;
    size_t i = 0;
    int changed = 0;
    while (i < text->count) {
        size_t k = 0;
        while (k < plen && i + k < text->count && text->cp[i + k] == (unsigned char)pattern[k]) k++;
        if (k == plen) {
            for (size_t r = 0; r < rlen; r++) scratch->cp[scratch->count++] = (unsigned char)replacement[r];
            i += plen;
            changed = 1;
        } else {
            scratch->cp[scratch->count++] = text->cp[i++];
        }
    }
    if (changed) swap_text(text, scratch);
    return TFM_OK;
}

/* Character classes of the 13a regular expressions (Python `re` on str: [0-9] is ASCII only). */
static int is_digit(uint32_t c) { return c >= '0' && c <= '9'; }
/* [\{-\~\[-\` -\&\(-\+\:-\@\/]: ASCII punctuation and symbols except ' , - . and the space itself is in it too. */
static int is_13a_symbol(uint32_t c) {
    return (c >= 0x7B && c <= 0x7E) || (c >= 0x5B && c <= 0x60) || (c >= 0x20 && c <= 0x26) || (c >= 0x28 && c <= 0x2B) ||
           (c >= 0x3A && c <= 0x40) || c == 0x2F;
}
static int is_period_comma(uint32_t c) { return c == '.' || c == ','; }
static int is_dash(uint32_t c) { return c == '-'; }

static int category_group(uint32_t c, char group) {
    if (c >= 0x110000) return 0;
    const char *name = utf8proc_category_string((utf8proc_int32_t)c);
    return name && name[0] == group;
}
static int is_unicode_number(uint32_t c) { return category_group(c, 'N'); }
static int is_unicode_punctuation(uint32_t c) { return category_group(c, 'P'); }
static int is_unicode_symbol(uint32_t c) { return category_group(c, 'S'); }

typedef int (*char_class)(uint32_t);

/* re.sub for a two-character pattern (first)(second) with replacement "<a>\1<b>\2<c>" where a/b/c are
 * each a space or nothing. Matches do not overlap and scanning resumes after a match, as in `re`.
 * `negate_first` / `negate_second` invert a class (for [^0-9] and \P{N}). */
static tfm_status substitute_pair(eval_text *text, eval_text *scratch, char_class first, int negate_first, char_class second,
                                  int negate_second, int space_before, int space_between, int space_after) {
    scratch->count = 0;
    tfm_status st = eval_text_reserve(scratch, text->count * 2 + 2);
    if (st) return st;
    size_t i = 0;
    while (i < text->count) {
        if (i + 1 < text->count && (first(text->cp[i]) != negate_first) && (second(text->cp[i + 1]) != negate_second)) {
            if (scratch->count + 5 > scratch->capacity && (st = eval_text_reserve(scratch, scratch->count + 5)) != TFM_OK) return st;
            if (space_before) scratch->cp[scratch->count++] = ' ';
            scratch->cp[scratch->count++] = text->cp[i];
            if (space_between) scratch->cp[scratch->count++] = ' ';
            scratch->cp[scratch->count++] = text->cp[i + 1];
            if (space_after) scratch->cp[scratch->count++] = ' ';
            i += 2;
        } else {
            if ((st = eval_text_push(scratch, text->cp[i])) != TFM_OK) return st;
            i++;
        }
    }
    swap_text(text, scratch);
    return TFM_OK;
}

/* re.sub for a one-character class with replacement " \1 ". */
static tfm_status pad_class(eval_text *text, eval_text *scratch, char_class cls) {
    scratch->count = 0;
    tfm_status st = eval_text_reserve(scratch, text->count + 2);
    if (st) return st;
    for (size_t i = 0; i < text->count; i++) {
        if (cls(text->cp[i])) {
            if ((st = eval_text_push(scratch, ' ')) || (st = eval_text_push(scratch, text->cp[i])) || (st = eval_text_push(scratch, ' ')))
                return st;
        } else if ((st = eval_text_push(scratch, text->cp[i])) != TFM_OK) {
            return st;
        }
    }
    swap_text(text, scratch);
    return TFM_OK;
}

/* sacreBLEU's Tokenizer13a: the mteval-v13a normalisation followed by its regular expressions. */
static tfm_status tokenize_13a(eval_text *text, eval_text *scratch) {
    static const char *const replacements[][2] = {
        {"<skipped>", ""}, {"-\n", ""}, {"\n", " "}, {"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"},
    };
    tfm_status st;
    for (size_t r = 0; r < sizeof replacements / sizeof replacements[0]; r++)
        if ((st = replace_all(text, scratch, replacements[r][0], replacements[r][1])) != TFM_OK) return st;
    /* line = " {} ".format(line) */
    if ((st = eval_text_reserve(text, text->count + 2)) != TFM_OK) return st;
    memmove(text->cp + 1, text->cp, text->count * sizeof *text->cp);
    text->cp[0] = ' ';
    text->cp[text->count + 1] = ' ';
    text->count += 2;
    if ((st = pad_class(text, scratch, is_13a_symbol)) != TFM_OK) return st;
    /* ([^0-9])([\.,]) -> "\1 \2 " : period and comma unless preceded by a digit */
    if ((st = substitute_pair(text, scratch, is_digit, 1, is_period_comma, 0, 0, 1, 1)) != TFM_OK) return st;
    /* ([\.,])([^0-9]) -> " \1 \2" : period and comma unless followed by a digit */
    if ((st = substitute_pair(text, scratch, is_period_comma, 0, is_digit, 1, 1, 1, 0)) != TFM_OK) return st;
    /* ([0-9])(-) -> "\1 \2 " : dash after a digit */
    return substitute_pair(text, scratch, is_digit, 0, is_dash, 0, 0, 1, 1);
}

/* sacreBLEU's TokenizerV14International. */
static tfm_status tokenize_intl(eval_text *text, eval_text *scratch) {
    tfm_status st;
    /* (\P{N})(\p{P}) -> "\1 \2 " */
    if ((st = substitute_pair(text, scratch, is_unicode_number, 1, is_unicode_punctuation, 0, 0, 1, 1)) != TFM_OK) return st;
    /* (\p{P})(\P{N}) -> " \1 \2" */
    if ((st = substitute_pair(text, scratch, is_unicode_punctuation, 0, is_unicode_number, 1, 1, 1, 0)) != TFM_OK) return st;
    /* (\p{S}) -> " \1 " */
    return pad_class(text, scratch, is_unicode_symbol);
}

tfm_status eval_bleu_tokenize_text(eval_text *line, eval_text *scratch, tfm_bleu_tokenizer tokenizer, int lowercase,
                                   eval_tokens *tokens) {
    tfm_status st;
    if (lowercase && (st = eval_text_lower(line)) != TFM_OK) return st;
    eval_text_rstrip(line);
    switch (tokenizer) {
    case TFM_BLEU_TOKENIZE_13A: st = tokenize_13a(line, scratch); break;
    case TFM_BLEU_TOKENIZE_INTL: st = tokenize_intl(line, scratch); break;
    case TFM_BLEU_TOKENIZE_CHAR:
        /* " ".join(line) then split(): every non-space character is a token */
        tokens->count = 0;
        for (size_t i = 0; i < line->count; i++)
            if (!eval_is_space(line->cp[i]) && (st = eval_tokens_push(tokens, i, 1)) != TFM_OK) return st;
        return TFM_OK;
    case TFM_BLEU_TOKENIZE_NONE: st = TFM_OK; break;
    default: return tfm_error(TFM_ERR_INVALID_ARGUMENT, "bleu: unknown tokenizer %d", (int)tokenizer);
    }
    if (st) return st;
    return eval_text_split(line, tokens);
}
