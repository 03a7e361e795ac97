/* ops/attention.c: multi-head scaled dot-product attention, forward and backward, as plain loops and as blocked OpenBLAS GEMMs. */
#include "ops/attention.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tfm/random.h"

/* Query rows per block in the fast kernels. A block of a causal pass only multiplies against the keys
 * its last row can see, so a causal pass does (1 + block/T)/2 of the full work (56% at T = 256).
 * 32 measured best on AVX-512 (64: 3% slower, 128: 15%, one block per head: 40% at T = 256). */
#ifndef TFM_ATTENTION_QUERY_BLOCK
#define TFM_ATTENTION_QUERY_BLOCK 32
#endif
enum { QUERY_BLOCK = TFM_ATTENTION_QUERY_BLOCK };

tfm_attention_config tfm_attention_config_default(int batch, int query_length, int key_length, int heads, int head_dim) {
    tfm_attention_config c;
    memset(&c, 0, sizeof c);
    c.batch = batch;
    c.query_length = query_length;
    c.key_length = key_length;
    c.heads = heads;
    c.head_dim = head_dim;
    size_t width = (size_t)(heads > 0 ? heads : 0) * (size_t)(head_dim > 0 ? head_dim : 0);
    c.q_row_stride = c.k_row_stride = c.v_row_stride = width;
    c.q_batch_stride = width * (size_t)(query_length > 0 ? query_length : 0);
    c.k_batch_stride = c.v_batch_stride = width * (size_t)(key_length > 0 ? key_length : 0);
    c.scale = head_dim > 0 ? 1.0f / sqrtf((float)head_dim) : 1.0f;
    return c;
}

static tfm_status check_config(const tfm_attention_config *c, const char *who) {
    if (!c) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: config is NULL", who);
    if (c->batch <= 0 || c->query_length <= 0 || c->key_length <= 0 || c->heads <= 0 || c->head_dim <= 0)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT,
                         "%s: sizes must be positive, got batch %d, query_length %d, key_length %d, heads %d, head_dim %d",
                         who, c->batch, c->query_length, c->key_length, c->heads, c->head_dim);
    size_t width = (size_t)c->heads * (size_t)c->head_dim;
    const size_t strides[3] = {c->q_row_stride, c->k_row_stride, c->v_row_stride};
    const char *names[3] = {"q", "k", "v"};
    for (int s = 0; s < 3; s++)
        if (strides[s] < width || strides[s] > INT_MAX)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: %s_row_stride %zu must be in [heads*head_dim = %zu, INT_MAX]",
                             who, names[s], strides[s], width);
    if (c->batch > 1) {
        if (c->q_batch_stride < c->q_row_stride * (size_t)(c->query_length - 1) + width)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: q_batch_stride %zu overlaps the previous item's %d rows",
                             who, c->q_batch_stride, c->query_length);
        if (c->k_batch_stride < c->k_row_stride * (size_t)(c->key_length - 1) + width ||
            c->v_batch_stride < c->v_row_stride * (size_t)(c->key_length - 1) + width)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: k/v batch strides %zu/%zu overlap the previous item's %d rows",
                             who, c->k_batch_stride, c->v_batch_stride, c->key_length);
    }
    if (!(c->dropout_p >= 0.0f && c->dropout_p < 1.0f))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: dropout_p %g must be in [0, 1)", who, (double)c->dropout_p);
    if (!isfinite(c->scale)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: scale is not finite", who);
    if (c->kv_index)
        for (int b = 0; b < c->batch; b++)
            if (c->kv_index[b] < 0) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: kv_index[%d] = %d is negative", who, b, c->kv_index[b]);
    if ((c->relative_keys || c->relative_values) && (c->relative_clip < 1 || c->relative_clip > (1 << 20)))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: relative_clip %d must be in [1, 2^20] with relative tables", who, c->relative_clip);
    if ((c->relative_keys_grad && !c->relative_keys) || (c->relative_values_grad && !c->relative_values))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: a relative-position gradient without its table", who);
    if (c->key_lengths)
        for (int b = 0; b < c->batch; b++)
            if (c->key_lengths[b] < 0 || c->key_lengths[b] > c->key_length)
                return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: key_lengths[%d] = %d is outside [0, key_length = %d]",
                                 who, b, c->key_lengths[b], c->key_length);
    return TFM_OK;
}

