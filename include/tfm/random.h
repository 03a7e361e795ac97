/* tfm/random.h: counter-based random numbers, so results never depend on thread count or scheduling. */
#ifndef TFM_RANDOM_H
#define TFM_RANDOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A stream position: the whole state is (seed, counter), trivially saved in a checkpoint.
 * Draw i of a stream is a pure function of (seed, counter + i): kernels running on many threads
 * ask for tfm_random_uniform_at(seed, base + i) and get the same numbers in any order. */
typedef struct tfm_rng {
    uint64_t seed;
    uint64_t counter;
} tfm_rng;

/* 64 well-mixed bits for (seed, index) (SplitMix64's finaliser over a combined key). */
static inline uint64_t tfm_random_bits_at(uint64_t seed, uint64_t index) {
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + index * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1) with 24 bits of precision (exactly representable as float). */
static inline float tfm_random_uniform_at(uint64_t seed, uint64_t index) {
    return (float)(tfm_random_bits_at(seed, index) >> 40) * (1.0f / 16777216.0f);
}

static inline void tfm_rng_init(tfm_rng *rng, uint64_t seed) { rng->seed = seed; rng->counter = 0; }
/* Next 64 bits / uniform float / standard normal (Box-Muller, two draws) from a sequential stream. */
static inline uint64_t tfm_rng_bits(tfm_rng *rng) { return tfm_random_bits_at(rng->seed, rng->counter++); }
static inline float tfm_rng_uniform(tfm_rng *rng) { return tfm_random_uniform_at(rng->seed, rng->counter++); }
float tfm_rng_normal(tfm_rng *rng);
/* Reserve n consecutive draws for a parallel kernel; returns the first index. */
static inline uint64_t tfm_rng_reserve(tfm_rng *rng, uint64_t n) { uint64_t base = rng->counter; rng->counter += n; return base; }
/* order[0 .. n) = 0 .. n-1 shuffled (Fisher-Yates) by the stream of `seed`: an epoch's order of training examples,
 * the same for the same seed. */
static inline void tfm_random_permutation(size_t *order, size_t n, uint64_t seed) {
    tfm_rng rng;
    tfm_rng_init(&rng, seed);
    for (size_t i = 0; i < n; i++) order[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(tfm_rng_bits(&rng) % i), k = order[i - 1];
        order[i - 1] = order[j], order[j] = k;
    }
}

#ifdef __cplusplus
}
#endif
#endif
