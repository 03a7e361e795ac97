/* core/graph.c: the tape and the per-step arena behind reverse-mode differentiation (include/tfm/graph.h). */
#include "core/graph_internal.h"

#include <string.h>

#define TFM_ARENA_ALIGN 64
/* Overflow chunks are at least 32 MiB: glibc serves such sizes with mmap, so freeing them returns the
 * memory to the system (smaller ones could stay in the heap and inflate the resident size). */
#define TFM_ARENA_MIN_CHUNK ((size_t)32 << 20)

static size_t align_up(size_t n) { return (n + TFM_ARENA_ALIGN - 1) & ~(size_t)(TFM_ARENA_ALIGN - 1); }

tfm_status tfm_graph_create(tfm_graph **out, size_t initial_bytes) {
    tfm_graph *g = tfm_calloc(1, sizeof *g);
    *out = NULL;
    if (!g) return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for a graph");
    tfm_rng_init(&g->dropout_rng, 0);
    if (initial_bytes) {
        g->block = tfm_malloc(align_up(initial_bytes));
        if (!g->block) {
            tfm_free(g, sizeof *g);
            return tfm_error(TFM_ERR_OUT_OF_MEMORY, "out of memory for a %zu-byte arena", initial_bytes);
        }
        g->block_capacity = align_up(initial_bytes);
    }
    *out = g;
    return TFM_OK;
}

int tfm_graph_recording(const tfm_graph *g) { return g->recording; }
int tfm_graph_training(const tfm_graph *g) { return g->training; }
tfm_rng *tfm_graph_dropout_stream(tfm_graph *g) { return &g->dropout_rng; }
size_t tfm_graph_peak_bytes(const tfm_graph *g) { return g->peak_bytes; }

static void free_overflow(tfm_graph *g) {
    tfm_arena_chunk *c = g->overflow;
    while (c) {
        tfm_arena_chunk *next = c->next;
        tfm_free(c, c->capacity);
        c = next;
    }
    g->overflow = NULL;
    g->overflow_bytes = 0;
}

void tfm_graph_free(tfm_graph *g) {
    if (!g) return;
    free_overflow(g);
    tfm_free(g->block, g->block_capacity);
    tfm_free(g->nodes, sizeof(tfm_node) * (size_t)g->node_capacity);
    tfm_free(g, sizeof *g);
}

tfm_status tfm_graph_begin(tfm_graph *g, int recording, int training) {
    if (g->overflowed) {
        /* Last step did not fit: replace everything by one block of the peak size (+1/8 headroom).
         * When one overflow chunk is already that large it becomes the block: its pages are already
         * mapped, where a fresh block would take every page fault again (a millisecond per few MB). */
        size_t capacity = align_up(g->peak_bytes + g->peak_bytes / 8);
        tfm_arena_chunk *largest = g->overflow;
        for (tfm_arena_chunk *c = g->overflow; c; c = c->next)
            if (c->capacity > largest->capacity) largest = c;
        tfm_arena_chunk **link = &g->overflow;
        while (*link != largest) link = &(*link)->next;
        if (largest && largest->capacity >= capacity) *link = largest->next; /* keep it out of the chunks freed below */
        else largest = NULL;
        free_overflow(g);
        tfm_free(g->block, g->block_capacity);
        if (largest) {
            g->block = (char *)largest; /* the whole allocation, header included, is the block now */
            g->block_capacity = largest->capacity;
        } else {
            g->block = tfm_malloc(capacity);
            g->block_capacity = g->block ? capacity : 0;
            if (!g->block) return TFM_ERR_OUT_OF_MEMORY;
        }
    }
    g->block_used = 0;
    g->overflowed = 0;
    g->node_count = 0;
    g->free_grads = NULL;
    g->recording = recording;
    g->training = training;
    return TFM_OK;
}

/* The high-water mark, not the use at the end: memory released within the step (tfm_graph_keep) is used
 * again later in it, so a step needs the most that was ever in use at once. */