/* How many keys query i of item b sees: keys [0, result) are visible, the rest masked. */
float tfm_alibi_slope(int h, int H) {
    int power = 1;
    while (power * 2 <= H) power *= 2;
    if (h < power) return (float)pow(2.0, -8.0 * (h + 1) / power);
    return (float)pow(2.0, -8.0 * (2 * (h - power) + 1) / (2.0 * power)); /* every other slope of 2 * power heads */
}

/* ALiBi's bias for query row i (of Tq) and key j of head h: -slope |j - (i + Tk - Tq)|, 0 without ALiBi. Under a
 * causal mask j <= i + Tk - Tq, so this is the paper's slope (j - i'), bit for bit. */
static inline float alibi_bias(const tfm_attention_config *c, float slope, int i, int j) {
    return c->alibi ? -slope * (float)abs(j - (i + c->key_length - c->query_length)) : 0.0f;
}

/* Relative positions: rows of the [2R+1, hd] tables, 0 without them. */
static inline int relative_width(const tfm_attention_config *c) {
    return c->relative_keys || c->relative_values ? 2 * c->relative_clip + 1 : 0;
}

/* The table row of query row i (of Tq) and key j: clamp(j - i', -R, R) + R. */
static inline int relative_row(const tfm_attention_config *c, int i, int j) {
    int d = j - (i + c->key_length - c->query_length), R = c->relative_clip;
    d = d < -R ? -R : d > R ? R : d;
    return d + R;
}

static inline int visible_keys(const tfm_attention_config *c, int b, int i) {
    int n = c->key_lengths ? c->key_lengths[b] : c->key_length;
    if (c->causal) {
        int last = i + (c->key_length - c->query_length); /* the last key this query may see */
        if (last + 1 < n) n = last + 1;
    }
    return n > 0 ? n : 0;
}

/* First dropout counter of row i of (b, h): element (b, h, i, j) uses this + j. */
static inline uint64_t dropout_row_index(const tfm_attention_config *c, int b, int h, int i) {
    return c->dropout_offset + (((uint64_t)b * c->heads + h) * c->query_length + i) * (uint64_t)c->key_length;
}

/* ---------------------------------------------------------------- reference (plain loops, double sums) */

tfm_status tfm_attention_forward_reference(float *out, float *probs, const float *q, const float *k, const float *v,
                                           const tfm_attention_config *c) {
    tfm_status status = check_config(c, "attention forward");
    if (status != TFM_OK) return status;
    const int B = c->batch, Tq = c->query_length, Tk = c->key_length, H = c->heads, hd = c->head_dim;
    const size_t C = (size_t)H * hd;
    const float p = c->dropout_p, keep_scale = 1.0f / (1.0f - p);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                const size_t kb = c->kv_index ? (size_t)c->kv_index[b] : (size_t)b;                /* k/v item */
                const float *qi = q + b * c->q_batch_stride + i * c->q_row_stride + (size_t)h * hd; /* [hd] */
                float *prow = probs + (((size_t)b * H + h) * Tq + i) * Tk;                          /* [Tk] */
                float *orow = out + ((size_t)b * Tq + i) * C + (size_t)h * hd;                      /* [hd] */
                int n = visible_keys(c, b, i);
                double maxv = -INFINITY;
                for (int j = 0; j < n; j++) {
                    const float *kj = k + kb * c->k_batch_stride + j * c->k_row_stride + (size_t)h * hd;
                    double s = 0.0;
                    for (int d = 0; d < hd; d++) s += (double)qi[d] * kj[d];
                    if (c->relative_keys) {
                        const float *a = c->relative_keys + (size_t)relative_row(c, i, j) * hd;
                        for (int d = 0; d < hd; d++) s += (double)qi[d] * a[d];
                    }
                    s = s * c->scale + alibi_bias(c, tfm_alibi_slope(h, H), i, j);
                    prow[j] = (float)s;
                    if (s > maxv) maxv = s;
                }
                double sum = 0.0;
                for (int j = 0; j < n; j++) sum += exp((double)prow[j] - maxv);
                for (int j = 0; j < n; j++) prow[j] = (float)(exp((double)prow[j] - maxv) / sum);
                for (int j = n; j < Tk; j++) prow[j] = 0.0f;
                uint64_t row_counter = dropout_row_index(c, b, h, i);
                for (int d = 0; d < hd; d++) {
                    double acc = 0.0;
                    for (int j = 0; j < n; j++) {
                        double w = prow[j];
                        if (p > 0.0f) w = tfm_random_uniform_at(c->dropout_seed, row_counter + j) >= p ? w * keep_scale : 0.0;
                        acc += w * v[kb * c->v_batch_stride + j * c->v_row_stride + (size_t)h * hd + d];
                        if (c->relative_values) acc += w * c->relative_values[(size_t)relative_row(c, i, j) * hd + d];
                    }
                    orow[d] = (float)acc;
                }
            }
    return TFM_OK;
}

