/* ops/loss.c: regression, binary, hinge, divergence and similarity losses (value and gradient), and NLL. */
#include "ops/loss.h"

#include <math.h>

#include "tfm/nn.h"

/* Rows per block of the fast version: a block's sum is one unit of work, so results do not depend on threads. */
#define LOSS_BLOCK_ELEMENTS 16384
/* Keras' epsilon (MAPE's and MSLE's floors), torch's (Poisson's and BCE's). */
#define KERAS_EPSILON 1e-7
#define POISSON_EPSILON 1e-8
#define BCE_EPSILON 1e-12
#define COSINE_EPSILON 1e-6 /* Keras' l2_normalize: x / sqrt(max(sum x^2, 1e-12)) */

const char *const tfm_loss_names[] = {"mse", "mae", "mape", "msle", "huber", "smooth_l1", "log_cosh", "binary_cross_entropy",
                                      "binary_cross_entropy_with_logits", "poisson", "hinge", "squared_hinge", "kl_divergence",
                                      "categorical_cross_entropy", "cosine_similarity", "categorical_hinge", NULL};

int tfm_loss_per_row(int kind) { return kind >= TFM_LOSS_KL_DIVERGENCE; }

static double sign(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; }

/* ---- Element-wise terms: value and d value / d p at prediction p, target t ---- */

static double element_value(int kind, double p, double t, double delta) {
    double d = p - t;
    switch (kind) {
    case TFM_LOSS_MSE: return d * d;
    case TFM_LOSS_MAE: return fabs(d);
    case TFM_LOSS_MAPE: return 100.0 * fabs(d) / fmax(fabs(t), KERAS_EPSILON);
    case TFM_LOSS_MSLE: {
        double e = log1p(fmax(p, KERAS_EPSILON)) - log1p(fmax(t, KERAS_EPSILON));
        return e * e;
    }
    case TFM_LOSS_HUBER: return fabs(d) <= delta ? 0.5 * d * d : delta * (fabs(d) - 0.5 * delta);
    case TFM_LOSS_SMOOTH_L1: return fabs(d) < delta ? 0.5 * d * d / delta : fabs(d) - 0.5 * delta;
    case TFM_LOSS_LOG_COSH: return fabs(d) + log1p(exp(-2.0 * fabs(d))) - log(2.0); /* log cosh d, without overflow */
    case TFM_LOSS_BINARY_CROSS_ENTROPY: /* torch clamps each log at -100 */
        return -(t * fmax(log(p), -100.0) + (1.0 - t) * fmax(log1p(-p), -100.0));
    case TFM_LOSS_BINARY_CROSS_ENTROPY_WITH_LOGITS: return fmax(p, 0.0) - p * t + log1p(exp(-fabs(p)));
    case TFM_LOSS_POISSON: return p - t * log(p + POISSON_EPSILON);
    case TFM_LOSS_HINGE: return fmax(1.0 - t * p, 0.0);
    case TFM_LOSS_SQUARED_HINGE: {
        double m = fmax(1.0 - t * p, 0.0);
        return m * m;
    }
    case TFM_LOSS_KL_DIVERGENCE: return t > 0 ? t * (log(t) - p) : 0.0; /* p is a log-probability, t a probability */
    default: return NAN;
    }
}

static double element_grad(int kind, double p, double t, double delta) {
    double d = p - t;
    switch (kind) {
    case TFM_LOSS_MSE: return 2.0 * d;
    case TFM_LOSS_MAE: return sign(d);
    case TFM_LOSS_MAPE: return 100.0 * sign(d) / fmax(fabs(t), KERAS_EPSILON);
    case TFM_LOSS_MSLE:
        if (p <= KERAS_EPSILON) return 0.0; /* the floor's side: constant */
        return 2.0 * (log1p(p) - log1p(fmax(t, KERAS_EPSILON))) / (1.0 + p);
    case TFM_LOSS_HUBER: return fabs(d) <= delta ? d : delta * sign(d);
    case TFM_LOSS_SMOOTH_L1: return fabs(d) < delta ? d / delta : sign(d);
    case TFM_LOSS_LOG_COSH: return tanh(d);
    case TFM_LOSS_BINARY_CROSS_ENTROPY: return (p - t) / fmax((1.0 - p) * p, BCE_EPSILON); /* torch's backward */
    case TFM_LOSS_BINARY_CROSS_ENTROPY_WITH_LOGITS: return 1.0 / (1.0 + exp(-p)) - t;
    case TFM_LOSS_POISSON: return 1.0 - t / (p + POISSON_EPSILON);
    case TFM_LOSS_HINGE: return 1.0 - t * p > 0 ? -t : 0.0;
    case TFM_LOSS_SQUARED_HINGE: return -2.0 * t * fmax(1.0 - t * p, 0.0);
    case TFM_LOSS_KL_DIVERGENCE: return t > 0 ? -t : 0.0;
    default: return NAN;
    }
}

