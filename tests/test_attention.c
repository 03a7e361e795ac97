/* tests/test_attention.c: fused multi-head attention: fast vs reference, finite differences, masks, dropout, KV-cache decode, determinism. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "tfm/base.h"
#include "ops/attention.h"
#include "test_util.h"
#include "tfm/base.h"
#include "tfm/random.h"

/* max|a-b| relative to the largest |a| (a = the reference). */
static double scaled_diff(const float *a, const float *b, size_t n) {
    double scale = 1e-30;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(a[i]));
    return test_max_abs_diff(a, b, n) / scale;
}

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* How q, k, v sit in memory. All of them live in one buffer `x` (and their gradients at the same
 * offsets in a buffer `g` of the same size), so one comparison over the whole buffer also proves that
 * nothing outside the heads' columns was written. */
enum layout {
    LAYOUT_SEPARATE,  /* q [B,Tq,C], k [B,Tk,C], v [B,Tk,C], contiguous */
    LAYOUT_FUSED_QKV, /* one [B,T,3C]: q = x, k = x + C, v = x + 2C (needs Tq == Tk) */
    LAYOUT_CROSS,     /* q [B,Tq,C] then an encoder projection [B,Tk,2C]: k = +0, v = +C */
    LAYOUT_PADDED,    /* separate, with row stride C+3 and 2 spare rows per batch item (like a KV cache) */
};
static const char *layout_names[] = {"separate", "fused-qkv", "cross", "padded"};

typedef struct setup {
    tfm_attention_config config;
    int layout;
    size_t x_size, q_offset, k_offset, v_offset, out_size, probs_size;
    int relative;                       /* 1: Shaw's relative-position tables, [2R+1, hd] each, at the end of x */
    size_t relative_keys_offset, relative_values_offset;
    int lengths[16];
} setup;

/* The setup's config reading its relative tables from x and (when g is not NULL) accumulating their gradients at the
 * same offsets of g, as q, k and v do. */
static tfm_attention_config config_on(const setup *s, const float *x, float *g) {
    tfm_attention_config c = s->config;
    if (s->relative) {
        c.relative_keys = x + s->relative_keys_offset;
        c.relative_values = x + s->relative_values_offset;
        c.relative_keys_grad = g ? g + s->relative_keys_offset : NULL;
        c.relative_values_grad = g ? g + s->relative_values_offset : NULL;
    }
    return c;
}

/* Fills *s in place: config.key_lengths points into s->lengths. */
static void setup_init(setup *sp, int B, int Tq, int Tk, int H, int hd, int causal, int padding, float dropout, int layout) {
    setup s;
    memset(&s, 0, sizeof s);
    s.layout = layout;
    s.config = tfm_attention_config_default(B, Tq, Tk, H, hd);
    tfm_attention_config *c = &s.config;
    size_t C = (size_t)H * hd;
    switch (layout) {
    case LAYOUT_SEPARATE:
        s.k_offset = (size_t)B * Tq * C;
        s.v_offset = s.k_offset + (size_t)B * Tk * C;
        s.x_size = s.v_offset + (size_t)B * Tk * C;
        break;
    case LAYOUT_FUSED_QKV:
        c->q_row_stride = c->k_row_stride = c->v_row_stride = 3 * C;
        c->q_batch_stride = c->k_batch_stride = c->v_batch_stride = 3 * C * Tq;
        s.k_offset = C;
        s.v_offset = 2 * C;
        s.x_size = (size_t)B * Tq * 3 * C;
        break;
    case LAYOUT_CROSS:
        c->k_row_stride = c->v_row_stride = 2 * C;
        c->k_batch_stride = c->v_batch_stride = 2 * C * Tk;
        s.k_offset = (size_t)B * Tq * C;
        s.v_offset = s.k_offset + C;
        s.x_size = s.k_offset + (size_t)B * Tk * 2 * C;
        break;
    default: /* LAYOUT_PADDED */
        c->q_row_stride = c->k_row_stride = c->v_row_stride = C + 3;
        c->q_batch_stride = (C + 3) * (Tq + 2);
        c->k_batch_stride = c->v_batch_stride = (C + 3) * (Tk + 2);
        s.k_offset = (size_t)B * c->q_batch_stride;
        s.v_offset = s.k_offset + (size_t)B * c->k_batch_stride;
        s.x_size = s.v_offset + (size_t)B * c->v_batch_stride;
        break;
    }
    c->causal = causal;
    c->alibi = causal && Tq % 2 == 1; /* ALiBi on half the causal cases: its biases through both kernels and the gradient checks */
    /* Relative positions on about half the cases, with a clip shorter than the keys so that clipped distances occur */
    s.relative = (B + Tq + H) % 2 == 0;
    c->relative_clip = Tk > 4 ? Tk / 3 : 1;
    s.relative_keys_offset = s.x_size;
    s.relative_values_offset = s.x_size + (size_t)(2 * c->relative_clip + 1) * hd;
    if (s.relative) s.x_size += 2 * (size_t)(2 * c->relative_clip + 1) * hd;
    if (padding) {
        /* Item 0 is entirely padding (when there is more than one item): a row with no visible key. */
        for (int b = 0; b < B; b++) s.lengths[b] = (b == 0 && B > 1) ? 0 : Tk - (b * 3) % Tk;
    }
    c->dropout_p = dropout;
    c->dropout_seed = 1234;
    c->dropout_offset = 99;
    s.out_size = (size_t)B * Tq * C;
    s.probs_size = (size_t)B * H * Tq * Tk;
    *sp = s;
    if (padding) sp->config.key_lengths = sp->lengths;
}