/* dout_i · relative_values[row of (i, j)] in double, 0 without the table. */
static double relative_value_dot(const tfm_attention_config *c, const float *gout, int i, int j) {
    if (!c->relative_values) return 0.0;
    const float *a = c->relative_values + (size_t)relative_row(c, i, j) * c->head_dim;
    double s = 0.0;
    for (int d = 0; d < c->head_dim; d++) s += (double)gout[d] * a[d];
    return s;
}

tfm_status tfm_attention_backward_reference(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                                            const float *q, const float *k, const float *v,
                                            const tfm_attention_config *c) {
    tfm_status status = check_config(c, "attention backward");
    if (status != TFM_OK) return status;
    const int B = c->batch, Tq = c->query_length, Tk = c->key_length, H = c->heads, hd = c->head_dim;
    const size_t C = (size_t)H * hd;
    const float p = c->dropout_p, keep_scale = 1.0f / (1.0f - p);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                const float *qi = q + b * c->q_batch_stride + i * c->q_row_stride + (size_t)h * hd; /* [hd] */
                const float *prow = probs + (((size_t)b * H + h) * Tq + i) * Tk;                    /* [Tk] */
                const float *gout = dout + ((size_t)b * Tq + i) * C + (size_t)h * hd;               /* [hd] */
                int n = visible_keys(c, b, i);
                uint64_t row_counter = dropout_row_index(c, b, h, i);
                /* out_i = sum_j w_j v_j with w_j = prob_j * keep_j / (1-p):
                 *   dw_j = dout_i · v_j,  dprob_j = dw_j * keep_j / (1-p),  dv_j += w_j dout_i.
                 * softmax: dscore_j = prob_j (dprob_j - sum_l prob_l dprob_l); score = scale q·k. */
                double dot_sum = 0.0;
                for (int j = 0; j < n; j++) {
                    const float *vj = v + b * c->v_batch_stride + j * c->v_row_stride + (size_t)h * hd;
                    double keep = p > 0.0f ? (tfm_random_uniform_at(c->dropout_seed, row_counter + j) >= p ? keep_scale : 0.0) : 1.0;
                    double dw = relative_value_dot(c, gout, i, j);
                    for (int d = 0; d < hd; d++) dw += (double)gout[d] * vj[d];
                    dot_sum += prow[j] * dw * keep;
                    if (dv) {
                        float *dvj = dv + b * c->v_batch_stride + j * c->v_row_stride + (size_t)h * hd;
                        for (int d = 0; d < hd; d++) dvj[d] += (float)(prow[j] * keep * gout[d]);
                    }
                    if (c->relative_values_grad) {
                        float *da = c->relative_values_grad + (size_t)relative_row(c, i, j) * hd;
                        for (int d = 0; d < hd; d++) da[d] += (float)(prow[j] * keep * gout[d]);
                    }
                }
                for (int j = 0; j < n; j++) {
                    const float *vj = v + b * c->v_batch_stride + j * c->v_row_stride + (size_t)h * hd;
                    const float *kj = k + b * c->k_batch_stride + j * c->k_row_stride + (size_t)h * hd;
                    double keep = p > 0.0f ? (tfm_random_uniform_at(c->dropout_seed, row_counter + j) >= p ? keep_scale : 0.0) : 1.0;
                    double dw = relative_value_dot(c, gout, i, j);
                    for (int d = 0; d < hd; d++) dw += (double)gout[d] * vj[d];
                    double dscore = prow[j] * (dw * keep - dot_sum) * c->scale;
                    const float *a = c->relative_keys ? c->relative_keys + (size_t)relative_row(c, i, j) * hd : NULL;
                    if (dq) {
                        float *dqi = dq + b * c->q_batch_stride + i * c->q_row_stride + (size_t)h * hd;
                        for (int d = 0; d < hd; d++) dqi[d] += (float)(dscore * (a ? (double)kj[d] + a[d] : kj[d]));
                    }
                    if (c->relative_keys_grad) {
                        float *da = c->relative_keys_grad + (size_t)relative_row(c, i, j) * hd;
                        for (int d = 0; d < hd; d++) da[d] += (float)(dscore * qi[d]);
                    }
                    if (dk) {
                        float *dkj = dk + b * c->k_batch_stride + j * c->k_row_stride + (size_t)h * hd;
                        for (int d = 0; d < hd; d++) dkj[d] += (float)(dscore * qi[d]);
                    }
                }
            }
    return TFM_OK;
}

