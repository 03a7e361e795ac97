/* fuzz/fuzz_wordpiece_encode.c: libFuzzer target for WordPiece encoding (streaming == reference encoder, decode, pairs). */
#include "fuzz_wordpiece_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    wp_fuzz_check(wp_fuzz_tokenizer(1), (const char *)data, size);
    wp_fuzz_check(wp_fuzz_tokenizer(0), (const char *)data, size);
    return 0;
}
