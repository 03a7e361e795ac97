/* ops/attention_scores.c: attention with dot, scaled-dot, general (Luong) or additive (Bahdanau) scores, forward and backward. */
#include "ops/attention_scores.h"

#include <math.h>
#include <string.h>

#include "ops/linear.h"

typedef void (*matmul_fn)(float *, const float *, const float *, int, int, int, int, int, int, int, int, float, float, int, size_t,
                          size_t, size_t);

/* The workspace: P [B, Tq, Tk] the weights, dS [B, Tq, Tk] backward's score gradients, kW [B, Tk, D] (general: W k_j),
 * and for the additive score Pq [B, Tq, A], Pk [B, Tk, A], E [B, Tq, Tk, A] (the tanh) and du [B, A] (per batch item). */
typedef struct scores_workspace {
    float *P, *dS, *kW, *Pq, *Pk, *E, *du;
} scores_workspace;

static scores_workspace split(const tfm_attention_scores_shape *s, float *w) {
    size_t scores = (size_t)s->B * s->Tq * s->Tk, additive = s->kind == TFM_SCORE_ADDITIVE;
    scores_workspace k;
    k.P = w;
    k.dS = k.P + scores;
    k.kW = k.dS + scores;
    k.Pq = k.kW + (s->kind == TFM_SCORE_GENERAL ? (size_t)s->B * s->Tk * s->D : 0);
    k.Pk = k.Pq + additive * (size_t)s->B * s->Tq * s->A;
    k.E = k.Pk + additive * (size_t)s->B * s->Tk * s->A;
    k.du = k.E + additive * scores * s->A;
    return k;
}

size_t tfm_attention_scores_workspace_floats(const tfm_attention_scores_shape *s) {
    size_t scores = (size_t)s->B * s->Tq * s->Tk, additive = s->kind == TFM_SCORE_ADDITIVE;
    return 2 * scores + (s->kind == TFM_SCORE_GENERAL ? (size_t)s->B * s->Tk * s->D : 0) +
           additive * ((size_t)s->B * (s->Tq + s->Tk) * s->A + scores * s->A + (size_t)s->B * s->A);
}

const float *tfm_attention_scores_weights(const tfm_attention_scores_shape *s, const float *workspace) {
    (void)s;
    return workspace;
}

static float scale_of(const tfm_attention_scores_shape *s) { return s->kind == TFM_SCORE_SCALED_DOT ? 1.0f / sqrtf((float)s->D) : 1.0f; }

/* Masked softmax over each query's keys, in place. */
static void softmax_rows(const tfm_attention_scores_shape *s, float *P) {
    #pragma omp parallel for schedule(static) if ((size_t)s->B * s->Tq * s->Tk >= 32768)
    for (int row = 0; row < s->B * s->Tq; row++) {
        int b = row / s->Tq, i = row % s->Tq, keys = s->key_lengths ? s->key_lengths[b] : s->Tk;
        if (s->causal && i + 1 + (s->Tk - s->Tq) < keys) keys = i + 1 + (s->Tk - s->Tq); /* the queries are the last Tq keys */
        float *p = P + (size_t)row * s->Tk, maxval = -INFINITY;
        for (int j = 0; j < keys; j++) maxval = p[j] > maxval ? p[j] : maxval;
        double sum = 0.0;
        for (int j = 0; j < keys; j++) sum += p[j] = expf(p[j] - maxval);
        for (int j = 0; j < s->Tk; j++) p[j] = j < keys ? (float)(p[j] / sum) : 0.0f;
    }
}