static void note_use(tfm_graph *g) {
    size_t used = g->block_used + g->overflow_bytes;
    if (used > g->peak_bytes) g->peak_bytes = used;
}

void *tfm_graph_alloc(tfm_graph *g, size_t bytes) {
    bytes = align_up(bytes ? bytes : 1);
    if (g->block && g->block_used + bytes <= g->block_capacity) {
        void *p = g->block + g->block_used;
        g->block_used += bytes;
        note_use(g);
        return p;
    }
    /* Overflow (only while the arena learns its size): bump-allocate in chunks, consolidated into one
     * block by the next tfm_graph_begin. */
    size_t header = align_up(sizeof(tfm_arena_chunk));
    tfm_arena_chunk *c = g->overflow;
    if (!c || c->used + bytes > c->capacity) {
        size_t capacity = header + bytes;
        if (capacity < TFM_ARENA_MIN_CHUNK) capacity = TFM_ARENA_MIN_CHUNK;
        c = tfm_malloc(capacity);
        if (!c) return NULL;
        c->capacity = capacity;
        c->used = header;
        c->next = g->overflow;
        g->overflow = c;
    }
    void *p = (char *)c + c->used;
    c->used += bytes;
    g->overflow_bytes += bytes;
    g->overflowed = 1;
    note_use(g);
    return p;
}

