/* tests/test_config.c: config defaults, the shipped configs, every kind of malformed config with its message, and config.json round trips. */
#define _POSIX_C_SOURCE 200809L
#include "tfm/bert.h"
#include "tfm/config.h"
#include "tfm/io.h"

#include "test_util.h"

#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#define TMP_DIR "test_config_tmp"

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fputs(text, f);
    fclose(f);
}

/* Load a config file made of `text`; returns the status. */
static tfm_status load_text(const char *name, const char *text, tfm_gpt_config *m, tfm_train_config *t) {
    char path[256];
    snprintf(path, sizeof path, TMP_DIR "/%s", name);
    write_text(path, text);
    return tfm_config_load(path, m, t);
}

static int gpt_equal(const tfm_gpt_config *a, const tfm_gpt_config *b) {
    return a->vocab_size == b->vocab_size && a->context_length == b->context_length && a->d_model == b->d_model &&
           a->n_layers == b->n_layers && a->n_heads == b->n_heads && a->d_ff == b->d_ff && a->dropout == b->dropout &&
           a->attention_dropout == b->attention_dropout && a->embedding_dropout == b->embedding_dropout &&
           a->layernorm_eps == b->layernorm_eps && a->pre_layernorm == b->pre_layernorm &&
           a->tie_embeddings == b->tie_embeddings && a->activation == b->activation;
}

static int train_equal(const tfm_train_config *a, const tfm_train_config *b) {
    return a->gpt.batch_size == b->gpt.batch_size && a->gpt.seq_len == b->gpt.seq_len && a->grad_accum_steps == b->grad_accum_steps &&
           a->max_steps == b->max_steps && a->optimizer == b->optimizer && a->learning_rate == b->learning_rate &&
           a->min_lr == b->min_lr && a->schedule == b->schedule && a->warmup_steps == b->warmup_steps &&
           a->beta1 == b->beta1 && a->beta2 == b->beta2 && a->eps == b->eps && a->momentum == b->momentum &&
           a->weight_decay == b->weight_decay && a->grad_clip == b->grad_clip && a->label_smoothing == b->label_smoothing &&
           a->gpt.valid_fraction == b->gpt.valid_fraction && a->eval_every == b->eval_every && a->gpt.eval_batches == b->gpt.eval_batches &&
           a->save_every == b->save_every && a->log_every == b->log_every && a->seed == b->seed && a->patience == b->patience &&
           a->task == b->task && memcmp(&a->optimizer_options, &b->optimizer_options, sizeof a->optimizer_options) == 0 &&
           memcmp(&a->schedule_options, &b->schedule_options, sizeof a->schedule_options) == 0 && a->penalty_l1 == b->penalty_l1 &&
           a->penalty_l2 == b->penalty_l2 && a->grad_clip_value == b->grad_clip_value &&
           strcmp(a->penalty_parameters, b->penalty_parameters) == 0;
}

static void test_defaults(void) {
    tfm_gpt_config m;
    tfm_train_config t;
    tfm_gpt_config_default(&m);
    tfm_train_config_default(&t);
    CHECK(m.vocab_size == 256 && m.context_length == 128 && m.d_model == 128 && m.n_layers == 4 && m.n_heads == 4 &&
              m.d_ff == 512,
          "model sizes");
    CHECK(m.dropout == 0.1f && m.layernorm_eps == 1e-5f && m.pre_layernorm == 1 && m.tie_embeddings == 1 &&
              m.activation == TFM_ACTIVATION_GELU,
          "model options");
    CHECK(t.gpt.batch_size == 32 && t.gpt.seq_len == 128 && t.grad_accum_steps == 1 && t.max_steps == 2000, "train sizes");
    CHECK(t.optimizer == TFM_OPTIMIZER_ADAMW && t.learning_rate == 1e-3f && t.min_lr == 1e-4f &&
              t.schedule == TFM_SCHEDULE_COSINE && t.warmup_steps == 100,
          "train schedule");
    CHECK(t.beta1 == 0.9f && t.beta2 == 0.95f && t.eps == 1e-8f && t.momentum == 0.9f && t.weight_decay == 0.1f &&
              t.grad_clip == 1.0f && t.label_smoothing == 0.0f,
          "train optimizer");
    CHECK(t.gpt.valid_fraction == 0.05f && t.eval_every == 200 && t.gpt.eval_batches == 8 && t.save_every == 500 &&
              t.log_every == 10 && t.seed == 1337,
          "train bookkeeping");
    CHECK_OK(tfm_gpt_config_validate(&m));
    CHECK_OK(tfm_train_config_validate(&t, &m));
}

