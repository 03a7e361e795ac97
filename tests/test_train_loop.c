/* tests/test_train_loop.c: the one training loop: k accumulated micro-batches give the update of one batch k times larger
 * (per-token weighting with a task written here, per-batch weighting with GPT), and a task plugs in through the public header. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "tfm.h"
#include "train/regularize.h"

/* ---- A task of this test's own: a bigram table, logits = table[id], cross-entropy, some rows ignored ----
 * Micro-batch i holds rows [begin[i], begin[i+1]) of one fixed stream; ignored rows make the token counts differ,
 * which is what per-token weighting must get right. */
enum { VOCAB = 7, ROWS = 24, IGNORE = -1 };
/* Poisoned micro-batches: x = NaN (the loss is NaN), or x = 3e38 with extra = 0, which keeps the loss finite
 * while extra's gradient (a sum of 3e38 * (p - y) over the rows) overflows to infinity. */
enum { POISON_NONE, POISON_LOSS, POISON_GRADIENT };

typedef struct bigram_task {
    tfm_train_task task;
    tfm_params params;
    tfm_tensor table;            /* [VOCAB, VOCAB] */
    tfm_tensor extra;            /* [VOCAB, 2]: logits += x extra^T with x [n, 2], zero unless the batch is poisoned */
    int poison;                  /* POISON_*: what x holds for the micro-batches from poison_from on */
    int poison_from, batches_run;
    int32_t ids[ROWS], targets[ROWS];
    const int *begin;            /* micro-batch boundaries into the rows */
    int batch;                   /* next micro-batch */
    int batches;
} bigram_task;

static tfm_status bigram_loss(void *self, tfm_graph *g, float label_smoothing, tfm_tensor **loss, long *count) {
    bigram_task *t = self;
    int first = t->begin[t->batch], n = t->begin[t->batch + 1] - first;
    t->batch = (t->batch + 1) % t->batches;
    int counted = 0;
    tfm_tensor *logits = tfm_fn_embedding(g, &t->table, t->ids + first, 1, (int[]){n});
    tfm_tensor *x = tfm_graph_tensor(g, 2, (int[]){n, 2});
    if (!logits || !x) return TFM_ERR_OUT_OF_MEMORY;
    int poisoned = t->poison != POISON_NONE && t->batches_run++ >= t->poison_from;
    float value = !poisoned ? 0.0f : t->poison == POISON_LOSS ? NAN : 3e38f;
    for (int i = 0; i < 2 * n; i++) x->data[i] = value;
    logits = tfm_fn_add(g, logits, tfm_fn_linear(g, x, &t->extra, NULL));
    *loss = tfm_fn_cross_entropy(g, logits, t->targets + first, IGNORE, label_smoothing, &counted);
    *count = counted;
    return *loss ? TFM_OK : TFM_ERR_INVALID_ARGUMENT;
}

static tfm_status bigram_evaluate(void *self, tfm_graph *g, float *valid_loss, float *score) {
    (void)self;
    (void)g;
    *valid_loss = 0;
    *score = NAN;
    return TFM_OK;
}

static tfm_status bigram_config(const void *self, char **json) {
    (void)self;
    const char *text = "{\"model_type\": \"bigram-test\"}";
    *json = tfm_malloc(strlen(text) + 1);
    if (*json) memcpy(*json, text, strlen(text) + 1);
    return *json ? TFM_OK : TFM_ERR_OUT_OF_MEMORY;
}

static tfm_status bigram_save_state(const void *self, tfm_train_state *state) {
    return tfm_train_state_set_u64(state, "batch", (uint64_t)((const bigram_task *)self)->batch);
}

static tfm_status bigram_load_state(void *self, const tfm_train_state *state) {
    uint64_t batch = 0;
    tfm_status st = tfm_train_state_get_u64(state, "batch", &batch);
    if (!st) ((bigram_task *)self)->batch = (int)batch;
    return st;
}

static void bigram_free(void *self) {
    bigram_task *t = self;
    tfm_params_free(&t->params);
    free(t);
}

static void bigram_describe(const void *self, char *buffer, size_t size) {
    (void)self;
    snprintf(buffer, size, "bigram test task");
}

