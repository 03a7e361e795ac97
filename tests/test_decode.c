/* tests/test_decode.c: the sampler's min-p and repetition penalty (against their published rules) and stop strings on streamed text. */
#include "tfm/decode.h"
#include "test_util.h"

/* Transformers' RepetitionPenaltyLogitsProcessor (CTRL, Keskar et al. 2019, eq. 2 as implemented there): each token
 * already in the sequence has its score divided by the penalty when positive, multiplied when negative. Greedy
 * decoding then picks the argmax of the penalised scores. */
static void test_repetition_penalty(void) {
    float logits[5] = {2.0f, 1.9f, -0.5f, -0.4f, 0.1f};
    tfm_sampler s;
    tfm_sampler_config greedy = {.temperature = 0, .top_p = 1, .repetition_penalty = 1.5f};
    CHECK_OK(tfm_sampler_init(&s, 5, &greedy, 1));
    CHECK(tfm_sampler_next(&s, logits) == 0, "nothing seen: the plain argmax");
    tfm_sampler_observe(&s, 0); /* 2.0 / 1.5 = 1.33 < 1.9 */
    CHECK(tfm_sampler_next(&s, logits) == 1, "token 0 seen: 1.9 beats 2.0 / 1.5");
    tfm_sampler_observe(&s, 1); /* 1.9 / 1.5 = 1.27 < 1.33 */
    CHECK(tfm_sampler_next(&s, logits) == 0, "both seen: 1.33 beats 1.27");
    float negative[5] = {-1.0f, -1.2f, -3.0f, -4.0f, -5.0f};
    tfm_sampler_forget(&s);
    tfm_sampler_observe(&s, 0); /* -1.0 * 1.5 = -1.5 < -1.2: multiplied, not divided */
    CHECK(tfm_sampler_next(&s, negative) == 1, "a negative logit is multiplied by the penalty");
    tfm_sampler_forget(&s);
    CHECK(tfm_sampler_next(&s, negative) == 0, "forget clears what was seen");
    CHECK(logits[0] == 2.0f && negative[0] == -1.0f, "the caller's logits are left alone");
    tfm_sampler_free(&s);
    tfm_sampler_config bad = {.temperature = 1, .top_p = 1, .repetition_penalty = -2};
    CHECK(tfm_sampler_init(&s, 5, &bad, 1) == TFM_ERR_INVALID_ARGUMENT && strstr(tfm_last_error(), "repetition penalty"), "%s", tfm_last_error());
}

/* Transformers' MinPLogitsWarper (Nguyen et al. 2024): after temperature, tokens whose probability is below
 * min_p times the top token's are dropped; the rest keep their relative probabilities. */
static void test_min_p(void) {
    /* probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625 (logits are their logs) */
    float logits[5];
    double p[5] = {0.5, 0.25, 0.125, 0.0625, 0.0625};
    for (int i = 0; i < 5; i++) logits[i] = (float)log(p[i]);
    tfm_sampler s;
    tfm_sampler_config min_p = {.temperature = 1, .top_p = 1, .min_p = 0.3f}; /* floor 0.15: keeps tokens 0 and 1 */
    CHECK_OK(tfm_sampler_init(&s, 5, &min_p, 11));
    enum { DRAWS = 30000 };
    int counts[5] = {0};
    for (int i = 0; i < DRAWS; i++) counts[tfm_sampler_next(&s, logits)]++;
    CHECK(counts[2] + counts[3] + counts[4] == 0, "min-p 0.3 drew tokens below the floor: %d %d %d", counts[2], counts[3], counts[4]);
    /* 2/3 and 1/3 of the kept mass; 5 standard deviations is 0.014 */
    double f0 = (double)counts[0] / DRAWS;
    CHECK(fabs(f0 - 2.0 / 3.0) < 0.014, "token 0 drawn %.4f of the time, expected 0.6667", f0);
    tfm_sampler_free(&s);
    tfm_sampler_config all = {.temperature = 1, .top_p = 1, .min_p = 0.12f}; /* floor 0.06: keeps all five */
    CHECK_OK(tfm_sampler_init(&s, 5, &all, 12));
    memset(counts, 0, sizeof counts);
    for (int i = 0; i < DRAWS; i++) counts[tfm_sampler_next(&s, logits)]++;
    CHECK(counts[3] > 0 && counts[4] > 0, "min-p 0.12 should keep the 0.0625 tokens");
    tfm_sampler_free(&s);
    tfm_sampler_config one = {.temperature = 1, .top_p = 1, .min_p = 1};
    CHECK_OK(tfm_sampler_init(&s, 5, &one, 13));
    for (int i = 0; i < 100; i++) CHECK(tfm_sampler_next(&s, logits) == 0, "min-p 1 keeps only the most likely token");
    tfm_sampler_free(&s);
}

