/* tfm.h: the whole public API of tfm, the Transformer in C. Start reading here.
 *
 * ============================================================================================
 *  What tfm is
 * ============================================================================================
 * A small C11 library (libtfm) and a command-line tool (tfm) that train and run Transformer models
 * on ordinary CPUs: GPT, the encoder-decoder of "Attention Is All You Need" and BERT, on one engine. Everything is fp32, every op has a plain reference implementation beside its fast
 * one, and whole models are tested against PyTorch on identical weights.
 *
 * The pieces, in the order data flows through them (one header each):
 *
 *   tfm/base.h     status codes, tfm_last_error(), the injectable allocator, the thread count
 *   tfm/tensor.h   tfm_tensor (a view: data + grad + shape) and tfm_params, the three slabs that hold
 *                  every weight, every gradient and the optimizer's moments
 *   tfm/random.h   counter-based random numbers: results never depend on the thread count
 *   tfm/graph.h    reverse-mode differentiation: a tape of coarse ops + a per-step arena
 *   tfm/nn.h       differentiable functions (linear, layernorm, attention, ...) and layers
 *   tfm/config.h   model and training configurations (JSON files, Hugging Face config.json)
 *   tfm/gpt.h      GPT: the decoder-only Transformer, its KV cache and generation
 *   tfm/seq2seq.h  the encoder-decoder Transformer of "Attention Is All You Need" (model, cached greedy decoding)
 *   tfm/bert.h     BERT: the encoder-only Transformer in Hugging Face's layout (pooler, MLM and NSP heads, sequence
 *                  and token classifiers, sentence embeddings by mean pooling, the pre-training and classification
 *                  losses, a classifier's start from another BERT's weights)
 *   tfm/bert_data.h  BERT's pre-training examples from text: NSP / SOP pairs, 15% masking with 80/10/10
 *   tfm/bert_labeled.h  BERT's fine-tuning examples: a label per text, sentence pair or word, from tab-separated lines
 *   tfm/decode.h   greedy / temperature / top-k / top-p sampling
 *   tfm/beam_search.h  beam search (length penalty, n-best) and sampling for the encoder-decoder
 *   tfm/train.h    the one training loop (GPT, encoder-decoder and BERT tasks), schedules, exact resume, layer
 *                  freezing for fine-tuning
 *   tfm/io.h       files written atomically, safetensors files and checkpoint directories
 *   tfm/metrics.h  BLEU and chrF exactly as sacreBLEU computes them
 *   tfm/bpe.h, tfm/wordpiece.h   GPT-2's byte-level BPE and BERT's WordPiece tokenizers
 *
 * ============================================================================================
 *  A worked example: train a tiny GPT for 100 steps, then continue a prompt
 * ============================================================================================
 *
 *   #include <stdio.h>
 *   #include "tfm.h"
 *
 *   static int print_byte(int token, void *user) { (void)user; putchar(token); return 0; }
 *
 *   int main(void) {
 *       tfm_gpt_config model_config;                 // vocab 256 (bytes), 4 layers, d_model 128, ...
 *       tfm_train_config train_config;               // AdamW, warm-up + cosine, batch 32 x 128
 *       tfm_gpt_config_default(&model_config);
 *       tfm_train_config_default(&train_config);
 *       train_config.max_steps = 100;
 *
 *       tfm_gpt *model;
 *       if (tfm_gpt_create(&model, &model_config) != TFM_OK) { fprintf(stderr, "%s\n", tfm_last_error()); return 1; }
 *       tfm_gpt_init_weights(model, 1337);           // GPT-2 initialisation
 *
 *       tfm_train_task *task;                        // GPT on the text as byte tokens, 5% held out
 *       if (tfm_gpt_task_create(&task, model, &train_config, "corpus.txt", NULL) != TFM_OK) { ... }
 *       tfm_trainer *trainer;                        // the one training loop; it owns the task now
 *       if (tfm_trainer_create(&trainer, task, &train_config) != TFM_OK) { ... }
 *       for (long step = 0; step < train_config.max_steps; ) {
 *           if (tfm_trainer_step(trainer) != TFM_OK) { ... }     // forward, backward, clip, AdamW
 *           tfm_trainer_progress p = tfm_trainer_get_progress(trainer);
 *           step = p.step;
 *           if (step % 10 == 0) printf("step %ld loss %.4f\n", step, p.loss);
 *       }
 *       tfm_trainer_save(trainer, "runs/gpt");       // runs/gpt/checkpoints/step-N, made runs/gpt/current
 *       tfm_trainer_free(trainer);                   // (tfm_trainer_run does all this, with validation,
 *                                                    //  checkpoints and log.jsonl, as `tfm train` does)
 *       tfm_sampler sampler;                         // temperature 0.8, top-k 40, top-p 0.95
 *       tfm_sampler_config sampling = {.temperature = 0.8f, .top_k = 40, .top_p = 0.95f};
 *       tfm_sampler_init(&sampler, model_config.vocab_size, &sampling, 1);
 *       int32_t prompt[] = {'I', 't', ' ', 'i', 's'};
 *       tfm_gpt_generate(model, prompt, 5, 200, &sampler, 1, print_byte, NULL);   // 1 = use the KV cache
 *       tfm_sampler_free(&sampler);
 *       tfm_gpt_free(model);
 *       return 0;
 *   }
 *
 * ============================================================================================
 *  How a training step runs (what tfm_trainer_step does, for every model's task)
 * ============================================================================================
 *   tfm_graph_begin(g, 1, 1)            recycle the arena; record a tape; dropout on
 *   task->train_loss(...)               the model's loss (tfm_gpt_loss, ...): every op runs its fast kernel
 *                                       and appends its backward
 *   tfm_graph_backward(g, loss, 1)      walk the tape in reverse; parameter grads accumulate in the slab
 *   clip, schedule, AdamW               over the slabs, in place
 * After the first step the arena is one block that every later step reuses: no allocation per step.
 * A new model is composed from tfm_fn_* calls; its backward pass comes for free.
 */
#ifndef TFM_H
#define TFM_H

#include "tfm/base.h"
#include "tfm/beam_search.h"
#include "tfm/bert.h"
#include "tfm/bert_data.h"
#include "tfm/bert_labeled.h"
#include "tfm/bpe.h"
#include "tfm/config.h"
#include "tfm/decode.h"
#include "tfm/gpt.h"
#include "tfm/graph.h"
#include "tfm/io.h"
#include "tfm/metrics.h"
#include "tfm/nn.h"
#include "tfm/random.h"
#include "tfm/seq2seq.h"
#include "tfm/tensor.h"
#include "tfm/train.h"
#include "tfm/wordpiece.h"

#endif
