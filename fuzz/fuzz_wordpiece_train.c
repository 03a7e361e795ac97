/* fuzz/fuzz_wordpiece_train.c: libFuzzer target for WordPiece training: any text trains, deterministically, into a usable vocabulary. */
#include "fuzz_wordpiece_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tfm_wordpiece_train_options options = {
        .vocab_size = 40 + (size ? data[0] % 200 : 0),
        .min_frequency = size > 1 ? data[1] % 3 : 0,
        .limit_alphabet = size > 2 ? data[2] % 40 : 0,
        .lowercase = size > 3 ? data[3] & 1 : 1,
    };
    const char *text = (const char *)data;
    size_t lengths[1] = {size};
    tfm_wordpiece *first = NULL, *second = NULL;
    WP_FUZZ_REQUIRE(tfm_wordpiece_train(&first, &text, lengths, 1, &options) == TFM_OK, "train");
    WP_FUZZ_REQUIRE(tfm_wordpiece_train(&second, &text, lengths, 1, &options) == TFM_OK, "train again");
    size_t n = tfm_wordpiece_vocab_size(first);
    WP_FUZZ_REQUIRE(n == tfm_wordpiece_vocab_size(second), "deterministic size");
    for (uint32_t id = 0; id < n; id++) {
        size_t a_len, b_len;
        const char *a = tfm_wordpiece_id_to_token(first, id, &a_len), *b = tfm_wordpiece_id_to_token(second, id, &b_len);
        WP_FUZZ_REQUIRE(a_len == b_len && memcmp(a, b, a_len) == 0, "deterministic pieces");
    }
    WP_FUZZ_REQUIRE(tfm_wordpiece_unk_id(first) == 1, "[UNK] is id 1");
    wp_fuzz_check(first, text, size);
    tfm_wordpiece_free(first);
    tfm_wordpiece_free(second);
    return 0;
}
