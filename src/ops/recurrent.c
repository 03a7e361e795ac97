/* ops/recurrent.c: Elman RNN, LSTM and GRU through time, forward and backpropagation, one direction of one layer. */
#include "ops/recurrent.h"

#include <math.h>
#include <string.h>

#include "ops/activation.h" /* tfm_exp_fast */
#include "ops/linear.h"
#include "ops/linear_packed.h"

/* The products are the only difference between the reference and the fast version. */
/* What differs between the reference and the fast version: the products (plain loops or GEMM), the gates' exp (libm
 * or tfm's vectorised one), and whether a step's sequences run on the OpenMP team. */
typedef struct linear_ops {
    void (*forward)(float *, const float *, const float *, const float *, int, int, int);
    void (*backward)(float *, float *, float *, const float *, const float *, const float *, int, int, int);
    int fast;
} linear_ops;
static const linear_ops REFERENCE = {tfm_linear_forward_reference, tfm_linear_backward_reference, 0};
static const linear_ops FAST = {tfm_linear_forward, tfm_linear_backward, 1};
#define RECURRENT_PARALLEL_MIN 16384 /* B G H per step below this runs on one thread */

int tfm_recurrent_gates(int kind) { return kind == TFM_RECURRENT_LSTM ? 4 : kind == TFM_RECURRENT_GRU ? 3 : 1; }

/* The workspace, in floats:
 *   ih   [B T, G H]    x w_ih^T + b_ih, batch-first rows (b T + t)
 *   hh   [T, B, G H]   h w_hh^T + b_hh of each step (step order)
 *   act  [T, B, G H]   the gates after their nonlinearity (LSTM i f g o, GRU r z n)
 *   hs   [T + 1, B, H] the state before step k at k (hs[0] = h0), cs likewise (LSTM's cell)
 *   d_ih [B T, G H]    backward's gradient of ih, d_hh [T, B, G H] of each step's hh (w_hh's gradient is one GEMM)
 *   packed [G H H], packed_t [H G H]  the fast version's w_hh and its transpose, packed once for the per-step
 *                      products (ops/linear_packed.h: no re-packing on each of the T small products) */
typedef struct workspace {
    float *ih, *hh, *act, *hs, *cs, *d_ih, *d_hh, *packed, *packed_t;
} workspace;

static workspace split(const tfm_recurrent_shape *s, float *w) {
    size_t G = (size_t)tfm_recurrent_gates(s->kind), rows = (size_t)s->B * s->T, state = (size_t)(s->T + 1) * s->B * s->H;
    workspace k;
    k.ih = w;
    k.hh = k.ih + rows * G * s->H;
    k.act = k.hh + rows * G * s->H;
    k.hs = k.act + rows * G * s->H;
    k.cs = k.hs + state;
    k.d_ih = k.cs + state;
    k.d_hh = k.d_ih + rows * G * s->H;
    k.packed = k.d_hh + rows * G * s->H;
    k.packed_t = k.packed + G * s->H * s->H;
    return k;
}

size_t tfm_recurrent_workspace_floats(const tfm_recurrent_shape *s) {
    size_t G = (size_t)tfm_recurrent_gates(s->kind), rows = (size_t)s->B * s->T;
    return 5 * rows * G * s->H + 2 * (size_t)(s->T + 1) * s->B * s->H + 2 * G * s->H * s->H;
}

size_t tfm_recurrent_scratch_floats(const tfm_recurrent_shape *s) {
    return 4 * (size_t)s->B * s->H;
}

/* The gates' nonlinearities: libm's (reference) or tfm's vectorised exp (fast); `fast` is a constant where they are
 * inlined, so each version's loops are compiled for their own. */
static inline float sigmoid_of(float x, int fast) { return 1.0f / (1.0f + (fast ? tfm_exp_fast(-x) : expf(-x))); }
static inline float tanh_of(float x, int fast) { return fast ? 1.0f - 2.0f / (tfm_exp_fast(2.0f * x) + 1.0f) : tanhf(x); }
/* Whether the fast version runs the per-step products on packed weights (both shapes must pack). */
static int use_packed(const linear_ops *ops, const tfm_recurrent_shape *s) {
    int G = tfm_recurrent_gates(s->kind), H = s->H;
    /* the transpose is built in d_hh's space (T B G H floats), so H <= T B */
    return ops->fast && tfm_linear_packed_is_fast() && tfm_linear_packable(G * H, H) && tfm_linear_packable(H, G * H) &&
           (size_t)H <= (size_t)s->T * s->B;
}

