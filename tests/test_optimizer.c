/* tests/test_optimizer.c: AdamW / SGD updates and gradient clipping against double-precision formulas and PyTorch values. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "test_util.h"
#include "tfm/random.h"
#include "tfm/tensor.h"
#include "train/clip.h"
#include "train/optimizer.h"

/* ---------------- double-precision oracles of torch.optim's formulas ---------------- */

static void adamw_oracle(double *p, const double *g, double *m, double *v, size_t n, double lr, double beta1, double beta2,
                         double eps, double wd, long step) {
    double bc1 = 1.0 - pow(beta1, (double)step), bc2 = 1.0 - pow(beta2, (double)step);
    for (size_t i = 0; i < n; i++) {
        p[i] *= 1.0 - lr * wd;
        m[i] = beta1 * m[i] + (1.0 - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0 - beta2) * g[i] * g[i];
        p[i] -= lr / bc1 * m[i] / (sqrt(v[i]) / sqrt(bc2) + eps);
    }
}

static void sgd_oracle(double *p, const double *g, double *buf, size_t n, double lr, double momentum, double dampening,
                       double wd, int nesterov, long step) {
    for (size_t i = 0; i < n; i++) {
        double d = g[i] + wd * p[i];
        if (momentum != 0) {
            buf[i] = step == 1 ? d : momentum * buf[i] + (1.0 - dampening) * d;
            d = nesterov ? d + momentum * buf[i] : buf[i];
        }
        p[i] -= lr * d;
    }
}

/* ---------------- PyTorch values ----------------
 * Produced once with /usr/bin/python3 + torch 1.13 (torch.optim in float32): parameter p0, three
 * steps with the gradients below, e.g.
 *   p = torch.nn.Parameter(torch.tensor(P0)); opt = torch.optim.AdamW([p], lr=1e-2, betas=(0.9, 0.95),
 *   eps=1e-8, weight_decay=0.1); for g in GRADS: p.grad = torch.tensor(g); opt.step()
 * and print("%.9g" % v for v in p.tolist()). */
static const float P0[5] = {0.5f, -1.2f, 3.0f, 0.0f, -0.07f};
static const float GRADS[3][5] = {{0.1f, -0.2f, 0.3f, 0.05f, -1.5f}, {0.12f, 0.25f, -0.3f, 0.0f, -1.0f}, {-0.4f, 0.01f, 0.2f, 0.07f, 2.0f}};
static const float TORCH_ADAMW[5] = {0.481624424f, -1.18951654f, 2.97918367f, -0.0249004196f, -0.0497979037f};
/* AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0) == Adam */
static const float TORCH_ADAM[5] = {0.498313308f, -1.1993084f, 2.99881697f, -0.00249091419f, -0.0680023581f};
/* SGD(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01) */
static const float TORCH_SGD_MOMENTUM[5] = {0.485765994f, -1.1831193f, 2.936131f, -0.0198329035f, 0.327278197f};
/* SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01) */
static const float TORCH_SGD_NESTEROV[5] = {0.505218685f, -1.19134355f, 2.91622519f, -0.0304435436f, 0.335507751f};
/* SGD(lr=0.1) */
static const float TORCH_SGD_PLAIN[5] = {0.518000007f, -1.20600009f, 2.98000002f, -0.0120000001f, -0.0199999958f};

typedef void (*adamw_fn)(float *, const float *, float *, float *, size_t, float, float, float, float, float, long);
typedef void (*sgd_fn)(float *, const float *, float *, size_t, float, float, float, float, int, long);

static void check_torch_adamw(const char *name, adamw_fn update, float lr, float beta1, float beta2, float wd, const float *want) {
    float p[5], m[5] = {0}, v[5] = {0};
    memcpy(p, P0, sizeof p);
    for (int step = 1; step <= 3; step++) update(p, GRADS[step - 1], m, v, 5, lr, beta1, beta2, 1e-8f, wd, step);
    double err = test_max_rel_diff(p, want, 5, 1e-2);
    CHECK(err < 1e-6, "%s vs torch: %g (p[0] %.9g, torch %.9g)", name, err, p[0], want[0]);
}

static void check_torch_sgd(const char *name, sgd_fn update, float momentum, float dampening, float wd, int nesterov,
                            const float *want) {
    float p[5], buf[5];
    memset(buf, 0xff, sizeof buf); /* garbage (NaN): step 1 must overwrite, not read, the buffer */
    memcpy(p, P0, sizeof p);
    for (int step = 1; step <= 3; step++) update(p, GRADS[step - 1], buf, 5, 0.1f, momentum, dampening, wd, nesterov, step);
    double err = test_max_rel_diff(p, want, 5, 1e-2);
    CHECK(err < 1e-6, "%s vs torch: %g (p[4] %.9g, torch %.9g)", name, err, p[4], want[4]);
}