/* Feed pieces; collect what is shown; return whether a stop string ended it. */
static int stream(const char *const *stops, int count, const char *const *pieces, char *shown, size_t size) {
    tfm_stop_strings s;
    CHECK_OK(tfm_stop_strings_init(&s, stops, count));
    size_t used = 0;
    int stopped = 0;
    for (int i = 0; pieces[i] && !stopped; i++) {
        const char *ready;
        size_t n;
        CHECK_OK(tfm_stop_strings_push(&s, pieces[i], strlen(pieces[i]), &ready, &n, &stopped));
        CHECK(used + n < size, "output too long");
        memcpy(shown + used, ready, n), used += n;
        /* nothing shown may be the start of a stop string still in the making */
    }
    if (!stopped) {
        const char *rest;
        size_t n;
        tfm_stop_strings_flush(&s, &rest, &n);
        memcpy(shown + used, rest, n), used += n;
    }
    shown[used] = '\0';
    tfm_stop_strings_free(&s);
    return stopped;
}

static void test_stop_strings(void) {
    char out[256];
    const char *stops[] = {"\n\n", "END"};
    const char *split[] = {"one two", " E", "N", "D three", NULL}; /* "END" across three pieces */
    CHECK(stream(stops, 2, split, out, sizeof out) && strcmp(out, "one two ") == 0, "got '%s'", out);
    const char *false_start[] = {"a E", "Nx", "\n", "b", NULL}; /* "EN" then "x": shown after all */
    CHECK(!stream(stops, 2, false_start, out, sizeof out) && strcmp(out, "a ENx\nb") == 0, "got '%s'", out);
    const char *inside[] = {"ab\n\ncd", NULL}; /* inside one piece */
    CHECK(stream(stops, 2, inside, out, sizeof out) && strcmp(out, "ab") == 0, "got '%s'", out);
    const char *held[] = {"x", "\n", NULL}; /* a held-back "\n" comes out at the end */
    CHECK(!stream(stops, 2, held, out, sizeof out) && strcmp(out, "x\n") == 0, "got '%s'", out);
    const char *none[] = {"E", "E", "ND", NULL}; /* "EEND": the first E is text */
    CHECK(stream(stops, 2, none, out, sizeof out) && strcmp(out, "E") == 0, "got '%s'", out);
    /* what is shown never ends with the start of a stop string while more may come */
    tfm_stop_strings s;
    CHECK_OK(tfm_stop_strings_init(&s, stops, 2));
    const char *ready;
    size_t n;
    int stopped;
    CHECK_OK(tfm_stop_strings_push(&s, "abcEN", 5, &ready, &n, &stopped));
    CHECK(n == 3 && memcmp(ready, "abc", 3) == 0 && !stopped, "shown %zu bytes", n);
    tfm_stop_strings_free(&s);
    const char *empty[] = {""};
    CHECK(tfm_stop_strings_init(&s, empty, 1) == TFM_ERR_INVALID_ARGUMENT, "an empty stop string was accepted");
}

int main(void) {
    test_repetition_penalty();
    test_min_p();
    test_stop_strings();
    return test_summary();
}