static double attention_loss(const setup *s, const float *x, const float *loss_weights, float *out, float *probs) {
    tfm_attention_config c = config_on(s, x, NULL);
    tfm_status st = tfm_attention_forward_reference(out, probs, x + s->q_offset, x + s->k_offset, x + s->v_offset, &c);
    if (st != TFM_OK) return NAN;
    double loss = 0.0;
    for (size_t i = 0; i < s->out_size; i++) loss += (double)out[i] * loss_weights[i];
    return loss;
}

static float *scratch_for(const setup *s, size_t *floats) {
    float dummy = 0.0f; /* the scratch size depends on which relative gradients are asked for: all of them */
    tfm_attention_config c = config_on(s, &dummy, &dummy);
    *floats = tfm_attention_scratch_floats(&c, tfm_threads_get());
    return tfm_malloc(sizeof(float) * (*floats ? *floats : 1));
}

static void test_case(int B, int Tq, int Tk, int H, int hd, int causal, int padding, float dropout, int layout) {
    setup s;
    setup_init(&s, B, Tq, Tk, H, hd, causal, padding, dropout, layout);
    char name[160];
    snprintf(name, sizeof name, "B=%d Tq=%d Tk=%d H=%d hd=%d causal=%d padding=%d dropout=%g alibi=%d relative=%d %s", B, Tq, Tk, H,
             hd, causal, padding, (double)dropout, s.config.alibi, s.relative ? s.config.relative_clip : 0, layout_names[layout]);
    uint64_t seed = (uint64_t)B * 7919u + Tq * 104729u + Tk * 31u + H * 17u + hd;
    float *x = test_random_floats(s.x_size, seed, -2, 2);
    float *out_ref = test_random_floats(s.out_size, seed + 1, 0, 1), *probs_ref = test_random_floats(s.probs_size, seed + 2, 0, 1);
    float *out_fast = test_random_floats(s.out_size, seed + 3, 0, 1), *probs_fast = test_random_floats(s.probs_size, seed + 4, 0, 1);
    size_t scratch_floats;
    float *scratch = scratch_for(&s, &scratch_floats);
    const float *q = x + s.q_offset, *k = x + s.k_offset, *v = x + s.v_offset;
    tfm_attention_config forward = config_on(&s, x, NULL);
    const tfm_attention_config *c = &forward;

    CHECK_OK(tfm_attention_forward_reference(out_ref, probs_ref, q, k, v, c));
    CHECK_OK(tfm_attention_forward(out_fast, probs_fast, q, k, v, c, scratch, scratch_floats));
    CHECK(all_finite(out_fast, s.out_size) && all_finite(probs_fast, s.probs_size), "%s: NaN/inf in output", name);
    double d = scaled_diff(out_ref, out_fast, s.out_size);
    CHECK(d < 2e-6, "%s: forward out, fast vs reference %g", name, d);
    d = scaled_diff(probs_ref, probs_fast, s.probs_size);
    CHECK(d < 2e-6, "%s: forward probs, fast vs reference %g", name, d);

    /* The masks: visible probabilities sum to 1, masked ones are exactly 0, a row that sees nothing
     * has zero output. */
    int mask_ok = 1, sums_ok = 1, empty_rows = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < Tq; i++) {
                int n = padding ? s.lengths[b] : Tk;
                if (causal && i + (Tk - Tq) + 1 < n) n = i + (Tk - Tq) + 1;
                if (n < 0) n = 0;
                const float *row = probs_fast + (((size_t)b * H + h) * Tq + i) * Tk;
                double sum = 0.0;
                for (int j = 0; j < Tk; j++) {
                    if (j >= n && row[j] != 0.0f) mask_ok = 0;
                    sum += row[j];
                }
                if (n > 0 && fabs(sum - 1.0) > 1e-5) sums_ok = 0;
                if (n == 0) {
                    empty_rows++;
                    const float *orow = out_fast + ((size_t)b * Tq + i) * H * hd + (size_t)h * hd;
                    for (int e = 0; e < hd; e++)
                        if (orow[e] != 0.0f) sums_ok = 0;
                }
            }
    CHECK(mask_ok, "%s: a masked key has non-zero probability", name);
    CHECK(sums_ok, "%s: probabilities do not sum to 1 (or an empty row has output)", name);
    if (padding && B > 1) CHECK(empty_rows > 0, "%s: expected fully masked rows", name);

    /* Backward: fast vs reference, both accumulating onto the same random start. */
    float *dout = test_random_floats(s.out_size, seed + 5, -1, 1);
    float *g0 = test_random_floats(s.x_size, seed + 6, -1, 1);
    float *g_ref = test_copy_floats(g0, s.x_size), *g_fast = test_copy_floats(g0, s.x_size);
    tfm_attention_config backward_ref = config_on(&s, x, g_ref), backward_fast = config_on(&s, x, g_fast);
    CHECK_OK(tfm_attention_backward_reference(g_ref + s.q_offset, g_ref + s.k_offset, g_ref + s.v_offset, dout, probs_ref,
                                              q, k, v, &backward_ref));
    CHECK_OK(tfm_attention_backward(g_fast + s.q_offset, g_fast + s.k_offset, g_fast + s.v_offset, dout, probs_fast, q, k,
                                    v, &backward_fast, scratch, scratch_floats));
    for (size_t i = 0; i < s.x_size; i++) {
        g_ref[i] -= g0[i];
        g_fast[i] -= g0[i];
    }
    d = scaled_diff(g_ref, g_fast, s.x_size);
    CHECK(d < 1e-5, "%s: backward (dq, dk, dv and the relative tables), fast vs reference %g", name, d);

    /* Only dq: dk and dv are NULL and must stay untouched. */
    float *g_q = test_copy_floats(g0, s.x_size);
    CHECK_OK(tfm_attention_backward(g_q + s.q_offset, NULL, NULL, dout, probs_fast, q, k, v, c, scratch, scratch_floats));
    int only_q = 1;
    for (size_t i = 0; i < s.x_size; i++) g_q[i] -= g0[i];
    for (int b = 0; b < B && only_q; b++)
        for (int j = 0; j < Tk; j++) {
            const float *kj = g_q + s.k_offset + b * c->k_batch_stride + j * c->k_row_stride;
            const float *vj = g_q + s.v_offset + b * c->v_batch_stride + j * c->v_row_stride;
            for (int e = 0; e < H * hd; e++)
                if (kj[e] != 0.0f || vj[e] != 0.0f) only_q = 0;
        }
    CHECK(only_q, "%s: backward with dk = dv = NULL wrote into k or v", name);
    double dq_err = 0.0, dq_scale = 1e-30;
    for (int b = 0; b < B; b++)
        for (int i = 0; i < Tq; i++)
            for (int e = 0; e < H * hd; e++) {
                size_t at = s.q_offset + b * c->q_batch_stride + i * c->q_row_stride + e;
                dq_err = fmax(dq_err, fabs(g_q[at] - g_ref[at]));
                dq_scale = fmax(dq_scale, fabs(g_ref[at]));
            }
    CHECK(dq_err / dq_scale < 1e-5, "%s: dq alone differs from the full backward: %g", name, dq_err / dq_scale);

    /* Finite differences of the reference backward, over every element of q, k, v (small cases). */
    if (s.x_size <= 600) {
        float *lw = test_random_floats(s.out_size, seed + 7, -1, 1);
        float *grad = tfm_calloc(s.x_size, sizeof(float));
        float *o = tfm_malloc(sizeof(float) * s.out_size), *pr = tfm_malloc(sizeof(float) * s.probs_size);
        attention_loss(&s, x, lw, o, pr);
        tfm_attention_config with_grad = config_on(&s, x, grad);
        CHECK_OK(tfm_attention_backward_reference(grad + s.q_offset, grad + s.k_offset, grad + s.v_offset, lw, pr, q, k, v, &with_grad));
        const float eps = 1e-2f;
        double worst = 0.0;
        for (size_t i = 0; i < s.x_size; i++) {
            float saved = x[i];
            x[i] = saved + eps;
            double up = attention_loss(&s, x, lw, o, pr);
            x[i] = saved - eps;
            double down = attention_loss(&s, x, lw, o, pr);
            x[i] = saved;
            double numeric = (up - down) / (2.0 * eps);
            double err = fabs(numeric - grad[i]) / fmax(1.0, fabs(numeric));
            if (!(err <= worst)) worst = err;
        }
        CHECK(worst < 5e-4, "%s: finite differences vs reference backward: %g", name, worst);
        tfm_free(lw, sizeof(float) * s.out_size);
        tfm_free(grad, sizeof(float) * s.x_size);
        tfm_free(o, sizeof(float) * s.out_size);
        tfm_free(pr, sizeof(float) * s.probs_size);
    }

    tfm_free(x, sizeof(float) * s.x_size);
    tfm_free(out_ref, sizeof(float) * s.out_size);
    tfm_free(probs_ref, sizeof(float) * s.probs_size);
    tfm_free(out_fast, sizeof(float) * s.out_size);
    tfm_free(probs_fast, sizeof(float) * s.probs_size);
    tfm_free(scratch, sizeof(float) * (scratch_floats ? scratch_floats : 1));
    tfm_free(dout, sizeof(float) * s.out_size);
    tfm_free(g0, sizeof(float) * s.x_size);
    tfm_free(g_ref, sizeof(float) * s.x_size);
    tfm_free(g_fast, sizeof(float) * s.x_size);
    tfm_free(g_q, sizeof(float) * s.x_size);
}