/* Many steps on random data: float reference and fast vs the double oracle, fast vs reference bits. */
static void test_adamw_random(void) {
    size_t n = 100003; /* odd, and large enough for the parallel path */
    float *p_ref = malloc(n * 4), *p_fast = malloc(n * 4), *g = malloc(n * 4);
    float *m_ref = calloc(n, 4), *v_ref = calloc(n, 4), *m_fast = calloc(n, 4), *v_fast = calloc(n, 4);
    double *p_d = malloc(n * 8), *g_d = malloc(n * 8), *m_d = calloc(n, 8), *v_d = calloc(n, 8);
    tfm_rng rng;
    tfm_rng_init(&rng, 5);
    for (size_t i = 0; i < n; i++) p_ref[i] = p_fast[i] = (float)(p_d[i] = tfm_rng_normal(&rng));
    double worst = 0;
    for (long step = 1; step <= 20; step++) {
        for (size_t i = 0; i < n; i++) g_d[i] = g[i] = tfm_rng_normal(&rng) * 0.1f + 0.02f;
        tfm_adamw_update_reference(p_ref, g, m_ref, v_ref, n, 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
        tfm_adamw_update(p_fast, g, m_fast, v_fast, n, 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
        adamw_oracle(p_d, g_d, m_d, v_d, n, 3e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, step);
    }
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(p_ref[i] - p_d[i]) / fmax(fabs(p_d[i]), 0.1));
    CHECK(worst < 1e-5, "AdamW float vs double after 20 steps: %g", worst);
    CHECK(!memcmp(p_ref, p_fast, n * 4) && !memcmp(m_ref, m_fast, n * 4) && !memcmp(v_ref, v_fast, n * 4),
          "AdamW fast differs from reference");
    printf("adamw: 20 steps on %zu params, max rel error vs double %.2e\n", n, worst);

    /* SGD with Nesterov momentum and decay, same comparison */
    double *buf_d = calloc(n, 8);
    float *buf_ref = calloc(n, 4), *buf_fast = calloc(n, 4);
    for (size_t i = 0; i < n; i++) p_ref[i] = p_fast[i] = (float)(p_d[i] = tfm_rng_normal(&rng));
    for (long step = 1; step <= 20; step++) {
        for (size_t i = 0; i < n; i++) g_d[i] = g[i] = tfm_rng_normal(&rng);
        tfm_sgd_update_reference(p_ref, g, buf_ref, n, 0.01f, 0.9f, 0.0f, 1e-3f, 1, step);
        tfm_sgd_update(p_fast, g, buf_fast, n, 0.01f, 0.9f, 0.0f, 1e-3f, 1, step);
        sgd_oracle(p_d, g_d, buf_d, n, 0.01f, 0.9f, 0.0, 1e-3f, 1, step);
    }
    worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(p_ref[i] - p_d[i]) / fmax(fabs(p_d[i]), 0.1));
    CHECK(worst < 1e-5, "SGD float vs double after 20 steps: %g", worst);
    CHECK(!memcmp(p_ref, p_fast, n * 4) && !memcmp(buf_ref, buf_fast, n * 4), "SGD fast differs from reference");
    printf("sgd:   20 steps on %zu params, max rel error vs double %.2e\n", n, worst);

    /* timing (printed only) */
    double t0 = omp_get_wtime();
    for (int r = 0; r < 20; r++) tfm_adamw_update_reference(p_ref, g, m_ref, v_ref, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 21 + r);
    double t1 = omp_get_wtime();
    for (int r = 0; r < 20; r++) tfm_adamw_update(p_fast, g, m_fast, v_fast, n, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 21 + r);
    double t2 = omp_get_wtime();
    printf("adamw timing, %zu params: reference %.3f ms, fast %.3f ms (%d threads)\n", n, (t1 - t0) / 20 * 1e3,
           (t2 - t1) / 20 * 1e3, omp_get_max_threads());
    free(p_ref); free(p_fast); free(g); free(m_ref); free(v_ref); free(m_fast); free(v_fast);
    free(p_d); free(g_d); free(m_d); free(v_d); free(buf_d); free(buf_ref); free(buf_fast);
}

