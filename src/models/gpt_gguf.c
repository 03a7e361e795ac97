/* models/gpt_gguf.c: a GPT as llama.cpp's "gpt2" architecture in a GGUF file, its tokenizer inside. */
#include <stdio.h>
#include <string.h>

#include "io/gguf.h"
#include "tfm/bpe.h"
#include "tfm/gpt.h"

/* What llama.cpp's gpt2 graph computes: pre-LN LayerNorm blocks, learned positions, GELU (tanh), biases everywhere. */
static tfm_status check_gpt2_shape(const tfm_gpt *m) {
    const tfm_gpt_config *c = &m->config;
    const char *why = !c->pre_layernorm                   ? "pre_layernorm false (post-LN)"
                      : c->norm != TFM_NORM_LAYERNORM     ? "norm other than layernorm"
                      : c->positions != TFM_POSITIONS_LEARNED ? "positions other than learned"
                      : c->activation != TFM_ACTIVATION_GELU  ? "activation other than gelu (tanh form)"
                                                          : NULL;
    if (why) return tfm_error(TFM_ERR_UNSUPPORTED, "GGUF export: llama.cpp's gpt2 architecture has no %s; this model has it", why);
    for (int l = 0; l < c->n_layers; l++) {
        const tfm_gpt_block *b = &m->blocks[l];
        if (!b->attn_qkv.has_bias || !b->attn_proj.has_bias || !b->mlp_fc.has_bias || !b->mlp_proj.has_bias)
            return tfm_error(TFM_ERR_UNSUPPORTED, "GGUF export: layer %d has a linear layer without bias; gpt2 in GGUF has them all", l);
    }
    return TFM_OK;
}

/* Matrices in the requested type where it applies (q8_0 needs rows of a multiple of 32), vectors in f32 as
 * llama.cpp's converter writes them. */
static void add(tfm_gguf *g, const char *name, const tfm_tensor *t, int type) {
    int matrix_type = t->ndim == 2 && (type != TFM_GGUF_Q8_0 || t->shape[1] % 32 == 0) ? type : TFM_GGUF_F32;
    tfm_gguf_add_tensor(g, name, t->data, t->ndim, t->shape, t->ndim == 2 ? matrix_type : TFM_GGUF_F32);
}

static void add_block(tfm_gguf *g, const tfm_gpt_block *b, int l, int type) {
    char name[64];
#define ADD(part, tensor) (snprintf(name, sizeof name, "blk.%d.%s", l, part), add(g, name, tensor, type))
    ADD("attn_norm.weight", &b->ln_1.weight), ADD("attn_norm.bias", &b->ln_1.bias);
    ADD("attn_qkv.weight", &b->attn_qkv.weight), ADD("attn_qkv.bias", &b->attn_qkv.bias);
    ADD("attn_output.weight", &b->attn_proj.weight), ADD("attn_output.bias", &b->attn_proj.bias);
    ADD("ffn_norm.weight", &b->ln_2.weight), ADD("ffn_norm.bias", &b->ln_2.bias);
    ADD("ffn_up.weight", &b->mlp_fc.weight), ADD("ffn_up.bias", &b->mlp_fc.bias);
    ADD("ffn_down.weight", &b->mlp_proj.weight), ADD("ffn_down.bias", &b->mlp_proj.bias);
#undef ADD
}

/* The vocabulary as GGUF's string arrays: tokens spelled as vocab.json spells them, merges as "left right". */
typedef struct vocabulary {
    const tfm_bpe *tokenizer;
    char buffer[2048];
} vocabulary;

static const char *token_at(void *user, size_t id, size_t *length) {
    vocabulary *v = user;
    if (tfm_bpe_token_spelling(v->tokenizer, (uint32_t)id, v->buffer, sizeof v->buffer, length) != TFM_OK) {
        snprintf(v->buffer, sizeof v->buffer, "[UNUSED%zu]", id); /* an id no token has (GGUF's arrays have no holes) */
        *length = strlen(v->buffer);
    }
    return v->buffer;
}

static const char *merge_at(void *user, size_t rank, size_t *length) {
    vocabulary *v = user;
    uint32_t left = 0, right = 0;
    size_t a = 0, b = 0, half = sizeof v->buffer / 2;
    tfm_bpe_merge_at(v->tokenizer, rank, &left, &right);
    tfm_bpe_token_spelling(v->tokenizer, left, v->buffer, half - 1, &a);
    v->buffer[a] = ' ';
    tfm_bpe_token_spelling(v->tokenizer, right, v->buffer + a + 1, sizeof v->buffer - a - 1, &b);
    *length = a + 1 + b;
    return v->buffer;
}

