/* Byte-level BPE file formats: GPT-2's encoder.json + vocab.bpe, Hugging Face tokenizer.json (read and write). */
#define _POSIX_C_SOURCE 200809L /* getpid */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tfm/io.h" /* tfm_file_open_read, tfm_file_check_input */
#include "tokenizer/bpe_internal.h"

/* Whole file into memory (NUL-terminated). Vocabulary files are a few MB; refuse absurd sizes. */
static tfm_status read_whole_file(const char *path, char **out, size_t *out_len) {
    *out = NULL;
    *out_len = 0;
    FILE *f = NULL;
    tfm_status opened = tfm_file_open_read(path, &f); /* a regular file: a FIFO or directory is refused */
    if (opened) return opened;
    size_t cap = 1 << 16, len = 0;
    char *buf = tfm_malloc(cap);
    if (!buf) { fclose(f); return TFM_ERR_OUT_OF_MEMORY; }
    for (;;) {
        if (len + 1 >= cap) {
            if (cap >= ((size_t)1 << 30)) {
                tfm_free(buf, cap);
                fclose(f);
                return tfm_error(TFM_ERR_FORMAT, "%s: larger than 1 GiB, not a vocabulary file", path);
            }
            char *p = tfm_realloc(buf, cap, cap * 2);
            if (!p) { tfm_free(buf, cap); fclose(f); return TFM_ERR_OUT_OF_MEMORY; }
            buf = p;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - 1 - len, f);
        len += n;
        if (n == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) { tfm_free(buf, cap); return tfm_error(TFM_ERR_IO, "%s: read error", path); }
    buf[len] = 0;
    /* Shrink so the caller can free with the length it knows. */
    char *p = tfm_realloc(buf, cap, len + 1);
    if (!p) { tfm_free(buf, cap); return TFM_ERR_OUT_OF_MEMORY; }
    *out = p;
    *out_len = len;
    return TFM_OK;
}

/* A spelled (byte-level alphabet) token to its id, or an error naming the file and where. */
static tfm_status spelled_to_id(const tfm_bpe *tok, const char *spelled, size_t len, char *scratch, uint32_t *id) {
    long n = tfm_bpe_spelling_to_bytes(spelled, len, scratch);
    if (n < 0) return TFM_ERR_FORMAT;
    int64_t v = tfm_bpe_token_to_id(tok, scratch, (size_t)n);
    if (v < 0) return TFM_ERR_FORMAT;
    *id = (uint32_t)v;
    return TFM_OK;
}

/* Record merge (left, right) whose parts are spelled tokens; the concatenation must be a token. */
static tfm_status add_spelled_merge(tfm_bpe *tok, const char *a, size_t alen, const char *b, size_t blen,
                                    const char *where) {
    char small[512];
    size_t need = alen + blen + 1; /* raw bytes are never longer than their spelling */
    char *scratch = need <= sizeof small ? small : tfm_malloc(need);
    if (!scratch) return TFM_ERR_OUT_OF_MEMORY;
    tfm_status st = TFM_OK;
    uint32_t left, right;
    if (spelled_to_id(tok, a, alen, scratch, &left)) {
        st = tfm_error(TFM_ERR_FORMAT, "%s: merge part \"%.*s\" is not in the vocabulary", where, (int)(alen < 200 ? alen : 200), a);
    } else if (spelled_to_id(tok, b, blen, scratch, &right)) {
        st = tfm_error(TFM_ERR_FORMAT, "%s: merge part \"%.*s\" is not in the vocabulary", where, (int)(blen < 200 ? blen : 200), b);
    } else {
        size_t la = tok->token_length[left], lb = tok->token_length[right];
        memcpy(scratch, tok->token_bytes + tok->token_offset[left], la);
        memcpy(scratch + la, tok->token_bytes + tok->token_offset[right], lb);
        int64_t result = tfm_bpe_token_to_id(tok, scratch, la + lb);
        if (result < 0)
            st = tfm_error(TFM_ERR_FORMAT, "%s: merge result \"%.*s%.*s\" is not in the vocabulary", where,
                           (int)(alen < 200 ? alen : 200), a, (int)(blen < 200 ? blen : 200), b);
        else
            st = tfm_bpe_add_merge(tok, left, right, (uint32_t)result);
    }
    if (scratch != small) tfm_free(scratch, need);
    return st;
}

static int json_is_integer_id(const cJSON *v) {
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < (double)(1u << 24) &&
           v->valuedouble == (double)(int64_t)v->valuedouble;
}

/* Without merges (and without ignore_merges) only single bytes and added tokens can ever be produced: a
 * vocabulary with longer tokens then means the merges went missing (an empty vocab.bpe, a tokenizer.json
 * without model.merges), and encoding would silently give one id per byte. */
static tfm_status check_merges_present(const tfm_bpe *tok, const char *merges_name) {
    if (tok->merge_count > 0 || tok->ignore_merges) return TFM_OK;
    size_t longer = 0;
    uint32_t example = 0;
    for (uint32_t id = 0; id < tok->vocab_size; id++) {
        if (tok->token_length[id] == UINT32_MAX || tok->token_length[id] <= 1) continue;
        int added = 0;
        for (size_t a = 0; a < tok->added_count && !added; a++) added = tok->added[a].id == id;
        if (!added && longer++ == 0) example = id;
    }
    if (longer == 0) return TFM_OK;
    return tfm_error(TFM_ERR_FORMAT,
                     "%s: no merges, yet %zu tokens of the vocabulary are longer than one byte (id %u is \"%.*s\"): "
                     "without merges they could never be produced",
                     merges_name, longer, example, (int)(tok->token_length[example] < 60 ? tok->token_length[example] : 60),
                     tok->token_bytes + tok->token_offset[example]);
}

/* ---- GPT-2: encoder.json + vocab.bpe ---- */

static tfm_status load_gpt2_merges(tfm_bpe *tok, const char *path, const char *text, size_t len) {
    size_t pos = 0, line = 0;
    char where[64 + 4096];
    while (pos < len) {
        size_t end = pos;
        while (end < len && text[end] != '\n') end++;
        line++;
        size_t a = pos, e = end;
        if (e > a && text[e - 1] == '\r') e--;
        pos = end + 1;
        if (line == 1 && e - a >= 8 && memcmp(text + a, "#version", 8) == 0) continue;
        /* Like GPT-2's own reader: split on whitespace, skip blank lines. */
        const char *parts[3];
        size_t lens[3], count = 0;
        size_t i = a;
        while (i < e) {
            while (i < e && (text[i] == ' ' || text[i] == '\t')) i++;
            if (i >= e) break;
            size_t s = i;
            while (i < e && text[i] != ' ' && text[i] != '\t') i++;
            if (count < 3) { parts[count] = text + s; lens[count] = i - s; }
            count++;
        }
        if (count == 0) continue;
        snprintf(where, sizeof where, "%.4000s: line %zu", path, line);
        if (count != 2)
            return tfm_error(TFM_ERR_FORMAT, "%s: expected two tokens separated by a space, found %zu", where, count);
        tfm_status st = add_spelled_merge(tok, parts[0], lens[0], parts[1], lens[1], where);
        if (st) return st;
    }
    return TFM_OK;
}

tfm_status tfm_bpe_load_gpt2_text(tfm_bpe **out, const char *json, size_t json_len, const char *json_name,
                                  const char *merges, size_t merges_len, const char *merges_name) {
    *out = NULL;
    tfm_bpe *tok = NULL;
    tfm_status st = TFM_OK;
    cJSON *root = cJSON_ParseWithLength(json ? json : "", json_len);
    if (!root || !cJSON_IsObject(root)) {
        const char *at = cJSON_GetErrorPtr();
        st = tfm_error(TFM_ERR_FORMAT, "%s: not a JSON object (error near byte %ld)", json_name,
                       !root && at && at >= json && at <= json + json_len ? (long)(at - json) : -1L);
        goto done;
    }
    if ((st = tfm_bpe_create_empty(&tok))) goto done;
    char scratch[4096];
    for (const cJSON *e = root->child; e; e = e->next) {
        size_t klen = strlen(e->string);
        if (!json_is_integer_id(e)) {
            st = tfm_error(TFM_ERR_FORMAT, "%s: token \"%.200s\": id is not an integer in [0, 2^24)", json_name, e->string);
            goto done;
        }
        char *buf = klen <= sizeof scratch ? scratch : tfm_malloc(klen);
        if (!buf) { st = TFM_ERR_OUT_OF_MEMORY; goto done; }
        long n = tfm_bpe_spelling_to_bytes(e->string, klen, buf);
        if (n >= 0) st = tfm_bpe_set_token(tok, (uint32_t)e->valuedouble, buf, (size_t)n);
        if (buf != scratch) tfm_free(buf, klen);
        if (n < 0) {
            st = tfm_error(TFM_ERR_FORMAT, "%s: token \"%.200s\" is not spelled in GPT-2's byte-level alphabet",
                           json_name, e->string);
            goto done;
        }
        if (st) {
            tfm_error_prefix(st, "%s: ", json_name);
            goto done;
        }
    }
    if (tok->vocab_size == 0) { st = tfm_error(TFM_ERR_FORMAT, "%s: the vocabulary is empty", json_name); goto done; }
    if ((st = load_gpt2_merges(tok, merges_name, merges ? merges : "", merges_len))) goto done;
    int64_t eot = tfm_bpe_token_to_id(tok, "<|endoftext|>", 13);
    if (eot >= 0 && (st = tfm_bpe_add_added(tok, (uint32_t)eot, 1))) goto done;
    if ((st = tfm_bpe_finalize(tok))) { tfm_error_prefix(st, "%s: ", json_name); goto done; }
    if ((st = check_merges_present(tok, merges_name))) goto done;
done:
    cJSON_Delete(root);
    if (st) { tfm_bpe_free(tok); return st; }
    *out = tok;
    return TFM_OK;
}

tfm_status tfm_bpe_load_gpt2(tfm_bpe **out, const char *encoder_json_path, const char *vocab_bpe_path) {
    if (!out || !encoder_json_path || !vocab_bpe_path)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_load_gpt2: NULL argument");
    *out = NULL;
    char *json = NULL, *merges = NULL;
    size_t json_len = 0, merges_len = 0;
    tfm_status st = read_whole_file(encoder_json_path, &json, &json_len);
    if (st) return st;
    if ((st = read_whole_file(vocab_bpe_path, &merges, &merges_len))) {
        tfm_free(json, json_len + 1);
        return st;
    }
    st = tfm_bpe_load_gpt2_text(out, json, json_len, encoder_json_path, merges, merges_len, vocab_bpe_path);
    tfm_free(json, json_len + 1);
    tfm_free(merges, merges_len + 1);
    return st;
}

/* ---- Hugging Face tokenizer.json ---- */

static const char *json_type_name(const cJSON *v) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, "type");
    return cJSON_IsString(t) ? t->valuestring : "(no type)";
}