/* The whole-store step: decay only on entries declared with decay. */
static void test_step_params(void) {
    tfm_params params;
    tfm_params_init(&params);
    tfm_tensor weight, bias;
    CHECK_OK(tfm_params_declare(&params, "w", 2, (int[]){3, 4}, &weight, 1));
    CHECK_OK(tfm_params_declare(&params, "b", 1, (int[]){4}, &bias, 0));
    CHECK_OK(tfm_params_allocate(&params));
    for (size_t i = 0; i < params.total; i++) {
        params.data[i] = 1.0f + 0.1f * (float)i;
        params.grad[i] = 0.5f - 0.05f * (float)i;
    }
    /* moments not allocated yet: a clear error, nothing touched */
    CHECK(tfm_adamw_step_params(&params, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1) == TFM_ERR_INVALID_ARGUMENT, "missing moments");
    CHECK(strstr(tfm_last_error(), "moments") != NULL, "message: %s", tfm_last_error());
    CHECK_OK(tfm_params_allocate_moments(&params));
    float expect_w[12], expect_b[4], mw[12] = {0}, vw[12] = {0}, mb[4] = {0}, vb[4] = {0};
    memcpy(expect_w, weight.data, sizeof expect_w);
    memcpy(expect_b, bias.data, sizeof expect_b);
    tfm_adamw_update_reference(expect_w, weight.grad, mw, vw, 12, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1);
    tfm_adamw_update_reference(expect_b, bias.grad, mb, vb, 4, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.0f, 1);
    CHECK_OK(tfm_adamw_step_params(&params, 1e-2f, 0.9f, 0.95f, 1e-8f, 0.1f, 1));
    CHECK(!memcmp(expect_w, weight.data, sizeof expect_w), "AdamW store step: decayed weight");
    CHECK(!memcmp(expect_b, bias.data, sizeof expect_b), "AdamW store step: the bias must not be decayed");
    /* SGD store step */
    float sw[12], sb[4], bw[12], bb[4];
    memcpy(sw, weight.data, sizeof sw);
    memcpy(sb, bias.data, sizeof sb);
    tfm_sgd_update_reference(sw, weight.grad, bw, 12, 0.1f, 0.9f, 0.0f, 0.01f, 0, 1);
    tfm_sgd_update_reference(sb, bias.grad, bb, 4, 0.1f, 0.9f, 0.0f, 0.0f, 0, 1);
    CHECK_OK(tfm_sgd_step_params(&params, 0.1f, 0.9f, 0.0f, 0.01f, 0, 1));
    CHECK(!memcmp(sw, weight.data, sizeof sw) && !memcmp(sb, bias.data, sizeof sb), "SGD store step");
    tfm_params_free(&params);
}

/* ---------------- clipping ---------------- */

static void test_clip(void) {
    /* Produced once with torch 1.13: x.grad = [3, -4, 12, 0.5, -0.25, 1];
     * torch.nn.utils.clip_grad_norm_([x], max_norm=2.0) -> 13.0503836, grad after: below. */
    float g[6] = {3.0f, -4.0f, 12.0f, 0.5f, -0.25f, 1.0f};
    const float torch_clipped[6] = {0.459756553f, -0.613008738f, 1.83902621f, 0.0766260922f, -0.0383130461f, 0.153252184f};
    double norm = tfm_clip_grad_norm(g, 6, 2.0f);
    CHECK(fabs(norm - 13.0503836) < 1e-6, "norm %.9g", norm);
    CHECK(test_max_rel_diff(g, torch_clipped, 6, 1e-3) < 1e-6, "clipped grad[0] %.9g, torch %.9g", g[0], torch_clipped[0]);
    /* below the threshold: untouched */
    float h[3] = {0.1f, 0.2f, -0.2f}, h0[3];
    memcpy(h0, h, sizeof h);
    CHECK(fabs(tfm_clip_grad_norm(h, 3, 1.0f) - 0.3) < 1e-7 && !memcmp(h, h0, sizeof h), "small norm must not be scaled");
    CHECK(tfm_clip_coefficient(1.0, 1.0f) < 1.0f && tfm_clip_coefficient(0.5, 1.0f) == 1.0f, "coefficient");
    /* non-finite norm: nothing scaled */
    float bad[3] = {1.0f, NAN, 2.0f};
    double bad_norm = tfm_clip_grad_norm(bad, 3, 1.0f);
    CHECK(isnan(bad_norm) && bad[0] == 1.0f && bad[2] == 2.0f, "NaN norm %g", bad_norm);

    /* big arrays of several sizes: fast vs reference vs exact-ish double, and 1 vs 2 threads bit-equal */
    size_t sizes[] = {0, 1, 63, 64, 65, 1000, 1 << 20, (1 << 20) + 17};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        float *x = malloc((n ? n : 1) * 4);
        tfm_rng rng;
        tfm_rng_init(&rng, 77 + s);
        long double exact = 0;
        for (size_t i = 0; i < n; i++) {
            x[i] = tfm_rng_normal(&rng) * 1e-3f;
            exact += (long double)x[i] * x[i];
        }
        double ref = tfm_clip_global_norm_reference(x, n), fast = tfm_clip_global_norm(x, n);
        double want = sqrtl(exact);
        CHECK(fabs(ref - want) <= 1e-12 * want + 1e-300 && fabs(fast - want) <= 1e-12 * want + 1e-300,
              "norm n=%zu: ref %.17g fast %.17g exact %.17g", n, ref, fast, want);
        int threads = omp_get_max_threads();
        omp_set_num_threads(1);
        double one = tfm_clip_global_norm(x, n);
        omp_set_num_threads(2);
        double two = tfm_clip_global_norm(x, n);
        omp_set_num_threads(threads);
        CHECK(memcmp(&one, &two, sizeof one) == 0, "norm n=%zu differs between 1 and 2 threads", n);
        /* the non-finite scan, clean and with one bad value at several places */
        CHECK(!tfm_clip_has_nonfinite(x, n) && !tfm_clip_has_nonfinite_reference(x, n), "clean array n=%zu flagged", n);
        if (n) {
            size_t where[3] = {0, n / 2, n - 1};
            float specials[3] = {NAN, INFINITY, -INFINITY};
            for (int w = 0; w < 3; w++) {
                float saved = x[where[w]];
                x[where[w]] = specials[w];
                CHECK(tfm_clip_has_nonfinite(x, n) && tfm_clip_has_nonfinite_reference(x, n), "n=%zu: %g at %zu missed", n,
                      specials[w], where[w]);
                x[where[w]] = saved;
            }
            x[n - 1] = 3e38f; /* large but finite */
            CHECK(!tfm_clip_has_nonfinite(x, n), "FLT_MAX-ish value flagged");
        }
        if (n >= (1 << 20) && n % 2 == 0) {
            double t0 = omp_get_wtime();
            for (int r = 0; r < 20; r++) ref = tfm_clip_global_norm_reference(x, n);
            double t1 = omp_get_wtime();
            for (int r = 0; r < 20; r++) fast = tfm_clip_global_norm(x, n);
            double t2 = omp_get_wtime();
            printf("global norm timing, %zu floats: reference %.3f ms, fast %.3f ms\n", n, (t1 - t0) / 20 * 1e3, (t2 - t1) / 20 * 1e3);
        }
        free(x);
    }
}