/* The finite-difference check itself must be able to fail: a gradient with a planted error is caught. */
static void test_gradient_check_catches_errors(void) {
    setup s;
    setup_init(&s, 1, 3, 3, 1, 2, 1, 0, 0.0f, LAYOUT_SEPARATE);
    float *x = test_random_floats(s.x_size, 5, -2, 2), *lw = test_random_floats(s.out_size, 6, -1, 1);
    float *o = tfm_malloc(sizeof(float) * s.out_size), *pr = tfm_malloc(sizeof(float) * s.probs_size);
    float *grad = tfm_calloc(s.x_size, sizeof(float));
    attention_loss(&s, x, lw, o, pr);
    CHECK_OK(tfm_attention_backward_reference(grad + s.q_offset, grad + s.k_offset, grad + s.v_offset, lw, pr,
                                              x + s.q_offset, x + s.k_offset, x + s.v_offset, &s.config));
    grad[s.k_offset + 1] += 0.01f;
    double worst = 0.0;
    for (size_t i = 0; i < s.x_size; i++) {
        float saved = x[i];
        x[i] = saved + 1e-2f;
        double up = attention_loss(&s, x, lw, o, pr);
        x[i] = saved - 1e-2f;
        double down = attention_loss(&s, x, lw, o, pr);
        x[i] = saved;
        worst = fmax(worst, fabs((up - down) / 2e-2 - grad[i]));
    }
    CHECK(worst > 5e-3, "a planted gradient error of 0.01 must be detected (error %g)", worst);
    tfm_free(x, sizeof(float) * s.x_size);
    tfm_free(lw, sizeof(float) * s.out_size);
    tfm_free(o, sizeof(float) * s.out_size);
    tfm_free(pr, sizeof(float) * s.probs_size);
    tfm_free(grad, sizeof(float) * s.x_size);
}