static bigram_task *bigram_create(const int *begin, int batches) {
    bigram_task *t = calloc(1, sizeof *t);
    tfm_params_init(&t->params);
    if (tfm_params_declare(&t->params, "table", 2, (int[]){VOCAB, VOCAB}, &t->table, 1) ||
        tfm_params_declare(&t->params, "extra", 2, (int[]){VOCAB, 2}, &t->extra, 1) || tfm_params_allocate(&t->params))
        return NULL;
    for (int i = 0; i < VOCAB * VOCAB; i++) t->table.data[i] = 0.1f * (float)((i * 37) % 11) - 0.5f;
    for (int r = 0; r < ROWS; r++) {
        t->ids[r] = (r * 5 + 1) % VOCAB;
        t->targets[r] = (r % 4 == 3 || r % 7 == 5) ? IGNORE : (r * 3 + 2) % VOCAB; /* some rows do not count */
    }
    t->begin = begin;
    t->batches = batches;
    t->task = (tfm_train_task){.name = "bigram", .state_format = "bigram-test-state", .data_key = "data", .data_location = "(none)",
                               .loss_weighting = TFM_LOSS_WEIGHT_PER_TOKEN, .d_model = VOCAB, .params = &t->params, .self = t,
                               .train_loss = bigram_loss, .evaluate = bigram_evaluate, .describe = bigram_describe,
                               .model_config_json = bigram_config, .save_state = bigram_save_state, .load_state = bigram_load_state,
                               .free_task = bigram_free};
    return t;
}

static void loop_config(tfm_train_config *c, int accumulate) {
    tfm_train_config_default(c);
    c->grad_accum_steps = accumulate;
    c->optimizer = TFM_OPTIMIZER_SGD; /* its update is proportional to the gradient (Adam's first step hardly is) */
    c->momentum = 0.9f;
    c->weight_decay = 0;
    c->schedule = TFM_SCHEDULE_CONSTANT;
    c->warmup_steps = 0;
    c->learning_rate = 0.5f;
    c->min_lr = 0;
    c->grad_clip = 0;
    c->max_steps = 3;
}

/* Three steps: three uneven micro-batches each (rows 0-4, 5-7 and 8-23, of which the ignored rows leave uneven
 * token counts), or one micro-batch holding all their rows. */
static void test_per_token_accumulation(void) {
    static const int three[] = {0, 5, 8, 24}, one[] = {0, 24};
    bigram_task *a = bigram_create(three, 3), *b = bigram_create(one, 1);
    CHECK(a && b, "bigram tasks");
    if (!a || !b) return;
    tfm_train_config ca, cb;
    loop_config(&ca, 3);
    loop_config(&cb, 1);
    tfm_trainer *ta = NULL, *tb = NULL;
    CHECK_OK(tfm_trainer_create(&ta, &a->task, &ca));
    CHECK_OK(tfm_trainer_create(&tb, &b->task, &cb));
    if (!ta || !tb) return;
    for (int s = 0; s < 3; s++) {
        CHECK_OK(tfm_trainer_step(ta));
        CHECK_OK(tfm_trainer_step(tb));
    }
    tfm_trainer_progress pa = tfm_trainer_get_progress(ta), pb = tfm_trainer_get_progress(tb);
    CHECK(pa.tokens == pb.tokens && pa.tokens > 0, "both steps count the same tokens: %ld and %ld", pa.tokens, pb.tokens);
    CHECK(fabsf(pa.loss - pb.loss) <= 1e-6f * fabsf(pb.loss), "step loss: accumulated %.9g, one batch %.9g", (double)pa.loss, (double)pb.loss);
    float worst = 0;
    for (int i = 0; i < VOCAB * VOCAB; i++) {
        float d = fabsf(a->table.data[i] - b->table.data[i]);
        if (d > worst) worst = d;
    }
    CHECK(worst <= 1e-6f, "parameters after 3 steps: accumulated vs one batch differ by %g", (double)worst);
    /* And the uneven counts matter: weighting each micro-batch alike would give another update. */
    bigram_task *c = bigram_create(three, 3);
    if (!c) return;
    c->task.loss_weighting = TFM_LOSS_WEIGHT_PER_BATCH;
    tfm_trainer *tc = NULL;
    CHECK_OK(tfm_trainer_create(&tc, &c->task, &ca));
    if (tc) CHECK_OK(tfm_trainer_step(tc));
    tfm_trainer_free(ta);
    tfm_trainer_free(tb);
    tfm_trainer *t1 = NULL;
    bigram_task *d = bigram_create(one, 1);
    CHECK_OK(tfm_trainer_create(&t1, &d->task, &cb));
    if (t1) CHECK_OK(tfm_trainer_step(t1));
    float differ = 0;
    for (int i = 0; i < VOCAB * VOCAB; i++) differ = fmaxf(differ, fabsf(c->table.data[i] - d->table.data[i]));
    CHECK(differ > 1e-4f, "per-batch weighting of uneven micro-batches must differ from per-token (%g)", (double)differ);
    tfm_trainer_free(tc);
    tfm_trainer_free(t1);
}