/* ---------------------------------------------------------------- fast (blocked OpenBLAS GEMMs + OpenMP) */

/* exp(x) for x <= 0 (softmax after subtracting the row maximum), in a form GCC vectorises (no floorf,
 * no branches): 2^n · e^r with n = round(x / ln2) via the 1.5·2^23 trick, |r| <= ln2/2, and Cephes'
 * degree-6 polynomial; within 2 ulp of expf. Inputs below -87.3 are clamped, giving ~1e-38 instead of
 * a denormal or 0, which no softmax can tell apart. */
static inline float exp_nonpositive(float input) {
    /* Clamp to [-87.3, 0] with comparisons that send NaN to -87.3, so the float -> int conversion
     * below is always defined; NaN itself is returned at the end, so a NaN score makes a NaN row. */
    float x = input >= -87.3f ? input : -87.3f;
    x = x <= 0.0f ? x : 0.0f;
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest, in [-126, 0] */
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;                /* x - n·ln2 in two parts */
    float y = 1.9875691500e-4f;
    y = y * r + 1.3981999507e-3f;
    y = y * r + 8.3334519073e-3f;
    y = y * r + 4.1665795894e-2f;
    y = y * r + 1.6666665459e-1f;
    y = y * r + 5.0000001201e-1f;
    y = y * r * r + r + 1.0f;
    int32_t bits = ((int32_t)n + 127) << 23; /* 2^n as a float */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return input != input ? input : y * scale;
}