/* Dropout semantics: with v_j = e_j (one-hot rows, hd = Tk), out[i][j] = prob_ij * keep_ij / (1-p),
 * which exposes the mask: about 1-p of the weights survive, each scaled by exactly 1/(1-p). */
static void test_dropout_mask(void) {
    const int B = 2, T = 64, H = 2, hd = 64;
    const float p = 0.3f;
    setup s;
    setup_init(&s, B, T, T, H, hd, 0, 0, p, LAYOUT_SEPARATE);
    float *x = test_random_floats(s.x_size, 77, -1, 1);
    for (int b = 0; b < B; b++)
        for (int j = 0; j < T; j++)
            for (int h = 0; h < H; h++)
                for (int e = 0; e < hd; e++) x[s.v_offset + ((size_t)b * T + j) * H * hd + (size_t)h * hd + e] = (e == j);
    float *out = tfm_malloc(sizeof(float) * s.out_size), *probs = tfm_malloc(sizeof(float) * s.probs_size);
    size_t scratch_floats;
    float *scratch = scratch_for(&s, &scratch_floats);
    CHECK_OK(tfm_attention_forward(out, probs, x + s.q_offset, x + s.k_offset, x + s.v_offset, &s.config, scratch, scratch_floats));
    size_t kept = 0, total = 0, bad_scale = 0, mask_mismatch = 0;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++)
                for (int j = 0; j < T; j++) {
                    float prob = probs[(((size_t)b * H + h) * T + i) * T + j];
                    float o = out[((size_t)b * T + i) * H * hd + (size_t)h * hd + j];
                    int keep = o != 0.0f;
                    kept += keep;
                    total++;
                    if (keep && fabsf(o - prob / (1.0f - p)) > 1e-6f * fmaxf(1.0f, o)) bad_scale++;
                    uint64_t counter = s.config.dropout_offset + (((uint64_t)b * H + h) * T + i) * T + j;
                    if (keep != (tfm_random_uniform_at(s.config.dropout_seed, counter) >= p)) mask_mismatch++;
                }
    double frac = (double)kept / total;
    CHECK(fabs(frac - (1.0 - p)) < 0.02, "dropout kept %.4f of the weights, expected %.2f", frac, 1.0 - p);
    CHECK(bad_scale == 0, "%zu kept weights are not prob/(1-p)", bad_scale);
    CHECK(mask_mismatch == 0, "%zu weights disagree with the documented counter", mask_mismatch);
    /* A different offset gives a different mask. */
    float *out2 = tfm_malloc(sizeof(float) * s.out_size);
    s.config.dropout_offset += (uint64_t)B * H * T * T;
    CHECK_OK(tfm_attention_forward(out2, probs, x + s.q_offset, x + s.k_offset, x + s.v_offset, &s.config, scratch, scratch_floats));
    CHECK(memcmp(out, out2, sizeof(float) * s.out_size) != 0, "dropout mask must depend on the offset");
    tfm_free(x, sizeof(float) * s.x_size);
    tfm_free(out, sizeof(float) * s.out_size);
    tfm_free(out2, sizeof(float) * s.out_size);
    tfm_free(probs, sizeof(float) * s.probs_size);
    tfm_free(scratch, sizeof(float) * scratch_floats);
}

/* NaN and infinity are not hidden: a NaN in one key of batch item 1 makes every output row of item 1
 * that sees it NaN (fast and reference alike; the fast exp's clamp once turned NaN into an undefined
 * float -> int conversion), while item 0 stays finite and equal to the reference. */
static void test_nan_propagates(float bad) {
    const int B = 2, T = 70, H = 2, hd = 8;
    setup s;
    setup_init(&s, B, T, T, H, hd, 0, 0, 0.0f, LAYOUT_SEPARATE);
    float *x = test_random_floats(s.x_size, 5, -1, 1);
    x[s.k_offset + (size_t)1 * T * H * hd + 3 * H * hd + 1] = bad; /* item 1, key 3, head 0 */
    float *out = tfm_malloc(sizeof(float) * s.out_size), *probs = tfm_malloc(sizeof(float) * s.probs_size);
    float *out_ref = tfm_malloc(sizeof(float) * s.out_size), *probs_ref = tfm_malloc(sizeof(float) * s.probs_size);
    size_t scratch_floats;
    float *scratch = scratch_for(&s, &scratch_floats);
    CHECK_OK(tfm_attention_forward(out, probs, x + s.q_offset, x + s.k_offset, x + s.v_offset, &s.config, scratch, scratch_floats));
    CHECK_OK(tfm_attention_forward_reference(out_ref, probs_ref, x + s.q_offset, x + s.k_offset, x + s.v_offset, &s.config));
    size_t item = (size_t)T * H * hd;
    CHECK(all_finite(out, item) && scaled_diff(out_ref, out, item) < 1e-5, "item 0 must be unaffected by item 1's %g", (double)bad);
    size_t finite_fast = 0, finite_ref = 0;
    for (int i = 0; i < T; i++) { /* head 0's columns of item 1 */
        finite_fast += isfinite(out[item + (size_t)i * H * hd]) != 0;
        finite_ref += isfinite(out_ref[item + (size_t)i * H * hd]) != 0;
    }
    CHECK(finite_fast == 0 && finite_ref == 0, "a key holding %g: %zu fast and %zu reference rows of item 1 stayed finite",
          (double)bad, finite_fast, finite_ref);
    tfm_free(x, sizeof(float) * s.x_size);
    tfm_free(out, sizeof(float) * s.out_size);
    tfm_free(out_ref, sizeof(float) * s.out_size);
    tfm_free(probs, sizeof(float) * s.probs_size);
    tfm_free(probs_ref, sizeof(float) * s.probs_size);
    tfm_free(scratch, sizeof(float) * scratch_floats);
}