static void forward(matmul_fn mm, const tfm_attention_scores_shape *s, float *context, float *wspace, const float *q, const float *k,
                    const float *v, const tfm_attention_scores_params *p) {
    scores_workspace w = split(s, wspace);
    int B = s->B, Tq = s->Tq, Tk = s->Tk, D = s->D, A = s->A;
    size_t qs = (size_t)Tq * D, ks = (size_t)Tk * D, ss = (size_t)Tq * Tk;
    if (s->kind == TFM_SCORE_DOT || s->kind == TFM_SCORE_SCALED_DOT) {
        mm(w.P, q, k, Tq, Tk, D, 0, 1, D, D, Tk, scale_of(s), 0.0f, B, qs, ks, ss);
    } else if (s->kind == TFM_SCORE_GENERAL) {
        mm(w.kW, k, p->W, B * Tk, D, D, 0, 1, D, D, D, 1.0f, 0.0f, 1, 0, 0, 0); /* row j: W k_j */
        mm(w.P, q, w.kW, Tq, Tk, D, 0, 1, D, D, Tk, 1.0f, 0.0f, B, qs, ks, ss);
    } else {
        mm(w.Pq, q, p->Wq, B * Tq, A, D, 0, 1, D, D, A, 1.0f, 0.0f, 1, 0, 0, 0);
        mm(w.Pk, k, p->Wk, B * Tk, A, D, 0, 1, D, D, A, 1.0f, 0.0f, 1, 0, 0, 0);
        #pragma omp parallel for schedule(static) if (ss * B * A >= 32768)
        for (int row = 0; row < B * Tq; row++) {
            int b = row / Tq;
            for (int j = 0; j < Tk; j++) {
                float *e = w.E + ((size_t)row * Tk + j) * A, score = 0.0f;
                const float *pq = w.Pq + (size_t)row * A, *pk = w.Pk + ((size_t)b * Tk + j) * A;
                for (int a = 0; a < A; a++) {
                    e[a] = tanhf(pq[a] + pk[a]);
                    score += p->u[a] * e[a];
                }
                w.P[(size_t)row * Tk + j] = score;
            }
        }
    }
    softmax_rows(s, w.P);
    mm(context, w.P, v, Tq, s->Dv, Tk, 0, 0, Tk, s->Dv, s->Dv, 1.0f, 0.0f, B, ss, (size_t)Tk * s->Dv, (size_t)Tq * s->Dv);
}