void *tfm_graph_alloc_zero(tfm_graph *g, size_t bytes) {
    void *p = tfm_graph_alloc(g, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

tfm_tensor *tfm_graph_tensor(tfm_graph *g, int ndim, const int *shape) {
    size_t size = tfm_shape_size(ndim, shape);
    if (size == 0) {
        tfm_error(TFM_ERR_INVALID_ARGUMENT, "graph tensor with an empty or invalid shape");
        return NULL;
    }
    tfm_tensor *t = tfm_graph_alloc(g, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = ndim;
    memcpy(t->shape, shape, sizeof(int) * (size_t)ndim);
    t->size = size;
    t->data = tfm_graph_alloc(g, sizeof(float) * size);
    t->in_graph = 1;
    return t->data ? t : NULL;
}

tfm_tensor *tfm_graph_tensor_like(tfm_graph *g, tfm_tensor *x, int overwrite) {
    if (!overwrite || !x->in_graph || x->readers > 0 || x->read_by_producer) return tfm_graph_tensor(g, x->ndim, x->shape);
    tfm_tensor *t = tfm_graph_alloc(g, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->ndim = x->ndim;
    memcpy(t->shape, x->shape, sizeof t->shape);
    t->size = x->size;
    t->data = x->data;
    t->in_graph = 1;
    return t;
}

tfm_graph_mark tfm_graph_mark_now(const tfm_graph *g) {
    return (tfm_graph_mark){g->block_used, g->overflow_bytes, g->overflow, g->overflow ? g->overflow->used : 0};
}

/* 1 when p was allocated after the mark: in the block above the mark, in the mark's chunk above its use
 * then, or in a chunk opened since. */
static int allocated_since(const tfm_graph *g, tfm_graph_mark mark, const void *p) {
    const char *c = p;
    if (g->block && c >= g->block + mark.block_used && c < g->block + g->block_used) return 1;
    for (const tfm_arena_chunk *k = g->overflow; k; k = k->next) {
        const char *base = (const char *)k;
        if (k == mark.chunk) return c >= base + mark.chunk_used && c < base + k->used;
        if (c >= base && c < base + k->used) return 1;
    }
    return 0;
}

/* Everything allocated since the mark is free again; chunks opened since are returned. */
static void release_since(tfm_graph *g, tfm_graph_mark mark) {
    g->block_used = mark.block_used;
    while (g->overflow && g->overflow != mark.chunk) {
        tfm_arena_chunk *next = g->overflow->next;
        tfm_free(g->overflow, g->overflow->capacity);
        g->overflow = next;
    }
    if (g->overflow) g->overflow->used = mark.chunk_used;
    g->overflow_bytes = mark.overflow_bytes;
}

tfm_tensor *tfm_graph_keep(tfm_graph *g, tfm_graph_mark mark, tfm_tensor *t) {
    if (g->recording) return t;
    if (g->overflow_bytes == mark.overflow_bytes && g->overflow == mark.chunk && g->block) {
        /* The common case: everything since the mark is in the block, above the mark. */
        char *base = g->block + mark.block_used, *end = g->block + g->block_used;
        if (!t) {
            g->block_used = mark.block_used;
            return NULL;
        }
        if ((char *)t < base || (char *)t->data < base || (char *)(t->data + t->size) > end) return t;
        /* The new place (struct, then data) starts at the mark, at or below the old one: copy the struct
         * aside, slide the data down, put the struct back. */
        tfm_tensor kept = *t;
        size_t header = align_up(sizeof kept), bytes = align_up(sizeof(float) * kept.size);
        float *data = (float *)(void *)(base + header);
        memmove(data, kept.data, sizeof(float) * kept.size);
        kept.data = data;
        memcpy(base, &kept, sizeof kept);
        g->block_used = mark.block_used + header + bytes;
        return (tfm_tensor *)(void *)base;
    }
    /* While the arena learns its size, allocations since the mark may have spilled into overflow chunks:
     * park the kept values outside the arena, release everything since the mark, and allocate them again. */
    if (!t) {
        release_since(g, mark);
        return NULL;
    }
    if (!allocated_since(g, mark, t)) return t; /* not ours to move: release nothing */
    tfm_tensor kept = *t;
    float *parked = NULL;
    int move_data = allocated_since(g, mark, kept.data);
    if (move_data) {
        parked = tfm_malloc(sizeof(float) * kept.size);
        if (!parked) return NULL;
        memcpy(parked, kept.data, sizeof(float) * kept.size);
    }
    release_since(g, mark);
    tfm_tensor *moved = tfm_graph_alloc(g, sizeof *moved);
    float *data = moved && move_data ? tfm_graph_alloc(g, sizeof(float) * kept.size) : kept.data;
    if (moved && data) {
        if (move_data) memcpy(data, parked, sizeof(float) * kept.size);
        kept.data = data;
        *moved = kept;
    }
    tfm_free(parked, sizeof(float) * kept.size);
    return moved && data ? moved : NULL;
}

tfm_node *tfm_graph_record(tfm_graph *g, tfm_backward_fn backward, tfm_tensor *out, int n_inputs, tfm_tensor *const *inputs) {
    out->requires_grad = 0;
    if (!g->recording) return NULL;
    int any = 0;
    for (int i = 0; i < n_inputs; i++) any |= inputs[i] && inputs[i]->requires_grad;
    if (!any) return NULL;
    if (g->node_count == g->node_capacity) {
        /* The tape keeps its capacity across steps, so this grows only during the first step. */
        int capacity = g->node_capacity ? g->node_capacity * 2 : 256;
        tfm_node *nodes = tfm_realloc(g->nodes, sizeof(tfm_node) * (size_t)g->node_capacity, sizeof(tfm_node) * (size_t)capacity);
        if (!nodes) return NULL;
        g->nodes = nodes;
        g->node_capacity = capacity;
    }
    tfm_node *node = &g->nodes[g->node_count++];
    memset(node, 0, sizeof *node);
    node->backward = backward;
    node->out = out;
    for (int i = 0; i < n_inputs && i < TFM_NODE_INPUTS; i++) {
        node->in[i] = inputs[i];
        if (inputs[i]) inputs[i]->readers++;
    }
    out->requires_grad = 1;
    return node;
}

float *tfm_graph_grad(tfm_graph *g, tfm_tensor *t) {
    if (t->grad) return t->grad;
    size_t bytes = align_up(sizeof(float) * t->size);
    /* Best fit among the released buffers; the rest of the one taken stays free. */
    tfm_free_buffer **best = NULL;
    for (tfm_free_buffer **link = &g->free_grads; *link; link = &(*link)->next)
        if ((*link)->bytes >= bytes && (!best || (*link)->bytes < (*best)->bytes)) {
            best = link;
            if ((*link)->bytes == bytes) break;
        }
    if (best) {
        tfm_free_buffer *reuse = *best;
        if (reuse->bytes > bytes) {
            tfm_free_buffer *rest = (tfm_free_buffer *)(void *)((char *)reuse + bytes);
            rest->bytes = reuse->bytes - bytes;
            rest->next = reuse->next;
            *best = rest; /* still in address order */
        } else {
            *best = reuse->next;
        }
        t->grad = (float *)(void *)reuse;
        memset(t->grad, 0, sizeof(float) * t->size);
        return t->grad;
    }
    t->grad = tfm_graph_alloc_zero(g, bytes);
    return t->grad;
}

/* Return [p, p + bytes) to the free list, kept in address order, merging it with free neighbours. */
static void release_buffer(tfm_graph *g, void *p, size_t bytes) {
    tfm_free_buffer *b = p, *before = NULL, **link = &g->free_grads;
    while (*link && (char *)*link < (char *)p) {
        before = *link;
        link = &(*link)->next;
    }
    b->bytes = bytes;
    b->next = *link;
    *link = b;
    if (b->next && (char *)b + b->bytes == (char *)b->next) {
        b->bytes += b->next->bytes;
        b->next = b->next->next;
    }
    if (before && (char *)before + before->bytes == (char *)b) {
        before->bytes += b->bytes;
        before->next = b->next;
    }
}

/* The gradient of an activation is read only by the backward of the op that produced it. */
static void release_grad(tfm_graph *g, tfm_tensor *t) {
    if (!t->in_graph || !t->grad) return;
    release_buffer(g, t->grad, align_up(sizeof(float) * t->size));
    t->grad = NULL;
}

tfm_status tfm_graph_backward(tfm_graph *g, tfm_tensor *loss, float seed) {
    if (!g->recording) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "backward on a graph that was not recording");
    if (loss->size != 1) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "backward needs a scalar loss, got %zu elements", loss->size);
    if (!loss->requires_grad) return tfm_error(TFM_ERR_INVALID_ARGUMENT, "backward: the loss does not depend on any parameter");
    float *dloss = tfm_graph_grad(g, loss);
    if (!dloss) return TFM_ERR_OUT_OF_MEMORY;
    dloss[0] += seed;
    for (int i = g->node_count - 1; i >= 0; i--) {
        tfm_node *node = &g->nodes[i];
        if (!node->out->grad) continue; /* nothing downstream needed this output */
        tfm_tensor *first = node->in[0];
        node->overwrites_input = 0;
        node->reuses_output_grad = 0;
        int sole_reader = first && first->in_graph && first->requires_grad && !first->grad && first->readers == 1;
        if (node->can_overwrite_input && sole_reader && !first->read_by_producer) {
            /* Sole reader, first to need the gradient: the input's values are dead after this backward
             * (unless its producer's backward reads them). */
            first->grad = first->data;
            node->overwrites_input = 1;
        } else if (node->can_reuse_output_grad && sole_reader && first->size == node->out->size) {
            /* The output's gradient is dead after this backward: it becomes the input's. */
            first->grad = node->out->grad;
            node->reuses_output_grad = 1;
        }
        for (int k = 0; k < TFM_NODE_INPUTS; k++) {
            tfm_tensor *in = node->in[k];
            if (in && in->requires_grad && !tfm_graph_grad(g, in)) return TFM_ERR_OUT_OF_MEMORY;
        }
        node->backward(g, node);
        if (node->reuses_output_grad) node->out->grad = NULL; /* now in[0]'s buffer */
        else release_grad(g, node->out);
    }
    return TFM_OK;
}