/* GPT (per-batch weighting, equal counts): 2 micro-batches of 4 windows = 1 batch of 8 windows, without dropout. */
static void test_gpt_accumulation(void) {
    const char *path = "train_loop_corpus.txt";
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < 400; i++) fprintf(f, "line %d: the quick brown fox jumps over the lazy dog %d\n", i, i * 7 % 13);
    fclose(f);
    tfm_gpt_config m;
    tfm_gpt_config_default(&m);
    m.context_length = 16;
    m.d_model = 32;
    m.n_layers = 2;
    m.n_heads = 2;
    m.d_ff = 64;
    m.dropout = m.attention_dropout = m.embedding_dropout = 0;
    float *after[2] = {NULL, NULL};
    size_t total = 0;
    for (int k = 0; k < 2; k++) {
        tfm_train_config c;
        tfm_train_config_default(&c);
        c.gpt.seq_len = 16;
        c.gpt.batch_size = k == 0 ? 4 : 8;
        c.grad_accum_steps = k == 0 ? 2 : 1;
        c.max_steps = 2;
        tfm_gpt *model = NULL;
        CHECK_OK(tfm_gpt_create(&model, &m));
        if (!model) return;
        tfm_gpt_init_weights(model, 5);
        tfm_train_task *task = NULL;
        tfm_trainer *trainer = NULL;
        CHECK_OK(tfm_gpt_task_create(&task, model, &c, path, NULL));
        if (task) CHECK_OK(tfm_trainer_create(&trainer, task, &c));
        for (int s = 0; trainer && s < 2; s++) CHECK_OK(tfm_trainer_step(trainer));
        total = model->params.total;
        after[k] = malloc(sizeof(float) * total);
        memcpy(after[k], model->params.data, sizeof(float) * total);
        tfm_trainer_free(trainer);
        tfm_gpt_free(model);
    }
    float worst = 0;
    for (size_t i = 0; i < total; i++) worst = fmaxf(worst, fabsf(after[0][i] - after[1][i]));
    CHECK(worst <= 1e-5f, "GPT: 2 x 4 accumulated vs 1 x 8: parameters differ by %g after 2 steps", (double)worst);
    free(after[0]);
    free(after[1]);
    remove(path);
}

