/* fuzz/fuzz_wordpiece_load.c: libFuzzer target for vocab.txt loading; a vocabulary that loads must then encode and decode. */
#include "fuzz_wordpiece_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tfm_wordpiece *tok = NULL;
    int lowercase = size ? data[0] & 1 : 0;
    if (tfm_wordpiece_load_text(&tok, (const char *)data, size, "fuzz vocab.txt", lowercase) != TFM_OK) {
        WP_FUZZ_REQUIRE(tok == NULL && tfm_last_error()[0] != '\0', "failed load leaves a message");
        return 0;
    }
    static const char text[] = "Hello, wörld! [SEP] unable the cafe 中文 abcd xx\xff [UNK]";
    wp_fuzz_check(tok, text, sizeof text - 1);
    wp_fuzz_check(tok, (const char *)data, size);
    tfm_wordpiece_free(tok);
    return 0;
}
