/* fuzz/fuzz_bpe_load_hf.c: libFuzzer target for the Hugging Face tokenizer.json loader (then encode with what loaded). */
#include "fuzz_bpe_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tfm_bpe *tok = NULL;
    if (tfm_bpe_load_hf_text(&tok, (const char *)data, size, "fuzz.json") == TFM_OK) {
        static const char sample[] = "Hello world, it's 42! \xff\xfe ünï <|endoftext|>  \n";
        fuzz_check_encoder(tok, (const uint8_t *)sample, sizeof sample - 1);
        fuzz_check_encoder(tok, data, size < 256 ? size : 256);
        tfm_bpe_free(tok);
    } else {
        FUZZ_REQUIRE(tfm_last_error()[0] != 0, "a failed load leaves a message");
    }
    return 0;
}