/* The state a task writes survives a save and a resume; another task's checkpoint is refused. */
static void test_resume_through_the_interface(void) {
    static const int three[] = {0, 5, 8, 24};
    bigram_task *a = bigram_create(three, 3);
    tfm_train_config c;
    loop_config(&c, 1);
    tfm_trainer *t = NULL;
    CHECK_OK(tfm_trainer_create(&t, &a->task, &c));
    if (!t) return;
    CHECK_OK(tfm_trainer_step(t));
    CHECK_OK(tfm_trainer_step(t));
    CHECK_OK(tfm_trainer_save(t, "train_loop_run"));
    tfm_trainer_free(t);
    bigram_task *b = bigram_create(three, 3);
    CHECK_OK(tfm_checkpoint_load_params("train_loop_run", &b->params));
    tfm_trainer *r = NULL;
    CHECK_OK(tfm_trainer_resume(&r, &b->task, &c, "train_loop_run"));
    if (!r) return;
    CHECK(tfm_trainer_get_progress(r).step == 2 && b->batch == 2, "resumed at step %ld, batch %d", tfm_trainer_get_progress(r).step, b->batch);
    tfm_trainer_free(r);
    bigram_task *other = bigram_create(three, 3);
    other->task.state_format = "another-task";
    CHECK(tfm_trainer_resume(&r, &other->task, &c, "train_loop_run") == TFM_ERR_FORMAT && strstr(tfm_last_error(), "another-task"),
          "another task's checkpoint: %s", tfm_last_error());
    tfm_train_config changed = c;
    changed.learning_rate = 0.25f;
    bigram_task *third = bigram_create(three, 3);
    CHECK(tfm_trainer_resume(&r, &third->task, &changed, "train_loop_run") == TFM_ERR_INVALID_ARGUMENT &&
              strstr(tfm_last_error(), "keeps its training config"),
          "a changed learning rate on resume: %s", tfm_last_error());
}

/* A copy of every parameter value, to show a failed step left them alone. */
static float *snapshot(const bigram_task *t) {
    float *copy = malloc(sizeof(float) * t->params.total);
    if (copy) memcpy(copy, t->params.data, sizeof(float) * t->params.total);
    return copy;
}

static int unchanged(const bigram_task *t, const float *copy) {
    return copy && memcmp(copy, t->params.data, sizeof(float) * t->params.total) == 0;
}

/* NaN and infinity: a step names itself and the first non-finite tensor and leaves the parameters; "skip"
 * drops the batch and goes on, up to nonfinite_skip_limit in a row; a run that stops saves the last good step. */
static void test_nonfinite_steps(void) {
    static const int three[] = {0, 5, 8, 24};
    tfm_train_config c;
    loop_config(&c, 1);
    c.max_steps = 20;
    for (int kind = POISON_LOSS; kind <= POISON_GRADIENT; kind++) {
        bigram_task *a = bigram_create(three, 3);
        a->poison = kind;
        a->poison_from = 2; /* steps 1 and 2 are clean, step 3 is not */
        tfm_trainer *t = NULL;
        CHECK_OK(tfm_trainer_create(&t, &a->task, &c));
        if (!t) return;
        CHECK_OK(tfm_trainer_step(t));
        CHECK_OK(tfm_trainer_step(t));
        float *before = snapshot(a);
        if (kind == POISON_LOSS)
            EXPECT_ERROR(tfm_trainer_step(t), TFM_ERR_NUMERIC, "step 3: the loss is nan",
                         "the first non-finite gradient is that of table", "parameters left as before this step");
        else
            EXPECT_ERROR(tfm_trainer_step(t), TFM_ERR_NUMERIC, "step 3: the gradient norm is inf",
                         "the first non-finite gradient is that of extra", "parameters left as before this step");
        CHECK(unchanged(a, before) && tfm_trainer_get_progress(t).step == 2, "a non-finite step (kind %d) changed the parameters", kind);
        free(before);
        tfm_trainer_free(t);
    }
    /* skip: the poisoned batch is dropped, later clean ones train; step counts only real updates */
    static const int one[] = {0, 24}; /* all rows in each batch: enough of them for the gradient to overflow */
    bigram_task *b = bigram_create(one, 1);
    b->poison = POISON_GRADIENT;
    b->poison_from = 1;
    tfm_train_config skip = c;
    skip.on_nonfinite = TFM_ON_NONFINITE_SKIP;
    skip.nonfinite_skip_limit = 3;
    tfm_trainer *t = NULL;
    CHECK_OK(tfm_trainer_create(&t, &b->task, &skip));
    if (!t) return;
    CHECK_OK(tfm_trainer_step(t));
    float *before = snapshot(b);
    CHECK_OK(tfm_trainer_step(t));
    tfm_trainer_progress p = tfm_trainer_get_progress(t);
    CHECK(p.last_step_skipped && p.skipped_steps == 1 && p.step == 1 && unchanged(b, before),
          "skip: skipped %d (%ld in all) at step %ld", p.last_step_skipped, p.skipped_steps, p.step);
    CHECK(strstr(tfm_trainer_skip_reason(t), "step 2: the gradient norm is inf") != NULL, "skip reason: %s", tfm_trainer_skip_reason(t));
    CHECK_OK(tfm_trainer_step(t));
    EXPECT_ERROR(tfm_trainer_step(t), TFM_ERR_NUMERIC, "3 non-finite steps in a row (nonfinite_skip_limit)", "the gradient norm is inf");
    CHECK(unchanged(b, before), "skipped steps changed the parameters");
    free(before);
    tfm_trainer_free(t);
    /* A whole run that stops on NaN saves the step before it, and that checkpoint resumes. */
    bigram_task *r = bigram_create(three, 3);
    r->poison = POISON_LOSS;
    r->poison_from = 4;
    CHECK_OK(tfm_trainer_create(&t, &r->task, &c));
    if (!t) return;
    tfm_train_run_options run = {.out_dir = "train_loop_nan_run"};
    tfm_train_summary summary;
    tfm_checkpoint_remove_run("train_loop_nan_run");
    EXPECT_ERROR(tfm_trainer_run(t, &run, &summary), TFM_ERR_NUMERIC, "step 5: the loss is nan",
                 "the run is saved at step 4 in train_loop_nan_run", "--resume train_loop_nan_run");
    before = snapshot(r);
    tfm_trainer_free(t);
    bigram_task *again = bigram_create(three, 3);
    CHECK_OK(tfm_checkpoint_load_params("train_loop_nan_run", &again->params));
    CHECK(unchanged(again, before), "the checkpoint saved after the NaN holds the last good parameters");
    CHECK_OK(tfm_trainer_resume(&t, &again->task, &c, "train_loop_nan_run"));
    if (t) CHECK(tfm_trainer_get_progress(t).step == 4, "resumed at step %ld", tfm_trainer_get_progress(t).step);
    free(before);
    tfm_trainer_free(t);
}