/* ---- Row terms ---- */

/* Categorical cross-entropy with probability targets, from logits: -sum_c t_c log_softmax(p)_c. */
static double categorical_ce_value(const float *p, const float *t, int C) {
    double maxval = -INFINITY, sum = 0.0, value = 0.0;
    for (int c = 0; c < C; c++) maxval = fmax(maxval, p[c]);
    for (int c = 0; c < C; c++) sum += exp((double)p[c] - maxval);
    double lse = maxval + log(sum);
    for (int c = 0; c < C; c++) value -= t[c] == 0.0f ? 0.0 : (double)t[c] * ((double)p[c] - lse);
    return value;
}

/* d/dp_c = softmax(p)_c * sum(t) - t_c */
static void categorical_ce_grad(float *dp, const float *p, const float *t, int C, float scale) {
    double maxval = -INFINITY, sum = 0.0, total = 0.0;
    for (int c = 0; c < C; c++) maxval = fmax(maxval, p[c]), total += t[c];
    for (int c = 0; c < C; c++) sum += exp((double)p[c] - maxval);
    for (int c = 0; c < C; c++) dp[c] += (float)(scale * (exp((double)p[c] - maxval) / sum * total - t[c]));
}

typedef struct cosine_parts {
    double dot, norm_p, norm_t; /* norms floored at COSINE_EPSILON */
} cosine_parts;

static cosine_parts cosine_of(const float *p, const float *t, int C) {
    double dot = 0, pp = 0, tt = 0;
    for (int c = 0; c < C; c++) dot += (double)p[c] * t[c], pp += (double)p[c] * p[c], tt += (double)t[c] * t[c];
    return (cosine_parts){dot, fmax(sqrt(pp), COSINE_EPSILON), fmax(sqrt(tt), COSINE_EPSILON)};
}

/* Keras' CosineSimilarity loss: -cos(p, t) per row. d/dp = -(t / |t| - cos p / |p|) / |p| (the floor's side: -t / (|t| eps)) */
static void cosine_grad(float *dp, const float *p, const float *t, int C, float scale) {
    cosine_parts k = cosine_of(p, t, C);
    double cosine = k.dot / (k.norm_p * k.norm_t), floored = k.norm_p <= COSINE_EPSILON;
    for (int c = 0; c < C; c++) {
        double g = (double)t[c] / k.norm_t - (floored ? 0.0 : cosine * p[c] / k.norm_p);
        dp[c] += (float)(scale * -g / k.norm_p);
    }
}

/* Keras' categorical hinge: max(max_c (1 - t_c) p_c - sum_c t_c p_c + 1, 0) */
static double categorical_hinge_parts(const float *p, const float *t, int C, int *argmax) {
    double positive = 0, negative = -INFINITY;
    *argmax = 0;
    for (int c = 0; c < C; c++) {
        positive += (double)t[c] * p[c];
        double n = (1.0 - t[c]) * p[c];
        if (n > negative) negative = n, *argmax = c;
    }
    return negative - positive + 1.0;
}

static double row_value(int kind, const float *p, const float *t, int C, double delta) {
    switch (kind) {
    case TFM_LOSS_KL_DIVERGENCE: {
        double sum = 0;
        for (int c = 0; c < C; c++) sum += element_value(kind, p[c], t[c], delta);
        return sum;
    }
    case TFM_LOSS_CATEGORICAL_CROSS_ENTROPY: return categorical_ce_value(p, t, C);
    case TFM_LOSS_COSINE_SIMILARITY: {
        cosine_parts k = cosine_of(p, t, C);
        return -k.dot / (k.norm_p * k.norm_t);
    }
    case TFM_LOSS_CATEGORICAL_HINGE: {
        int argmax;
        return fmax(categorical_hinge_parts(p, t, C, &argmax), 0.0);
    }
    default: return NAN;
    }
}

