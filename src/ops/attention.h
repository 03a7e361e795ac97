/* ops/attention.h: fused multi-head scaled dot-product attention that reads q, k, v heads in place (no per-head copies). */
#ifndef TFM_OPS_ATTENTION_H
#define TFM_OPS_ATTENTION_H

#include <stddef.h>
#include <stdint.h>

#include "tfm/base.h"

/* Layout. q, k and v are row-major "position" matrices read in place through strides:
 *   query i of batch item b, head h, feature d lives at
 *       q[b * q_batch_stride + i * q_row_stride + h * head_dim + d]        (same for k, v with key j)
 * so one QKV projection [B, T, 3C] serves directly as q = base, k = base + C, v = base + 2C, all with
 * row stride 3C and batch stride 3C*T; cross-attention reads q [B, Tq, C] (stride C) and k, v from
 * an encoder projection [B, Tk, 2C] (k = base, v = base + C, stride 2C); a KV cache [B, Tmax, C]
 * has row stride C and batch stride Tmax*C. Head h uses columns [h*hd, (h+1)*hd).
 *
 *   out   [B, Tq, H*hd]  contiguous, overwritten
 *   probs [B, H, Tq, Tk] softmax(scale · q·kᵀ + mask) BEFORE dropout; saved for the backward pass
 *   dout  [B, Tq, H*hd]  contiguous
 *
 * Masking: key j is visible to query i of item b iff
 *   j < key_lengths[b]            (when key_lengths is non-NULL: right padding of the keys), and
 *   j <= i + (Tk - Tq)            (when causal: the Tq queries are the LAST Tq positions of the Tk keys,
 *                                  so Tq == Tk is ordinary training and Tq < Tk is decoding against a cache).
 * A query that sees no key at all gets probs 0 and out 0 (never NaN), and no gradient.
 *
 * Dropout on the attention weights (training): with p = dropout_p > 0, the weight of (b, h, i, j) is
 * kept iff tfm_random_uniform_at(dropout_seed, dropout_offset + ((b*H + h)*Tq + i)*Tk + j) >= p, and
 * kept weights are scaled by 1/(1-p). The backward pass recomputes the same mask from the counter,
 * so reserve B*H*Tq*Tk draws per call (tfm_rng_reserve). p = 0 turns dropout off. */
typedef struct tfm_attention_config {
    int batch;             /* B */
    int query_length;      /* Tq */
    int key_length;        /* Tk */
    int heads;             /* H */
    int head_dim;          /* hd */
    size_t q_row_stride, k_row_stride, v_row_stride;       /* floats between consecutive positions (>= H*hd) */
    size_t q_batch_stride, k_batch_stride, v_batch_stride; /* floats between consecutive batch items */
    int causal;
    const int *key_lengths; /* [B] or NULL: key positions >= key_lengths[b] are padding */
    float scale;            /* multiplies q·kᵀ; usually 1/sqrt(hd) */
    float dropout_p;        /* in [0, 1) */
    uint64_t dropout_seed, dropout_offset;
    const int *kv_index;    /* [B] or NULL: query item b reads k/v item kv_index[b] (forward only; key_lengths
                             * stay per query item). Beam search: a sentence's beams share one copy. */
    int alibi;              /* 1: ALiBi (Press et al. 2022): score -= slope_h |j - i'|, i' = i + Tk - Tq the query's position
                             * among the keys, slope_h from tfm_alibi_slope. Causal: the paper's slope_h (j - i'); without
                             * a causal mask (encoders) the symmetric form */
    /* Relative positions (Shaw et al. 2018). The clipped distance d = clamp(j - i', -R, R), R = relative_clip,
     * picks row d + R of two tables shared by the heads, [2R+1, hd] each (NULL: that term is off):
     *   score_ij += scale · q_i · relative_keys[d + R]        (the paper's a^K)
     *   out_i    += sum_j w_ij relative_values[d + R]          (a^V; w the weights after dropout)
     * Backward ACCUMULATES into relative_keys_grad / relative_values_grad ([2R+1, hd]; NULL skips). */
    const float *relative_keys, *relative_values;
    float *relative_keys_grad, *relative_values_grad;
    int relative_clip;      /* R >= 1 when a table is given */
} tfm_attention_config;

/* ALiBi's slope of head h of H: the paper's geometric sequence 2^(-8 (h + 1) / H) for a power-of-two H, and for
 * other H those of the power of two below it followed by every other slope of the one above (its reference code). */
float tfm_alibi_slope(int h, int H);

/* Defaults for contiguous q, k, v of shape [B, T, H*hd]: row stride H*hd, batch stride T*H*hd,
 * scale 1/sqrt(hd), not causal, no padding, no dropout. Change the fields you need afterwards. */
tfm_attention_config tfm_attention_config_default(int batch, int query_length, int key_length, int heads, int head_dim);

/* Floats of scratch memory the fast kernels need when run with `threads` threads (pass
 * tfm_threads_get()). The forward pass needs it only with dropout or relative positions; the backward
 * pass always (with relative gradients, also one [2R+1, hd] partial sum per (batch item, head)). */
size_t tfm_attention_scratch_floats(const tfm_attention_config *config, int threads);

/* Forward pass: fills out and probs. The fast version runs min(threads, scratch_floats / per-thread
 * need) threads over the (batch item, head) pairs, each with single-threaded OpenBLAS GEMMs reading
 * the heads in place; its result does not depend on the thread count. Both return
 * TFM_ERR_INVALID_ARGUMENT (with a message) for an inconsistent config or too little scratch. */
tfm_status tfm_attention_forward_reference(float *out, float *probs, const float *q, const float *k, const float *v,
                                           const tfm_attention_config *config);
tfm_status tfm_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                                 const tfm_attention_config *config, float *scratch, size_t scratch_floats);

/* Backward pass: ACCUMULATES (+=) into dq, dk, dv, which have the same layout (strides) as q, k, v
 * (so a QKV gradient buffer [B, T, 3C] works in place); a NULL gradient is skipped. probs must be
 * the forward pass's. */
tfm_status tfm_attention_backward_reference(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                                            const float *q, const float *k, const float *v,
                                            const tfm_attention_config *config);
tfm_status tfm_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                                  const float *q, const float *k, const float *v,
                                  const tfm_attention_config *config, float *scratch, size_t scratch_floats);

/* Generation with a KV cache, without recomputing the prefix.
 * Cache layout: k_cache and v_cache are separate [B, max_length, H*hd] arrays; positions
 * [0, cache_length) of every item are filled (the caller writes the new tokens' k and v rows at
 * positions cache_length - Tq .. cache_length - 1 before calling). q is [B, Tq, H*hd] contiguous,
 * holding the Tq newest positions' queries; they attend causally to the first cache_length keys.
 * key_lengths ([B] or NULL) masks right-padded prompt positions as in the config above.
 * out is [B, Tq, H*hd]; probs is scratch of B*H*Tq*cache_length floats. No dropout. */
tfm_status tfm_attention_decode(float *out, float *probs, const float *q, const float *k_cache, const float *v_cache,
                                int batch, int query_count, int cache_length, int max_length, int heads, int head_dim,
                                const int *key_lengths);

#endif