static tfm_status read_byte_level(const cJSON *pre, const char *name, tfm_bpe *tok) {
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(pre, "add_prefix_space")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) return tfm_error(TFM_ERR_FORMAT, "%s: pre_tokenizer.add_prefix_space is not a boolean", name);
        tok->add_prefix_space = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(pre, "use_regex")) && !cJSON_IsNull(v)) {
        if (!cJSON_IsBool(v)) return tfm_error(TFM_ERR_FORMAT, "%s: pre_tokenizer.use_regex is not a boolean", name);
        tok->use_regex = cJSON_IsTrue(v);
    }
    return TFM_OK;
}

static int json_is_null_or_empty_string(const cJSON *v) {
    return !v || cJSON_IsNull(v) || (cJSON_IsString(v) && v->valuestring[0] == 0);
}

static tfm_status load_hf_tree(tfm_bpe *tok, const cJSON *root, const char *name) {
    if (!cJSON_IsObject(root)) return tfm_error(TFM_ERR_FORMAT, "%s: the top level is not a JSON object", name);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!cJSON_IsObject(model)) return tfm_error(TFM_ERR_FORMAT, "%s: no \"model\" object", name);
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(model, "type");
    if (type && (!cJSON_IsString(type) || strcmp(type->valuestring, "BPE") != 0))
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: model type is %s, not BPE", name, json_type_name(model));
    const cJSON *normalizer = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    if (normalizer && !cJSON_IsNull(normalizer))
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: normalizer %s is not supported (byte-level BPE has none)", name,
                         json_type_name(normalizer));
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    if (!cJSON_IsObject(pre))
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: no ByteLevel pre_tokenizer: not a byte-level BPE tokenizer", name);
    const char *pre_type = json_type_name(pre);
    tfm_status st;
    if (strcmp(pre_type, "ByteLevel") == 0) {
        if ((st = read_byte_level(pre, name, tok))) return st;
    } else if (strcmp(pre_type, "Sequence") == 0) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
        if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) != 1 ||
            strcmp(json_type_name(cJSON_GetArrayItem(list, 0)), "ByteLevel") != 0)
            return tfm_error(TFM_ERR_UNSUPPORTED, "%s: pre_tokenizer Sequence other than [ByteLevel] is not supported", name);
        if ((st = read_byte_level(cJSON_GetArrayItem(list, 0), name, tok))) return st;
    } else {
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: pre_tokenizer %s is not supported (expected ByteLevel)", name, pre_type);
    }
    const cJSON *post = cJSON_GetObjectItemCaseSensitive(root, "post_processor");
    if (post && !cJSON_IsNull(post) && strcmp(json_type_name(post), "ByteLevel") != 0)
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: post_processor %s is not supported (it would add tokens)", name,
                         json_type_name(post));
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 0))
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: model.dropout is not supported (encoding would be random)", name);
    if (!json_is_null_or_empty_string(cJSON_GetObjectItemCaseSensitive(model, "continuing_subword_prefix")) ||
        !json_is_null_or_empty_string(cJSON_GetObjectItemCaseSensitive(model, "end_of_word_suffix")))
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: continuing_subword_prefix / end_of_word_suffix are not supported", name);
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "byte_fallback")))
        return tfm_error(TFM_ERR_UNSUPPORTED, "%s: model.byte_fallback is not supported", name);
    tok->ignore_merges = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(model, "ignore_merges"));

    /* Added tokens first: their vocabulary entries are spelled as their raw content. */
    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    if (added && !cJSON_IsNull(added) && !cJSON_IsArray(added))
        return tfm_error(TFM_ERR_FORMAT, "%s: added_tokens is not an array", name);
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(model, "vocab");
    if (!cJSON_IsObject(vocab)) return tfm_error(TFM_ERR_FORMAT, "%s: model.vocab is not an object", name);
    size_t index = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, added) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(a, "content");
        if (!json_is_integer_id(id) || !cJSON_IsString(content) || !content->valuestring[0])
            return tfm_error(TFM_ERR_FORMAT, "%s: added_tokens[%zu]: needs an integer \"id\" and a non-empty \"content\"", name, index);
        static const char *const unsupported[] = {"single_word", "lstrip", "rstrip"};
        for (int k = 0; k < 3; k++)
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, unsupported[k])))
                return tfm_error(TFM_ERR_UNSUPPORTED, "%s: added token \"%.100s\": %s=true is not supported", name,
                                 content->valuestring, unsupported[k]);
        uint32_t idv = (uint32_t)id->valuedouble;
        size_t clen = strlen(content->valuestring);
        int64_t existing = tfm_bpe_token_to_id(tok, content->valuestring, clen);
        if (existing >= 0 && existing != idv)
            return tfm_error(TFM_ERR_FORMAT, "%s: added token \"%.100s\" has ids %lld and %u", name, content->valuestring,
                             (long long)existing, idv);
        if (existing < 0 && (st = tfm_bpe_set_token(tok, idv, content->valuestring, clen)))
            return tfm_error_prefix(st, "%s: added_tokens[%zu]: ", name, index);
        if ((st = tfm_bpe_add_added(tok, idv, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special")))))
            return st;
        index++;
    }
    char scratch[4096];
    const cJSON *e;
    cJSON_ArrayForEach(e, vocab) {
        if (!json_is_integer_id(e))
            return tfm_error(TFM_ERR_FORMAT, "%s: model.vocab[\"%.200s\"]: id is not an integer in [0, 2^24)", name, e->string);
        uint32_t id = (uint32_t)e->valuedouble;
        size_t klen = strlen(e->string);
        if (id < tok->vocab_size && tok->token_length[id] != UINT32_MAX) {
            /* Already set by added_tokens: the vocabulary entry must be that same token. */
            if (tok->token_length[id] == klen && memcmp(tok->token_bytes + tok->token_offset[id], e->string, klen) == 0)
                continue;
        }
        char *buf = klen <= sizeof scratch ? scratch : tfm_malloc(klen);
        if (!buf) return TFM_ERR_OUT_OF_MEMORY;
        long n = tfm_bpe_spelling_to_bytes(e->string, klen, buf);
        if (n < 0) {
            if (buf != scratch) tfm_free(buf, klen);
            return tfm_error(TFM_ERR_FORMAT, "%s: model.vocab token \"%.200s\" is not in the byte-level alphabet", name, e->string);
        }
        st = tfm_bpe_set_token(tok, id, buf, (size_t)n);
        if (buf != scratch) tfm_free(buf, klen);
        if (st) return tfm_error_prefix(st, "%s: model.vocab: ", name);
    }
    const cJSON *unk = cJSON_GetObjectItemCaseSensitive(model, "unk_token");
    if (cJSON_IsString(unk)) {
        int64_t id = tfm_bpe_token_to_id(tok, unk->valuestring, strlen(unk->valuestring));
        if (id < 0) {
            long n = strlen(unk->valuestring) <= sizeof scratch
                         ? tfm_bpe_spelling_to_bytes(unk->valuestring, strlen(unk->valuestring), scratch) : -1;
            if (n >= 0) id = tfm_bpe_token_to_id(tok, scratch, (size_t)n);
        }
        if (id < 0) return tfm_error(TFM_ERR_FORMAT, "%s: unk_token \"%.100s\" is not in the vocabulary", name, unk->valuestring);
        tok->unk_id = (uint32_t)id;
    }
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(model, "merges");
    if (merges && !cJSON_IsNull(merges) && !cJSON_IsArray(merges))
        return tfm_error(TFM_ERR_FORMAT, "%s: model.merges is not an array", name);
    char where[300];
    index = 0;
    cJSON_ArrayForEach(e, merges) {
        snprintf(where, sizeof where, "%.200s: model.merges[%zu]", name, index);
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *space = strchr(s, ' ');
            if (!space || space == s || !space[1] || strchr(space + 1, ' '))
                return tfm_error(TFM_ERR_FORMAT, "%s: \"%.200s\" is not two tokens separated by one space", where, s);
            if ((st = add_spelled_merge(tok, s, (size_t)(space - s), space + 1, strlen(space + 1), where))) return st;
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(cJSON_GetArrayItem(e, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(e, 1))) {
            const char *l = cJSON_GetArrayItem(e, 0)->valuestring, *r = cJSON_GetArrayItem(e, 1)->valuestring;
            if ((st = add_spelled_merge(tok, l, strlen(l), r, strlen(r), where))) return st;
        } else {
            return tfm_error(TFM_ERR_FORMAT, "%s: expected \"left right\" or [\"left\", \"right\"]", where);
        }
        index++;
    }
    if (tok->vocab_size == 0) return tfm_error(TFM_ERR_FORMAT, "%s: the vocabulary is empty", name);
    if ((st = tfm_bpe_finalize(tok))) return tfm_error_prefix(st, "%s: ", name);
    char model_merges[300];
    snprintf(model_merges, sizeof model_merges, "%.200s: model.merges", name);
    return check_merges_present(tok, model_merges);
}

tfm_status tfm_bpe_load_hf_text(tfm_bpe **out, const char *json, size_t json_len, const char *name) {
    if (!out || (!json && json_len)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_load_hf_text: NULL argument");
    *out = NULL;
    if (!name) name = "tokenizer.json";
    cJSON *root = cJSON_ParseWithLength(json ? json : "", json_len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        return tfm_error(TFM_ERR_FORMAT, "%s: invalid JSON near byte %ld", name,
                         at && at >= json && at <= json + json_len ? (long)(at - json) : -1L);
    }
    tfm_bpe *tok;
    tfm_status st = tfm_bpe_create_empty(&tok);
    if (!st) st = load_hf_tree(tok, root, name);
    cJSON_Delete(root);
    if (st) { tfm_bpe_free(tok); return st; }
    *out = tok;
    return TFM_OK;
}

tfm_status tfm_bpe_load_hf(tfm_bpe **out, const char *path) {
    if (!out || !path) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_load_hf: NULL argument");
    char *json;
    size_t len;
    tfm_status st = read_whole_file(path, &json, &len);
    if (st) return st;
    st = tfm_bpe_load_hf_text(out, json, len, path);
    tfm_free(json, len + 1);
    return st;
}

/* JSON string literal of raw UTF-8 bytes. */
static void write_json_string(FILE *f, const char *s, size_t len) {
    fputc('"', f);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') { fputc('\\', f); fputc(c, f); }
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* The token's vocabulary key: added tokens by their content, others in the byte-level spelling. */
static size_t vocab_key(const tfm_bpe *tok, uint32_t id, char *dst) {
    const char *b = tok->token_bytes + tok->token_offset[id];
    size_t n = tok->token_length[id];
    if (tok->is_special[id]) { memcpy(dst, b, n); return n; }
    return tfm_bpe_bytes_to_spelling(b, n, dst);
}

tfm_status tfm_bpe_token_spelling(const tfm_bpe *tok, uint32_t id, char *out, size_t capacity, size_t *length) {
    if (id >= tok->vocab_size || tok->token_length[id] == UINT32_MAX)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "token id %u is not in the vocabulary", id);
    if (capacity < 2 * (size_t)tok->token_length[id] + 1)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "token %u: a spelling buffer of %zu bytes is too small", id, capacity);
    *length = vocab_key(tok, id, out);
    return TFM_OK;
}

tfm_status tfm_bpe_merge_at(const tfm_bpe *tok, size_t rank, uint32_t *left, uint32_t *right) {
    if (rank >= tok->merge_count) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "merge %zu: the tokenizer has %zu", rank, tok->merge_count);
    *left = tok->merges[rank].left, *right = tok->merges[rank].right;
    return TFM_OK;
}