static void backward(matmul_fn mm, const tfm_attention_scores_shape *s, const tfm_attention_scores_grads *g, const float *dcontext,
                     float *wspace, const float *q, const float *k, const float *v, const tfm_attention_scores_params *p) {
    scores_workspace w = split(s, wspace);
    int B = s->B, Tq = s->Tq, Tk = s->Tk, D = s->D, Dv = s->Dv, A = s->A;
    size_t qs = (size_t)Tq * D, ks = (size_t)Tk * D, ss = (size_t)Tq * Tk, vs = (size_t)Tk * Dv, cs = (size_t)Tq * Dv;
    if (g->dv) mm(g->dv, w.P, dcontext, Tk, Dv, Tq, 1, 0, Tk, Dv, Dv, 1.0f, 1.0f, B, ss, cs, vs);
    mm(w.dS, dcontext, v, Tq, Tk, Dv, 0, 1, Dv, Dv, Tk, 1.0f, 0.0f, B, cs, vs, ss); /* dP */
    for (size_t row = 0; row < (size_t)B * Tq; row++) { /* softmax backward: dS = P (dP - sum P dP) */
        float *d = w.dS + row * Tk;
        const float *pr = w.P + row * Tk;
        double dot = 0.0;
        for (int j = 0; j < Tk; j++) dot += (double)pr[j] * d[j];
        for (int j = 0; j < Tk; j++) d[j] = pr[j] * (d[j] - (float)dot);
    }
    if (s->kind == TFM_SCORE_DOT || s->kind == TFM_SCORE_SCALED_DOT) {
        float a = scale_of(s);
        if (g->dq) mm(g->dq, w.dS, k, Tq, D, Tk, 0, 0, Tk, D, D, a, 1.0f, B, ss, ks, qs);
        if (g->dk) mm(g->dk, w.dS, q, Tk, D, Tq, 1, 0, Tk, D, D, a, 1.0f, B, ss, qs, ks);
    } else if (s->kind == TFM_SCORE_GENERAL) {
        if (g->dq) mm(g->dq, w.dS, w.kW, Tq, D, Tk, 0, 0, Tk, D, D, 1.0f, 1.0f, B, ss, ks, qs);
        mm(w.kW, w.dS, q, Tk, D, Tq, 1, 0, Tk, D, D, 1.0f, 0.0f, B, ss, qs, ks); /* now d(W k_j) */
        if (g->dk) mm(g->dk, w.kW, p->W, B * Tk, D, D, 0, 0, D, D, D, 1.0f, 1.0f, 1, 0, 0, 0);
        if (g->dW) mm(g->dW, w.kW, k, D, D, B * Tk, 1, 0, D, D, D, 1.0f, 1.0f, 1, 0, 0, 0);
    } else {
        /* de = dS u (1 - e^2); dPq (over keys) and dPk (over queries) overwrite Pq and Pk; du per batch item */
        memset(w.Pq, 0, sizeof(float) * (size_t)B * Tq * A);
        memset(w.Pk, 0, sizeof(float) * (size_t)B * Tk * A);
        memset(w.du, 0, sizeof(float) * (size_t)B * A);
        #pragma omp parallel for schedule(static) if (ss * B * A >= 32768)
        for (int b = 0; b < B; b++)
            for (int i = 0; i < Tq; i++)
                for (int j = 0; j < Tk; j++) {
                    size_t at = ((size_t)b * Tq + i) * Tk + j;
                    float ds = w.dS[at];
                    const float *e = w.E + at * A;
                    float *dpq = w.Pq + ((size_t)b * Tq + i) * A, *dpk = w.Pk + ((size_t)b * Tk + j) * A, *du = w.du + (size_t)b * A;
                    for (int a = 0; a < A; a++) {
                        float de = ds * p->u[a] * (1.0f - e[a] * e[a]);
                        dpq[a] += de, dpk[a] += de, du[a] += ds * e[a];
                    }
                }
        for (int b = 0; g->du && b < B; b++)
            for (int a = 0; a < A; a++) g->du[a] += w.du[(size_t)b * A + a];
        if (g->dq) mm(g->dq, w.Pq, p->Wq, B * Tq, D, A, 0, 0, A, D, D, 1.0f, 1.0f, 1, 0, 0, 0);
        if (g->dk) mm(g->dk, w.Pk, p->Wk, B * Tk, D, A, 0, 0, A, D, D, 1.0f, 1.0f, 1, 0, 0, 0);
        if (g->dWq) mm(g->dWq, w.Pq, q, A, D, B * Tq, 1, 0, A, D, D, 1.0f, 1.0f, 1, 0, 0, 0);
        if (g->dWk) mm(g->dWk, w.Pk, k, A, D, B * Tk, 1, 0, A, D, D, 1.0f, 1.0f, 1, 0, 0, 0);
    }
}

void tfm_attention_scores_forward_reference(const tfm_attention_scores_shape *s, float *context, float *workspace, const float *q,
                                            const float *k, const float *v, const tfm_attention_scores_params *p) {
    forward(tfm_matmul_reference, s, context, workspace, q, k, v, p);
}
void tfm_attention_scores_forward(const tfm_attention_scores_shape *s, float *context, float *workspace, const float *q, const float *k,
                                  const float *v, const tfm_attention_scores_params *p) {
    forward(tfm_matmul, s, context, workspace, q, k, v, p);
}
void tfm_attention_scores_backward_reference(const tfm_attention_scores_shape *s, const tfm_attention_scores_grads *g,
                                             const float *dcontext, float *workspace, const float *q, const float *k, const float *v,
                                             const tfm_attention_scores_params *p) {
    backward(tfm_matmul_reference, s, g, dcontext, workspace, q, k, v, p);
}
void tfm_attention_scores_backward(const tfm_attention_scores_shape *s, const tfm_attention_scores_grads *g, const float *dcontext,
                                   float *workspace, const float *q, const float *k, const float *v, const tfm_attention_scores_params *p) {
    backward(tfm_matmul, s, g, dcontext, workspace, q, k, v, p);
}
