/* fuzz/fuzz_bpe_encode.c: libFuzzer target for byte-level BPE encoding (roundtrip, fast vs reference, streaming). */
#include "fuzz_bpe_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tfm_bpe *tok = fuzz_small_tokenizer();
    /* The plain clone has no added tokens, so the reference comparison applies to it. */
    static tfm_bpe *plain;
    if (!plain) {
        FUZZ_REQUIRE(tfm_bpe_clone(&plain, tok) == TFM_OK, "clone");
        plain->added_count = 0;
    }
    fuzz_check_encoder(tok, data, size);
    fuzz_check_encoder(plain, data, size);
    return 0;
}