static void test_shipped_configs(void) {
    const char *source = getenv("TFM_SOURCE");
    char path[1024];
    tfm_gpt_config m, dm;
    tfm_train_config t, dt;
    tfm_gpt_config_default(&dm);
    tfm_train_config_default(&dt);
    snprintf(path, sizeof path, "%s/configs/gpt-tiny.json", source ? source : "../..");
    CHECK_OK(tfm_config_load(path, &m, &t));
    CHECK(gpt_equal(&m, &dm), "gpt-tiny.json model = the defaults");
    CHECK(train_equal(&t, &dt), "gpt-tiny.json train = the defaults");
    snprintf(path, sizeof path, "%s/configs/gpt-small.json", source ? source : "../..");
    CHECK_OK(tfm_config_load(path, &m, &t));
    CHECK(m.vocab_size == 8192 && m.context_length == 256 && m.d_model == 512 && m.n_layers == 6 && m.n_heads == 8 &&
              m.d_ff == 2048,
          "gpt-small model");
    CHECK(t.gpt.batch_size == 8 && t.gpt.seq_len == 256, "gpt-small train");
}

static void test_partial_and_values(void) {
    tfm_gpt_config m, dm;
    tfm_train_config t, dt;
    tfm_gpt_config_default(&dm);
    tfm_train_config_default(&dt);
    /* Absent fields and absent sections keep defaults. */
    CHECK_OK(load_text("empty.json", "{}", &m, &t));
    CHECK(gpt_equal(&m, &dm) && train_equal(&t, &dt), "{} gives the defaults");
    CHECK_OK(load_text("partial.json",
                       "{\"model\": {\"d_model\": 64, \"activation\": \"relu\", \"pre_layernorm\": false},\n"
                       " \"train\": {\"optimizer\": \"sgd\", \"schedule\": \"noam\", \"seed\": \"18446744073709551615\","
                       " \"max_steps\": 5000000000}}",
                       &m, &t));
    CHECK(m.d_model == 64 && m.activation == TFM_ACTIVATION_RELU && m.pre_layernorm == 0 && m.n_heads == 4 &&
              m.vocab_size == 256,
          "partial model");
    CHECK(t.optimizer == TFM_OPTIMIZER_SGD && t.schedule == TFM_SCHEDULE_NOAM && t.seed == 18446744073709551615ull &&
              t.max_steps == 5000000000L && t.gpt.batch_size == 32,
          "partial train: seed %llu", t.seed);
    /* A failed load leaves the outputs alone. */
    m.d_model = 7;
    CHECK(load_text("bad.json", "{\"model\": {\"d_model\": 0}}", &m, &t) == TFM_ERR_CONFIG && m.d_model == 7,
          "outputs untouched on failure");
}