/* row[0, n) = softmax(row[0, n)), row[n, width) = 0. With n == 0 the whole row is zero. */
static void softmax_row(float *row, int n, int width) {
    if (n > 0) {
        float maxv = row[0];
#pragma omp simd reduction(max : maxv)
        for (int j = 1; j < n; j++) maxv = row[j] > maxv ? row[j] : maxv;
        float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
        for (int j = 0; j < n; j++) {
            float e = exp_nonpositive(row[j] - maxv);
            row[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
#pragma omp simd
        for (int j = 0; j < n; j++) row[j] *= inv;
    }
    for (int j = n; j < width; j++) row[j] = 0.0f;
}

/* dst[0, n) = src[0, n) * keep_j / (1-p) with keep_j decided by the dropout counter of that row. */
static void dropout_row(float *dst, const float *src, int n, const tfm_attention_config *c, uint64_t row_counter) {
    const float p = c->dropout_p, keep_scale = 1.0f / (1.0f - p);
    const uint64_t seed = c->dropout_seed;
#pragma omp simd
    for (int j = 0; j < n; j++) dst[j] = tfm_random_uniform_at(seed, row_counter + (uint64_t)j) >= p ? src[j] * keep_scale : 0.0f;
}

static inline int min_int(int a, int b) { return a < b ? a : b; }

static inline size_t block_rows(const tfm_attention_config *c) { return (size_t)min_int(c->query_length, QUERY_BLOCK); }

/* Per-thread scratch: one [query block, Tk] tile and, with relative positions, one [query block, 2R+1] tile. */
static size_t scratch_per_thread(const tfm_attention_config *c) {
    return block_rows(c) * ((size_t)c->key_length + (size_t)relative_width(c));
}

/* The backward pass's partial sums of the relative-position gradients: [B*H, 2R+1, hd] per table with a gradient,
 * added up in (b, h) order at the end so that the result does not depend on the thread count. */
static size_t relative_partial_floats(const tfm_attention_config *c) {
    size_t tables = (size_t)(c->relative_keys_grad != NULL) + (size_t)(c->relative_values_grad != NULL);
    return tables * (size_t)c->batch * c->heads * (size_t)relative_width(c) * c->head_dim;
}

size_t tfm_attention_scratch_floats(const tfm_attention_config *c, int threads) {
    if (!c || c->query_length <= 0 || c->key_length <= 0) return 0;
    return (size_t)(threads > 0 ? threads : 1) * scratch_per_thread(c) + relative_partial_floats(c);
}

/* Threads to run: as many as OpenMP would, limited by the scratch given (after `reserved` floats) and by the number of tasks. */
static tfm_status pick_threads(const tfm_attention_config *c, int tasks, int needs_scratch, size_t reserved, size_t scratch_floats,
                               const float *scratch, const char *who, int *threads) {
    int n = min_int(omp_get_max_threads(), tasks);
    if (needs_scratch) {
        size_t per = scratch_per_thread(c);
        if (!scratch || scratch_floats < per + reserved)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT,
                             "%s: scratch of %zu floats is too small: need %zu per thread and %zu more (tfm_attention_scratch_floats)",
                             who, scratch ? scratch_floats : 0, per, reserved);
        if ((size_t)n > (scratch_floats - reserved) / per) n = (int)((scratch_floats - reserved) / per);
    }
    *threads = n > 0 ? n : 1;
    return TFM_OK;
}

/* sums[r, row] = sum of A[r, j] over the visible keys j of query row i0 + r whose relative-table row is `row`. [rows, 2R+1] */
static void relative_sums(const tfm_attention_config *c, float *sums, const float *A, int lda, int rows, int i0, int b) {
    const int W = relative_width(c);
    memset(sums, 0, sizeof(float) * (size_t)rows * W);
    for (int r = 0; r < rows; r++) {
        const int n = visible_keys(c, b, i0 + r);
        for (int j = 0; j < n; j++) sums[(size_t)r * W + relative_row(c, i0 + r, j)] += A[(size_t)r * lda + j];
    }
}

/* S[r, j] += G[r, row(i0 + r, j)] for j < kmax: a [rows, 2R+1] tile spread over the keys. S has row stride lds. */
static void relative_gather_add(const tfm_attention_config *c, float *S, int lds, const float *G, int rows, int i0, int kmax) {
    const int W = relative_width(c);
    for (int r = 0; r < rows; r++)
        for (int j = 0; j < kmax; j++) S[(size_t)r * lds + j] += G[(size_t)r * W + relative_row(c, i0 + r, j)];
}

/* One (b, h, query block) of the forward pass. */
static void forward_block(float *out, float *probs, const float *q, const float *k, const float *v,
                          const tfm_attention_config *c, int b, int h, int i0, int i1, float *tile, float *relative) {
    const int Tq = c->query_length, Tk = c->key_length, H = c->heads, hd = c->head_dim;
    const int C = H * hd, rows = i1 - i0;
    const float *Q = q + b * c->q_batch_stride + i0 * c->q_row_stride + (size_t)h * hd; /* [rows, hd] stride q_row_stride */
    const size_t kb = c->kv_index ? (size_t)c->kv_index[b] : (size_t)b;                  /* the k/v item it reads */
    const float *K = k + kb * c->k_batch_stride + (size_t)h * hd;                       /* [Tk, hd]  stride k_row_stride */
    const float *V = v + kb * c->v_batch_stride + (size_t)h * hd;                       /* [Tk, hd]  stride v_row_stride */
    float *P = probs + (((size_t)b * H + h) * Tq + i0) * Tk;                            /* [rows, Tk] */
    float *O = out + ((size_t)b * Tq + i0) * C + (size_t)h * hd;                        /* [rows, hd] stride C */
    int kmax = visible_keys(c, b, i1 - 1); /* the block's last row sees the most keys */
    if (kmax == 0) {
        memset(P, 0, sizeof(float) * (size_t)rows * Tk);
        for (int r = 0; r < rows; r++) memset(O + (size_t)r * C, 0, sizeof(float) * hd);
        return;
    }
    /* P[:, :kmax] = scale · Q · K[:kmax]ᵀ. One query row (a decode step) is kmax dot products of head_dim
     * floats: plain vector loops, since a BLAS call per (row, head) costs more than its arithmetic here. */
    if (rows == 1)
        for (int j = 0; j < kmax; j++) {
            const float *kj = K + (size_t)j * c->k_row_stride; /* [hd] */
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int d = 0; d < hd; d++) dot += Q[d] * kj[d];
            P[j] = c->scale * dot;
        }
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kmax, hd, c->scale, Q, (int)c->q_row_stride, K,
                    (int)c->k_row_stride, 0.0f, P, Tk);
    if (c->alibi) {
        float slope = tfm_alibi_slope(h, c->heads);
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < kmax; j++) P[(size_t)r * Tk + j] += alibi_bias(c, slope, i0 + r, j);
    }
    const int W = relative_width(c);
    if (c->relative_keys) { /* relative = scale · Q · a^Kᵀ [rows, 2R+1], spread over the keys */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, W, hd, c->scale, Q, (int)c->q_row_stride, c->relative_keys, hd,
                    0.0f, relative, W);
        relative_gather_add(c, P, Tk, relative, rows, i0, kmax);
    }
    for (int r = 0; r < rows; r++) softmax_row(P + (size_t)r * Tk, visible_keys(c, b, i0 + r), Tk);
    const float *A = P; /* the weights that multiply V: probs, or probs after dropout */
    int lda = Tk;
    if (c->dropout_p > 0.0f) {
        for (int r = 0; r < rows; r++)
            dropout_row(tile + (size_t)r * kmax, P + (size_t)r * Tk, kmax, c, dropout_row_index(c, b, h, i0 + r));
        A = tile;
        lda = kmax;
    }
    /* O = A[:, :kmax] · V[:kmax] */
    if (rows == 1) {
        for (int d = 0; d < hd; d++) O[d] = 0.0f;
        for (int j = 0; j < kmax; j++) {
            const float *vj = V + (size_t)j * c->v_row_stride, a = A[j]; /* [hd] */
#pragma omp simd
            for (int d = 0; d < hd; d++) O[d] += a * vj[d];
        }
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, kmax, 1.0f, A, lda, V, (int)c->v_row_stride, 0.0f, O, C);
    }
    if (c->relative_values) { /* O += (the weights summed per table row) · a^V */
        relative_sums(c, relative, A, lda, rows, i0, b);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, W, 1.0f, relative, W, c->relative_values, hd, 1.0f, O, C);
    }
}

