/* ops/batchnorm.c: BatchNorm1d forward (training with running statistics, evaluation) and backward, masked rows. */
#include "ops/batchnorm.h"

#include <math.h>
#include <stddef.h>

#define BATCHNORM_PARALLEL_MIN (1 << 15)
#define CHANNEL_BLOCK 64

static int counted_rows(const uint8_t *mask, int N) {
    int count = 0;
    for (int n = 0; n < N; n++) count += !mask || mask[n];
    return count;
}

/* Channels [begin, end): statistics in double over the counted rows, in row order; then the output and the running
 * statistics. Both versions are built from it: the reference on all channels, the fast one per block. */
static void train_channels(float *out, float *mean, float *rstd, float *running_mean, float *running_var, const float *inp,
                           const float *weight, const float *bias, const uint8_t *mask, int N, int C, float momentum, float eps,
                           int begin, int end, double *sum, double *squares) {
    int count = counted_rows(mask, N);
    /* two passes, the mean then the squared deviations (no cancellation), each summed in float over chunks of 16
     * rows and the chunks in double, in row order */
    float part[CHANNEL_BLOCK], centre[CHANNEL_BLOCK];
    for (int pass = 0; pass < 2; pass++) {
        double *total = pass ? squares : sum;
        for (int c = begin; c < end; c++) total[c - begin] = 0.0;
        for (int first = 0; first < N; first += 16) {
            for (int c = begin; c < end; c++) part[c - begin] = 0.0f;
            for (int n = first; n < N && n < first + 16; n++) {
                if (mask && !mask[n]) continue;
                const float *restrict x = inp + (size_t)n * C;
                if (pass == 0) {
                    #pragma omp simd
                    for (int c = begin; c < end; c++) part[c - begin] += x[c];
                } else {
                    #pragma omp simd
                    for (int c = begin; c < end; c++) {
                        float d = x[c] - centre[c - begin];
                        part[c - begin] += d * d;
                    }
                }
            }
            for (int c = begin; c < end; c++) total[c - begin] += part[c - begin];
        }
        if (pass == 0)
            for (int c = begin; c < end; c++) sum[c - begin] /= count, centre[c - begin] = (float)sum[c - begin]; /* now the mean */
    }
    for (int c = begin; c < end; c++) {
        double m = sum[c - begin], variance = squares[c - begin] / count, r = 1.0 / sqrt(variance + eps);
        mean[c] = (float)m;
        rstd[c] = (float)r;
        double unbiased = count > 1 ? squares[c - begin] / (count - 1) : variance;
        running_mean[c] = (float)((1.0 - momentum) * running_mean[c] + momentum * m);
        running_var[c] = (float)((1.0 - momentum) * running_var[c] + momentum * unbiased);
    }
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        float *y = out + (size_t)n * C;
        if (mask && !mask[n]) {
            for (int c = begin; c < end; c++) y[c] = 0.0f;
            continue;
        }
        #pragma omp simd
        for (int c = begin; c < end; c++) y[c] = (x[c] - mean[c]) * rstd[c] * (weight ? weight[c] : 1.0f) + (bias ? bias[c] : 0.0f);
    }
}

void tfm_batchnorm_forward_train_reference(float *out, float *mean, float *rstd, float *running_mean, float *running_var,
                                           const float *inp, const float *weight, const float *bias, const uint8_t *mask, int N,
                                           int C, float momentum, float eps) {
    for (int c = 0; c < C; c++) { /* one channel at a time: the plainest order */
        double sum, squares;
        train_channels(out, mean, rstd, running_mean, running_var, inp, weight, bias, mask, N, C, momentum, eps, c, c + 1, &sum, &squares);
    }
}

void tfm_batchnorm_forward_train(float *out, float *mean, float *rstd, float *running_mean, float *running_var, const float *inp,
                                 const float *weight, const float *bias, const uint8_t *mask, int N, int C, float momentum, float eps) {
    int blocks = (C + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK;
    #pragma omp parallel for schedule(static) if ((size_t)N * C >= BATCHNORM_PARALLEL_MIN)
    for (int b = 0; b < blocks; b++) {
        double sum[CHANNEL_BLOCK], squares[CHANNEL_BLOCK];
        int begin = b * CHANNEL_BLOCK, end = begin + CHANNEL_BLOCK < C ? begin + CHANNEL_BLOCK : C;
        train_channels(out, mean, rstd, running_mean, running_var, inp, weight, bias, mask, N, C, momentum, eps, begin, end, sum, squares);
    }
}

void tfm_batchnorm_forward_eval(float *out, const float *inp, const float *weight, const float *bias, const float *running_mean,
                                const float *running_var, int N, int C, float eps) {
    #pragma omp parallel for schedule(static) if ((size_t)N * C >= BATCHNORM_PARALLEL_MIN)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            float r = 1.0f / sqrtf(running_var[c] + eps);
            out[(size_t)n * C + c] = (inp[(size_t)n * C + c] - running_mean[c]) * r * (weight ? weight[c] : 1.0f) + (bias ? bias[c] : 0.0f);
        }
}

