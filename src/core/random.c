/* core/random.c: the parts of the counter-based generator that are not inline (normal deviates). */
#include "tfm/random.h"

#include <math.h>

float tfm_rng_normal(tfm_rng *rng) {
    /* Box-Muller on two uniforms; u1 shifted into (0, 1] so log never sees 0. */
    double u1 = 1.0 - (double)tfm_rng_uniform(rng);
    double u2 = (double)tfm_rng_uniform(rng);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
