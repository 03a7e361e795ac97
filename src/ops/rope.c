/* ops/rope.c: rotary position embedding (forward and, as the inverse rotation, backward). */
#include "ops/rope.h"

#include <math.h>
#include <string.h>

static double angle_of(int position, int i, int head_dim, float base) { return position * pow((double)base, -2.0 * i / head_dim); }

void tfm_rope_reference(float *out, const float *x, int B, int T, int width, int columns, int head_dim, int offset, float base,
                        int inverse) {
    int half = head_dim / 2;
    for (int r = 0; r < B * T; r++) {
        const float *in = x + (size_t)r * width;
        float *y = out + (size_t)r * width;
        int position = offset + r % T;
        for (int c = columns; c < width; c++) y[c] = in[c];
        for (int h = 0; h < columns; h += head_dim)
            for (int i = 0; i < half; i++) {
                double theta = angle_of(position, i, head_dim, base), cs = cos(theta), sn = inverse ? -sin(theta) : sin(theta);
                double a = in[h + i], b = in[h + half + i];
                y[h + i] = (float)(a * cs - b * sn);
                y[h + half + i] = (float)(b * cs + a * sn);
            }
    }
}

size_t tfm_rope_table_floats(int T, int head_dim) { return (size_t)T * head_dim; }

void tfm_rope(float *out, const float *x, int B, int T, int width, int columns, int head_dim, int offset, float base, int inverse,
              float *table) {
    int half = head_dim / 2;
    for (int t = 0; t < T; t++) /* per position: cos of each pair, then sin */
        for (int i = 0; i < half; i++) {
            double theta = angle_of(offset + t, i, head_dim, base);
            table[(size_t)t * head_dim + i] = (float)cos(theta);
            table[(size_t)t * head_dim + half + i] = (float)(inverse ? -sin(theta) : sin(theta));
        }
    #pragma omp parallel for schedule(static) if ((size_t)B * T * width >= 32768)
    for (int r = 0; r < B * T; r++) {
        const float *in = x + (size_t)r * width;
        float *y = out + (size_t)r * width;
        const float *cs = table + (size_t)(r % T) * head_dim, *sn = cs + half;
        if (y != in) memcpy(y + columns, in + columns, sizeof(float) * (size_t)(width - columns));
        for (int h = 0; h < columns; h += head_dim) {
            #pragma omp simd
            for (int i = 0; i < half; i++) {
                float a = in[h + i], b = in[h + half + i];
                y[h + i] = a * cs[i] - b * sn[i];
                y[h + half + i] = b * cs[i] + a * sn[i];
            }
        }
    }
}
