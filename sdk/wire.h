/*
 * Kafka wire primitives: a bounds-checked reader, a growable writer with a hard ceiling,
 * and a bump arena for decoded structures. Pure: no I/O, no locks, no clocks.
 *
 * Reader and writer errors are sticky: once a read runs past the end (or a write past the
 * ceiling), every later call is a no-op that returns zero values, and |err| stays set. A
 * decoder therefore reads straight through and checks |err| once at the end.
 *
 * Decoded strings and byte fields are views into the input buffer (not NUL-terminated):
 * the input must outlive the decoded structure. Arrays of decoded elements live in the
 * arena passed to the decoder and die with ktx__arena_free().
 */
#ifndef KTX_WIRE_H
#define KTX_WIRE_H

#include "ktx_int.h"

/* A string view; |len| is -1 for a null string. */
struct ktx__str {
    const char *ptr;
    int32_t len;
};

/* A byte-string view; |len| is -1 for null bytes. */
struct ktx__bytes {
    const uint8_t *ptr;
    int32_t len;
};

struct ktx__uuid {
    uint8_t b[16];
};

/* Returns a view of the NUL-terminated |s|, or a null string when |s| is NULL. */
struct ktx__str ktx__str_c(const char *s);
/* True when both views are null, or both are non-null with equal contents. */
bool ktx__str_eq(struct ktx__str a, struct ktx__str b);
bool ktx__str_eq_c(struct ktx__str a, const char *s);
bool ktx__bytes_eq(struct ktx__bytes a, struct ktx__bytes b);
/* Copies |s| into a new NUL-terminated heap string (NULL for a null string or on OOM). */
char *ktx__str_dup(struct ktx__str s);

/*
 * Bump arena. Every allocation is zeroed and 8-byte aligned. The total is capped by
 * |max_bytes| (0 = 64 MiB) so hostile counts cannot exhaust memory.
 */
struct ktx__arena_chunk;
struct ktx__arena {
    struct ktx__arena_chunk *head;
    size_t total;
    size_t max_bytes;
};
void ktx__arena_init(struct ktx__arena *arena, size_t max_bytes);
/* Returns zeroed memory, or NULL when |size| would pass the ceiling or malloc fails. */
void *ktx__arena_alloc(struct ktx__arena *arena, size_t size);
/* Copies |s| into the arena as a NUL-terminated string; returns NULL on failure. */
char *ktx__arena_strdup(struct ktx__arena *arena, struct ktx__str s);
void ktx__arena_free(struct ktx__arena *arena);

/* ---- reader ---- */
struct ktx__reader {
    const uint8_t *p;
    size_t len;
    size_t pos;
    int err; /* 0, or KTX_ERR_BAD_MSG once anything went wrong */
};

void ktx__r_init(struct ktx__reader *r, const uint8_t *p, size_t len);
static inline size_t ktx__r_remaining(const struct ktx__reader *r)
{
    return r->err ? 0 : r->len - r->pos;
}
/* Marks the reader failed (e.g. a semantic check in a decoder). */
void ktx__r_fail(struct ktx__reader *r);

int8_t ktx__r_i8(struct ktx__reader *r);
int16_t ktx__r_i16(struct ktx__reader *r);
int32_t ktx__r_i32(struct ktx__reader *r);
int64_t ktx__r_i64(struct ktx__reader *r);
uint16_t ktx__r_u16(struct ktx__reader *r);
uint32_t ktx__r_u32(struct ktx__reader *r);
bool ktx__r_bool(struct ktx__reader *r);      /* any non-zero byte is true */
double ktx__r_f64(struct ktx__reader *r);
uint32_t ktx__r_uvarint(struct ktx__reader *r); /* at most 5 bytes */
int32_t ktx__r_varint(struct ktx__reader *r);   /* zigzag, at most 5 bytes */
int64_t ktx__r_varlong(struct ktx__reader *r);  /* zigzag, at most 10 bytes */
uint64_t ktx__r_uvarlong(struct ktx__reader *r);
struct ktx__uuid ktx__r_uuid(struct ktx__reader *r);
/* Returns a pointer to the next |n| bytes and skips them, or NULL (and fails) if short. */
const uint8_t *ktx__r_raw(struct ktx__reader *r, size_t n);

/*
 * Strings and bytes. |flexible| selects the compact form (unsigned varint length + 1).
 * The non-nullable forms fail the reader on a null value.
 */
struct ktx__str ktx__r_string(struct ktx__reader *r, bool flexible);
struct ktx__str ktx__r_nstring(struct ktx__reader *r, bool flexible);
struct ktx__bytes ktx__r_bytes(struct ktx__reader *r, bool flexible);
struct ktx__bytes ktx__r_nbytes(struct ktx__reader *r, bool flexible);

/*
 * Reads an array length: int32 (classic) or unsigned varint N+1 (compact). Returns the
 * count, or -1 for a null array. Fails the reader when the count is negative (other than
 * null) or when |count| * |min_elem_wire_size| exceeds the bytes left, so a hostile count
 * cannot drive a large allocation.
 */
int32_t ktx__r_array_len(struct ktx__reader *r, bool flexible, size_t min_elem_wire_size);
/*
 * Reads an array length as above and allocates its zeroed elements of |elem_size| from
 * |arena|. Stores the count in |*count|: -1 for a null array when |nullable| (a null
 * non-nullable array fails the reader), 0 on failure. Returns the elements (NULL when the
 * array is null or empty, or on failure, which also fails the reader).
 */
void *ktx__r_array(struct ktx__reader *r, struct ktx__arena *arena, bool flexible, bool nullable,
                   size_t min_elem_wire_size, size_t elem_size, int32_t *count);
