/* nn/init.c: weight initializers: constants, normal/uniform/truncated normal, Glorot, He, LeCun, variance scaling,
 * orthogonal and identity, all drawn from one seeded stream. */
#include "tfm/nn.h"

#include <math.h>
#include <stdlib.h>

#include "tfm/base.h"

/* The standard deviation of a standard normal truncated to [-2, 2], by which Keras divides (so the truncated draws
 * keep the variance asked for). */
#define TRUNCATED_STD 0.87962566103423978

const char *const tfm_init_names[] = {"zeros", "ones", "constant", "normal", "uniform", "truncated_normal", "glorot_normal",
                                      "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "variance_scaling",
                                      "orthogonal", "identity", NULL};

void tfm_init_options_default(tfm_init_options *o) {
    *o = (tfm_init_options){.value = 0.0f, .mean = 0.0f, .std = 1.0f, .low = 0.0f, .high = 1.0f, .scale = 1.0f,
                            .mode = TFM_FAN_IN, .distribution = TFM_DISTRIBUTION_TRUNCATED_NORMAL};
}

/* torch's convention for [out, in, k...] weights: fan_in = in * k..., fan_out = out * k...; a vector has fan_in =
 * fan_out = its length (as Keras). */
void tfm_init_fans(const tfm_tensor *t, double *fan_in, double *fan_out) {
    if (t->ndim < 2) {
        *fan_in = *fan_out = (double)t->size;
        return;
    }
    double receptive = 1.0;
    for (int d = 2; d < t->ndim; d++) receptive *= t->shape[d];
    *fan_in = t->shape[1] * receptive;
    *fan_out = t->shape[0] * receptive;
}

static void fill_normal(tfm_tensor *t, double mean, double std, tfm_rng *rng) {
    for (size_t i = 0; i < t->size; i++) t->data[i] = (float)(mean + std * tfm_rng_normal(rng));
}

/* Redraw anything beyond two standard deviations: the exact truncated distribution. */
static void fill_truncated_normal(tfm_tensor *t, double mean, double std, tfm_rng *rng) {
    for (size_t i = 0; i < t->size; i++) {
        float z;
        do z = tfm_rng_normal(rng);
        while (z < -2.0f || z > 2.0f);
        t->data[i] = (float)(mean + std * z);
    }
}

static void fill_uniform(tfm_tensor *t, double low, double high, tfm_rng *rng) {
    for (size_t i = 0; i < t->size; i++) t->data[i] = (float)(low + (high - low) * tfm_rng_uniform(rng));
}

/* Keras' VarianceScaling: variance scale / fan, drawn from the distribution asked for. */
static void fill_variance_scaling(tfm_tensor *t, double scale, double fan, int distribution, tfm_rng *rng) {
    double variance = scale / fmax(1.0, fan);
    if (distribution == TFM_DISTRIBUTION_UNIFORM) fill_uniform(t, -sqrt(3.0 * variance), sqrt(3.0 * variance), rng);
    else if (distribution == TFM_DISTRIBUTION_NORMAL) fill_normal(t, 0.0, sqrt(variance), rng);
    else fill_truncated_normal(t, 0.0, sqrt(variance) / TRUNCATED_STD, rng);
}

/* q [m, n] (m >= n, row-major, double): orthonormal columns by modified Gram-Schmidt, twice over for accuracy; each
 * column's sign made that of R's diagonal entry (torch's q * sign(diag(r))), so the result is Haar-distributed. */
static tfm_status orthonormalize_columns(double *q, size_t m, size_t n) {
    for (size_t j = 0; j < n; j++) {
        double drawn = 0.0, norm = 0.0;
        for (size_t i = 0; i < m; i++) drawn += q[i * n + j] * q[i * n + j];
        for (int pass = 0; pass < 2; pass++)
            for (size_t k = 0; k < j; k++) {
                double dot = 0.0;
                for (size_t i = 0; i < m; i++) dot += q[i * n + k] * q[i * n + j];
                for (size_t i = 0; i < m; i++) q[i * n + j] -= dot * q[i * n + k];
            }
        for (size_t i = 0; i < m; i++) norm += q[i * n + j] * q[i * n + j];
        norm = sqrt(norm);
        if (!(norm > 1e-10 * sqrt(drawn)))
            return tfm_error(TFM_ERR_NUMERIC, "orthogonal init: column %zu is dependent on the others (redraw with another seed)", j);
        for (size_t i = 0; i < m; i++) q[i * n + j] /= norm; /* R's diagonal is the norm: positive, no sign flip */
    }
    return TFM_OK;
}

/* torch.nn.init.orthogonal_: the tensor as [rows, size / rows]; orthonormal rows or columns, whichever are fewer. */
static tfm_status fill_orthogonal(tfm_tensor *t, double gain, tfm_rng *rng) {
    size_t rows = (size_t)t->shape[0], cols = t->size / rows;
    size_t m = rows > cols ? rows : cols, n = rows > cols ? cols : rows; /* work on [m, n] with m >= n */
    double *q = tfm_malloc(m * n * sizeof(double));
    if (!q) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "orthogonal init: out of memory for a %zu x %zu matrix", m, n);
    for (size_t i = 0; i < m * n; i++) q[i] = tfm_rng_normal(rng);
    tfm_status st = orthonormalize_columns(q, m, n);
    for (size_t r = 0; !st && r < rows; r++)
        for (size_t c = 0; c < cols; c++) /* rows <= cols: the tensor is q transposed */
            t->data[r * cols + c] = (float)(gain * (rows > cols ? q[r * n + c] : q[c * n + r]));
    tfm_free(q, m * n * sizeof(double));
    return st;
}

