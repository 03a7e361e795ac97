/* fuzz/fuzz_bpe_load_gpt2.c: libFuzzer target for GPT-2's encoder.json + vocab.bpe loader. Input: JSON, a NUL byte, merges. */
#include "fuzz_bpe_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    size_t json_len = nul ? (size_t)(nul - data) : size;
    const char *merges = nul ? (const char *)nul + 1 : "";
    size_t merges_len = nul ? size - json_len - 1 : 0;
    tfm_bpe *tok = NULL;
    if (tfm_bpe_load_gpt2_text(&tok, (const char *)data, json_len, "encoder.json", merges, merges_len, "vocab.bpe") == TFM_OK) {
        static const char sample[] = "Hello world, it's 42! \xff\xfe <|endoftext|>  \n";
        fuzz_check_encoder(tok, (const uint8_t *)sample, sizeof sample - 1);
        fuzz_check_encoder(tok, (const uint8_t *)merges, merges_len < 256 ? merges_len : 256);
        tfm_bpe_free(tok);
    } else {
        FUZZ_REQUIRE(tfm_last_error()[0] != 0, "a failed load leaves a message");
    }
    return 0;
}
