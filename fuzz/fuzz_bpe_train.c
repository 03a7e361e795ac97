/* fuzz/fuzz_bpe_train.c: libFuzzer target for BPE training: train on the input, save, reload, encode the input identically. */
#include <unistd.h>

#include "fuzz_bpe_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    const char *texts[] = {(const char *)data};
    size_t lengths[] = {size};
    const char *special[] = {"<s>"};
    size_t vocab = 257 + (size ? data[0] : 0);
    tfm_bpe_train_options o = {vocab, size > 1 ? 1 + data[1] % 3 : 1, special, 1};
    tfm_bpe *tok = NULL, *back = NULL;
    FUZZ_REQUIRE(tfm_bpe_train(&tok, texts, lengths, 1, &o) == TFM_OK, "train");
    FUZZ_REQUIRE(tfm_bpe_vocab_size(tok) <= vocab, "vocab size bound");
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_bpe_train.%d.json", (int)getpid());
    FUZZ_REQUIRE(tfm_bpe_save_hf(tok, path) == TFM_OK, "save");
    FUZZ_REQUIRE(tfm_bpe_load_hf(&back, path) == TFM_OK, "reload");
    tfm_tokens a = {0}, b = {0};
    FUZZ_REQUIRE(tfm_bpe_encode(tok, (const char *)data, size, 0, &a, NULL) == TFM_OK, "encode");
    FUZZ_REQUIRE(tfm_bpe_encode(back, (const char *)data, size, 0, &b, NULL) == TFM_OK, "encode reloaded");
    FUZZ_REQUIRE(a.count == b.count && (a.count == 0 || !memcmp(a.ids, b.ids, a.count * 4)), "reloaded encodes the same");
    fuzz_check_encoder(tok, data, size);
    tfm_tokens_free(&a);
    tfm_tokens_free(&b);
    tfm_bpe_free(tok);
    tfm_bpe_free(back);
    return 0;
}