static void test_malformed_configs(void) {
    tfm_gpt_config m;
    tfm_train_config t;
    /* The message from the brief, exactly. */
    EXPECT_ERROR(load_text("x.json", "{\"model\": {\"n_heads\": \"four\"}}", &m, &t), TFM_ERR_CONFIG,
                 TMP_DIR "/x.json: model.n_heads: expected a positive integer, got \"four\"");
    /* Unknown fields: typo protection with a suggestion only for near misses. */
    EXPECT_ERROR(load_text("typo.json", "{\"model\": {\"n_head\": 4}}", &m, &t), TFM_ERR_CONFIG,
                 TMP_DIR "/typo.json: model.n_head: unknown field (did you mean \"n_heads\"?)");
    EXPECT_ERROR(load_text("typo2.json", "{\"train\": {\"learningrate\": 0.1}}", &m, &t), TFM_ERR_CONFIG,
                 "train.learningrate: unknown field (did you mean \"learning_rate\"?)");
    EXPECT_ERROR(load_text("unknown.json", "{\"train\": {\"colour\": \"blue\"}}", &m, &t), TFM_ERR_CONFIG,
                 "unknown.json: train.colour: unknown field");
    CHECK(strstr(tfm_last_error(), "did you mean") == NULL, "no suggestion for a far-off name: %s", tfm_last_error());
    EXPECT_ERROR(load_text("section.json", "{\"training\": {}}", &m, &t), TFM_ERR_CONFIG,
                 "section.json: training: unknown field (did you mean \"train\"?)");
    /* Wrong types and ranges. */
    EXPECT_ERROR(load_text("neg.json", "{\"model\": {\"d_model\": -3}}", &m, &t), TFM_ERR_CONFIG,
                 "neg.json: model.d_model: expected a positive integer, got -3");
    EXPECT_ERROR(load_text("huge.json", "{\"model\": {\"vocab_size\": 1e9}}", &m, &t), TFM_ERR_CONFIG,
                 "huge.json: model.vocab_size: expected a positive integer no larger than 16777216, got 1000000000");
    EXPECT_ERROR(load_text("frac.json", "{\"train\": {\"batch_size\": 2.5}}", &m, &t), TFM_ERR_CONFIG,
                 "frac.json: train.batch_size: expected a positive integer, got 2.5");
    EXPECT_ERROR(load_text("warm.json", "{\"train\": {\"warmup_steps\": -1}}", &m, &t), TFM_ERR_CONFIG,
                 "train.warmup_steps: expected a non-negative integer, got -1");
    EXPECT_ERROR(load_text("drop.json", "{\"model\": {\"dropout\": 1.5}}", &m, &t), TFM_ERR_CONFIG,
                 "drop.json: model.dropout: expected a number in [0, 1), got 1.5");
    EXPECT_ERROR(load_text("lr.json", "{\"train\": {\"learning_rate\": 0}}", &m, &t), TFM_ERR_CONFIG,
                 "train.learning_rate: expected a positive number, got 0");
    EXPECT_ERROR(load_text("lrs.json", "{\"train\": {\"learning_rate\": \"1e-3\"}}", &m, &t), TFM_ERR_CONFIG,
                 "train.learning_rate: expected a positive number, got \"1e-3\"");
    EXPECT_ERROR(load_text("bool.json", "{\"model\": {\"pre_layernorm\": \"yes\"}}", &m, &t), TFM_ERR_CONFIG,
                 "bool.json: model.pre_layernorm: expected true or false, got \"yes\"");
    EXPECT_ERROR(load_text("null.json", "{\"model\": {\"tie_embeddings\": null}}", &m, &t), TFM_ERR_CONFIG,
                 "model.tie_embeddings: expected true or false, got null");
    EXPECT_ERROR(load_text("opt.json", "{\"train\": {\"optimizer\": \"adamx\"}}", &m, &t), TFM_ERR_CONFIG,
                 "opt.json: train.optimizer: expected one of \"adamw\", \"sgd\", \"adam\", \"adagrad\", \"rmsprop\", \"adadelta\", "
                 "\"adamax\", \"nadam\", or \"ftrl\", got \"adamx\"");
    EXPECT_ERROR(load_text("alpha.json", "{\"train\": {\"optimizer\": \"rmsprop\", \"alpha\": 1}}", &m, &t), TFM_ERR_CONFIG,
                 "alpha.json: train.alpha: expected a number in [0, 1), got 1");
    EXPECT_ERROR(load_text("nesterov.json", "{\"train\": {\"optimizer\": \"sgd\", \"momentum\": 0, \"nesterov\": true}}", &m, &t),
                 TFM_ERR_CONFIG, "train.nesterov: needs momentum > 0 and dampening 0 (got momentum 0, dampening 0)");
    EXPECT_ERROR(load_text("power.json", "{\"train\": {\"optimizer\": \"ftrl\", \"lr_power\": 0.5}}", &m, &t), TFM_ERR_CONFIG,
                 "power.json: train.lr_power: expected a number in (-infinity, 0], got 0.5");
    EXPECT_ERROR(load_text("l1.json", "{\"train\": {\"optimizer\": \"ftrl\", \"l1\": -1}}", &m, &t), TFM_ERR_CONFIG,
                 "l1.json: train.l1: expected a non-negative number, got -1");
    EXPECT_ERROR(load_text("sched.json", "{\"train\": {\"schedule\": 2}}", &m, &t), TFM_ERR_CONFIG,
                 "train.schedule: expected one of \"constant\", \"cosine\", \"noam\", \"step\", \"exponential\", \"linear\", or "
                 "\"plateau\", got 2");
    EXPECT_ERROR(load_text("step.json", "{\"train\": {\"schedule\": \"step\"}}", &m, &t), TFM_ERR_CONFIG,
                 "step.json: train.step_size: expected a positive integer (the \"step\" schedule needs it), got 0");
    EXPECT_ERROR(load_text("gamma.json", "{\"train\": {\"schedule\": \"exponential\", \"gamma\": 0}}", &m, &t), TFM_ERR_CONFIG,
                 "gamma.json: train.gamma: expected a number in (0, 1], got 0");
    EXPECT_ERROR(load_text("factor.json", "{\"train\": {\"schedule\": \"plateau\", \"plateau_factor\": 1}}", &m, &t), TFM_ERR_CONFIG,
                 "factor.json: train.plateau_factor: expected a number in (0, 1), got 1");
    EXPECT_ERROR(load_text("plateau.json", "{\"train\": {\"schedule\": \"plateau\", \"eval_every\": 0}}", &m, &t), TFM_ERR_CONFIG,
                 "plateau.json: train.eval_every: the \"plateau\" schedule reduces the rate after validations, so it needs eval_every >= 1, got 0");
    EXPECT_ERROR(load_text("l2.json", "{\"train\": {\"penalty_l2\": -0.1}}", &m, &t), TFM_ERR_CONFIG,
                 "l2.json: train.penalty_l2: expected a non-negative number, got -0.1");
    EXPECT_ERROR(load_text("groups.json", "{\"train\": {\"penalty_parameters\": [\"h.*\"]}}", &m, &t), TFM_ERR_CONFIG,
                 "groups.json: train.penalty_parameters: expected a non-empty string of at most 255 characters, got an array");
    CHECK_OK(load_text("rates.json", "{\"model\": {\"dropout\": 0.2, \"attention_dropout\": 0}}", &m, &t));
    CHECK(m.dropout == 0.2f && m.attention_dropout == 0.0f && m.embedding_dropout == 0.2f, "dropout rates %g %g %g", (double)m.dropout,
          (double)m.attention_dropout, (double)m.embedding_dropout);
    EXPECT_ERROR(load_text("floor.json", "{\"train\": {\"schedule\": \"linear\", \"learning_rate\": 0.01, \"min_lr\": 0.1}}", &m, &t),
                 TFM_ERR_CONFIG, "floor.json: train.min_lr (0.1) exceeds train.learning_rate (0.01)");
    EXPECT_ERROR(load_text("act.json", "{\"model\": {\"activation\": [\"gelu\"]}}", &m, &t), TFM_ERR_CONFIG,
                 "model.activation: expected one of \"gelu\", \"relu\", \"gelu_erf\", \"tanh\", \"sigmoid\", \"silu\", \"leaky_relu\", "
                 "\"elu\", \"selu\", \"thresholded_relu\", or \"prelu\", got an array");
    EXPECT_ERROR(load_text("pos.json", "{\"model\": {\"positions\": \"absolute\"}}", &m, &t), TFM_ERR_CONFIG,
                 "pos.json: model.positions: expected one of \"sinusoidal\", \"learned\", \"rope\", \"alibi\", or \"relative\", got "
                 "\"absolute\"");
    EXPECT_ERROR(load_text("clip.json", "{\"model\": {\"positions\": \"relative\", \"relative_clip\": 0}}", &m, &t), TFM_ERR_CONFIG,
                 "clip.json: model.relative_clip: expected a positive integer", "got 0");
    CHECK_OK(load_text("relative.json", "{\"model\": {\"positions\": \"relative\", \"relative_clip\": 4}}", &m, &t));
    CHECK(m.positions == TFM_POSITIONS_RELATIVE && m.relative_clip == 4, "relative positions read as %d, clip %d", m.positions, m.relative_clip);
    EXPECT_ERROR(load_text("obj.json", "{\"model\": 3}", &m, &t), TFM_ERR_CONFIG, "obj.json: model: expected an object, got 3");
    EXPECT_ERROR(load_text("top.json", "[1, 2]", &m, &t), TFM_ERR_CONFIG, "top.json: the top level: expected an object, got an array");
    EXPECT_ERROR(load_text("seed.json", "{\"train\": {\"seed\": -1}}", &m, &t), TFM_ERR_CONFIG,
                 "train.seed: expected a non-negative integer", "got -1");
    EXPECT_ERROR(load_text("seed2.json", "{\"train\": {\"seed\": \"12x\"}}", &m, &t), TFM_ERR_CONFIG, "got \"12x\"");
    EXPECT_ERROR(load_text("long.json", "{\"model\": {\"d_ff\": \"a string that goes on and on and on and on and on\"}}", &m, &t),
                 TFM_ERR_CONFIG, "got \"a string that goes on and on and on a...\"");
    /* Malformed JSON: file, line and column. */
    EXPECT_ERROR(load_text("comma.json", "{\n  \"model\": {\n    \"d_model\": 64\n    \"n_heads\": 4\n  }\n}\n", &m, &t),
                 TFM_ERR_FORMAT, "comma.json: invalid JSON at line 4, column", "\"n_heads\"");
    EXPECT_ERROR(load_text("trailing.json", "{\"model\": {}}\n}", &m, &t), TFM_ERR_FORMAT,
                 "trailing.json: invalid JSON at line 2, column 1: unexpected '}' after the end of the JSON value");
    EXPECT_ERROR(load_text("cut.json", "{\"model\": {\"d_model\": ", &m, &t), TFM_ERR_FORMAT,
                 "cut.json: invalid JSON at line 1");
    EXPECT_ERROR(load_text("blank.json", "  \n", &m, &t), TFM_ERR_FORMAT, "blank.json: invalid JSON: the text is empty");
    EXPECT_ERROR(load_text("dup.json", "{\"model\": {\"d_model\": 64, \"d_model\": 32}}", &m, &t), TFM_ERR_FORMAT,
                 "dup.json: invalid JSON: key \"d_model\" appears twice");
    /* Cross-field checks. */
    EXPECT_ERROR(load_text("heads.json", "{\"model\": {\"d_model\": 100, \"n_heads\": 3}}", &m, &t), TFM_ERR_CONFIG,
                 "heads.json: model.d_model (100) must be a multiple of model.n_heads (3)");
    EXPECT_ERROR(load_text("seq.json", "{\"train\": {\"seq_len\": 512}}", &m, &t), TFM_ERR_CONFIG,
                 "seq.json: train.seq_len (512) exceeds model.context_length (128)");
    EXPECT_ERROR(load_text("minlr.json", "{\"train\": {\"learning_rate\": 1e-4, \"min_lr\": 1e-3}}", &m, &t), TFM_ERR_CONFIG,
                 "minlr.json: train.min_lr (0.001) exceeds train.learning_rate (0.0001)");
    /* A missing file. */
    EXPECT_ERROR(tfm_config_load(TMP_DIR "/nowhere.json", &m, &t), TFM_ERR_IO,
                 "cannot open " TMP_DIR "/nowhere.json: No such file or directory");
}

