/* ops/positional.c: the fixed sinusoidal position table (ops/positional.h). */
#include "ops/positional.h"

#include <math.h>
#include <stddef.h>

void tfm_positional_sinusoidal(float *table, int rows, int C) {
    for (int pos = 0; pos < rows; pos++) {
        float *row = table + (size_t)pos * C;
        for (int d = 0; d < C; d++) {
            int pair = d / 2;   /* dims 2i and 2i+1 share the frequency 10000^(-2i/C) */
            double angle = (double)pos * pow(10000.0, -2.0 * pair / (double)C);
            row[d] = (float)((d % 2 == 0) ? sin(angle) : cos(angle));
        }
    }
}