static tfm_status add_tokenizer(tfm_gguf *g, const tfm_bpe *tokenizer, int vocab_size) {
    size_t V = (size_t)vocab_size;
    int32_t *types = tfm_malloc(sizeof *types * V);
    if (!types) return TFM_ERR_OUT_OF_MEMORY;
    int64_t end = tfm_bpe_token_to_id(tokenizer, "<|endoftext|>", 13);
    for (size_t id = 0; id < V; id++) {
        size_t len;
        types[id] = tfm_bpe_is_special(tokenizer, (uint32_t)id) ? 3 /* control */ : tfm_bpe_id_to_token(tokenizer, (uint32_t)id, &len) ? 1 /* normal */ : 5 /* unused */;
    }
    vocabulary v = {.tokenizer = tokenizer};
    tfm_gguf_add_string(g, "tokenizer.ggml.model", "gpt2");
    tfm_gguf_add_string(g, "tokenizer.ggml.pre", "gpt-2");
    tfm_gguf_add_strings(g, "tokenizer.ggml.tokens", V, token_at, &v);
    tfm_gguf_add_i32s(g, "tokenizer.ggml.token_type", types, V);
    tfm_gguf_add_strings(g, "tokenizer.ggml.merges", tfm_bpe_merge_count(tokenizer), merge_at, &v);
    if (end >= 0) {
        tfm_gguf_add_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)end);
        tfm_gguf_add_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)end);
    }
    tfm_free(types, sizeof *types * V);
    return TFM_OK;
}

tfm_status tfm_gpt_export_gguf(const tfm_gpt *m, const tfm_bpe *tokenizer, const char *path, int type) {
    const tfm_gpt_config *c = &m->config;
    tfm_status st = check_gpt2_shape(m);
    if (st) return st;
    if (type != TFM_GGUF_F32 && type != TFM_GGUF_F16 && type != TFM_GGUF_Q8_0)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "GGUF export: type %d is not f32 (0), f16 (1) or q8_0 (8)", type);
    tfm_bpe *bytes = NULL;
    if (!tokenizer && c->vocab_size == 256 && (st = tfm_bpe_create_bytes(&bytes)) != TFM_OK) return st;
    if (!tokenizer && !bytes)
        return tfm_error(TFM_ERR_CONFIG, "GGUF export: a model of %d ids needs its tokenizer (GGUF carries it)", c->vocab_size);
    const tfm_bpe *vocab = tokenizer ? tokenizer : bytes;
    if (tfm_bpe_vocab_size(vocab) != (size_t)c->vocab_size) {
        tfm_bpe_free(bytes);
        return tfm_error(TFM_ERR_CONFIG, "GGUF export: the tokenizer has %zu ids, the model %d", tfm_bpe_vocab_size(vocab), c->vocab_size);
    }
    tfm_gguf *g = NULL;
    if ((st = tfm_gguf_create(&g)) != TFM_OK) { tfm_bpe_free(bytes); return st; }
    tfm_gguf_add_string(g, "general.architecture", "gpt2");
    tfm_gguf_add_string(g, "general.name", "tfm-gpt");
    tfm_gguf_add_u32(g, "general.quantization_version", 2);
    tfm_gguf_add_u32(g, "general.file_type", type == TFM_GGUF_F32 ? 0 : type == TFM_GGUF_F16 ? 1 : 7); /* llama_ftype: ALL_F32, MOSTLY_F16, MOSTLY_Q8_0 */
    tfm_gguf_add_u32(g, "gpt2.context_length", (uint32_t)c->context_length);
    tfm_gguf_add_u32(g, "gpt2.embedding_length", (uint32_t)c->d_model);
    tfm_gguf_add_u32(g, "gpt2.feed_forward_length", (uint32_t)c->d_ff);
    tfm_gguf_add_u32(g, "gpt2.block_count", (uint32_t)c->n_layers);
    tfm_gguf_add_u32(g, "gpt2.attention.head_count", (uint32_t)c->n_heads);
    tfm_gguf_add_f32(g, "gpt2.attention.layer_norm_epsilon", c->layernorm_eps);
    st = add_tokenizer(g, vocab, c->vocab_size);
    add(g, "token_embd.weight", &m->token_embedding, type);
    add(g, "position_embd.weight", &m->position_embedding, type);
    for (int l = 0; l < c->n_layers; l++) add_block(g, &m->blocks[l], l, type);
    add(g, "output_norm.weight", &m->ln_f.weight, type);
    add(g, "output_norm.bias", &m->ln_f.bias, type);
    add(g, "output.weight", c->tie_embeddings ? &m->token_embedding : &m->lm_head, type); /* as llama.cpp's converter: tied is written twice */
    if (!st) st = tfm_gguf_write(g, path);
    tfm_gguf_free(g);
    tfm_bpe_free(bytes);
    return st;
}