tfm_status tfm_attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                                 const tfm_attention_config *c, float *scratch, size_t scratch_floats) {
    tfm_status status = check_config(c, "attention forward");
    if (status != TFM_OK) return status;
    const int Tq = c->query_length, H = c->heads;
    const int blocks = (Tq + QUERY_BLOCK - 1) / QUERY_BLOCK;
    const int tasks = c->batch * H * blocks;
    const int dropout = c->dropout_p > 0.0f, needs_scratch = dropout || relative_width(c) > 0;
    int threads = 1;
    status = pick_threads(c, tasks, needs_scratch, 0, scratch_floats, scratch, "attention forward", &threads);
    if (status != TFM_OK) return status;
    const size_t per = scratch_per_thread(c), relative_at = block_rows(c) * (size_t)c->key_length;
    /* Tasks write disjoint parts of out and probs and each is computed the same way by whichever
     * thread runs it, so dynamic scheduling (causal blocks differ in cost) keeps results deterministic. */
    if (threads == 1) { /* e.g. a decode step: no parallel region at all */
        for (int t = 0; t < tasks; t++) {
            int blk = t % blocks, bh = t / blocks;
            forward_block(out, probs, q, k, v, c, bh / H, bh % H, blk * QUERY_BLOCK, min_int(blk * QUERY_BLOCK + QUERY_BLOCK, Tq),
                          needs_scratch ? scratch : NULL, needs_scratch ? scratch + relative_at : NULL);
        }
        return TFM_OK;
    }
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (int t = 0; t < tasks; t++) {
        int blk = t % blocks, bh = t / blocks;
        int i0 = blk * QUERY_BLOCK, i1 = min_int(i0 + QUERY_BLOCK, Tq);
        float *tile = needs_scratch ? scratch + (size_t)omp_get_thread_num() * per : NULL;
        forward_block(out, probs, q, k, v, c, bh / H, bh % H, i0, i1, tile, tile ? tile + relative_at : NULL);
    }
    return TFM_OK;
}