/* The FFN-only "prelu": GPT's config.json reads and writes it; BERT's refuses it by name. */
static void test_prelu_names(void) {
    tfm_gpt_config m;
    tfm_train_config t;
    CHECK_OK(load_text("prelu.json", "{\"model\": {\"activation\": \"prelu\"}}", &m, &t));
    CHECK(m.activation == TFM_ACTIVATION_PRELU, "prelu read as %d", m.activation);
    char *json = NULL;
    CHECK_OK(tfm_gpt_config_to_json(&m, &json));
    tfm_gpt_config back;
    CHECK(json && strstr(json, "\"activation_function\":\t\"prelu\""), "GPT config.json: %s", json ? json : "(none)");
    CHECK_OK(json ? tfm_gpt_config_from_json(json, "config.json", &back) : TFM_ERR_INVALID_ARGUMENT);
    CHECK(back.activation == TFM_ACTIVATION_PRELU, "prelu back as %d", back.activation);
    tfm_free(json, json ? strlen(json) + 1 : 0);
    tfm_bert_config b;
    EXPECT_ERROR(tfm_bert_config_from_json("{\"model_type\": \"bert\", \"hidden_act\": \"prelu\"}", "bert.json", &b), TFM_ERR_CONFIG,
                 "hidden_act: \"prelu\" (a learned slope) is for tfm's GPT and encoder-decoder FFN");
}