static int time_of(const tfm_recurrent_shape *s, int k) { return s->reverse ? s->T - 1 - k : k; }
static int active(const tfm_recurrent_shape *s, int b, int t) { return !s->lengths || t < s->lengths[b]; }

/* One sequence's step: gates from ih (this row's) and hh, the new state into h (and c). */
static inline void cell_forward(int kind, int fast, int H, const float *restrict ih, const float *restrict hh,
                                const float *restrict h_prev, const float *restrict c_prev, float *restrict act, float *restrict h,
                                float *restrict c) {
    if (kind == TFM_RECURRENT_LSTM) {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float i = sigmoid_of(ih[j] + hh[j], fast), f = sigmoid_of(ih[H + j] + hh[H + j], fast);
            float g = tanh_of(ih[2 * H + j] + hh[2 * H + j], fast), o = sigmoid_of(ih[3 * H + j] + hh[3 * H + j], fast);
            act[j] = i, act[H + j] = f, act[2 * H + j] = g, act[3 * H + j] = o;
            c[j] = f * c_prev[j] + i * g;
            h[j] = o * tanh_of(c[j], fast);
        }
    } else if (kind == TFM_RECURRENT_GRU) {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float r = sigmoid_of(ih[j] + hh[j], fast), z = sigmoid_of(ih[H + j] + hh[H + j], fast);
            float n = tanh_of(ih[2 * H + j] + r * hh[2 * H + j], fast); /* hh's n part holds b_hn: r scales it too, as torch */
            act[j] = r, act[H + j] = z, act[2 * H + j] = n;
            h[j] = (1.0f - z) * n + z * h_prev[j];
        }
    } else {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float a = ih[j] + hh[j];
            h[j] = kind == TFM_RECURRENT_RNN_TANH ? tanh_of(a, fast) : (a > 0.0f ? a : 0.0f);
        }
    }
}

/* The two versions' cells, each compiled with its own constant `fast` (so the fast one's loops vectorise). */
static void cell_forward_fast(int kind, int H, const float *ih, const float *hh, const float *h_prev, const float *c_prev, float *act,
                              float *h, float *c) {
    cell_forward(kind, 1, H, ih, hh, h_prev, c_prev, act, h, c);
}
static void cell_forward_plain(int kind, int H, const float *ih, const float *hh, const float *h_prev, const float *c_prev, float *act,
                               float *h, float *c) {
    cell_forward(kind, 0, H, ih, hh, h_prev, c_prev, act, h, c);
}

static void forward(const linear_ops *ops, const tfm_recurrent_shape *s, float *out, float *h_n, float *c_n, float *wspace, const float *x,
                    const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const float *h0, const float *c0) {
    workspace w = split(s, wspace);
    int B = s->B, T = s->T, H = s->H, GH = tfm_recurrent_gates(s->kind) * H;
    size_t BH = (size_t)B * H;
    ops->forward(w.ih, x, w_ih, b_ih, B * T, s->I, GH);
    int packed = use_packed(ops, s);
    if (packed) tfm_linear_pack(w.packed, w_hh, GH, H);
    if (h0) memcpy(w.hs, h0, BH * sizeof(float));
    else memset(w.hs, 0, BH * sizeof(float));
    if (c0) memcpy(w.cs, c0, BH * sizeof(float));
    else memset(w.cs, 0, BH * sizeof(float));
    for (int k = 0; k < T; k++) {
        int t = time_of(s, k);
        float *hh = w.hh + (size_t)k * B * GH, *act = w.act + (size_t)k * B * GH;
        float *h_prev = w.hs + k * BH, *h = h_prev + BH, *c_prev = w.cs + k * BH, *c = c_prev + BH;
        if (packed) tfm_linear_packed_forward(hh, h_prev, w.packed, b_hh, B, H, GH);
        else ops->forward(hh, h_prev, w_hh, b_hh, B, H, GH);
        #pragma omp parallel for schedule(static) if (ops->fast && (size_t)B * GH >= RECURRENT_PARALLEL_MIN)
        for (int b = 0; b < B; b++) {
            float *o = out + ((size_t)b * T + t) * H;
            if (!active(s, b, t)) { /* padding: the state carries over, the output is 0 */
                memcpy(h + (size_t)b * H, h_prev + (size_t)b * H, (size_t)H * sizeof(float));
                memcpy(c + (size_t)b * H, c_prev + (size_t)b * H, (size_t)H * sizeof(float));
                memset(act + (size_t)b * GH, 0, (size_t)GH * sizeof(float));
                memset(o, 0, (size_t)H * sizeof(float));
                continue;
            }
            (ops->fast ? cell_forward_fast : cell_forward_plain)(s->kind, H, w.ih + ((size_t)b * T + t) * GH, hh + (size_t)b * GH, h_prev + (size_t)b * H, c_prev + (size_t)b * H,
                         act + (size_t)b * GH, h + (size_t)b * H, c + (size_t)b * H);
            memcpy(o, h + (size_t)b * H, (size_t)H * sizeof(float));
        }
    }
    if (h_n) memcpy(h_n, w.hs + (size_t)T * BH, BH * sizeof(float));
    if (c_n && s->kind == TFM_RECURRENT_LSTM) memcpy(c_n, w.cs + (size_t)T * BH, BH * sizeof(float));
}

