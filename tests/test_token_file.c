/* tests/test_token_file.c: token files (round trip, bad ids, truncation, foreign files) and tfm_bpe_load on every tokenizer layout. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tfm/bpe.h"
#include "tfm/io.h"
#include "test_util.h"

#define WORK "test_token_file.work"

static void test_round_trip_and_errors(void) {
    uint32_t ids[1000];
    for (int i = 0; i < 1000; i++) ids[i] = (uint32_t)(i * 7919 % 70000); /* past 65,536: 32-bit ids */
    CHECK_OK(tfm_token_file_write(WORK "/a.tokens", ids, 1000, 70000));
    CHECK(tfm_token_file_is(WORK "/a.tokens"), "the header is not recognised");
    uint32_t *back = NULL, vocab = 0;
    size_t count = 0;
    CHECK_OK(tfm_token_file_read(WORK "/a.tokens", 0, &back, &count, &vocab));
    CHECK(count == 1000 && vocab == 70000 && back && memcmp(back, ids, sizeof ids) == 0, "round trip differs");
    tfm_free(back, count * sizeof *back);
    CHECK(tfm_token_file_read(WORK "/a.tokens", 50000, &back, &count, NULL) == TFM_ERR_FORMAT &&
              strstr(tfm_last_error(), "vocabulary of 70000, larger than the model's 50000"), "%s", tfm_last_error());
    CHECK(tfm_token_file_write(WORK "/b.tokens", ids, 1000, 1000) == TFM_ERR_INVALID_ARGUMENT && strstr(tfm_last_error(), "token 1 is id 7919"),
          "%s", tfm_last_error());
    CHECK(access(WORK "/b.tokens", F_OK) != 0, "a refused write left a file");
    /* cut short by 2 bytes: the header's count no longer fits */
    char *bytes;
    size_t size;
    CHECK_OK(tfm_file_read(WORK "/a.tokens", &bytes, &size));
    CHECK_OK(tfm_file_write_atomic(WORK "/short.tokens", bytes, size - 2));
    tfm_free(bytes, size + 1);
    CHECK(tfm_token_file_read(WORK "/short.tokens", 0, &back, &count, NULL) == TFM_ERR_FORMAT && strstr(tfm_last_error(), "truncated"), "%s",
          tfm_last_error());
    CHECK_OK(tfm_file_write_atomic(WORK "/text.tokens", "plain text, not tokens", 22));
    CHECK(!tfm_token_file_is(WORK "/text.tokens"), "text taken for a token file");
    CHECK(tfm_token_file_read(WORK "/text.tokens", 0, &back, &count, NULL) == TFM_ERR_FORMAT && strstr(tfm_last_error(), "not a token file"), "%s",
          tfm_last_error());
}

/* The same tokenizer saved in every layout tfm_bpe_load reads gives the same ids. */
static void test_load_any_layout(void) {
    const char *text = "the cat sat on the mat; the cats sat on the mats, and the rat sat on the hat. ";
    char corpus[4096] = "";
    for (int i = 0; i < 40; i++) strcat(corpus, text);
    const char *texts[] = {corpus};
    size_t lengths[] = {strlen(corpus)};
    tfm_bpe_train_options options = {.vocab_size = 300, .min_frequency = 2};
    tfm_bpe *trained = NULL;
    CHECK_OK(tfm_bpe_train(&trained, texts, lengths, 1, &options));
    mkdir(WORK "/hf", 0755), mkdir(WORK "/slow", 0755), mkdir(WORK "/gpt2", 0755), mkdir(WORK "/none", 0755);
    CHECK_OK(tfm_bpe_save_hf(trained, WORK "/hf/tokenizer.json"));
    CHECK_OK(tfm_bpe_save_gpt2(trained, WORK "/slow/vocab.json", WORK "/slow/merges.txt"));
    CHECK_OK(tfm_bpe_save_gpt2(trained, WORK "/gpt2/encoder.json", WORK "/gpt2/vocab.bpe"));
    CHECK_OK(tfm_bpe_save_tiktoken(trained, WORK "/ranks.tiktoken"));
    tfm_tokens expected = {0}, got = {0};
    const char *probe = "the rats sat on the cat's mat";
    CHECK_OK(tfm_bpe_encode(trained, probe, strlen(probe), 0, &expected, NULL));
    const char *paths[] = {WORK "/hf", WORK "/hf/tokenizer.json", WORK "/slow", WORK "/gpt2", WORK "/ranks.tiktoken"};
    for (int i = 0; i < 5; i++) {
        tfm_bpe *loaded = NULL;
        CHECK_OK(tfm_bpe_load(&loaded, paths[i]));
        if (!loaded) continue;
        got.count = 0;
        CHECK_OK(tfm_bpe_encode(loaded, probe, strlen(probe), 0, &got, NULL));
        CHECK(got.count == expected.count && memcmp(got.ids, expected.ids, got.count * sizeof *got.ids) == 0, "%s encodes differently", paths[i]);
        if (i == 4) /* a rank file gets GPT-2's end-of-text token after its last rank */
            CHECK(tfm_bpe_token_to_id(loaded, "<|endoftext|>", 13) == (int64_t)tfm_bpe_vocab_size(trained), "<|endoftext|> id");
        tfm_bpe_free(loaded);
    }
    tfm_bpe *none = NULL;
    CHECK(tfm_bpe_load(&none, WORK "/none") == TFM_ERR_IO && strstr(tfm_last_error(), "no tokenizer here"), "%s", tfm_last_error());
    CHECK(tfm_bpe_load(&none, WORK "/missing.json") == TFM_ERR_IO && strstr(tfm_last_error(), "missing.json"), "%s", tfm_last_error());
    tfm_tokens_free(&expected), tfm_tokens_free(&got);
    tfm_bpe_free(trained);
}

int main(void) {
    if (system("rm -rf " WORK " && mkdir -p " WORK) != 0) return 1;
    test_round_trip_and_errors();
    test_load_any_layout();
    return test_summary();
}