/* The backward pass of one (b, h), query block by query block (dk, dv gather from every block). */
static void backward_head(float *dq, float *dk, float *dv, const float *dout, const float *probs, const float *q,
                          const float *k, const float *v, const tfm_attention_config *c, int b, int h, float *tile,
                          float *relative, float *keys_partial, float *values_partial) {
    const int Tq = c->query_length, Tk = c->key_length, H = c->heads, hd = c->head_dim;
    const int C = H * hd;
    const int qs = (int)c->q_row_stride, ks = (int)c->k_row_stride, vs = (int)c->v_row_stride;
    const size_t qoff = b * c->q_batch_stride + (size_t)h * hd, koff = b * c->k_batch_stride + (size_t)h * hd,
                 voff = b * c->v_batch_stride + (size_t)h * hd;
    const int dropout = c->dropout_p > 0.0f;
    const float keep_scale = 1.0f / (1.0f - c->dropout_p);
    const int W = relative_width(c);
    if (keys_partial) memset(keys_partial, 0, sizeof(float) * (size_t)W * hd);
    if (values_partial) memset(values_partial, 0, sizeof(float) * (size_t)W * hd);
    for (int i0 = 0; i0 < Tq; i0 += QUERY_BLOCK) {
        const int i1 = min_int(i0 + QUERY_BLOCK, Tq), rows = i1 - i0;
        const int kmax = visible_keys(c, b, i1 - 1);
        if (kmax == 0) continue; /* fully masked rows: zero output, zero gradient */
        const float *P = probs + (((size_t)b * H + h) * Tq + i0) * Tk;     /* [rows, Tk] */
        const float *dO = dout + ((size_t)b * Tq + i0) * C + (size_t)h * hd; /* [rows, hd] stride C */
        const float *Q = q + qoff + (size_t)i0 * qs;                         /* [rows, hd] */
        if (dv || values_partial) {
            /* dV[:kmax] += Aᵀ · dO, A = probs after dropout; d a^V += (A summed per table row)ᵀ · dO */
            const float *A = P;
            int lda = Tk;
            if (dropout) {
                for (int r = 0; r < rows; r++)
                    dropout_row(tile + (size_t)r * kmax, P + (size_t)r * Tk, kmax, c, dropout_row_index(c, b, h, i0 + r));
                A = tile;
                lda = kmax;
            }
            if (dv) cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kmax, hd, rows, 1.0f, A, lda, dO, C, 1.0f, dv + voff, vs);
            if (values_partial) {
                relative_sums(c, relative, A, lda, rows, i0, b);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, W, hd, rows, 1.0f, relative, W, dO, C, 1.0f, values_partial, hd);
            }
        }
        if (!dq && !dk && !keys_partial) continue;
        /* tile = dA = dO · V[:kmax]ᵀ (+ dO · a^Vᵀ spread over the keys)   [rows, kmax] */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, kmax, hd, 1.0f, dO, C, v + voff, vs, 0.0f, tile, kmax);
        if (c->relative_values) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, W, hd, 1.0f, dO, C, c->relative_values, hd, 0.0f, relative, W);
            relative_gather_add(c, tile, kmax, relative, rows, i0, kmax);
        }
        for (int r = 0; r < rows; r++) {
            float *g = tile + (size_t)r * kmax; /* dW row -> dscore row */
            const float *prow = P + (size_t)r * Tk;
            const int n = visible_keys(c, b, i0 + r);
            if (dropout) {
                /* dprob = dW · keep / (1-p) */
                uint64_t row_counter = dropout_row_index(c, b, h, i0 + r);
                const uint64_t seed = c->dropout_seed;
                const float p = c->dropout_p;
#pragma omp simd
                for (int j = 0; j < n; j++)
                    g[j] = tfm_random_uniform_at(seed, row_counter + (uint64_t)j) >= p ? g[j] * keep_scale : 0.0f;
            }
            float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
            for (int j = 0; j < n; j++) dot += prow[j] * g[j];
#pragma omp simd
            for (int j = 0; j < n; j++) g[j] = prow[j] * (g[j] - dot);
            for (int j = n; j < kmax; j++) g[j] = 0.0f;
        }
        /* dQ += scale · dS · K[:kmax];  dK[:kmax] += scale · dSᵀ · Q */
        if (dq)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, kmax, c->scale, tile, kmax, k + koff, ks,
                        1.0f, dq + qoff + (size_t)i0 * qs, qs);
        if (dk)
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, kmax, hd, rows, c->scale, tile, kmax, Q, qs, 1.0f,
                        dk + koff, ks);
        if (c->relative_keys && (dq || keys_partial)) {
            /* dS summed per table row: dQ += scale · that · a^K;  d a^K += scale · thatᵀ · Q */
            relative_sums(c, relative, tile, kmax, rows, i0, b);
            if (dq)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, hd, W, c->scale, relative, W, c->relative_keys, hd, 1.0f,
                            dq + qoff + (size_t)i0 * qs, qs);
            if (keys_partial)
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, W, hd, rows, c->scale, relative, W, Q, qs, 1.0f, keys_partial, hd);
        }
    }
}