/* Decoding against a KV cache [B, max_length, C] gives the same rows as the full causal pass. */
static void test_decode(int query_count, int padding) {
    const int B = 2, T = 70, H = 3, hd = 12, C = H * hd, max_length = 96;
    setup s;
    setup_init(&s, B, T, T, H, hd, 1, 0, 0.0f, LAYOUT_SEPARATE);
    int lengths[2] = {T, T - 9};
    if (padding) s.config.key_lengths = lengths;
    float *x = test_random_floats(s.x_size, 4242, -2, 2);
    float *out = tfm_malloc(sizeof(float) * s.out_size), *probs = tfm_malloc(sizeof(float) * s.probs_size);
    CHECK_OK(tfm_attention_forward(out, probs, x + s.q_offset, x + s.k_offset, x + s.v_offset, &s.config, NULL, 0));
    /* Cache holds all T positions; q is the last query_count positions. */
    size_t cache_size = (size_t)B * max_length * C;
    /* Unfilled cache positions hold NaN: the kernel must never read them (0 * NaN would leak). */
    float *k_cache = test_random_floats(cache_size, 1, NAN, NAN), *v_cache = test_random_floats(cache_size, 2, NAN, NAN);
    float *qn = tfm_malloc(sizeof(float) * B * query_count * C);
    for (int b = 0; b < B; b++) {
        memcpy(k_cache + (size_t)b * max_length * C, x + s.k_offset + (size_t)b * T * C, sizeof(float) * T * C);
        memcpy(v_cache + (size_t)b * max_length * C, x + s.v_offset + (size_t)b * T * C, sizeof(float) * T * C);
        memcpy(qn + (size_t)b * query_count * C, x + s.q_offset + ((size_t)b * T + T - query_count) * C,
               sizeof(float) * query_count * C);
        if (padding) /* padded key positions are garbage too */
            for (size_t i = (size_t)lengths[b] * C; i < (size_t)T * C; i++)
                k_cache[(size_t)b * max_length * C + i] = v_cache[(size_t)b * max_length * C + i] = NAN;
    }
    float *dec = tfm_malloc(sizeof(float) * B * query_count * C), *dec_probs = tfm_malloc(sizeof(float) * B * H * query_count * T);
    CHECK_OK(tfm_attention_decode(dec, dec_probs, qn, k_cache, v_cache, B, query_count, T, max_length, H, hd,
                                  padding ? lengths : NULL));
    double worst = 0.0;
    for (int b = 0; b < B; b++) {
        const float *want = out + ((size_t)b * T + T - query_count) * C;
        worst = fmax(worst, scaled_diff(want, dec + (size_t)b * query_count * C, (size_t)query_count * C));
    }
    CHECK(worst < 2e-6, "decode %d queries (padding %d) vs full causal pass: %g", query_count, padding, worst);
    CHECK(tfm_attention_decode(dec, dec_probs, qn, k_cache, v_cache, B, query_count, max_length + 1, max_length, H, hd,
                               NULL) == TFM_ERR_INVALID_ARGUMENT,
          "cache_length beyond max_length must be rejected");
    tfm_free(x, sizeof(float) * s.x_size);
    tfm_free(out, sizeof(float) * s.out_size);
    tfm_free(probs, sizeof(float) * s.probs_size);
    tfm_free(k_cache, sizeof(float) * cache_size);
    tfm_free(v_cache, sizeof(float) * cache_size);
    tfm_free(qn, sizeof(float) * B * query_count * C);
    tfm_free(dec, sizeof(float) * B * query_count * C);
    tfm_free(dec_probs, sizeof(float) * B * H * query_count * T);
}