static tfm_status check_options(const tfm_tensor *t, int kind, const tfm_init_options *o) {
    const char *name = kind >= 0 && kind < TFM_INIT_COUNT ? tfm_init_names[kind] : "init";
    if (kind < 0 || kind >= TFM_INIT_COUNT)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "init: unknown kind %d (expected 0 to %d)", kind, TFM_INIT_COUNT - 1);
    if (!t->data || t->size == 0) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: the tensor has no data", name);
    int needs_matrix = kind >= TFM_INIT_GLOROT_NORMAL && kind != TFM_INIT_VARIANCE_SCALING;
    if (needs_matrix && kind != TFM_INIT_LECUN_NORMAL && kind != TFM_INIT_LECUN_UNIFORM && t->ndim < 2)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: needs a tensor of 2 or more dimensions, got %d", name, t->ndim);
    if (kind == TFM_INIT_IDENTITY && t->ndim != 2)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "identity: needs a matrix, got %d dimensions", t->ndim);
    if ((kind == TFM_INIT_NORMAL || kind == TFM_INIT_TRUNCATED_NORMAL) && !(isfinite(o->std) && o->std >= 0.0f && isfinite(o->mean)))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: std %g, mean %g; expected a finite mean and std >= 0", name, (double)o->std,
                         (double)o->mean);
    if (kind == TFM_INIT_UNIFORM && !(isfinite(o->low) && isfinite(o->high) && o->low <= o->high))
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "uniform: [%g, %g); expected low <= high", (double)o->low, (double)o->high);
    if (!(isfinite(o->scale) && o->scale >= 0.0f)) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: scale %g; expected >= 0", name, (double)o->scale);
    if (o->mode < TFM_FAN_IN || o->mode > TFM_FAN_AVG) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: mode %d; expected TFM_FAN_*", name, o->mode);
    if (o->distribution < TFM_DISTRIBUTION_TRUNCATED_NORMAL || o->distribution > TFM_DISTRIBUTION_UNIFORM)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "%s: distribution %d; expected TFM_DISTRIBUTION_*", name, o->distribution);
    return TFM_OK;
}

tfm_status tfm_init_tensor(tfm_tensor *t, int kind, const tfm_init_options *options, tfm_rng *rng) {
    tfm_init_options o;
    if (options) o = *options;
    else tfm_init_options_default(&o);
    tfm_status st = check_options(t, kind, &o);
    if (st) return st;
    double fan_in, fan_out, gain = o.scale;
    tfm_init_fans(t, &fan_in, &fan_out);
    double fan = o.mode == TFM_FAN_OUT ? fan_out : o.mode == TFM_FAN_AVG ? 0.5 * (fan_in + fan_out) : fan_in;
    switch (kind) {
    case TFM_INIT_ZEROS: tfm_init_constant(t, 0.0f); break;
    case TFM_INIT_ONES: tfm_init_constant(t, 1.0f); break;
    case TFM_INIT_CONSTANT: tfm_init_constant(t, o.value); break;
    case TFM_INIT_NORMAL: fill_normal(t, o.mean, o.std, rng); break;
    case TFM_INIT_UNIFORM: fill_uniform(t, o.low, o.high, rng); break;
    case TFM_INIT_TRUNCATED_NORMAL: fill_truncated_normal(t, o.mean, o.std, rng); break;
    case TFM_INIT_GLOROT_NORMAL: fill_normal(t, 0.0, gain * sqrt(2.0 / (fan_in + fan_out)), rng); break;
    case TFM_INIT_GLOROT_UNIFORM: {
        double limit = gain * sqrt(6.0 / (fan_in + fan_out));
        fill_uniform(t, -limit, limit, rng);
        break;
    }
    case TFM_INIT_HE_NORMAL: fill_normal(t, 0.0, gain * sqrt(2.0 / fan), rng); break;
    case TFM_INIT_HE_UNIFORM: {
        double limit = gain * sqrt(6.0 / fan);
        fill_uniform(t, -limit, limit, rng);
        break;
    }
    case TFM_INIT_LECUN_NORMAL: fill_variance_scaling(t, gain * gain, fan_in, TFM_DISTRIBUTION_TRUNCATED_NORMAL, rng); break;
    case TFM_INIT_LECUN_UNIFORM: fill_variance_scaling(t, gain * gain, fan_in, TFM_DISTRIBUTION_UNIFORM, rng); break;
    case TFM_INIT_VARIANCE_SCALING: fill_variance_scaling(t, o.scale, fan, o.distribution, rng); break;
    case TFM_INIT_ORTHOGONAL: return fill_orthogonal(t, gain, rng);
    case TFM_INIT_IDENTITY:
        tfm_init_constant(t, 0.0f);
        for (int i = 0; i < t->shape[0] && i < t->shape[1]; i++) t->data[(size_t)i * t->shape[1] + i] = (float)gain;
        break;
    default: break;
    }
    return TFM_OK;
}

void tfm_init_normal(tfm_tensor *t, float std, tfm_rng *rng) {
    for (size_t i = 0; i < t->size; i++) t->data[i] = std * tfm_rng_normal(rng);
}

void tfm_init_constant(tfm_tensor *t, float value) {
    for (size_t i = 0; i < t->size; i++) t->data[i] = value;
}