tfm_status tfm_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *probs,
                                  const float *q, const float *k, const float *v,
                                  const tfm_attention_config *c, float *scratch, size_t scratch_floats) {
    tfm_status status = check_config(c, "attention backward");
    if (status != TFM_OK) return status;
    if (c->kv_index) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "attention backward: kv_index is for inference only");
    const int tasks = c->batch * c->heads;
    const size_t partials = relative_partial_floats(c), table = (size_t)relative_width(c) * c->head_dim;
    int threads = 1;
    status = pick_threads(c, tasks, 1, partials, scratch_floats, scratch, "attention backward", &threads);
    if (status != TFM_OK) return status;
    const size_t per = scratch_per_thread(c), relative_at = block_rows(c) * (size_t)c->key_length;
    float *keys_partials = c->relative_keys_grad ? scratch + scratch_floats - partials : NULL;   /* [B*H, 2R+1, hd] */
    float *values_partials = c->relative_values_grad ? scratch + scratch_floats - (c->relative_keys_grad ? partials / 2 : partials) : NULL;
    /* One task per (b, h): its dq, dk, dv columns and partial sums belong to it alone, so no two threads add into
     * the same float and the sums happen in the same order for any thread count. */
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1) if (threads > 1)
    for (int t = 0; t < tasks; t++) {
        float *tile = scratch + (size_t)omp_get_thread_num() * per;
        backward_head(dq, dk, dv, dout, probs, q, k, v, c, t / c->heads, t % c->heads, tile, tile + relative_at,
                      keys_partials ? keys_partials + (size_t)t * table : NULL, values_partials ? values_partials + (size_t)t * table : NULL);
    }
    for (int t = 0; t < tasks; t++)
        for (size_t x = 0; x < table; x++) {
            if (keys_partials) c->relative_keys_grad[x] += keys_partials[(size_t)t * table + x];
            if (values_partials) c->relative_values_grad[x] += values_partials[(size_t)t * table + x];
        }
    return TFM_OK;
}

tfm_status tfm_attention_decode(float *out, float *probs, const float *q, const float *k_cache, const float *v_cache,
                                int batch, int query_count, int cache_length, int max_length, int heads, int head_dim,
                                const int *key_lengths) {
    if (cache_length > max_length || query_count > cache_length)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT,
                         "attention decode: need query_count %d <= cache_length %d <= max_length %d",
                         query_count, cache_length, max_length);
    tfm_attention_config c = tfm_attention_config_default(batch, query_count, cache_length, heads, head_dim);
    size_t width = (size_t)heads * (size_t)head_dim;
    c.k_batch_stride = c.v_batch_stride = width * (size_t)max_length;
    c.causal = 1;
    c.key_lengths = key_lengths;
    return tfm_attention_forward(out, probs, q, k_cache, v_cache, &c, NULL, 0);
}
