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
 *   tfm_graph *g;
 *   if (tfm_graph_create(&g, 0) != TFM_OK) return 1;
 *   for (int step = 0; step < steps; step++) {
 *       tfm_graph_begin(g, 1, 1);                        // reset the arena; record for backward; training mode
 *       tfm_tensor *loss = model_loss(model, g, batch);  // each op appends a node to the tape
 *       tfm_graph_backward(g, loss, 1.0f);               // runs the tape in reverse, accumulating grads
 *   }
 *   tfm_graph_free(g);
 *
 * The arena grows during the first step(s) and is then a single block re-used by every later step, so
 * a training or decode step in steady state calls no allocator at all. During backward, the gradient of
 * an activation is dead once the op that produced it has run its backward; its buffer is then reused
 * for later gradients, so gradients need a few buffers, not one per activation (and when the loss
 * writes the logits' gradient over the logits, the largest activation of all holds them). */

typedef struct tfm_graph tfm_graph;  /* opaque: tfm_graph_create / tfm_graph_free */
struct tfm_node;
typedef void (*tfm_backward_fn)(struct tfm_graph *graph, struct tfm_node *node);

/* One recorded op: its output, up to TFM_NODE_INPUTS differentiable inputs, and what backward needs. */
#define TFM_NODE_INPUTS 6
typedef struct tfm_node {
    tfm_backward_fn backward;
    tfm_tensor *out;
    tfm_tensor *in[TFM_NODE_INPUTS];
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


/* A new graph; `initial_bytes` sizes the arena up front (0: learn it from the first step). */
tfm_status tfm_graph_create(tfm_graph **g, size_t initial_bytes);
/* Everything the graph holds, and the handle (NULL is fine). */
void tfm_graph_free(tfm_graph *g);
/* What the current pass does: record a tape for backward; apply dropout. */
int tfm_graph_recording(const tfm_graph *g);
int tfm_graph_training(const tfm_graph *g);
/* The stream dropout masks are drawn from (by counter): seed it, save and restore it for exact resume. */
tfm_rng *tfm_graph_dropout_stream(tfm_graph *g);
/* The most arena memory in use at once so far, in bytes. */
size_t tfm_graph_peak_bytes(const tfm_graph *g);
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
    struct tfm_arena_chunk *chunk;  /* the overflow chunk in use at the mark, and its use */
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