/* Arrays of int32 and of non-nullable strings, read into |arena| as ktx__r_array(). */
int32_t *ktx__r_i32_array(struct ktx__reader *r, struct ktx__arena *arena, bool flexible,
                          bool nullable, int32_t *count);
struct ktx__str *ktx__r_str_array(struct ktx__reader *r, struct ktx__arena *arena, bool flexible,
                                  int32_t *count);

/*
 * Tagged fields. ktx__r_tags_skip() reads a whole tagged-field section and ignores it.
 * For sections with known tags: n = ktx__r_uvarint(r), then for each field
 * ktx__r_tag(r, &tag, &sub) gives the tag and a sub-reader over its payload (the main
 * reader skips the payload). Tags must be strictly increasing; otherwise it fails.
 */
void ktx__r_tags_skip(struct ktx__reader *r);
void ktx__r_tag(struct ktx__reader *r, uint32_t *tag, struct ktx__reader *sub);
/*
 * Reads a whole tagged-field section, handing each field to |fn| with a sub-reader over
 * its payload. |fn| returns true when it knew the tag; a known field must consume its
 * payload exactly. Unknown tags are skipped; tags out of order fail |r|.
 */
void ktx__r_tags(struct ktx__reader *r, void *ctx,
                 bool (*fn)(void *ctx, uint32_t tag, struct ktx__reader *sub));

/* Returns 0 when everything was read without error and no byte is left over, else
 * KTX_ERR_BAD_MSG. Decoders end with `return ktx__r_finish(&r);`. */
int ktx__r_finish(const struct ktx__reader *r);

/* ---- writer ---- */
struct ktx__writer {
    uint8_t *p;
    size_t len;
    size_t cap;
    size_t max; /* hard ceiling on |len| */
    int err;    /* 0, KTX_ERR_NO_MEMORY, or KTX_ERR_BAD_MSG (value not encodable / ceiling) */
};

/* |initial| bytes are allocated lazily; |max| 0 means 1 GiB. */
void ktx__w_init(struct ktx__writer *w, size_t initial, size_t max);
void ktx__w_free(struct ktx__writer *w);
/* Empties the buffer (keeps capacity) and clears the error. */
void ktx__w_reset(struct ktx__writer *w);
/* Makes room for |n| more bytes and returns a pointer to them (NULL and err on failure);
 * the caller fills them; |len| is advanced by |n|. */
uint8_t *ktx__w_extend(struct ktx__writer *w, size_t n);
void ktx__w_raw(struct ktx__writer *w, const void *p, size_t n);
void ktx__w_i8(struct ktx__writer *w, int8_t v);
void ktx__w_i16(struct ktx__writer *w, int16_t v);
void ktx__w_i32(struct ktx__writer *w, int32_t v);
void ktx__w_i64(struct ktx__writer *w, int64_t v);
void ktx__w_u16(struct ktx__writer *w, uint16_t v);
void ktx__w_u32(struct ktx__writer *w, uint32_t v);
void ktx__w_bool(struct ktx__writer *w, bool v);
void ktx__w_f64(struct ktx__writer *w, double v);
void ktx__w_uvarint(struct ktx__writer *w, uint32_t v);
void ktx__w_varint(struct ktx__writer *w, int32_t v);
void ktx__w_varlong(struct ktx__writer *w, int64_t v);
void ktx__w_uvarlong(struct ktx__writer *w, uint64_t v);
void ktx__w_uuid(struct ktx__writer *w, struct ktx__uuid u);
/* Non-nullable forms fail the writer on a null value. */
void ktx__w_string(struct ktx__writer *w, struct ktx__str s, bool flexible);
void ktx__w_nstring(struct ktx__writer *w, struct ktx__str s, bool flexible);
void ktx__w_bytes(struct ktx__writer *w, struct ktx__bytes b, bool flexible);
void ktx__w_nbytes(struct ktx__writer *w, struct ktx__bytes b, bool flexible);
/* |n| = -1 writes a null array. */
void ktx__w_array_len(struct ktx__writer *w, int32_t n, bool flexible);
/* Marks |w| failed with KTX_ERR_BAD_MSG (the structure is not encodable) unless it
 * already carries an error. */
void ktx__w_fail(struct ktx__writer *w);
/*
 * Writes the length of an array of |count| elements at |elems|; -1 writes null when
 * |nullable|. A count below -1, a null count for a non-nullable array, or a positive count
 * without elements fails |w|. Returns false when |w| has failed (the caller then skips the
 * elements), true otherwise — also for an empty or null array, after which the caller still
 * writes whatever follows the array.
 */
bool ktx__w_array(struct ktx__writer *w, const void *elems, int32_t count, bool flexible,
                  bool nullable);
/* Arrays of int32 and of non-nullable strings, with ktx__w_array()'s rules. */
void ktx__w_i32_array(struct ktx__writer *w, const int32_t *v, int32_t count, bool flexible,
                      bool nullable);
void ktx__w_str_array(struct ktx__writer *w, const struct ktx__str *v, int32_t count,
                      bool flexible);
/* Writes an empty tagged-field section (a single 0). */
void ktx__w_tags_empty(struct ktx__writer *w);
/* Reserves |n| bytes to patch later; returns their offset (valid even after growth). */
size_t ktx__w_reserve(struct ktx__writer *w, size_t n);
void ktx__w_patch_i32(struct ktx__writer *w, size_t off, int32_t v);
/* Encoded size of unsigned varint |v| / zigzag varint / zigzag varlong. */
size_t ktx__uvarint_size(uint32_t v);
size_t ktx__varint_size(int32_t v);
size_t ktx__varlong_size(int64_t v);

/* Big-endian helpers on raw memory (no bounds checks). */
static inline void ktx__be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline uint32_t ktx__be32_get(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

#endif /* KTX_WIRE_H */
