/* decode/generate.c: autoregressive generation from a GPT, incremental with a KV cache or by full recomputation. */
#include "tfm/decode.h"
#include "tfm/gpt.h"

#include <string.h>

#include "tfm/base.h"

tfm_status tfm_gpt_generate(tfm_gpt *m, const int32_t *prompt, int prompt_length, int max_new_tokens, tfm_sampler *sampler,
                            int use_cache, tfm_token_callback on_token, void *user_data) {
    int context = m->config.context_length;
    if (prompt_length < 1) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "the prompt is empty: generation needs at least one token");
    if (prompt_length > context)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "the prompt has %d tokens, longer than the model's context length %d", prompt_length, context);
    if (sampler->vocab_size != m->config.vocab_size)
        return tfm_error(TFM_ERR_INVALID_ARGUMENT, "the sampler is for %d tokens, the model has %d", sampler->vocab_size, m->config.vocab_size);
    if (max_new_tokens < 0) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "max_new_tokens must be >= 0, got %d", max_new_tokens);
    for (int i = 0; i < prompt_length; i++)
        if (prompt[i] < 0 || prompt[i] >= m->config.vocab_size)
            return tfm_error(TFM_ERR_INVALID_ARGUMENT, "prompt token %d at position %d is outside the vocabulary [0, %d)", prompt[i], i,
                             m->config.vocab_size);

    int threads = tfm_threads_get(); /* restored on the way out */
    size_t capacity = (size_t)prompt_length + (size_t)max_new_tokens;
    int32_t *sequence = tfm_malloc(sizeof(int32_t) * capacity); /* [prompt + new] */
    tfm_graph *graph = NULL;
    tfm_gpt_cache cache = {0};
    tfm_status st = sequence ? tfm_graph_create(&graph, 0) : TFM_ERR_OUT_OF_MEMORY;
    if (st) { tfm_free(sequence, sizeof(int32_t) * capacity); return st; }
    if (use_cache && (st = tfm_gpt_cache_create(&cache, m, 1)) != TFM_OK) goto done;
    memcpy(sequence, prompt, sizeof(int32_t) * (size_t)prompt_length);
    for (int i = 0; i < prompt_length; i++) tfm_sampler_observe(sampler, prompt[i]);

    /* A one-token step of one sequence is a fraction of a millisecond of work: less than it costs to wake
     * and join a second thread (and far less on a busy machine). Prompts and recomputed windows are real
     * matrices and keep every thread. */
    int length = prompt_length, window_start = 0, fed = 0; /* fed: tokens of the window already in the cache */
    for (int produced = 0; produced < max_new_tokens; produced++) {
        if (length - window_start > context) {
            /* Outgrew the context: keep the newest half and start the cache over. */
            window_start = length - context / 2;
            fed = 0;
            tfm_gpt_cache_reset(&cache);
        }
        if ((st = tfm_graph_begin(graph, 0, 0)) != TFM_OK) goto done;
        tfm_tensor *logits;
        if (use_cache) {
            int start = window_start + fed;
            int want = length - start > 1 ? threads : 1;
            if (want != tfm_threads_get()) tfm_threads_set(want);
            logits = tfm_gpt_forward(m, graph, sequence + start, 1, length - start, &cache, 1);
            fed = length - window_start;
        } else {
            logits = tfm_gpt_forward(m, graph, sequence + window_start, 1, length - window_start, NULL, 1);
        }
        if (!logits) { st = TFM_ERR_INVALID_ARGUMENT; goto done; }
        if ((st = tfm_logits_check_finite(logits->data, (size_t)m->config.vocab_size, produced + 1)) != TFM_OK) goto done;
        int token = tfm_sampler_next(sampler, logits->data);
        sequence[length++] = token;
        tfm_sampler_observe(sampler, token);
        if (on_token && on_token(token, user_data)) break;
    }
done:
    tfm_threads_set(threads);
    if (use_cache) tfm_gpt_cache_free(&cache);
    tfm_graph_free(graph);
    tfm_free(sequence, sizeof(int32_t) * capacity);
    return st;
}