int main(void) {
    check_torch_adamw("AdamW reference", tfm_adamw_update_reference, 1e-2f, 0.9f, 0.95f, 0.1f, TORCH_ADAMW);
    check_torch_adamw("AdamW fast", tfm_adamw_update, 1e-2f, 0.9f, 0.95f, 0.1f, TORCH_ADAMW);
    check_torch_adamw("Adam reference", tfm_adamw_update_reference, 1e-3f, 0.9f, 0.999f, 0.0f, TORCH_ADAM);
    check_torch_adamw("Adam fast", tfm_adamw_update, 1e-3f, 0.9f, 0.999f, 0.0f, TORCH_ADAM);
    check_torch_sgd("SGD momentum reference", tfm_sgd_update_reference, 0.9f, 0.1f, 0.01f, 0, TORCH_SGD_MOMENTUM);
    check_torch_sgd("SGD momentum fast", tfm_sgd_update, 0.9f, 0.1f, 0.01f, 0, TORCH_SGD_MOMENTUM);
    check_torch_sgd("SGD nesterov reference", tfm_sgd_update_reference, 0.9f, 0.0f, 0.01f, 1, TORCH_SGD_NESTEROV);
    check_torch_sgd("SGD nesterov fast", tfm_sgd_update, 0.9f, 0.0f, 0.01f, 1, TORCH_SGD_NESTEROV);
    {
        /* plain SGD: no momentum buffer at all */
        float p[5];
        memcpy(p, P0, sizeof p);
        for (int step = 1; step <= 3; step++) tfm_sgd_update(p, GRADS[step - 1], NULL, 5, 0.1f, 0.0f, 0.0f, 0.0f, 0, step);
        CHECK(test_max_rel_diff(p, TORCH_SGD_PLAIN, 5, 1e-2) < 1e-6, "plain SGD vs torch: p[4] %.9g", p[4]);
        memcpy(p, P0, sizeof p);
        for (int step = 1; step <= 3; step++) tfm_sgd_update_reference(p, GRADS[step - 1], NULL, 5, 0.1f, 0.0f, 0.0f, 0.0f, 0, step);
        CHECK(test_max_rel_diff(p, TORCH_SGD_PLAIN, 5, 1e-2) < 1e-6, "plain SGD reference vs torch: p[4] %.9g", p[4]);
    }
    test_adamw_random();
    test_step_params();
    test_clip();
    return test_summary();
}
