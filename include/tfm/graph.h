/* tfm/graph.h: reverse-mode differentiation over coarse ops, with every activation in a per-step arena. */
#ifndef TFM_GRAPH_H
#define TFM_GRAPH_H

#include "tfm/random.h"
#include "tfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A graph is the tape of one forward pass plus the arena that holds its activations.
 *
 *   tfm_graph g;
 *   if (tfm_graph_init(&g, 0) != TFM_OK) return 1;
 *   for (int step = 0; step < steps; step++) {
 *       tfm_graph_begin(&g, 1, 1);                       // reset the arena; record for backward; training mode
 *       tfm_tensor *loss = model_loss(model, &g, batch); // each op appends a node to the tape
 *       tfm_graph_backward(&g, loss, 1.0f);              // runs the tape in reverse, accumulating grads
 *   }
 *   tfm_graph_free(&g);
 *
 * The arena grows during the first step(s) and is then a single block re-used by every later step, so
 * a training or decode step in steady state calls no allocator at all. During backward, the gradient of
 * an activation is dead once the op that produced it has run its backward; its buffer is then reused
 * for later gradients, so gradients need a few buffers, not one per activation (and when the loss
 * writes the logits' gradient over the logits, the largest activation of all holds them). */

struct tfm_graph;
struct tfm_node;
typedef void (*tfm_backward_fn)(struct tfm_graph *graph, struct tfm_node *node);

/* One recorded op: its output, up to 4 differentiable inputs, and what backward needs. */
typedef struct tfm_node {
    tfm_backward_fn backward;
    tfm_tensor *out;
    tfm_tensor *in[4];
    void *saved[4];          /* arena buffers kept from forward (e.g. LayerNorm mean/rstd) */
    int ints[8];             /* shape numbers and flags */
    float floats[4];
    uint64_t words[2];       /* e.g. dropout seed and counter offset */
    const void *object;      /* op-specific constant data (e.g. token ids), not owned */
    /* Set by the op: its backward can write in[0]'s gradient over in[0]'s own data. Set by the graph
     * before that backward runs: 1 when it did so (in[0]->grad == in[0]->data, to be overwritten, not
     * accumulated), which it allows only when this op is in[0]'s sole reader. */
    int can_overwrite_input;
    int overwrites_input;
    /* Set by an element-wise op (in[0] the size of its output): its backward can turn the output's
     * gradient into in[0]'s in the same buffer. Set by the graph before that backward runs: 1 when it
     * did so (in[0]->grad == out->grad, holding d out on entry, to be overwritten with d in[0]), which
     * it allows only when this op is in[0]'s sole reader and in[0] has no gradient buffer yet. */
    int can_reuse_output_grad;
    int reuses_output_grad;
} tfm_node;

typedef struct tfm_arena_chunk {
    struct tfm_arena_chunk *next;
    size_t capacity, used;       /* bytes, including this header */
} tfm_arena_chunk;

/* Free arena memory during backward: a gradient buffer whose tensor's producer has run its backward
 * (with the logits' values, when the loss wrote their gradient over them). A gradient is carved from
 * the smallest free buffer that holds it; neighbouring free buffers merge. */
typedef struct tfm_free_buffer {
    struct tfm_free_buffer *next;
    size_t bytes;
} tfm_free_buffer;

typedef struct tfm_graph {
    /* arena: one block, plus overflow chunks during the steps before it knows its size */
    char *block;
    size_t block_capacity, block_used;
    tfm_arena_chunk *overflow;
    size_t overflow_bytes;       /* in use in overflow chunks this step */
    size_t peak_bytes;           /* largest total use seen at once (block + overflow) */
    int overflowed;              /* 1: this step needed overflow chunks (the next begin resizes the block) */
    tfm_free_buffer *free_grads; /* released activation gradients, by address, reused during this backward */
    /* tape */
    tfm_node *nodes;
    int node_count, node_capacity;
    int recording;               /* 1: ops record nodes and outputs require grad */
    int training;                /* 1: dropout active */
    tfm_rng dropout_rng;         /* dropout masks are drawn by counter from this stream */
} tfm_graph;

/* `initial_bytes` sizes the arena up front (0: learn it from the first step). */
tfm_status tfm_graph_init(tfm_graph *g, size_t initial_bytes);
void tfm_graph_free(tfm_graph *g);
/* Start a new forward pass: forget the tape, recycle the arena (consolidating overflow into one block).
 * `recording` = 1 to allow backward; `training` = 1 to apply dropout. */
tfm_status tfm_graph_begin(tfm_graph *g, int recording, int training);
/* Arena allocation, 64-byte aligned, uninitialised (or zeroed); NULL + error on out-of-memory. */
void *tfm_graph_alloc(tfm_graph *g, size_t bytes);
void *tfm_graph_alloc_zero(tfm_graph *g, size_t bytes);
/* A fresh activation tensor of this shape in the arena (data uninitialised, grad NULL). */
tfm_tensor *tfm_graph_tensor(tfm_graph *g, int ndim, const int *shape);

/* The output of an element-wise op on x: a tensor of x's shape. overwrite = 1 is the caller's promise
 * that nothing reads x after this op; the output then shares x's values (the op writes over them, and
 * needs no new buffer) when that is safe: x is an arena activation that no recorded op reads yet (a
 * reader's backward may need its values) and whose producer's backward does not read them
 * (x->read_by_producer). Otherwise, and with overwrite = 0, a fresh tensor. The op tells which by
 * out->data == x->data. */
tfm_tensor *tfm_graph_tensor_like(tfm_graph *g, tfm_tensor *x, int overwrite);

/* Inference (not recording): reuse the arena within a forward pass. Everything allocated after `mark`
 * except tensor t is dead once t is computed (a layer's intermediates, once the layer's output exists):
 * tfm_graph_keep moves t down to the mark and frees the rest, so the next layer reuses the same memory
 * (fewer fresh pages, a smaller arena). Returns the moved tensor; t itself when nothing can be freed
 * (recording, or allocations since the mark spilled into an overflow chunk). t must be a tensor from
 * tfm_graph_tensor allocated after the mark, and nothing else allocated after it may be used again.
 * t = NULL releases everything since the mark (and returns NULL). */
typedef struct tfm_graph_mark {
    size_t block_used, overflow_bytes;
    tfm_arena_chunk *chunk;  /* the overflow chunk in use at the mark, and its use */
    size_t chunk_used;
} tfm_graph_mark;
tfm_graph_mark tfm_graph_mark_now(const tfm_graph *g);
tfm_tensor *tfm_graph_keep(tfm_graph *g, tfm_graph_mark mark, tfm_tensor *t);
/* Append a node for an op whose output `out` depends on inputs; returns NULL if nothing needs a gradient
 * (then the op need not save anything). Sets out->requires_grad accordingly. */
tfm_node *tfm_graph_record(tfm_graph *g, tfm_backward_fn backward, tfm_tensor *out, int n_inputs, tfm_tensor *const *inputs);
/* Backpropagate from a scalar `loss` (d loss = seed, e.g. 1/accumulation_steps): gradients of parameters
 * accumulate into their slab; activation gradients live in the arena. */
tfm_status tfm_graph_backward(tfm_graph *g, tfm_tensor *loss, float seed);
/* The gradient buffer of t, allocated (zeroed) in the arena on first use. For ops' backward functions. */
float *tfm_graph_grad(tfm_graph *g, tfm_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