static void backward_channels(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
                              const float *mean, const float *rstd, const uint8_t *mask, int N, int C, int begin, int end, double *sum_dy,
                              double *sum_dy_xhat) {
    int count = counted_rows(mask, N);
    /* the sums: float over chunks of 16 rows, the chunks added in double, in row order */
    for (int c = begin; c < end; c++) sum_dy[c - begin] = sum_dy_xhat[c - begin] = 0.0;
    float part_dy[CHANNEL_BLOCK], part_dy_xhat[CHANNEL_BLOCK];
    for (int first = 0; first < N; first += 16) {
        for (int c = begin; c < end; c++) part_dy[c - begin] = part_dy_xhat[c - begin] = 0.0f;
        for (int n = first; n < N && n < first + 16; n++) {
            if (mask && !mask[n]) continue;
            const float *restrict x = inp + (size_t)n * C, *restrict dy = dout + (size_t)n * C;
            #pragma omp simd
            for (int c = begin; c < end; c++) {
                part_dy[c - begin] += dy[c];
                part_dy_xhat[c - begin] += dy[c] * ((x[c] - mean[c]) * rstd[c]);
            }
        }
        for (int c = begin; c < end; c++) sum_dy[c - begin] += part_dy[c - begin], sum_dy_xhat[c - begin] += part_dy_xhat[c - begin];
    }
    for (int c = begin; c < end; c++) {
        if (dweight) dweight[c] += (float)sum_dy_xhat[c - begin];
        if (dbias) dbias[c] += (float)sum_dy[c - begin];
    }
    if (!dinp) return;
    /* dx = k (count dy - sum dy - xhat sum(dy xhat)) per channel, in float: the sums carry the precision */
    float k[CHANNEL_BLOCK], s1[CHANNEL_BLOCK], s2[CHANNEL_BLOCK];
    for (int c = begin; c < end; c++) {
        k[c - begin] = (float)((weight ? weight[c] : 1.0f) * (double)rstd[c] / count);
        s1[c - begin] = (float)sum_dy[c - begin];
        s2[c - begin] = (float)sum_dy_xhat[c - begin];
    }
    const float n_rows = (float)count;
    for (int n = 0; n < N; n++) {
        if (mask && !mask[n]) continue;
        const float *restrict x = inp + (size_t)n * C, *restrict dy = dout + (size_t)n * C;
        float *restrict dx = dinp + (size_t)n * C;
        #pragma omp simd
        for (int c = begin; c < end; c++) {
            float xhat = (x[c] - mean[c]) * rstd[c];
            dx[c] += k[c - begin] * (n_rows * dy[c] - s1[c - begin] - xhat * s2[c - begin]);
        }
    }
}

void tfm_batchnorm_backward_train_reference(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp,
                                            const float *weight, const float *mean, const float *rstd, const uint8_t *mask, int N, int C) {
    for (int c = 0; c < C; c++) {
        double a, b;
        backward_channels(dinp, dweight, dbias, dout, inp, weight, mean, rstd, mask, N, C, c, c + 1, &a, &b);
    }
}

void tfm_batchnorm_backward_train(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
                                  const float *mean, const float *rstd, const uint8_t *mask, int N, int C) {
    int blocks = (C + CHANNEL_BLOCK - 1) / CHANNEL_BLOCK;
    #pragma omp parallel for schedule(static) if ((size_t)N * C >= BATCHNORM_PARALLEL_MIN)
    for (int b = 0; b < blocks; b++) {
        double sum_dy[CHANNEL_BLOCK], sum_dy_xhat[CHANNEL_BLOCK];
        int begin = b * CHANNEL_BLOCK, end = begin + CHANNEL_BLOCK < C ? begin + CHANNEL_BLOCK : C;
        backward_channels(dinp, dweight, dbias, dout, inp, weight, mean, rstd, mask, N, C, begin, end, sum_dy, sum_dy_xhat);
    }
}

void tfm_batchnorm_backward_eval(float *dinp, float *dweight, float *dbias, const float *dout, const float *inp, const float *weight,
                                 const float *running_mean, const float *running_var, int N, int C, float eps) {
    for (int c = 0; c < C; c++) {
        double r = 1.0 / sqrt((double)running_var[c] + eps), sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int n = 0; n < N; n++) {
            size_t i = (size_t)n * C + c;
            sum_dy += dout[i];
            sum_dy_xhat += (double)dout[i] * (inp[i] - running_mean[c]) * r;
            if (dinp) dinp[i] += (float)(dout[i] * (weight ? weight[c] : 1.0f) * r);
        }
        if (dweight) dweight[c] += (float)sum_dy_xhat;
        if (dbias) dbias[c] += (float)sum_dy;
    }
}