/* Layer freezing (fine-tuning): for freeze_steps steps only the parameters named head_prefix* change; then the others
 * train, and AdamW counts their steps from 1: the body's first real step equals a fresh run's first step exactly
 * (here the head, "extra", gets no gradient, so the body sees the same batch and loss as the fresh run). */
static void test_freezing(void) {
    static const int one[] = {0, 24};
    tfm_train_config c;
    loop_config(&c, 1);
    c.optimizer = TFM_OPTIMIZER_ADAMW;
    c.learning_rate = 0.01f;
    bigram_task *frozen = bigram_create(one, 1), *fresh = bigram_create(one, 1);
    frozen->task.head_prefix = "extra";
    frozen->task.freeze_steps = 2;
    tfm_trainer *a = NULL, *b = NULL;
    CHECK_OK(tfm_trainer_create(&a, &frozen->task, &c));
    CHECK_OK(tfm_trainer_create(&b, &fresh->task, &c));
    if (!a || !b) return;
    float *before = snapshot(frozen);
    CHECK_OK(tfm_trainer_step(a));
    CHECK_OK(tfm_trainer_step(a));
    CHECK(unchanged(frozen, before), "the body changed while frozen");
    CHECK_OK(tfm_trainer_step(a));
    CHECK_OK(tfm_trainer_step(b));
    CHECK(!unchanged(frozen, before), "the body did not train after freeze_steps");
    CHECK(memcmp(frozen->table.data, fresh->table.data, sizeof(float) * VOCAB * VOCAB) == 0,
          "the first unfrozen step differs from a fresh first step (max diff %g)", test_max_abs_diff(frozen->table.data, fresh->table.data, VOCAB * VOCAB));
    free(before);
    tfm_trainer_free(a);
    tfm_trainer_free(b);
}

/* One plain SGD step with L1 + L2 on "table" only (a pattern), against the same step without: the difference is
 * -lr (l1 sign(w) + 2 l2 w) on the table and nothing on "extra", and the step's loss grows by the penalty. Then
 * clipping by value: no update larger than lr * limit. */