/* One sequence's step backward: from dh (the total gradient of its new h) and, for LSTM, dc (of its new c, updated
 * to the previous c's), the gates' gradients d_ih and d_hh, and dh_prev's part that bypasses w_hh (GRU's z h). */
static inline void cell_backward(int kind, int fast, int H, const float *restrict act, const float *restrict hh, const float *restrict h,
                                 const float *restrict h_prev, const float *restrict c, const float *restrict c_prev,
                                 const float *restrict dh, float *restrict dc, float *restrict d_ih, float *restrict d_hh,
                                 float *restrict dh_prev) {
    if (kind == TFM_RECURRENT_LSTM) {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j], tc = tanh_of(c[j], fast);
            float dct = dc[j] + dh[j] * o * (1.0f - tc * tc);
            float di = dct * g * i * (1.0f - i), df = dct * c_prev[j] * f * (1.0f - f), dg = dct * i * (1.0f - g * g);
            float d_o = dh[j] * tc * o * (1.0f - o);
            d_ih[j] = d_hh[j] = di;
            d_ih[H + j] = d_hh[H + j] = df;
            d_ih[2 * H + j] = d_hh[2 * H + j] = dg;
            d_ih[3 * H + j] = d_hh[3 * H + j] = d_o;
            dc[j] = dct * f;
            dh_prev[j] = 0.0f;
        }
    } else if (kind == TFM_RECURRENT_GRU) {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float r = act[j], z = act[H + j], n = act[2 * H + j];
            float dn = dh[j] * (1.0f - z) * (1.0f - n * n), dz = dh[j] * (h_prev[j] - n) * z * (1.0f - z);
            float dr = dn * hh[2 * H + j] * r * (1.0f - r);
            d_ih[j] = d_hh[j] = dr;
            d_ih[H + j] = d_hh[H + j] = dz;
            d_ih[2 * H + j] = dn;
            d_hh[2 * H + j] = dn * r;
            dh_prev[j] = dh[j] * z;
        }
    } else {
        #pragma omp simd
        for (int j = 0; j < H; j++) {
            float da = kind == TFM_RECURRENT_RNN_TANH ? dh[j] * (1.0f - h[j] * h[j]) : (h[j] > 0.0f ? dh[j] : 0.0f);
            d_ih[j] = d_hh[j] = da;
            dh_prev[j] = 0.0f;
        }
    }
}

static void cell_backward_fast(int kind, int H, const float *act, const float *hh, const float *h, const float *h_prev, const float *c,
                               const float *c_prev, const float *dh, float *dc, float *d_ih, float *d_hh, float *dh_prev) {
    cell_backward(kind, 1, H, act, hh, h, h_prev, c, c_prev, dh, dc, d_ih, d_hh, dh_prev);
}
static void cell_backward_plain(int kind, int H, const float *act, const float *hh, const float *h, const float *h_prev, const float *c,
                                const float *c_prev, const float *dh, float *dc, float *d_ih, float *d_hh, float *dh_prev) {
    cell_backward(kind, 0, H, act, hh, h, h_prev, c, c_prev, dh, dc, d_ih, d_hh, dh_prev);
}