static void test_validate_directly(void) {
    tfm_gpt_config m;
    tfm_train_config t;
    tfm_gpt_config_default(&m);
    tfm_train_config_default(&t);
    m.layernorm_eps = 0;
    EXPECT_ERROR(tfm_gpt_config_validate(&m), TFM_ERR_CONFIG, "model.layernorm_eps");
    tfm_gpt_config_default(&m);
    m.n_layers = 0;
    EXPECT_ERROR(tfm_gpt_config_validate(&m), TFM_ERR_CONFIG, "model.n_layers");
    t.schedule = TFM_SCHEDULE_NOAM;
    t.warmup_steps = 0;
    EXPECT_ERROR(tfm_train_config_validate(&t, NULL), TFM_ERR_CONFIG, "noam", "warm-up");
    tfm_train_config_default(&t);
    t.beta2 = 1.0f;
    EXPECT_ERROR(tfm_train_config_validate(&t, NULL), TFM_ERR_CONFIG, "train.beta2");
}

static void test_hf_round_trip(void) {
    tfm_gpt_config variants[4];
    for (int i = 0; i < 4; i++) tfm_gpt_config_default(&variants[i]);
    variants[1].activation = TFM_ACTIVATION_RELU;
    variants[1].pre_layernorm = 0;
    variants[2].tie_embeddings = 0;
    variants[2].dropout = 0.0f;
    variants[2].layernorm_eps = 1e-6f;
    variants[3].vocab_size = 50257;
    variants[3].context_length = 1024;
    variants[3].d_model = 768;
    variants[3].n_heads = 12;
    variants[3].n_layers = 12;
    variants[3].d_ff = 3072;
    variants[3].dropout = 0.123456789f; /* a float with no short decimal form */
    variants[3].attention_dropout = 0.05f, variants[3].embedding_dropout = 0.2f;
    for (int i = 0; i < 4; i++) {
        char *json = NULL;
        CHECK_OK(tfm_gpt_config_to_json(&variants[i], &json));
        if (!json) continue;
        tfm_gpt_config back;
        memset(&back, 0x55, sizeof back);
        CHECK_OK(tfm_gpt_config_from_json(json, "config.json", &back));
        CHECK(gpt_equal(&back, &variants[i]), "variant %d round trip:\n%s", i, json);
        CHECK(strstr(json, "\"model_type\":\t\"gpt2\"") && strstr(json, "\"GPT2LMHeadModel\"") &&
                  strstr(json, "\"n_embd\":") && strstr(json, "\"n_positions\":") && strstr(json, "\"tfm\":"),
              "Hugging Face keys:\n%s", json);
        if (i == 0)
            CHECK(strstr(json, "\"resid_pdrop\":\t0.1,") && strstr(json, "\"layer_norm_epsilon\":\t1e-05,") &&
                      strstr(json, "\"activation_function\":\t\"gelu_new\""),
                  "short float forms:\n%s", json);
        if (i == 1) CHECK(strstr(json, "\"activation_function\":\t\"relu\"") != NULL, "relu");
        tfm_free(json, strlen(json) + 1);
    }
    tfm_gpt_config bad;
    tfm_gpt_config_default(&bad);
    bad.n_heads = 5;
    char *json = NULL;
    EXPECT_ERROR(tfm_gpt_config_to_json(&bad, &json), TFM_ERR_CONFIG, "multiple of model.n_heads");
    CHECK(json == NULL, "no text on failure");
}