/* kv_index: query items reading shared k/v items (beams of one sentence) equal query items with their own copies. */
static void test_kv_index(int Tq) {
    enum { B = 6, ITEMS = 2, Tk = 9, H = 2, hd = 5, C = H * hd };
    const int kv_index[B] = {1, 0, 1, 1, 0, 0}, lengths[B] = {9, 7, 9, 4, 7, 7};
    float *q = test_random_floats((size_t)B * Tq * C, 71, -2, 2);
    float *k = test_random_floats((size_t)ITEMS * Tk * C, 72, -2, 2), *v = test_random_floats((size_t)ITEMS * Tk * C, 73, -2, 2);
    float *k_copies = tfm_malloc(sizeof(float) * B * Tk * C), *v_copies = tfm_malloc(sizeof(float) * B * Tk * C);
    for (int b = 0; b < B; b++) {
        memcpy(k_copies + (size_t)b * Tk * C, k + (size_t)kv_index[b] * Tk * C, sizeof(float) * Tk * C);
        memcpy(v_copies + (size_t)b * Tk * C, v + (size_t)kv_index[b] * Tk * C, sizeof(float) * Tk * C);
    }
    tfm_attention_config shared = tfm_attention_config_default(B, Tq, Tk, H, hd), copies = shared;
    shared.kv_index = kv_index;
    shared.key_lengths = copies.key_lengths = lengths;
    shared.causal = copies.causal = 1;
    size_t out_n = (size_t)B * Tq * C, probs_n = (size_t)B * H * Tq * Tk;
    float *out[4], *probs[4];
    for (int i = 0; i < 4; i++) { out[i] = tfm_malloc(sizeof(float) * out_n); probs[i] = tfm_malloc(sizeof(float) * probs_n); }
    CHECK_OK(tfm_attention_forward(out[0], probs[0], q, k, v, &shared, NULL, 0));
    CHECK_OK(tfm_attention_forward(out[1], probs[1], q, k_copies, v_copies, &copies, NULL, 0));
    CHECK_OK(tfm_attention_forward_reference(out[2], probs[2], q, k, v, &shared));
    CHECK_OK(tfm_attention_forward_reference(out[3], probs[3], q, k_copies, v_copies, &copies));
    CHECK(memcmp(out[0], out[1], sizeof(float) * out_n) == 0 && memcmp(probs[0], probs[1], sizeof(float) * probs_n) == 0,
          "kv_index (Tq %d): fast kernel differs from explicit copies", Tq);
    CHECK(memcmp(out[2], out[3], sizeof(float) * out_n) == 0, "kv_index (Tq %d): reference differs from explicit copies", Tq);
    CHECK(scaled_diff(out[2], out[0], out_n) < 2e-6, "kv_index (Tq %d): fast vs reference %g", Tq, scaled_diff(out[2], out[0], out_n));
    float *dq = tfm_calloc(out_n, sizeof(float));
    CHECK(tfm_attention_backward(dq, NULL, NULL, out[0], probs[0], q, k, v, &shared, dq, out_n) == TFM_ERR_INVALID_ARGUMENT,
          "kv_index must be refused by the backward");
    tfm_free(dq, sizeof(float) * out_n);
    for (int i = 0; i < 4; i++) { tfm_free(out[i], sizeof(float) * out_n); tfm_free(probs[i], sizeof(float) * probs_n); }
    tfm_free(q, sizeof(float) * B * Tq * C);
    tfm_free(k, sizeof(float) * ITEMS * Tk * C);
    tfm_free(v, sizeof(float) * ITEMS * Tk * C);
    tfm_free(k_copies, sizeof(float) * B * Tk * C);
    tfm_free(v_copies, sizeof(float) * B * Tk * C);
}

/* The fast kernels give bit-identical results with 1 and 2 threads (with dropout and masks on). */
static void test_thread_determinism(void) {
    setup s;
    setup_init(&s, 3, 100, 100, 3, 20, 1, 1, 0.2f, LAYOUT_FUSED_QKV);
    float *x = test_random_floats(s.x_size, 31, -2, 2), *dout = test_random_floats(s.out_size, 32, -1, 1);
    float *out[2], *probs[2], *g[2];
    for (int run = 0; run < 2; run++) {
        tfm_threads_set(run + 1);
        size_t scratch_floats;
        float *scratch = scratch_for(&s, &scratch_floats);
        out[run] = tfm_malloc(sizeof(float) * s.out_size);
        probs[run] = tfm_malloc(sizeof(float) * s.probs_size);
        g[run] = tfm_calloc(s.x_size, sizeof(float));
        CHECK_OK(tfm_attention_forward(out[run], probs[run], x + s.q_offset, x + s.k_offset, x + s.v_offset, &s.config,
                                       scratch, scratch_floats));
        CHECK_OK(tfm_attention_backward(g[run] + s.q_offset, g[run] + s.k_offset, g[run] + s.v_offset, dout, probs[run],
                                        x + s.q_offset, x + s.k_offset, x + s.v_offset, &s.config, scratch, scratch_floats));
        tfm_free(scratch, sizeof(float) * scratch_floats);
    }
    tfm_threads_set(0);
    CHECK(memcmp(out[0], out[1], sizeof(float) * s.out_size) == 0, "attention forward differs between 1 and 2 threads");
    CHECK(memcmp(probs[0], probs[1], sizeof(float) * s.probs_size) == 0, "attention probs differ between 1 and 2 threads");
    CHECK(memcmp(g[0], g[1], sizeof(float) * s.x_size) == 0, "attention backward differs between 1 and 2 threads");
    for (int run = 0; run < 2; run++) {
        tfm_free(out[run], sizeof(float) * s.out_size);
        tfm_free(probs[run], sizeof(float) * s.probs_size);
        tfm_free(g[run], sizeof(float) * s.x_size);
    }
    tfm_free(x, sizeof(float) * s.x_size);
    tfm_free(dout, sizeof(float) * s.out_size);
}

static void test_invalid_arguments(void) {
    setup s;
    setup_init(&s, 2, 4, 4, 2, 3, 0, 0, 0.0f, LAYOUT_SEPARATE);
    float *x = test_random_floats(s.x_size, 1, -1, 1), *out = tfm_malloc(sizeof(float) * s.out_size);
    float *probs = tfm_malloc(sizeof(float) * s.probs_size);
    const float *q = x + s.q_offset, *k = x + s.k_offset, *v = x + s.v_offset;
    tfm_attention_config c = s.config;
    c.k_row_stride = 5; /* < H*hd = 6 */
    CHECK(tfm_attention_forward(out, probs, q, k, v, &c, NULL, 0) == TFM_ERR_INVALID_ARGUMENT &&
              strstr(tfm_last_error(), "k_row_stride") != NULL,
          "a too-small row stride must be rejected by name, got: %s", tfm_last_error());
    c = s.config;
    int bad_lengths[2] = {4, 5};
    c.key_lengths = bad_lengths;
    CHECK(tfm_attention_forward_reference(out, probs, q, k, v, &c) == TFM_ERR_INVALID_ARGUMENT &&
              strstr(tfm_last_error(), "key_lengths[1]") != NULL,
          "key_lengths beyond key_length must be rejected, got: %s", tfm_last_error());
    c = s.config;
    c.dropout_p = 1.0f;
    CHECK(tfm_attention_forward(out, probs, q, k, v, &c, NULL, 0) == TFM_ERR_INVALID_ARGUMENT,
          "dropout_p = 1 must be rejected");
    c = s.config;
    c.dropout_p = 0.1f;
    float small[3];
    CHECK(tfm_attention_forward(out, probs, q, k, v, &c, small, 3) == TFM_ERR_INVALID_ARGUMENT &&
              strstr(tfm_last_error(), "scratch") != NULL,
          "too little scratch must be rejected, got: %s", tfm_last_error());
    CHECK(tfm_attention_backward(out, NULL, NULL, out, probs, q, k, v, &s.config, NULL, 0) == TFM_ERR_INVALID_ARGUMENT,
          "backward without scratch must be rejected");
    c = s.config;
    c.heads = 0;
    CHECK(tfm_attention_forward(out, probs, q, k, v, &c, NULL, 0) == TFM_ERR_INVALID_ARGUMENT, "heads = 0 must be rejected");
    tfm_free(x, sizeof(float) * s.x_size);
    tfm_free(out, sizeof(float) * s.out_size);
    tfm_free(probs, sizeof(float) * s.probs_size);
}