static void backward(const linear_ops *ops, const tfm_recurrent_shape *s, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                     const float *dout, const float *dh_n, float *wspace, float *scratch, const float *x, const float *w_ih,
                     const float *w_hh) {
    workspace w = split(s, wspace);
    int B = s->B, T = s->T, H = s->H, GH = tfm_recurrent_gates(s->kind) * H;
    size_t BH = (size_t)B * H;
    float *dh = scratch, *dh_prev = dh + BH, *dc = dh_prev + BH;
    if (dh_n) memcpy(dh, dh_n, BH * sizeof(float));
    else memset(dh, 0, BH * sizeof(float));
    memset(dc, 0, BH * sizeof(float));
    memset(w.d_ih, 0, (size_t)B * T * GH * sizeof(float));
    int packed = use_packed(ops, s);
    float *through_w = dc + BH; /* d_hh w_hh of a step, added to dh_prev */
    if (packed) { /* w_hh^T [H, G H] as the packed weight: d_hh [B, G H] . (w_hh^T)^T */
        float *transposed = w.d_hh; /* d_hh is filled step by step below; borrow its start for the transpose */
        for (int r = 0; r < GH; r++)
            for (int j = 0; j < H; j++) transposed[(size_t)j * GH + r] = w_hh[(size_t)r * H + j];
        tfm_linear_pack(w.packed_t, transposed, H, GH);
    }
    for (int k = T - 1; k >= 0; k--) {
        int t = time_of(s, k);
        const float *hh = w.hh + (size_t)k * B * GH, *act = w.act + (size_t)k * B * GH;
        const float *h_prev = w.hs + k * BH, *h = h_prev + BH, *c_prev = w.cs + k * BH, *c = c_prev + BH;
        float *d_hh = w.d_hh + (size_t)k * B * GH;
        #pragma omp parallel for schedule(static) if (ops->fast && (size_t)B * GH >= RECURRENT_PARALLEL_MIN)
        for (int b = 0; b < B; b++) {
            float *dhb = dh + (size_t)b * H;
            if (!active(s, b, t)) { /* the state was carried: so is its gradient */
                memset(d_hh + (size_t)b * GH, 0, (size_t)GH * sizeof(float));
                memcpy(dh_prev + (size_t)b * H, dhb, (size_t)H * sizeof(float));
                continue;
            }
            const float *o = dout + ((size_t)b * T + t) * H;
            for (int j = 0; j < H; j++) dhb[j] += o[j];
            (ops->fast ? cell_backward_fast : cell_backward_plain)(s->kind, H, act + (size_t)b * GH, hh + (size_t)b * GH, h + (size_t)b * H, h_prev + (size_t)b * H,
                          c + (size_t)b * H, c_prev + (size_t)b * H, dhb, dc + (size_t)b * H, w.d_ih + ((size_t)b * T + t) * GH,
                          d_hh + (size_t)b * GH, dh_prev + (size_t)b * H);
        }
        if (packed) {
            tfm_linear_packed_forward(through_w, d_hh, w.packed_t, NULL, B, GH, H);
            for (size_t i = 0; i < BH; i++) dh_prev[i] += through_w[i];
        } else {
            ops->backward(dh_prev, NULL, NULL, d_hh, h_prev, w_hh, B, H, GH);
        }
        float *swap = dh;
        dh = dh_prev, dh_prev = swap;
    }
    /* the weights' gradients over every step at once: step k's d_hh against the state before it, hs[k] */
    ops->backward(NULL, dw_hh, db_hh, w.d_hh, w.hs, w_hh, B * T, H, GH);
    ops->backward(dx, dw_ih, db_ih, w.d_ih, x, w_ih, B * T, s->I, GH);
}

void tfm_recurrent_forward_reference(const tfm_recurrent_shape *s, float *out, float *h_n, float *c_n, float *workspace, const float *x,
                                     const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const float *h0,
                                     const float *c0) {
    forward(&REFERENCE, s, out, h_n, c_n, workspace, x, w_ih, w_hh, b_ih, b_hh, h0, c0);
}

void tfm_recurrent_forward(const tfm_recurrent_shape *s, float *out, float *h_n, float *c_n, float *workspace, const float *x,
                           const float *w_ih, const float *w_hh, const float *b_ih, const float *b_hh, const float *h0, const float *c0) {
    forward(&FAST, s, out, h_n, c_n, workspace, x, w_ih, w_hh, b_ih, b_hh, h0, c0);
}

void tfm_recurrent_backward_reference(const tfm_recurrent_shape *s, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                                      const float *dout, const float *dh_n, float *workspace, float *scratch, const float *x,
                                      const float *w_ih, const float *w_hh) {
    backward(&REFERENCE, s, dx, dw_ih, dw_hh, db_ih, db_hh, dout, dh_n, workspace, scratch, x, w_ih, w_hh);
}

void tfm_recurrent_backward(const tfm_recurrent_shape *s, float *dx, float *dw_ih, float *dw_hh, float *db_ih, float *db_hh,
                            const float *dout, const float *dh_n, float *workspace, float *scratch, const float *x, const float *w_ih,
                            const float *w_hh) {
    backward(&FAST, s, dx, dw_ih, dw_hh, db_ih, db_hh, dout, dh_n, workspace, scratch, x, w_ih, w_hh);
}
