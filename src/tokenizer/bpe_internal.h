/* Internal layout of the byte-level BPE tokenizer, shared by its loader, encoder, trainer and writer. */
#ifndef TFM_TOKENIZER_BPE_INTERNAL_H
#define TFM_TOKENIZER_BPE_INTERNAL_H

#include <stdint.h>
#include <string.h>

#include "tfm/bpe.h"

#define TFM_BPE_NONE UINT32_MAX

/* One merge: (left, right) -> result; its rank is its index in the merge list. */
typedef struct tfm_bpe_merge {
    uint32_t left, right, result;
} tfm_bpe_merge;

/* Merge lookup: open addressing on the key (left << 32 | right). */
typedef struct tfm_bpe_merge_slot {
    uint64_t key;  /* UINT64_MAX = empty */
    uint32_t rank;
    uint32_t result;
} tfm_bpe_merge_slot;

/* Word cache entry: a piece's bytes and its ids, both in the cache arenas. */
typedef struct tfm_bpe_cache_slot {
    uint64_t hash;     /* 0 = empty */
    uint32_t word_offset;
    uint32_t ids_offset;
    uint16_t word_length;
    uint16_t id_count;
} tfm_bpe_cache_slot;

typedef struct tfm_bpe_added {
    uint32_t id;
    int special; /* special: matched only with TFM_BPE_ALLOW_SPECIAL; otherwise always (like Hugging Face) */
} tfm_bpe_added;

struct tfm_bpe {
    /* Vocabulary: token bytes by id (length UINT32_MAX = unused id). */
    uint32_t vocab_size;
    uint32_t *token_offset; /* [vocab_size] */
    uint32_t *token_length; /* [vocab_size] */
    char *token_bytes;
    size_t token_bytes_length, token_bytes_capacity;
    uint32_t *token_table;  /* open addressing, ids, TFM_BPE_NONE = empty */
    size_t token_table_capacity;
    uint32_t byte_id[256];  /* id of each single-byte token, or TFM_BPE_NONE */

    tfm_bpe_merge *merges;
    size_t merge_count;
    tfm_bpe_merge_slot *merge_table;
    size_t merge_table_capacity;

    /* Added tokens (special or not), sorted by decreasing length for leftmost-longest matching. */
    tfm_bpe_added *added;
    size_t added_count;
    uint8_t *is_special;      /* [vocab_size] */
    uint8_t added_first_byte[256]; /* bit 0: some special starts with this byte, bit 1: some plain added */
    size_t added_max_length;

    /* Options (Hugging Face). */
    int add_prefix_space;
    int use_regex;
    int ignore_merges;
    uint32_t unk_id; /* TFM_BPE_NONE = none: bytes without a token are dropped */

    /* Scratch (per handle, reused): merge loop symbols and heap, the word cache. */
    uint32_t *scratch_ids;
    uint32_t *scratch_ranks;
    int32_t *scratch_prev, *scratch_next;
    uint64_t *scratch_heap;
    size_t scratch_capacity, heap_capacity;
    char *prefix_buffer;
    size_t prefix_capacity;
    tfm_bpe_cache_slot *cache;
    size_t cache_used;
    uint8_t *cache_words;
    uint32_t *cache_ids;
    size_t cache_words_used, cache_ids_used;
};

/* Sizes of the word cache: it is cleared when any part fills up, so memory stays bounded. */
#define TFM_BPE_CACHE_SLOTS (1u << 16)
#define TFM_BPE_CACHE_WORDS_BYTES (1u << 20)
#define TFM_BPE_CACHE_IDS (1u << 18)
#define TFM_BPE_CACHE_MAX_WORD 64

static inline uint64_t tfm_bpe_hash_bytes(const uint8_t *p, size_t n) {
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xA24BAED4963EE407ull);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * 0xFF51AFD7ED558CCDull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v |= (uint64_t)p[i] << (8 * i);
    h = (h ^ v) * 0xC4CEB9FE1A85EC53ull;
    h ^= h >> 29;
    h *= 0x9E3779B97F4A7C15ull;
    h ^= h >> 32;
    return h;
}

/* Building a tokenizer (used by the loaders and the trainer). */
tfm_status tfm_bpe_create_empty(tfm_bpe **out);
/* Set the bytes of token `id` (grows the id space; fails if the id is taken or the bytes are another id's). */
tfm_status tfm_bpe_set_token(tfm_bpe *tok, uint32_t id, const char *bytes, size_t len);
/* Append a merge (rank = current merge count); left/right/result must be set tokens. */
tfm_status tfm_bpe_add_merge(tfm_bpe *tok, uint32_t left, uint32_t right, uint32_t result);
/* Mark token `id` (already set) as an added token; special or not. */
tfm_status tfm_bpe_add_added(tfm_bpe *tok, uint32_t id, int special);
/* Finish building: byte table, merge table, added-token order, scratch. */
tfm_status tfm_bpe_finalize(tfm_bpe *tok);
/* Merge lookup: rank of (left, right) or TFM_BPE_NONE, result in *result. */
uint32_t tfm_bpe_merge_rank(const tfm_bpe *tok, uint32_t left, uint32_t right, uint32_t *result);

/* The slow reference BPE for one piece (repeatedly scan every adjacent pair, merge the lowest-rank,
 * leftmost one), appending ids; tests hold the fast path to it. */
tfm_status tfm_bpe_encode_piece_reference(const tfm_bpe *tok, const uint8_t *piece, size_t len, tfm_tokens *out);
/* The fast path for one piece (cache, small-word loop, heap for long words). */
tfm_status tfm_bpe_encode_piece(tfm_bpe *tok, const uint8_t *piece, size_t len, tfm_tokens *out);

/* GPT-2's files from memory (names are used in error messages); for tests and fuzzing. */
tfm_status tfm_bpe_load_gpt2_text(tfm_bpe **out, const char *json, size_t json_len, const char *json_name,
                                  const char *merges, size_t merges_len, const char *merges_name);

/* GPT-2's byte <-> unicode alphabet: printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100.. in byte order. */
uint32_t tfm_bpe_byte_to_unicode(uint8_t byte);
/* Inverse; -1 if the code point is not in the alphabet. */
int tfm_bpe_unicode_to_byte(uint32_t codepoint);
/* Decode a byte-level spelled UTF-8 string into raw bytes (dst must hold len bytes). Returns the byte
 * count, or -1 if some character is outside the alphabet or the UTF-8 is malformed. */
long tfm_bpe_spelling_to_bytes(const char *spelled, size_t len, char *dst);
/* Encode raw bytes in the byte-level spelling (dst must hold 2 * len bytes). Returns its length. */
size_t tfm_bpe_bytes_to_spelling(const char *bytes, size_t len, char *dst);

#endif