/* Printed, not asserted: causal self-attention forward+backward, fused QKV layout, fast vs reference. */
static void report_speed(int B, int T, int C, int H, int with_reference) {
    setup s;
    setup_init(&s, B, T, T, H, C / H, 1, 0, 0.0f, LAYOUT_FUSED_QKV);
    float *x = test_random_floats(s.x_size, 1, -1, 1), *dout = test_random_floats(s.out_size, 2, -1, 1);
    float *out = tfm_malloc(sizeof(float) * s.out_size), *probs = tfm_malloc(sizeof(float) * s.probs_size);
    float *g = tfm_calloc(s.x_size, sizeof(float));
    size_t scratch_floats;
    float *scratch = scratch_for(&s, &scratch_floats);
    const float *q = x + s.q_offset, *k = x + s.k_offset, *v = x + s.v_offset;
    double t0, t_ref_f = 0, t_ref_b = 0;
    if (with_reference) {
        t0 = seconds_now();
        tfm_attention_forward_reference(out, probs, q, k, v, &s.config);
        t_ref_f = seconds_now() - t0;
        t0 = seconds_now();
        tfm_attention_backward_reference(g + s.q_offset, g + s.k_offset, g + s.v_offset, dout, probs, q, k, v, &s.config);
        t_ref_b = seconds_now() - t0;
    }
    tfm_attention_forward(out, probs, q, k, v, &s.config, scratch, scratch_floats); /* warm up */
    /* Best of 5: the machine may be shared, and the minimum is the least disturbed run. */
    double t_f = 1e30, t_b = 1e30;
    for (int r = 0; r < 5; r++) {
        t0 = seconds_now();
        tfm_attention_forward(out, probs, q, k, v, &s.config, scratch, scratch_floats);
        t_f = fmin(t_f, seconds_now() - t0);
        t0 = seconds_now();
        tfm_attention_backward(g + s.q_offset, g + s.k_offset, g + s.v_offset, dout, probs, q, k, v, &s.config, scratch,
                               scratch_floats);
        t_b = fmin(t_b, seconds_now() - t0);
    }
    printf("attention B=%d T=%d C=%d H=%d causal (%d threads): fast fwd %.2f ms + bwd %.2f ms = %.2f ms", B, T, C, H,
           tfm_threads_get(), 1e3 * t_f, 1e3 * t_b, 1e3 * (t_f + t_b));
    if (with_reference)
        printf("; reference fwd %.1f ms + bwd %.1f ms (%.0fx slower)", 1e3 * t_ref_f, 1e3 * t_ref_b,
               (t_ref_f + t_ref_b) / (t_f + t_b));
    printf("\n");
    tfm_free(x, sizeof(float) * s.x_size);
    tfm_free(dout, sizeof(float) * s.out_size);
    tfm_free(out, sizeof(float) * s.out_size);
    tfm_free(probs, sizeof(float) * s.probs_size);
    tfm_free(g, sizeof(float) * s.x_size);
    tfm_free(scratch, sizeof(float) * scratch_floats);
}

/* Driver for tests/test_attention_torch.py:
 *   test_attention --torch-io IN OUT
 * IN holds int32 {B, Tq, Tk, H, hd, causal, layout, has_lengths}, int32 key_lengths[B] if has_lengths,
 * float32 x (q, k, v in the layout's buffer) and float32 dout [B, Tq, H*hd]; OUT receives float32
 * out, probs and the gradient buffer (same layout as x) from the FAST kernels. Returns 0 on success. */