static void test_hf_config_errors(void) {
    tfm_gpt_config c;
    /* Hugging Face's own gpt2 config.json (with its extra keys) reads fine. */
    const char *gpt2 =
        "{\"activation_function\": \"gelu_new\", \"architectures\": [\"GPT2LMHeadModel\"], \"attn_pdrop\": 0.1,\n"
        " \"bos_token_id\": 50256, \"embd_pdrop\": 0.1, \"eos_token_id\": 50256, \"initializer_range\": 0.02,\n"
        " \"layer_norm_epsilon\": 1e-05, \"model_type\": \"gpt2\", \"n_ctx\": 1024, \"n_embd\": 768, \"n_head\": 12,\n"
        " \"n_layer\": 12, \"n_positions\": 1024, \"resid_pdrop\": 0.1, \"summary_activation\": null,\n"
        " \"summary_first_dropout\": 0.1, \"summary_proj_to_labels\": true, \"summary_type\": \"cls_index\",\n"
        " \"summary_use_proj\": true, \"task_specific_params\": {\"text-generation\": {\"do_sample\": true, \"max_length\": 50}},\n"
        " \"vocab_size\": 50257}";
    CHECK_OK(tfm_gpt_config_from_json(gpt2, "gpt2/config.json", &c));
    CHECK(c.vocab_size == 50257 && c.context_length == 1024 && c.d_model == 768 && c.n_heads == 12 && c.n_layers == 12 &&
              c.d_ff == 3072 && c.pre_layernorm == 1 && c.tie_embeddings == 1 && c.activation == TFM_ACTIVATION_GELU &&
              c.dropout == 0.1f && c.layernorm_eps == 1e-5f,
          "gpt2 config values");
    EXPECT_ERROR(tfm_gpt_config_from_json("{\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_positions\": 64, \"n_embd\": 32, "
                                          "\"n_layer\": 2}",
                                          "ck/config.json", &c),
                 TFM_ERR_CONFIG, "ck/config.json: n_head: missing (expected a positive integer)");
    EXPECT_ERROR(tfm_gpt_config_from_json("{\"vocab_size\": 256}", "ck/config.json", &c), TFM_ERR_CONFIG,
                 "ck/config.json: model_type: missing");
    EXPECT_ERROR(tfm_gpt_config_from_json("{\"model_type\": \"bert\"}", "ck/config.json", &c), TFM_ERR_CONFIG,
                 "model_type: expected \"gpt2\", got \"bert\"");
    const char *base = "{\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_positions\": 64, \"n_embd\": 32, \"n_layer\": 2, "
                       "\"n_head\": 4";
    char text[1024];
    snprintf(text, sizeof text, "%s, \"n_embed\": 32}", base);
    EXPECT_ERROR(tfm_gpt_config_from_json(text, "ck/config.json", &c), TFM_ERR_CONFIG,
                 "ck/config.json: n_embed: unknown field (did you mean \"n_embd\"?)");
    snprintf(text, sizeof text, "%s, \"n_ctx\": 32}", base);
    EXPECT_ERROR(tfm_gpt_config_from_json(text, "ck/config.json", &c), TFM_ERR_CONFIG, "n_ctx (32) differs from n_positions (64)");
    snprintf(text, sizeof text, "%s, \"attn_pdrop\": 0.2}", base);
    CHECK_OK(tfm_gpt_config_from_json(text, "ck/config.json", &c));
    CHECK(c.attention_dropout == 0.2f && c.dropout == 0.1f && c.embedding_dropout == 0.1f, "attn_pdrop 0.2: rates %g %g %g", (double)c.dropout,
          (double)c.attention_dropout, (double)c.embedding_dropout);
    snprintf(text, sizeof text, "%s, \"activation_function\": \"mish\"}", base);
    EXPECT_ERROR(tfm_gpt_config_from_json(text, "ck/config.json", &c), TFM_ERR_CONFIG,
                 "activation_function: expected one of \"gelu_new\", \"relu\", \"gelu\", \"tanh\", \"sigmoid\", \"silu\", \"leaky_relu\", "
                 "\"elu\", \"selu\", \"thresholded_relu\", \"gelu_pytorch_tanh\", \"swish\", or \"prelu\", got \"mish\"");
    /* transformers' aliases: "swish" is SiLU, and goes out as "silu" */
    snprintf(text, sizeof text, "%s, \"activation_function\": \"swish\"}", base);
    CHECK_OK(tfm_gpt_config_from_json(text, "ck/config.json", &c));
    CHECK(c.activation == TFM_ACTIVATION_SILU, "swish read as %d", c.activation);
    /* transformers' "gelu" is the exact erf form, and round-trips as such */
    snprintf(text, sizeof text, "%s, \"activation_function\": \"gelu\"}", base);
    CHECK(tfm_gpt_config_from_json(text, "ck/config.json", &c) == TFM_OK && c.activation == TFM_ACTIVATION_GELU_ERF, "%s", tfm_last_error());
    char *erf_json = NULL;
    CHECK(tfm_gpt_config_to_json(&c, &erf_json) == TFM_OK && strstr(erf_json, "\"activation_function\":\t\"gelu\""), "gelu_erf written as %s",
          erf_json ? erf_json : "(null)");
    if (erf_json) tfm_free(erf_json, strlen(erf_json) + 1);
    snprintf(text, sizeof text, "%s, \"n_embd\": 30}", "{\"model_type\": \"gpt2\", \"vocab_size\": 256, \"n_positions\": 64, "
                                                      "\"n_layer\": 2, \"n_head\": 4");
    EXPECT_ERROR(tfm_gpt_config_from_json(text, "ck/config.json", &c), TFM_ERR_CONFIG,
                 "ck/config.json: model.d_model (30) must be a multiple of model.n_heads (4)");
    snprintf(text, sizeof text, "%s, \"tie_word_embeddings\": false, \"tfm\": {\"tie_embeddings\": true}}", base);
    EXPECT_ERROR(tfm_gpt_config_from_json(text, "ck/config.json", &c), TFM_ERR_CONFIG, "contradicts tie_word_embeddings");
    snprintf(text, sizeof text, "%s, \"tfm\": {\"pre_ln\": true}}", base);
    EXPECT_ERROR(tfm_gpt_config_from_json(text, "ck/config.json", &c), TFM_ERR_CONFIG, "tfm.pre_ln: unknown field");
    snprintf(text, sizeof text, "%s, \"scale_attn_by_inverse_layer_idx\": true}", base);
    EXPECT_ERROR(tfm_gpt_config_from_json(text, "ck/config.json", &c), TFM_ERR_UNSUPPORTED, "scale_attn_by_inverse_layer_idx");
    snprintf(text, sizeof text, "%s, \"n_inner\": null}", base);
    CHECK_OK(tfm_gpt_config_from_json(text, "ck/config.json", &c));
    CHECK(c.d_ff == 128, "n_inner null means 4 * n_embd, got %d", c.d_ff);
    EXPECT_ERROR(tfm_gpt_config_from_json("{\"model_type\": \"gpt2\",}", "ck/config.json", &c), TFM_ERR_FORMAT,
                 "ck/config.json: invalid JSON at line 1, column");
}