tfm_status tfm_bpe_save_hf(const tfm_bpe *tok, const char *path) {
    if (!tok || !path) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "tfm_bpe_save_hf: NULL argument");
    size_t longest = 0;
    for (uint32_t id = 0; id < tok->vocab_size; id++)
        if (tok->token_length[id] != UINT32_MAX && tok->token_length[id] > longest) longest = tok->token_length[id];
    size_t key_cap = 2 * longest + 2;
    char *key = tfm_malloc(key_cap), *key2 = tfm_malloc(key_cap);
    size_t tmp_len = strlen(path) + 32;
    char *tmp = tfm_malloc(tmp_len);
    if (!key || !key2 || !tmp) {
        tfm_free(key, key_cap); tfm_free(key2, key_cap); tfm_free(tmp, tmp_len);
        return TFM_ERR_OUT_OF_MEMORY;
    }
    snprintf(tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
    tfm_status st = TFM_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = tfm_error(TFM_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    fputs("{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [", f);
    {
        int first = 1;
        for (uint32_t id = 0; id < tok->vocab_size; id++) {
            if (!tok->is_special[id]) continue;
            fprintf(f, "%s\n    {\n      \"id\": %u,\n      \"content\": ", first ? "" : ",", id);
            write_json_string(f, tok->token_bytes + tok->token_offset[id], tok->token_length[id]);
            fprintf(f, ",\n      \"single_word\": false,\n      \"lstrip\": false,\n      \"rstrip\": false,\n"
                       "      \"normalized\": false,\n      \"special\": %s\n    }",
                    tok->is_special[id] == 1 ? "true" : "false");
            first = 0;
        }
        fputs(first ? "],\n" : "\n  ],\n", f);
    }
    fprintf(f, "  \"normalizer\": null,\n"
               "  \"pre_tokenizer\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": %s,\n"
               "    \"trim_offsets\": true,\n    \"use_regex\": %s\n  },\n"
               "  \"post_processor\": null,\n"
               "  \"decoder\": {\n    \"type\": \"ByteLevel\",\n    \"add_prefix_space\": true,\n"
               "    \"trim_offsets\": true,\n    \"use_regex\": true\n  },\n"
               "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": ",
            tok->add_prefix_space ? "true" : "false", tok->use_regex ? "true" : "false");
    if (tok->unk_id != TFM_BPE_NONE) {
        size_t n = vocab_key(tok, tok->unk_id, key);
        write_json_string(f, key, n);
    } else {
        fputs("null", f);
    }
    fprintf(f, ",\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
               "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": %s,\n    \"vocab\": {",
            tok->ignore_merges ? "true" : "false");
    int first = 1;
    for (uint32_t id = 0; id < tok->vocab_size; id++) {
        if (tok->token_length[id] == UINT32_MAX) continue;
        fputs(first ? "\n      " : ",\n      ", f);
        size_t n = vocab_key(tok, id, key);
        write_json_string(f, key, n);
        fprintf(f, ": %u", id);
        first = 0;
    }
    fputs("\n    },\n    \"merges\": [", f);
    for (size_t r = 0; r < tok->merge_count; r++) {
        const tfm_bpe_merge *m = &tok->merges[r];
        size_t n1 = vocab_key(tok, m->left, key), n2 = vocab_key(tok, m->right, key2);
        /* "left right" strings unless a part contains a space; then the [left, right] form. */
        int plain = !memchr(key, ' ', n1) && !memchr(key2, ' ', n2);
        fputs(r ? ",\n      " : "\n      ", f);
        if (plain) {
            key[n1] = ' ';
            memcpy(key + n1 + 1, key2, n2);
            write_json_string(f, key, n1 + 1 + n2);
        } else {
            fputc('[', f);
            write_json_string(f, key, n1);
            fputs(", ", f);
            write_json_string(f, key2, n2);
            fputc(']', f);
        }
    }
    fputs(tok->merge_count ? "\n    ]\n  }\n}\n" : "]\n  }\n}\n", f);
    if (fflush(f) != 0 || ferror(f)) {
        st = tfm_error(TFM_ERR_IO, "%s: write error: %s", tmp, strerror(errno));
        fclose(f);
        remove(tmp);
        goto done;
    }
    if (fclose(f) != 0) {
        st = tfm_error(TFM_ERR_IO, "%s: write error: %s", tmp, strerror(errno));
        remove(tmp);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        st = tfm_error(TFM_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        remove(tmp);
    }
done:
    tfm_free(key, key_cap);
    tfm_free(key2, key_cap);
    tfm_free(tmp, tmp_len);
    return st;
}
