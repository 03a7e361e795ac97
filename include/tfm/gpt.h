/* tfm/gpt.h: GPT, the decoder-only Transformer trained by next-token prediction (GPT-2's architecture). */
#ifndef TFM_GPT_H
#define TFM_GPT_H

#include "tfm/config.h"
#include "tfm/nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One Transformer block, pre-LN as in GPT-2:
 *   x = x + dropout(c_proj(attention(c_attn(ln_1(x)))))
 *   x = x + dropout(mlp.c_proj(gelu(mlp.c_fc(ln_2(x)))))
 * (post-LN, the paper's order, when config.pre_layernorm == 0: x = ln_1(x + attn(x)); x = ln_2(x + mlp(x))). */
typedef struct tfm_gpt_block {
    tfm_norm_layer ln_1;            /* [C]; LayerNorm unless config.norm says otherwise */
    tfm_linear_layer attn_qkv;      /* c_attn: [3C, C]: q, k, v stacked, heads contiguous within each */
    tfm_linear_layer attn_proj;     /* c_proj: [C, C] */
    tfm_norm_layer ln_2;            /* [C] */
    tfm_linear_layer mlp_fc;        /* c_fc: [d_ff, C] */
    tfm_linear_layer mlp_proj;      /* mlp.c_proj: [C, d_ff] */
    tfm_tensor relative_keys;       /* positions "relative": attn.relative_keys [2R+1, C / H] (Shaw et al.'s a^K) */
    tfm_tensor relative_values;     /* attn.relative_values [2R+1, C / H] (a^V) */
    tfm_tensor prelu;               /* activation "prelu": mlp.prelu.weight [1], the learned slope */
} tfm_gpt_block;

typedef struct tfm_gpt {
    tfm_gpt_config config;
    tfm_params params;              /* every tensor below lives in params' slabs */
    tfm_tensor token_embedding;     /* transformer.wte.weight [V, C] */
    tfm_tensor position_embedding;  /* transformer.wpe.weight [T_max, C], or the fixed sinusoidal table */
    float *sinusoid_table;          /* [T_max, C] when positions are "sinusoidal" */
    tfm_gpt_block *blocks;          /* [L] */
    tfm_norm_layer ln_f;            /* final norm (pre-LN only) */
    tfm_tensor lm_head;             /* [V, C] when not tied to token_embedding */
} tfm_gpt;

/* Keys and values of every layer for the tokens seen so far, so each new token costs one position's work. */
typedef struct tfm_gpt_cache {
    int batch, capacity, length;    /* capacity = context_length; length = positions filled */
    int layers, channels;
    float *keys;                    /* [L, B, capacity, C] */
    float *values;                  /* [L, B, capacity, C] */
} tfm_gpt_cache;

/* Declare and allocate the parameters (zero); tfm_gpt_init_weights gives GPT-2's initialisation:
 * normal(0, 0.02), residual projections scaled by 1/sqrt(2 L), biases 0, LayerNorm gains 1. */
tfm_status tfm_gpt_create(tfm_gpt **model, const tfm_gpt_config *config);
void tfm_gpt_init_weights(tfm_gpt *model, uint64_t seed);
void tfm_gpt_free(tfm_gpt *model);
/* A model-only checkpoint directory: model.safetensors + config.json (Hugging Face GPT-2 keys). */
tfm_status tfm_gpt_save(const tfm_gpt *model, const char *dir);
/* Create the model that dir/config.json describes and fill it from dir/model.safetensors. */
/* Weights holding NaN or infinity are refused (TFM_ERR_NUMERIC naming the tensor) unless
 * options->allow_nonfinite (struct tfm_load_options, tfm/io.h; NULL = defaults). */
tfm_status tfm_gpt_load(tfm_gpt **model, const char *dir);
struct tfm_load_options;
tfm_status tfm_gpt_load_with(tfm_gpt **model, const char *dir, const struct tfm_load_options *options);

/* llama.cpp's GGUF (architecture "gpt2", the tokenizer inside: tokens, merges, <|endoftext|> as BOS/EOS), written atomically.
 * type: TFM_GGUF_F32, TFM_GGUF_F16 or TFM_GGUF_Q8_0 (tfm/io.h) for the matrices, vectors in f32. tokenizer may be NULL
 * for a byte-level model (256 ids: written as 256 byte tokens, no merges). A model llama.cpp's gpt2 cannot run
 * (post-LN, RMSNorm/BatchNorm, positions other than learned, activation other than GELU) is refused, naming the option. */
struct tfm_bpe;
tfm_status tfm_gpt_export_gguf(const tfm_gpt *model, const struct tfm_bpe *tokenizer, const char *path, int type);

/* logits for tokens [B, T] -> [B, T, V] (or [B, 1, V] for the last position only, when last_only).
 * With a cache, the tokens continue the cached sequence at position cache->length, attend to all cached
 * positions, and are appended to the cache. Fails (NULL + message) on token ids outside [0, V) or when
 * the sequence would exceed the context length. */
tfm_tensor *tfm_gpt_forward(tfm_gpt *model, tfm_graph *g, const int32_t *tokens, int B, int T, tfm_gpt_cache *cache, int last_only);
/* Mean next-token cross-entropy over targets [B, T] (-100 = ignore) -> scalar tensor on g. */
tfm_tensor *tfm_gpt_loss(tfm_gpt *model, tfm_graph *g, const int32_t *tokens, const int32_t *targets, int B, int T,
                         float label_smoothing);

tfm_status tfm_gpt_cache_create(tfm_gpt_cache *cache, const tfm_gpt *model, int batch);
void tfm_gpt_cache_free(tfm_gpt_cache *cache);
static inline void tfm_gpt_cache_reset(tfm_gpt_cache *cache) { cache->length = 0; }

#define TFM_IGNORE_INDEX (-100)

/* ---- Generation ----
 * Continue `prompt` by `max_new_tokens` tokens chosen by `sampler` (include/tfm/decode.h), calling
 * on_token for each (return non-zero from it to stop early). With use_cache, the prompt is run once
 * and every new token costs one position (keys/values of earlier positions come from the KV cache);
 * without, the whole window is recomputed per token; both give the same tokens. When the sequence
 * outgrows the context, the window restarts from the last context_length/2 tokens (in both modes).
 * A prompt longer than the context length is an error. Nothing is allocated per token. */
struct tfm_sampler;
typedef int (*tfm_token_callback)(int token, void *user_data);
tfm_status tfm_gpt_generate(tfm_gpt *model, const int32_t *prompt, int prompt_length, int max_new_tokens, struct tfm_sampler *sampler,
                            int use_cache, tfm_token_callback on_token, void *user_data);

#ifdef __cplusplus
}
#endif
#endif