static int torch_io(const char *in_path, const char *out_path) {
    FILE *in = fopen(in_path, "rb");
    if (!in) return fprintf(stderr, "cannot open %s\n", in_path), 2;
    int32_t hdr[8];
    if (fread(hdr, sizeof(int32_t), 8, in) != 8 || hdr[0] < 1 || hdr[0] > 16 || hdr[6] < 0 || hdr[6] > 3)
        return fprintf(stderr, "%s: bad header\n", in_path), fclose(in), 2;
    setup s;
    setup_init(&s, hdr[0], hdr[1], hdr[2], hdr[3], hdr[4], hdr[5], 0, 0.0f, hdr[6]);
    s.config.alibi = 0; /* torch's side is plain attention; ALiBi's parity is test_gpt_torch's v97_alibi */
    if (s.relative) { /* and relative positions' is test_relative_torch's */
        s.relative = 0;
        s.x_size = s.relative_keys_offset;
    }
    if (hdr[7]) {
        int32_t lengths[16];
        if (fread(lengths, sizeof(int32_t), (size_t)hdr[0], in) != (size_t)hdr[0]) return fclose(in), 2;
        for (int b = 0; b < hdr[0]; b++) s.lengths[b] = lengths[b];
        s.config.key_lengths = s.lengths;
    }
    float *x = tfm_malloc(sizeof(float) * s.x_size), *dout = tfm_malloc(sizeof(float) * s.out_size);
    float *out = tfm_malloc(sizeof(float) * s.out_size), *probs = tfm_malloc(sizeof(float) * s.probs_size);
    float *g = tfm_calloc(s.x_size, sizeof(float));
    size_t scratch_floats;
    float *scratch = scratch_for(&s, &scratch_floats);
    int rc = 0;
    if (fread(x, sizeof(float), s.x_size, in) != s.x_size || fread(dout, sizeof(float), s.out_size, in) != s.out_size) {
        fprintf(stderr, "%s: truncated\n", in_path);
        rc = 2;
    }
    fclose(in);
    const float *q = x + s.q_offset, *k = x + s.k_offset, *v = x + s.v_offset;
    if (!rc && (tfm_attention_forward(out, probs, q, k, v, &s.config, scratch, scratch_floats) != TFM_OK ||
                tfm_attention_backward(g + s.q_offset, g + s.k_offset, g + s.v_offset, dout, probs, q, k, v, &s.config,
                                       scratch, scratch_floats) != TFM_OK)) {
        fprintf(stderr, "attention failed: %s\n", tfm_last_error());
        rc = 1;
    }
    FILE *o = rc ? NULL : fopen(out_path, "wb");
    if (!rc && (!o || fwrite(out, sizeof(float), s.out_size, o) != s.out_size ||
                fwrite(probs, sizeof(float), s.probs_size, o) != s.probs_size || fwrite(g, sizeof(float), s.x_size, o) != s.x_size))
        rc = 2;
    if (o && fclose(o) != 0) rc = 2;
    tfm_free(x, sizeof(float) * s.x_size);
    tfm_free(dout, sizeof(float) * s.out_size);
    tfm_free(out, sizeof(float) * s.out_size);
    tfm_free(probs, sizeof(float) * s.probs_size);
    tfm_free(g, sizeof(float) * s.x_size);
    tfm_free(scratch, sizeof(float) * scratch_floats);
    return rc;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--torch-io") == 0) return torch_io(argv[2], argv[3]);
    if (argc == 2 && strcmp(argv[1], "--speed") == 0) {
        report_speed(32, 128, 128, 4, 0);
        report_speed(8, 256, 512, 8, 0);
        return 0;
    }
    /*        B   Tq   Tk  H  hd causal pad dropout layout */
    test_case(2, 3, 5, 2, 3, 0, 0, 0.0f, LAYOUT_SEPARATE);   /* Tq != Tk */
    test_case(2, 4, 4, 2, 5, 1, 0, 0.0f, LAYOUT_FUSED_QKV);  /* causal self-attention in place */
    test_case(3, 5, 7, 2, 3, 1, 1, 0.0f, LAYOUT_CROSS);      /* causal with offset 2, padding incl. an empty item */
    test_case(2, 6, 6, 1, 7, 1, 1, 0.3f, LAYOUT_PADDED);     /* dropout, strides with gaps */
    test_case(2, 5, 3, 2, 3, 1, 0, 0.2f, LAYOUT_SEPARATE);   /* Tq > Tk: the first rows see nothing */
    test_case(1, 1, 9, 3, 4, 1, 0, 0.0f, LAYOUT_PADDED);     /* one decoding step */
    test_case(2, 70, 70, 3, 13, 1, 1, 0.1f, LAYOUT_FUSED_QKV); /* crosses a 64-row query block */
    test_case(3, 130, 150, 2, 33, 1, 1, 0.0f, LAYOUT_CROSS);
    test_case(1, 1, 50, 4, 16, 1, 0, 0.0f, LAYOUT_PADDED);
    test_case(2, 64, 64, 4, 64, 0, 0, 0.5f, LAYOUT_SEPARATE);
    test_case(4, 200, 37, 2, 8, 0, 1, 0.0f, LAYOUT_CROSS);
    test_case(2, 129, 129, 2, 32, 1, 0, 0.0f, LAYOUT_FUSED_QKV);
    /* ALiBi's slopes as its authors' get_slopes gives them: 8 heads 2^-1 .. 2^-8; 6 heads those of 4, then 2^-1, 2^-3 */
    const float eight[8] = {0.5f, 0.25f, 0.125f, 0.0625f, 0.03125f, 0.015625f, 0.0078125f, 0.00390625f};
    const float six[6] = {0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f};
    int slopes_ok = 1;
    for (int h = 0; h < 8; h++) slopes_ok &= fabsf(tfm_alibi_slope(h, 8) - eight[h]) < 1e-7f;
    for (int h = 0; h < 6; h++) slopes_ok &= fabsf(tfm_alibi_slope(h, 6) - six[h]) < 1e-7f;
    CHECK(slopes_ok, "ALiBi slopes differ from the published ones");
    test_gradient_check_catches_errors();
    test_dropout_mask();
    test_nan_propagates(NAN);
    test_decode(1, 0);
    test_decode(3, 0);
    test_decode(1, 1);
    test_kv_index(1);
    test_kv_index(3);
    test_thread_determinism();
    test_invalid_arguments();
    report_speed(32, 128, 128, 4, 1);
    report_speed(8, 256, 512, 8, 1);
    return test_summary();
}