/* Naming an optimizer brings torch's defaults for what the file leaves out; what it gives stays. */
static void test_optimizer_defaults(void) {
    tfm_gpt_config m;
    tfm_train_config t;
    CHECK_OK(load_text("adagrad.json", "{\"train\": {\"optimizer\": \"adagrad\"}}", &m, &t));
    CHECK(t.optimizer == TFM_OPTIMIZER_ADAGRAD && t.eps == 1e-10f, "adagrad: eps %g", (double)t.eps);
    CHECK_OK(load_text("rmsprop.json", "{\"train\": {\"optimizer\": \"rmsprop\", \"centered\": true}}", &m, &t));
    CHECK(t.momentum == 0.0f && t.eps == 1e-8f && t.optimizer_options.alpha == 0.99f && t.optimizer_options.centered,
          "rmsprop: momentum %g, eps %g, alpha %g", (double)t.momentum, (double)t.eps, (double)t.optimizer_options.alpha);
    CHECK_OK(load_text("rmsprop-m.json", "{\"train\": {\"optimizer\": \"rmsprop\", \"momentum\": 0.5, \"eps\": 1e-5}}", &m, &t));
    CHECK(t.momentum == 0.5f && t.eps == 1e-5f, "rmsprop with momentum: %g, eps %g", (double)t.momentum, (double)t.eps);
    CHECK_OK(load_text("adadelta.json", "{\"train\": {\"optimizer\": \"adadelta\", \"rho\": 0.95}}", &m, &t));
    CHECK(t.eps == 1e-6f && t.optimizer_options.rho == 0.95f, "adadelta: eps %g", (double)t.eps);
    CHECK_OK(load_text("ftrl.json", "{\"train\": {\"optimizer\": \"ftrl\", \"l1\": 0.01}}", &m, &t));
    CHECK(t.optimizer_options.initial_accumulator == 0.1f && t.optimizer_options.lr_power == -0.5f && t.optimizer_options.l1 == 0.01f,
          "ftrl: initial accumulator %g", (double)t.optimizer_options.initial_accumulator);
    CHECK_OK(load_text("adamw.json", "{\"train\": {\"optimizer\": \"adamw\"}}", &m, &t));
    CHECK(t.eps == 1e-8f, "adamw keeps the model's eps: %g", (double)t.eps);
}

