/* core/graph_internal.h: the graph's fields, for the library's ops, layers and tests (the public header keeps it opaque). */
#ifndef TFM_CORE_GRAPH_INTERNAL_H
#define TFM_CORE_GRAPH_INTERNAL_H

#include "tfm/graph.h"

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

struct tfm_graph {
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
};

#endif