static void test_penalties_and_value_clipping(void) {
    static const int one[] = {0, ROWS};
    bigram_task *plain = bigram_create(one, 1), *penalized = bigram_create(one, 1), *clipped = bigram_create(one, 1);
    CHECK(plain && penalized && clipped, "bigram tasks");
    if (!plain || !penalized || !clipped) return;
    for (int i = 0; i < VOCAB * 2; i++) plain->extra.data[i] = penalized->extra.data[i] = 0.3f * (float)(i % 5) - 0.6f;
    float before[VOCAB * VOCAB];
    memcpy(before, plain->table.data, sizeof before);
    tfm_train_config c;
    loop_config(&c, 1);
    c.momentum = 0;
    tfm_train_config cp = c, cv = c;
    cp.penalty_l1 = 0.01f, cp.penalty_l2 = 0.05f;
    snprintf(cp.penalty_parameters, sizeof cp.penalty_parameters, "tab*");
    cv.grad_clip_value = 0.01f;
    tfm_trainer *tp = NULL, *tq = NULL, *tv = NULL;
    CHECK_OK(tfm_trainer_create(&tp, &plain->task, &c));
    CHECK_OK(tfm_trainer_create(&tq, &penalized->task, &cp));
    CHECK_OK(tfm_trainer_create(&tv, &clipped->task, &cv));
    if (!tp || !tq || !tv) return;
    CHECK_OK(tfm_trainer_step(tp));
    CHECK_OK(tfm_trainer_step(tq));
    CHECK_OK(tfm_trainer_step(tv));
    double penalty = 0, worst = 0, extra = 0, largest = 0;
    for (int i = 0; i < VOCAB * VOCAB; i++) {
        double w = before[i], sign = (w > 0) - (w < 0);
        penalty += 0.01 * fabs(w) + 0.05 * w * w;
        double want = -0.5 * (0.01 * sign + 2 * 0.05 * w);
        worst = fmax(worst, fabs((penalized->table.data[i] - plain->table.data[i]) - want));
        largest = fmax(largest, fabs(clipped->table.data[i] - before[i]));
    }
    for (int i = 0; i < VOCAB * 2; i++) extra = fmax(extra, fabs(penalized->extra.data[i] - plain->extra.data[i]));
    float lp = tfm_trainer_get_progress(tp).loss, lq = tfm_trainer_get_progress(tq).loss;
    CHECK(worst < 1e-6, "L1 + L2 on the table: update off the formula by %g", worst);
    CHECK(extra == 0, "the penalty reached \"extra\", which its pattern does not select (%g)", extra);
    CHECK(fabs((lq - lp) - penalty) < 1e-5 * fmax(1.0, penalty), "loss %.7g with the penalty, %.7g without: expected + %.7g", (double)lq,
          (double)lp, penalty);
    CHECK(largest <= 0.5 * 0.01 + 1e-7 && largest > 0.5 * 0.01 - 1e-6, "clip by value 0.01 at lr 0.5: largest update %g", largest);
    /* "matrices" selects by weight decay, "all" everything, and patterns match whole names */
    tfm_param bias = {.name = "h.0.mlp.c_fc.bias", .no_weight_decay = 1}, weight = {.name = "h.0.mlp.c_fc.weight"};
    CHECK(!tfm_penalty_selects("matrices", &bias) && tfm_penalty_selects("matrices", &weight) && tfm_penalty_selects("all", &bias),
          "matrices / all");
    CHECK(tfm_penalty_selects("wte.weight,h.*.mlp.*", &bias) && !tfm_penalty_selects("h.*.attn.*", &weight) &&
              !tfm_penalty_selects("h.0.mlp", &weight) && tfm_penalty_selects("*weight", &weight),
          "name patterns");
    tfm_trainer_free(tp);
    tfm_trainer_free(tq);
    tfm_trainer_free(tv);
}

int main(void) {
    test_penalties_and_value_clipping();
    test_freezing();
    test_per_token_accumulation();
    test_gpt_accumulation();
    test_resume_through_the_interface();
    test_nonfinite_steps();
    return test_summary();
}