static void test_train_round_trip(void) {
    tfm_train_config variants[3];
    for (int i = 0; i < 3; i++) tfm_train_config_default(&variants[i]);
    variants[1].optimizer = TFM_OPTIMIZER_SGD;
    variants[1].schedule = TFM_SCHEDULE_NOAM;
    variants[1].learning_rate = 0.7f;
    variants[1].seed = 18446744073709551557ull; /* above 2^53: goes out as a string */
    variants[2].schedule = TFM_SCHEDULE_CONSTANT;
    variants[2].max_steps = 123456789012L;
    variants[2].label_smoothing = 0.1f;
    variants[2].seed = (1ull << 53) + 1;
    variants[2].optimizer = TFM_OPTIMIZER_RMSPROP;
    variants[2].optimizer_options.centered = 1;
    variants[2].optimizer_options.alpha = 0.9f;
    variants[2].optimizer_options.l2 = 0.25f;
    variants[0].schedule = TFM_SCHEDULE_PLATEAU;
    variants[0].schedule_options = (tfm_schedule_options){.step_size = 7, .gamma = 0.5f, .plateau_factor = 0.25f, .plateau_patience = 3,
                                                          .plateau_threshold = 0.01f, .plateau_cooldown = 2};
    variants[1].schedule_options.step_size = 100;
    variants[1].penalty_l1 = 1e-4f, variants[1].penalty_l2 = 0.01f, variants[1].grad_clip_value = 0.5f;
    snprintf(variants[1].penalty_parameters, sizeof variants[1].penalty_parameters, "h.*.mlp.*,wte.weight");
    for (int i = 0; i < 3; i++) {
        char *json = NULL;
        CHECK_OK(tfm_train_config_to_json(&variants[i], &json));
        if (!json) continue;
        tfm_train_config back;
        memset(&back, 0x33, sizeof back);
        back.task = TFM_TASK_GPT; /* the one field the reader takes from its caller: which task's defaults */
        CHECK_OK(tfm_train_config_from_json(json, "trainer_state.json", &back));
        CHECK(train_equal(&back, &variants[i]), "train variant %d round trip:\n%s", i, json);
        tfm_free(json, strlen(json) + 1);
    }
    tfm_train_config t;
    t.task = TFM_TASK_GPT;
    EXPECT_ERROR(tfm_train_config_from_json("{\"batch_size\": 0}", "state.json", &t), TFM_ERR_CONFIG,
                 "state.json: train.batch_size: expected a positive integer, got 0");
}

/* Allocation failures while loading a config or writing config.json are reported, never crash or leak. */
static void test_allocation_failures(void) {
    const char *source = getenv("TFM_SOURCE");
    char path[1024];
    snprintf(path, sizeof path, "%s/configs/gpt-small.json", source ? source : "../..");
    int failures = 0, done = 0;
    for (long n = 0; n < 100 && !done; n++) {
        tfm_gpt_config m;
        tfm_train_config t;
        char *json = NULL;
        test_alloc_countdown = n;
        tfm_set_allocator(test_failing_alloc, NULL);
        tfm_status s = tfm_config_load(path, &m, &t);
        if (s == TFM_OK) s = tfm_gpt_config_to_json(&m, &json);
        if (json) tfm_free(json, strlen(json) + 1);
        tfm_set_allocator(NULL, NULL);
        if (s == TFM_OK) done = 1;
        else {
            failures++;
            CHECK(s == TFM_ERR_OUT_OF_MEMORY, "allocation %ld: %s", n, tfm_last_error());
        }
    }
    CHECK(failures > 0 && done, "%d failures then success", failures);
}

int main(void) {
    mkdir(TMP_DIR, 0755);
    test_defaults();
    test_shipped_configs();
    test_partial_and_values();
    test_malformed_configs();
    test_prelu_names();
    test_validate_directly();
    test_hf_round_trip();
    test_hf_config_errors();
    test_optimizer_defaults();
    test_train_round_trip();
    test_allocation_failures();
    return test_summary();
}
