/* tests/test_bleu.c: BLEU / chrF against sacreBLEU's own published expectations, plus edge cases and a brute-force check. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "test_util.h"
#include "tfm/metrics.h"

/* sacreBLEU's tests compare with these tolerances; the issue asks for 0.01 on the printed scores. */
#define NEAR(a, b, eps) (fabs((a) - (b)) < (eps))

/* ---------------------------------------------------------------------------------------------
 * Fixtures copied from sacreBLEU (github.com/mjpost/sacrebleu): README.md ("Using SacreBLEU from
 * Python", "Variable Number of References"), test/test_bleu.py, test/test_sentence_bleu.py and
 * test/test_chrf.py. Each case names the test it came from.
 * --------------------------------------------------------------------------------------------- */
static const char *readme_hyps[] = {"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."};
static const char *readme_ref1[] = {"The dog bit the man.", "It was not unexpected.", "The man bit him first."};
static const char *readme_ref2[] = {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."};

static double corpus_bleu(const char *const *hyps, size_t n, const char *const *const *refs, size_t streams,
                          const tfm_bleu_options *o) {
    tfm_bleu_score s;
    tfm_status st = tfm_bleu_corpus(hyps, n, refs, streams, o, &s);
    CHECK(st == TFM_OK, "%s", tfm_last_error());
    return st == TFM_OK ? s.score : -1;
}

static void test_readme(void) {
    const char *const *refs[] = {readme_ref1, readme_ref2};
    tfm_bleu_options o;
    tfm_bleu_options_default(&o);
    tfm_bleu_score s;
    CHECK_OK(tfm_bleu_corpus(readme_hyps, 3, refs, 2, &o, &s));
    char line[256];
    tfm_bleu_format(&s, line, sizeof line);
    CHECK(strcmp(line, "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)") == 0, "got '%s'", line);
    CHECK(NEAR(s.score, 48.530827, 1e-6), "score %.8f", s.score);
    tfm_bleu_signature(&o, 2, line, sizeof line);
    CHECK(strcmp(line, "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp") == 0, "signature '%s'", line);

    /* README "Variable Number of References": the first segment's first reference is removed (NULL, sacreBLEU's None);
     * "" is an empty reference (length 0, not the closest here), which gives the same score on this example. */
    const char *ref1_missing[] = {"", "It was not unexpected.", "The man bit him first."};
    const char *const *refs_var[] = {ref1_missing, readme_ref2};
    CHECK_OK(tfm_bleu_corpus(readme_hyps, 3, refs_var, 2, &o, &s));
    tfm_bleu_format(&s, line, sizeof line);
    CHECK(strcmp(line, "BLEU = 29.44 82.4/42.9/27.3/12.5 (BP = 0.889 ratio = 0.895 hyp_len = 17 ref_len = 19)") == 0, "got '%s'", line);
    ref1_missing[0] = NULL;
    CHECK_OK(tfm_bleu_corpus(readme_hyps, 3, refs_var, 2, &o, &s));
    tfm_bleu_format(&s, line, sizeof line);
    CHECK(strstr(line, "BLEU = 29.44 ") == line, "NULL reference: got '%s'", line);

    /* README: chrF2 = 59.73 on the same data. */
    tfm_chrf_score c;
    CHECK_OK(tfm_chrf_corpus(readme_hyps, 3, refs, 2, NULL, &c));
    tfm_chrf_format(&c, line, sizeof line);
    CHECK(strcmp(line, "chrF2 = 59.73") == 0, "got '%s'", line);
}

/* test/test_bleu.py: test_corpus_bleu, test_max_ngram_order. */
static void test_corpus_cases(void) {
    const char *const *refs[] = {readme_ref1, readme_ref2};
    tfm_bleu_options o;
    tfm_bleu_options_default(&o);
    CHECK(NEAR(corpus_bleu(readme_hyps, 3, refs, 2, &o), 48.530827, 1e-8), "default");
    const char *empty[] = {"", "", ""};
    CHECK(corpus_bleu(empty, 3, refs, 2, &o) == 0.0, "empty hypotheses");
    o.tokenizer = TFM_BLEU_TOKENIZE_NONE;
    CHECK(NEAR(corpus_bleu(readme_hyps, 3, refs, 2, &o), 49.1919566, 1e-7), "tokenize none");
    o.tokenizer = TFM_BLEU_TOKENIZE_INTL;
    CHECK(NEAR(corpus_bleu(readme_hyps, 3, refs, 2, &o), 43.91623493, 1e-8), "tokenize intl");
    tfm_bleu_options_default(&o);
    o.smoothing = TFM_BLEU_SMOOTH_NONE;
    CHECK(NEAR(corpus_bleu(readme_hyps, 3, refs, 2, &o), 48.530827, 1e-6), "smooth none");

    static const char *expected[] = {"77.65", "60.50", "53.93", "48.53", "46.14", "43.28"};
    for (int order = 1; order <= 6; order++) {
        tfm_bleu_options_default(&o);
        o.max_order = order;
        char got[32];
        snprintf(got, sizeof got, "%.2f", corpus_bleu(readme_hyps, 3, refs, 2, &o));
        CHECK(strcmp(got, expected[order - 1]) == 0, "max order %d: %s, expected %s", order, got, expected[order - 1]);
    }
}

/* sacreBLEU's raw_corpus_bleu: floor smoothing, tokenizer none, effective order. */
static double raw_bleu(const char *const *hyps, size_t n, const char *const *ref, double floor_value) {
    tfm_bleu_options o;
    tfm_bleu_options_default(&o);
    o.smoothing = TFM_BLEU_SMOOTH_FLOOR;
    o.smooth_value = floor_value;
    o.tokenizer = TFM_BLEU_TOKENIZE_NONE;
    o.effective_order = 1;
    const char *const *refs[] = {ref};
    return corpus_bleu(hyps, n, refs, 1, &o) / 100;
}

/* test/test_bleu.py: test_raw_bleu, test_effective_order, test_statistics, test_offset, test_scoring,
 * test_degenerate_statistics. */
static void test_raw_cases(void) {
    const char *h1[] = {"this is a test", "another test"}, *r1[] = {"ref1", "ref2"};
    CHECK(raw_bleu(h1, 2, r1, 0.01) == 0.0, "no matches");
    const char *h2[] = {"this is a test"}, *r2[] = {"this is a test"};
    CHECK(NEAR(raw_bleu(h2, 1, r2, 0.01), 1.0, 1e-8), "identical");
    const char *h3[] = {"this is a fest"};
    CHECK(NEAR(raw_bleu(h3, 1, r2, 0.01), 0.223606797749979, 1e-8), "one word off");

    const char *e1[] = {"test"}, *er1[] = {"a test"};
    CHECK(NEAR(raw_bleu(e1, 1, er1, 0.01), 0.3678794411714425, 1e-8), "effective order 1");
    const char *e2[] = {"a test"};
    CHECK(NEAR(raw_bleu(e2, 1, er1, 0.01), 1.0, 1e-8), "effective order 2");
    const char *e3[] = {"a little test"};
    CHECK(NEAR(raw_bleu(e3, 1, er1, 0.01), 0.03218297948685433, 1e-8), "effective order 3");

    const char *sh[] = {"am I am a character sequence"}, *sr[] = {"I am a symbol string sequence a a"};
    tfm_bleu_options o;
    tfm_bleu_options_default(&o);
    o.smoothing = TFM_BLEU_SMOOTH_FLOOR;
    o.smooth_value = 0.01;
    o.tokenizer = TFM_BLEU_TOKENIZE_NONE;
    o.effective_order = 1;
    const char *const *srefs[] = {sr};
    tfm_bleu_score s;
    CHECK_OK(tfm_bleu_corpus(sh, 1, srefs, 1, &o, &s));
    const int64_t correct[] = {4, 2, 1, 0}, total[] = {6, 5, 4, 3};
    for (int n = 0; n < 4; n++)
        CHECK(s.stats.correct[n] == correct[n] && s.stats.total[n] == total[n], "order %d: %lld/%lld", n + 1,
              (long long)s.stats.correct[n], (long long)s.stats.total[n]);
    CHECK(raw_bleu(sh, 1, sr, 0.0) == 0.0, "offset 0");
    CHECK(NEAR(raw_bleu(sh, 1, sr, -1), 0.1555722182, 1e-8), "offset default 0.1");

    /* compute_bleu([9,7,5,3], [10,8,6,4], 11, 11) with its default smoothing 'none'. */
    tfm_bleu_stats stats = {.hyp_len = 11, .ref_len = 11, .correct = {9, 7, 5, 3}, .total = {10, 8, 6, 4}};
    tfm_bleu_options_default(&o);
    o.smoothing = TFM_BLEU_SMOOTH_NONE;
    tfm_bleu_from_stats(&stats, &o, &s);
    CHECK(NEAR(s.score / 100, 0.8375922397, 1e-8), "scoring %.10f", s.score / 100);

    /* degenerate statistics with floor smoothing all give exactly 0 */
    struct { int64_t correct[4], total[4], hyp, ref; double floor_value; } cases[] = {
        {{0, 0, 0, 0}, {4, 4, 2, 1}, 0, 1, 0.0}, {{0, 0, 0, 0}, {10, 11, 12, 0}, 14, 10, 0.0},
        {{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.0}, {{6, 5, 4, 0}, {6, 5, 4, 3}, 6, 6, 0.0},
        {{0, 0, 0, 0}, {0, 0, 0, 0}, 0, 0, 0.1}, {{0, 0, 0, 0}, {0, 0, 0, 0}, 1, 5, 0.01},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tfm_bleu_stats d = {.hyp_len = cases[i].hyp, .ref_len = cases[i].ref};
        memcpy(d.correct, cases[i].correct, sizeof cases[i].correct);
        memcpy(d.total, cases[i].total, sizeof cases[i].total);
        tfm_bleu_options_default(&o);
        o.smoothing = TFM_BLEU_SMOOTH_FLOOR;
        o.smooth_value = cases[i].floor_value;
        tfm_bleu_from_stats(&d, &o, &s);
        CHECK(s.score == 0.0, "degenerate case %zu: %g", i, s.score);
    }
}

/* test/test_sentence_bleu.py: one Romanian sentence (sacreBLEU issue #98) under every smoothing and tokenizer. */
static void test_sentence_cases(void) {
    const char *ref[] = {"produc\xc5\xa3ia de zah\xc4\x83r brut se exprim\xc4\x83 \xc3\xaen zah\xc4\x83r alb;"};
    const char *sys = "Produc\xc8\x9bia de zah\xc4\x83r prim\xc4\x83 va fi exprimat\xc4\x83 \xc3\xaen ceea ce prive\xc8\x99te zah\xc4\x83rul alb;";
    struct { tfm_bleu_smoothing smoothing; double value; int lowercase; tfm_bleu_tokenizer tokenizer; double expected; } cases[] = {
        {TFM_BLEU_SMOOTH_EXP, -1, 0, TFM_BLEU_TOKENIZE_13A, 8.493},
        {TFM_BLEU_SMOOTH_NONE, -1, 0, TFM_BLEU_TOKENIZE_13A, 0.0},
        {TFM_BLEU_SMOOTH_FLOOR, -1, 0, TFM_BLEU_TOKENIZE_13A, 4.51688},
        {TFM_BLEU_SMOOTH_FLOOR, 0.1, 0, TFM_BLEU_TOKENIZE_13A, 4.51688},
        {TFM_BLEU_SMOOTH_FLOOR, 0.5, 0, TFM_BLEU_TOKENIZE_13A, 10.10},
        {TFM_BLEU_SMOOTH_ADD_K, -1, 0, TFM_BLEU_TOKENIZE_13A, 14.882},
        {TFM_BLEU_SMOOTH_ADD_K, 1, 0, TFM_BLEU_TOKENIZE_13A, 14.882},
        {TFM_BLEU_SMOOTH_ADD_K, 2, 0, TFM_BLEU_TOKENIZE_13A, 21.389},
        {TFM_BLEU_SMOOTH_EXP, -1, 0, TFM_BLEU_TOKENIZE_NONE, 7.347},
        {TFM_BLEU_SMOOTH_EXP, -1, 0, TFM_BLEU_TOKENIZE_INTL, 8.493},
        {TFM_BLEU_SMOOTH_EXP, -1, 0, TFM_BLEU_TOKENIZE_CHAR, 40.8759},
        {TFM_BLEU_SMOOTH_EXP, -1, 1, TFM_BLEU_TOKENIZE_CHAR, 42.0267},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tfm_bleu_options o;
        tfm_bleu_options_sentence(&o);
        o.smoothing = cases[i].smoothing;
        o.smooth_value = cases[i].value;
        o.lowercase = cases[i].lowercase;
        o.tokenizer = cases[i].tokenizer;
        tfm_bleu_score s;
        CHECK_OK(tfm_bleu_sentence(sys, ref, 1, &o, &s));
        CHECK(NEAR(s.score, cases[i].expected, 1e-3), "sentence case %zu: %.5f, expected %.5f", i, s.score, cases[i].expected);
    }
    /* sacreBLEU issue #141: no matching n-gram gives 0 under every smoothing. */
    const char *ref0[] = {"okay thanks"};
    for (int m = TFM_BLEU_SMOOTH_EXP; m <= TFM_BLEU_SMOOTH_ADD_K; m++) {
        tfm_bleu_options o;
        tfm_bleu_options_sentence(&o);
        o.smoothing = (tfm_bleu_smoothing)m;
        tfm_bleu_score s;
        CHECK_OK(tfm_bleu_sentence("this is a cat", ref0, 1, &o, &s));
        CHECK(s.score == 0.0, "zero case, smoothing %d: %g", m, s.score);
    }
    /* NULL options mean sentence_bleu's defaults (exp + effective order). */
    tfm_bleu_score s;
    CHECK_OK(tfm_bleu_sentence(sys, ref, 1, NULL, &s));
    CHECK(NEAR(s.score, 8.493, 1e-3), "default sentence options: %.4f", s.score);
}

static double corpus_chrf(const char *const *hyps, const char *const *ref, size_t n, int beta, int eps, int whitespace) {
    tfm_chrf_options o;
    tfm_chrf_options_default(&o);
    o.beta = beta;
    o.eps_smoothing = eps;
    o.whitespace = whitespace;
    const char *const *refs[] = {ref};
    tfm_chrf_score s;
    tfm_status st = tfm_chrf_corpus(hyps, n, refs, 1, &o, &s);
    CHECK(st == TFM_OK, "%s", tfm_last_error());
    return s.score;
}

/* test/test_chrf.py: all of its cases (beta 3 unless said otherwise). */
static void test_chrf_cases(void) {
    struct { const char *hyp[2], *ref[2]; size_t n; double expected; } eps_cases[] = {
        {{"abcdefg"}, {"hijklmnop"}, 1, 0.0}, {{"a"}, {"b"}, 1, 0.0}, {{""}, {"b"}, 1, 0.0}, {{""}, {"ref"}, 1, 0.0},
        {{""}, {"reference"}, 1, 0.0}, {{"aa"}, {"ab"}, 1, 8.3333}, {{"a", "b"}, {"a", "c"}, 2, 8.3333},
        {{"a"}, {"a"}, 1, 16.6667}, {{"a b c"}, {"a b c"}, 1, 50.0}, {{"a b c"}, {"abc"}, 1, 50.0},
        {{" risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."},
         {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."}, 1, 63.361730},
        {{" Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. "},
         {"Das Verh\xc3\xa4ltnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."}, 1, 64.1302698},
        {{"Niemand hat die Absicht, eine Mauer zu errichten"}, {"Niemand hat die Absicht, eine Mauer zu errichten"}, 1, 100.0},
    };
    for (size_t i = 0; i < sizeof eps_cases / sizeof eps_cases[0]; i++) {
        double got = corpus_chrf(eps_cases[i].hyp, eps_cases[i].ref, eps_cases[i].n, 3, 1, 0);
        CHECK(NEAR(got, eps_cases[i].expected, 1e-4), "chrF eps case %zu: %.6f, expected %.6f", i, got, eps_cases[i].expected);
    }
    struct { const char *hyp[2], *ref[2]; size_t n; double expected; } effective_cases[] = {
        {{"a"}, {"a"}, 1, 100.0}, {{""}, {"reference"}, 1, 0.0}, {{"a b c"}, {"a b c"}, 1, 100.0}, {{"a b c"}, {"abc"}, 1, 100.0},
        {{""}, {"c"}, 1, 0.0}, {{"a", "b"}, {"a", "c"}, 2, 50.0}, {{"aa"}, {"ab"}, 1, 25.0},
    };
    for (size_t i = 0; i < sizeof effective_cases / sizeof effective_cases[0]; i++) {
        double got = corpus_chrf(effective_cases[i].hyp, effective_cases[i].ref, effective_cases[i].n, 3, 0, 0);
        CHECK(NEAR(got, effective_cases[i].expected, 1e-4), "chrF effective-order case %zu: %.6f", i, got);
    }
    struct { const char *hyp[1], *ref[1]; double expected; } whitespace_cases[] = {
        {{"Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich."},
         {"Das Verh\xc3\xa4ltnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."}, 67.3481606},
        {{"risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists ."},
         {"risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."}, 65.2414427},
    };
    for (size_t i = 0; i < 2; i++) {
        double got = corpus_chrf(whitespace_cases[i].hyp, whitespace_cases[i].ref, 1, 3, 0, 1);
        CHECK(NEAR(got, whitespace_cases[i].expected, 1e-4), "chrF keep-whitespace case %zu: %.6f", i, got);
    }
    /* test_chrf_sentence_level: Czech, beta 2, eps smoothing. */
    struct { const char *hyp, *ref; double expected; } sentence_cases[] = {
        {"Co n\xc3\xa1s nejv\xc3\xad" "c tr\xc3\xa1p\xc3\xad, proto\xc5\xbe" "e l\xc3\xa9ka\xc5\x99i si vyb\xc3\xadraj\xc3\xad, kdo bude \xc5\xbe\xc3\xadt a kdo zem\xc5\x99" "e.",
         "Nejv\xc3\xad" "ce smutn\xc3\xad jsme z toho, \xc5\xbe" "e mus\xc3\xadme rozhodovat o tom, kdo bude \xc5\xbe\xc3\xadt a kdo zem\xc5\x99" "e.", 39.14078509},
        {"Nebo prost\xc4\x9b nemaj\xc3\xad vybaven\xc3\xad, kter\xc3\xa9 by jim pomohlo, uvedli l\xc3\xa9ka\xc5\x99i.",
         "A n\xc4\x9bkdy nem\xc3\xa1me ani pot\xc5\x99" "ebn\xc3\xbd materi\xc3\xa1l, abychom jim pomohli, popsali l\xc3\xa9ka\xc5\x99i.", 31.22557079},
        {"Lapali po dechu, jejich \xc5\xbeivoty skon\xc4\x8dily d\xc5\x99\xc3\xadv, ne\xc5\xbe skute\xc4\x8dn\xc4\x9b za\xc4\x8d" "aly.",
         "Lapali po dechu a pak jejich \xc5\xbeivot skon\xc4\x8dil - d\xc5\x99\xc3\xadv, ne\xc5\xbe skute\xc4\x8dn\xc4\x9b mohl za\xc4\x8d\xc3\xadt, p\xc5\x99ipomn\xc4\x9bli.", 57.15704367},
    };
    for (size_t i = 0; i < 3; i++) {
        tfm_chrf_options o;
        tfm_chrf_options_default(&o);
        o.eps_smoothing = 1;
        tfm_chrf_score s;
        CHECK_OK(tfm_chrf_sentence(sentence_cases[i].hyp, &sentence_cases[i].ref, 1, &o, &s));
        CHECK(NEAR(s.score, sentence_cases[i].expected, 1e-4), "chrF sentence case %zu: %.8f", i, s.score);
    }
}

/* Tokenizer outputs, derived from the 13a regular expressions as Python's `re` applies them. */
static void test_tokenizers(void) {
    struct { const char *in; int lowercase; const char *out; } cases[] = {
        {"It wasn't surprising.", 0, "It wasn't surprising ."},
        {"Hello, world! 3.14 and 1,000 -- ok... A-B 2-3 &amp; &lt;tag&gt; &quot;q&quot;", 0,
         "Hello , world ! 3.14 and 1,000 -- ok . . . A-B 2 - 3 & < tag > \" q \""},
        {"a.b,c 5. .5 x,5 5,x (see: [1]) {a|b} ~tilde^ $5.00 #1 @me 50% a+b=c a/b", 0,
         "a . b , c 5 . . 5 x , 5 5 , x ( see : [ 1 ] ) { a | b } ~ tilde ^ $ 5.00 # 1 @ me 50 % a + b = c a / b"},
        {"line<skipped>end -\nnext", 0, "lineend next"},
        {"\xc3\x9cn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9\xe2\x80\xa6 \xc2\xabquoted\xc2\xbb \xe2\x80\x94 dash  ok", 1,
         "\xc3\xbcn\xc3\xaf" "c\xc3\xb6" "d\xc3\xa9\xe2\x80\xa6 \xc2\xabquoted\xc2\xbb \xe2\x80\x94 dash ok"},
        /* Python's lower(): U+0130 -> "i" U+0307, final sigma before "." and at the end of a word */
        {"\xc3\x89T\xc3\x89 \xce\xa3\xce\x91\xce\xa3 \xc4\xb0stanbul \xce\x9f\xce\x94\xce\x9f\xce\xa3.", 1,
         "\xc3\xa9t\xc3\xa9 \xcf\x83\xce\xb1\xcf\x82 i\xcc\x87stanbul \xce\xbf\xce\xb4\xce\xbf\xcf\x82 ."},
        /* Python's whitespace: NBSP, ideographic space, thin space, NEL, U+001C split; zero-width space does not */
        {"a\xc2\xa0" "b\xe3\x80\x80" "c\xe2\x80\x89" "d\xe2\x80\x8b" "e\xc2\x85" "f\x1cg  ", 0, "a b c d\xe2\x80\x8b" "e f g"},
        {"x\xc2\xa0.\xc2\xa0y 3\xc2\xa0-4", 0, "x . y 3 -4"},
        {"", 0, ""},
        {"   ", 0, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *out = NULL;
        CHECK_OK(tfm_bleu_tokenize(cases[i].in, TFM_BLEU_TOKENIZE_13A, cases[i].lowercase, &out));
        CHECK(out && strcmp(out, cases[i].out) == 0, "13a case %zu: '%s'", i, out ? out : "(null)");
        if (out) tfm_free(out, strlen(out) + 1);
    }
    char *out = NULL;
    CHECK_OK(tfm_bleu_tokenize("Hello, world (3.5%)! x\xe2\x80\x94y", TFM_BLEU_TOKENIZE_INTL, 0, &out));
    CHECK(out && strcmp(out, "Hello , world ( 3.5 % ) ! x \xe2\x80\x94 y") == 0, "intl: '%s'", out ? out : "(null)");
    if (out) tfm_free(out, strlen(out) + 1);
    CHECK_OK(tfm_bleu_tokenize("ab c", TFM_BLEU_TOKENIZE_CHAR, 0, &out));
    CHECK(out && strcmp(out, "a b c") == 0, "char: '%s'", out ? out : "(null)");
    if (out) tfm_free(out, strlen(out) + 1);
    /* invalid UTF-8 is kept byte for byte */
    CHECK_OK(tfm_bleu_tokenize("a\xff" "b.\xc3", TFM_BLEU_TOKENIZE_13A, 0, &out));
    CHECK(out && strcmp(out, "a\xff" "b . \xc3") == 0, "invalid UTF-8: '%s'", out ? out : "(null)");
    if (out) tfm_free(out, strlen(out) + 1);
}

static void test_edge_cases(void) {
    tfm_bleu_score s;
    const char *hyp[] = {"a b c"}, *empty_ref[] = {""}, *null_ref[] = {NULL};
    const char *const *refs[] = {empty_ref}, *const *null_refs[] = {null_ref};
    /* "" is a reference of length 0, as in sacreBLEU 2.x:
     * BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 0.000 hyp_len = 3 ref_len = 0), chrF2 = 0.00 */
    CHECK_OK(tfm_bleu_corpus(hyp, 1, refs, 1, NULL, &s));
    CHECK(s.score == 0.0 && s.brevity_penalty == 1.0 && s.ratio == 0.0 && s.stats.hyp_len == 3 && s.stats.ref_len == 0,
          "empty reference: %g bp %g ratio %g", s.score, s.brevity_penalty, s.ratio);
    tfm_chrf_score c;
    CHECK_OK(tfm_chrf_corpus(hyp, 1, refs, 1, NULL, &c));
    CHECK(c.score == 0.0, "chrF: empty reference %g", c.score);
    /* a segment whose references are all NULL has none */
    CHECK(tfm_bleu_corpus(hyp, 1, null_refs, 1, NULL, &s) == TFM_ERR_INVALID_ARGUMENT, "NULL reference must be refused");
    CHECK(strstr(tfm_last_error(), "segment 1") != NULL, "message names the segment: %s", tfm_last_error());
    CHECK(tfm_chrf_corpus(hyp, 1, null_refs, 1, NULL, &c) == TFM_ERR_INVALID_ARGUMENT, "chrF: NULL reference must be refused");
    CHECK(tfm_bleu_corpus(hyp, 1, refs, 0, NULL, &s) == TFM_ERR_INVALID_ARGUMENT, "no reference streams");
    tfm_bleu_options o;
    tfm_bleu_options_default(&o);
    o.max_order = 9;
    const char *ref[] = {"a b c"};
    const char *const *refs_ok[] = {ref};
    CHECK(tfm_bleu_corpus(hyp, 1, refs_ok, 1, &o, &s) == TFM_ERR_INVALID_ARGUMENT, "max_order 9 must be refused");

    /* an empty corpus scores 0 with BP 0 (sacreBLEU's sys_len 0 case) */
    CHECK_OK(tfm_bleu_corpus(hyp, 0, refs_ok, 1, NULL, &s));
    CHECK(s.score == 0.0 && s.stats.hyp_len == 0, "empty corpus");
    /* empty hypothesis against a real reference */
    const char *empty_hyp[] = {""};
    CHECK_OK(tfm_bleu_corpus(empty_hyp, 1, refs_ok, 1, NULL, &s));
    CHECK(s.score == 0.0 && s.brevity_penalty == 0.0 && s.stats.ref_len == 3, "empty hypothesis: %g bp %g", s.score, s.brevity_penalty);

    /* Invalid UTF-8: a stray byte only matches the same byte. */
    const char *bad_hyp[] = {"x \xff y z w"}, *bad_ref[] = {"x \xfe y z w"}, *same_ref[] = {"x \xff y z w"};
    const char *const *bad_refs[] = {bad_ref}, *const *same_refs[] = {same_ref};
    CHECK_OK(tfm_bleu_corpus(bad_hyp, 1, bad_refs, 1, NULL, &s));
    CHECK(s.stats.correct[0] == 4 && s.stats.total[0] == 5, "invalid byte matched a different byte");
    CHECK_OK(tfm_bleu_corpus(bad_hyp, 1, same_refs, 1, NULL, &s));
    CHECK(NEAR(s.score, 100.0, 1e-9), "identical invalid UTF-8: %g", s.score);

    /* Multiple references: clipping uses the maximum count over references; the closest length wins,
     * the shorter one on ties. */
    const char *mh[] = {"the the the the"}, *mr1[] = {"the cat"}, *mr2[] = {"the the dog is here now"};
    const char *const *mrefs[] = {mr1, mr2};
    CHECK_OK(tfm_bleu_corpus(mh, 1, mrefs, 2, NULL, &s));
    CHECK(s.stats.correct[0] == 2 && s.stats.correct[1] == 1, "clipping: %lld %lld", (long long)s.stats.correct[0],
          (long long)s.stats.correct[1]);
    CHECK(s.stats.ref_len == 2, "closest ref len (tie 2 vs 6 for hyp 4 -> 2): %lld", (long long)s.stats.ref_len);

    /* chrF++ (word order 2): identical text is 100; name printed with "++". */
    tfm_chrf_options co;
    tfm_chrf_options_default(&co);
    co.word_order = 2;
    const char *pp[] = {"Hello, world (again)!"};
    const char *const *pprefs[] = {pp};
    CHECK_OK(tfm_chrf_corpus(pp, 1, pprefs, 1, &co, &c));
    char line[64];
    tfm_chrf_format(&c, line, sizeof line);
    CHECK(strcmp(line, "chrF2++ = 100.00") == 0, "chrF++ identical: %s", line);
    /* "world," loses its comma to a token of its own: hyp words hello / world / ",", ref words hello / world. */
    const char *ph[] = {"hello world,"}, *pr[] = {"hello world"};
    const char *const *prefs[] = {pr};
    CHECK_OK(tfm_chrf_corpus(ph, 1, prefs, 1, &co, &c));
    CHECK(c.counts[6][0] == 3 && c.counts[6][1] == 2 && c.counts[6][2] == 2, "chrF++ word unigrams: %lld %lld %lld",
          (long long)c.counts[6][0], (long long)c.counts[6][1], (long long)c.counts[6][2]);
    CHECK(c.counts[7][0] == 2 && c.counts[7][1] == 1 && c.counts[7][2] == 1, "chrF++ word bigrams: %lld %lld %lld",
          (long long)c.counts[7][0], (long long)c.counts[7][1], (long long)c.counts[7][2]);
}

/* Brute force: count n-grams by comparing every pair of positions, and hold the library's sorted-table
 * statistics to it on random sentences over a small vocabulary (many repeats, so clipping matters). */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t next_random(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 11);
}

static int64_t count_ngram(const int *tokens, int length, const int *gram, int n) {
    int64_t c = 0;
    for (int i = 0; i + n <= length; i++) {
        int same = 1;
        for (int k = 0; k < n && same; k++) same = tokens[i + k] == gram[k];
        c += same;
    }
    return c;
}

static void test_brute_force(void) {
    static const char *words[] = {"a", "b", "c", "d", "\xc3\xa9t\xc3\xa9", "x"};
    for (int trial = 0; trial < 300; trial++) {
        int hyp[20], ref[3][20], hyp_len = (int)(next_random() % 20), ref_len[3], num_refs = 1 + (int)(next_random() % 3);
        for (int i = 0; i < hyp_len; i++) hyp[i] = (int)(next_random() % 6);
        for (int r = 0; r < num_refs; r++) {
            ref_len[r] = 1 + (int)(next_random() % 19);
            for (int i = 0; i < ref_len[r]; i++) ref[r][i] = (int)(next_random() % 6);
        }
        char hyp_text[256] = "", ref_text[3][256];
        for (int i = 0; i < hyp_len; i++) { strcat(hyp_text, i ? " " : ""); strcat(hyp_text, words[hyp[i]]); }
        const char *ref_ptr[3];
        for (int r = 0; r < num_refs; r++) {
            ref_text[r][0] = '\0';
            for (int i = 0; i < ref_len[r]; i++) { strcat(ref_text[r], i ? " " : ""); strcat(ref_text[r], words[ref[r][i]]); }
            ref_ptr[r] = ref_text[r];
        }
        tfm_bleu_options o;
        tfm_bleu_options_default(&o);
        o.tokenizer = TFM_BLEU_TOKENIZE_NONE;
        tfm_bleu_stats stats;
        CHECK_OK(tfm_bleu_segment_stats(hyp_text, ref_ptr, (size_t)num_refs, &o, &stats));
        int ok = stats.hyp_len == hyp_len;
        for (int n = 1; n <= 4; n++) {
            int64_t total = hyp_len >= n ? hyp_len - n + 1 : 0, correct = 0;
            for (int i = 0; i + n <= hyp_len; i++) {
                /* count each distinct hyp n-gram once: at its first occurrence */
                int first = 1;
                for (int j = 0; j < i && first; j++) first = !(count_ngram(hyp + j, n, hyp + i, n) == 1);
                if (!first) continue;
                int64_t h = count_ngram(hyp, hyp_len, hyp + i, n), best = 0;
                for (int r = 0; r < num_refs; r++) {
                    int64_t c = count_ngram(ref[r], ref_len[r], hyp + i, n);
                    if (c > best) best = c;
                }
                correct += h < best ? h : best;
            }
            ok &= stats.total[n - 1] == total && stats.correct[n - 1] == correct;
        }
        int best_len = -1, best_diff = -1;
        for (int r = 0; r < num_refs; r++) {
            int diff = abs(hyp_len - ref_len[r]);
            if (best_diff < 0 || diff < best_diff || (diff == best_diff && ref_len[r] < best_len)) { best_diff = diff; best_len = ref_len[r]; }
        }
        ok &= stats.ref_len == best_len;
        CHECK(ok, "trial %d: '%s' vs %d references", trial, hyp_text, num_refs);
        if (!ok) break;
    }
}

/* Random byte strings (valid and invalid UTF-8, entities, punctuation, exotic spaces): nothing crashes
 * (the suite also runs under ASan/UBSan) and a text scored against itself gets 100 whenever it has
 * enough tokens / characters. */
static void test_random_text(void) {
    static const char *pieces[] = {"a", "Z", "7", ".", ",", "-", " ", "  ", "&amp;", "&quot;", "<skipped>", "\n", "\xff", "\xc3",
                                   "\xc3\xa4", "\xe2\x80\x94", "\xc2\xa0", "\xe3\x80\x80", "\xce\xa3", "\xc4\xb0", "\xf0\x9f\x98\x80", "'", "(", "$"};
    for (int trial = 0; trial < 400; trial++) {
        char text[400] = "";
        int n = (int)(next_random() % 40);
        for (int i = 0; i < n; i++) strcat(text, pieces[next_random() % (sizeof pieces / sizeof pieces[0])]);
        const char *hyp[] = {text}, *ref[] = {text};
        const char *const *refs[] = {ref};
        tfm_bleu_options o;
        tfm_bleu_options_default(&o);
        o.lowercase = (int)(next_random() % 2);
        o.tokenizer = (tfm_bleu_tokenizer)(next_random() % 4);
        char *tokens = NULL;
        CHECK_OK(tfm_bleu_tokenize(text, o.tokenizer, o.lowercase, &tokens));
        int count = 0;
        if (tokens && tokens[0]) {
            count = 1;
            for (const char *c = tokens; *c; c++) count += *c == ' ';
        }
        if (tokens) tfm_free(tokens, strlen(tokens) + 1);
        tfm_bleu_score s; /* an empty text is an empty reference (length 0), as in sacreBLEU */
        tfm_status st = tfm_bleu_corpus(hyp, 1, refs, 1, &o, &s);
        CHECK(st == TFM_OK, "%s", tfm_last_error());
        if (st == TFM_OK && count >= 4) CHECK(NEAR(s.score, 100.0, 1e-9), "trial %d: self-BLEU %g of '%s'", trial, s.score, text);
        if (st == TFM_OK) CHECK(s.stats.hyp_len == count && s.stats.ref_len == count, "trial %d: lengths %lld vs %d tokens", trial,
                                (long long)s.stats.hyp_len, count);
        tfm_chrf_options co;
        tfm_chrf_options_default(&co);
        co.word_order = (int)(next_random() % 3);
        tfm_chrf_score c;
        CHECK_OK(tfm_chrf_corpus(hyp, 1, refs, 1, &co, &c));
        CHECK(c.counts[0][0] == 0 || NEAR(c.score, 100.0, 1e-9), "trial %d: self-chrF %g", trial, c.score);
    }
}

int main(void) {
    test_readme();
    test_corpus_cases();
    test_raw_cases();
    test_sentence_cases();
    test_chrf_cases();
    test_tokenizers();
    test_edge_cases();
    test_brute_force();
    test_random_text();
    return test_summary();
}