static void row_grad(int kind, float *dp, const float *p, const float *t, int C, double delta, float scale) {
    switch (kind) {
    case TFM_LOSS_KL_DIVERGENCE:
        for (int c = 0; c < C; c++) dp[c] += (float)(scale * element_grad(kind, p[c], t[c], delta));
        break;
    case TFM_LOSS_CATEGORICAL_CROSS_ENTROPY: categorical_ce_grad(dp, p, t, C, scale); break;
    case TFM_LOSS_COSINE_SIMILARITY: cosine_grad(dp, p, t, C, scale); break;
    case TFM_LOSS_CATEGORICAL_HINGE: {
        int argmax;
        if (categorical_hinge_parts(p, t, C, &argmax) <= 0) break;
        for (int c = 0; c < C; c++) dp[c] += (float)(scale * (-(double)t[c] + (c == argmax ? 1.0 - t[c] : 0.0)));
        break;
    }
    default: break;
    }
}

/* ---- Rows [begin, end): the unit both versions are built from ---- */

static double rows_value(int kind, const float *pred, const float *target, size_t begin, size_t end, int C, double delta) {
    double sum = 0;
    if (tfm_loss_per_row(kind)) {
        for (size_t r = begin; r < end; r++) sum += row_value(kind, pred + r * (size_t)C, target + r * (size_t)C, C, delta);
    } else {
        for (size_t i = begin * (size_t)C; i < end * (size_t)C; i++) sum += element_value(kind, pred[i], target[i], delta);
    }
    return sum;
}

static void rows_grad(int kind, float *dpred, const float *pred, const float *target, size_t begin, size_t end, int C, double delta,
                      float scale) {
    if (tfm_loss_per_row(kind)) {
        for (size_t r = begin; r < end; r++)
            row_grad(kind, dpred + r * (size_t)C, pred + r * (size_t)C, target + r * (size_t)C, C, delta, scale);
    } else {
        for (size_t i = begin * (size_t)C; i < end * (size_t)C; i++)
            dpred[i] += (float)(scale * element_grad(kind, pred[i], target[i], delta));
    }
}

double tfm_loss_forward_reference(int kind, const float *pred, const float *target, size_t rows, int C, float delta) {
    return rows_value(kind, pred, target, 0, rows, C, delta);
}

void tfm_loss_backward_reference(int kind, float *dpred, const float *pred, const float *target, size_t rows, int C, float delta,
                                 float scale) {
    rows_grad(kind, dpred, pred, target, 0, rows, C, delta, scale);
}

static size_t rows_per_block(int C) {
    size_t rows = LOSS_BLOCK_ELEMENTS / (size_t)(C > 0 ? C : 1);
    return rows ? rows : 1;
}

double tfm_loss_forward(int kind, const float *pred, const float *target, size_t rows, int C, float delta) {
    size_t per = rows_per_block(C), blocks = (rows + per - 1) / per;
    if (blocks <= 1) return rows_value(kind, pred, target, 0, rows, C, delta);
    double partial[64], total = 0.0; /* blocks in groups of 64: each group's sums, then added in block order */
    for (size_t group = 0; group < blocks; group += 64) {
        size_t count = blocks - group < 64 ? blocks - group : 64;
        #pragma omp parallel for schedule(static)
        for (size_t b = 0; b < count; b++) {
            size_t begin = (group + b) * per, end = begin + per < rows ? begin + per : rows;
            partial[b] = rows_value(kind, pred, target, begin, end, C, delta);
        }
        for (size_t b = 0; b < count; b++) total += partial[b];
    }
    return total;
}

void tfm_loss_backward(int kind, float *dpred, const float *pred, const float *target, size_t rows, int C, float delta, float scale) {
    size_t per = rows_per_block(C), blocks = (rows + per - 1) / per;
    #pragma omp parallel for schedule(static) if (blocks > 1)
    for (size_t b = 0; b < blocks; b++) {
        size_t begin = b * per, end = begin + per < rows ? begin + per : rows;
        rows_grad(kind, dpred, pred, target, begin, end, C, delta, scale);
    }
}

/* ---- NLL: a gather, one version ---- */

double tfm_nll_forward(const float *logp, const int32_t *targets, int N, int V, int ignore_index, int *count) {
    double sum = 0;
    int counted = 0;
    for (int n = 0; n < N; n++) {
        if (targets[n] == ignore_index || targets[n] < 0 || targets[n] >= V) continue;
        sum -= logp[(size_t)n * V + targets[n]];
        counted++;
    }
    if (count) *count = counted;
    return sum;
}

void tfm_nll_backward(float *dlogp, const int32_t *targets, int N, int V, int ignore_index, float scale) {
    for (int n = 0; n < N; n++)
        if (targets[n] != ignore_index && targets[n] >= 0 && targets[n] < V) dlogp[(size_t)n * V + targets[n]] -= scale;
}
