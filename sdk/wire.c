/*
 * Kafka wire primitives: bounds-checked reader, ceiling-bound writer, bump arena.
 * See wire.h for the contract (sticky errors, views into the input).
 */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

/* ---- string views ---- */

struct ktx__str ktx__str_c(const char *s)
{
    struct ktx__str v = {s, s ? (int32_t)strlen(s) : -1};
    return v;
}

bool ktx__str_eq(struct ktx__str a, struct ktx__str b)
{
    if (a.len < 0 || b.len < 0)
        return a.len < 0 && b.len < 0;
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

bool ktx__str_eq_c(struct ktx__str a, const char *s)
{
    return ktx__str_eq(a, ktx__str_c(s));
}

bool ktx__bytes_eq(struct ktx__bytes a, struct ktx__bytes b)
{
    if (a.len < 0 || b.len < 0)
        return a.len < 0 && b.len < 0;
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, (size_t)a.len) == 0);
}

char *ktx__str_dup(struct ktx__str s)
{
    if (s.len < 0)
        return NULL;
    char *out = malloc((size_t)s.len + 1);
    if (!out)
        return NULL;
    if (s.len)
        memcpy(out, s.ptr, (size_t)s.len);
    out[s.len] = '\0';
    return out;
}

/* ---- arena ---- */

struct ktx__arena_chunk {
    struct ktx__arena_chunk *next;
    size_t size;
    size_t used;
    /* Aligned payload follows. */
    max_align_t data[];
};

#define ARENA_CHUNK_MIN 4096
#define ARENA_DEFAULT_MAX ((size_t)64 << 20)

void ktx__arena_init(struct ktx__arena *arena, size_t max_bytes)
{
    arena->head = NULL;
    arena->total = 0;
    arena->max_bytes = max_bytes ? max_bytes : ARENA_DEFAULT_MAX;
}

void *ktx__arena_alloc(struct ktx__arena *arena, size_t size)
{
    size_t need = (size + 7) & ~(size_t)7;
    if (need < size)
        return NULL;
    if (need == 0)
        need = 8;
    struct ktx__arena_chunk *c = arena->head;
    if (!c || c->size - c->used < need) {
        size_t csize = need > ARENA_CHUNK_MIN ? need : ARENA_CHUNK_MIN;
        if (arena->total + csize > arena->max_bytes || arena->total + csize < arena->total)
            return NULL;
        c = malloc(sizeof(*c) + csize);
        if (!c)
            return NULL;
        c->size = csize;
        c->used = 0;
        c->next = arena->head;
        arena->head = c;
        arena->total += csize;
    }
    void *p = (uint8_t *)c->data + c->used;
    c->used += need;
    memset(p, 0, need);
    return p;
}

char *ktx__arena_strdup(struct ktx__arena *arena, struct ktx__str s)
{
    if (s.len < 0)
        return NULL;
    char *out = ktx__arena_alloc(arena, (size_t)s.len + 1);
    if (out && s.len)
        memcpy(out, s.ptr, (size_t)s.len);
    return out;
}

void ktx__arena_free(struct ktx__arena *arena)
{
    struct ktx__arena_chunk *c = arena->head;
    while (c) {
        struct ktx__arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    arena->head = NULL;
    arena->total = 0;
}

/* ---- reader ---- */

void ktx__r_init(struct ktx__reader *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->len = p ? len : 0;
    r->pos = 0;
    r->err = 0;
}

void ktx__r_fail(struct ktx__reader *r)
{
    r->err = KTX_ERR_BAD_MSG;
}

/* Returns a pointer to |n| readable bytes and advances, or NULL (failing the reader). */
static const uint8_t *take(struct ktx__reader *r, size_t n)
{
    if (r->err)
        return NULL;
    if (r->len - r->pos < n) {
        r->err = KTX_ERR_BAD_MSG;
        return NULL;
    }
    const uint8_t *p = r->p + r->pos;
    r->pos += n;
    return p;
}

const uint8_t *ktx__r_raw(struct ktx__reader *r, size_t n)
{
    return take(r, n);
}

int8_t ktx__r_i8(struct ktx__reader *r)
{
    const uint8_t *p = take(r, 1);
    return p ? (int8_t)p[0] : 0;
}

uint16_t ktx__r_u16(struct ktx__reader *r)
{
    const uint8_t *p = take(r, 2);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

int16_t ktx__r_i16(struct ktx__reader *r)
{
    return (int16_t)ktx__r_u16(r);
}

uint32_t ktx__r_u32(struct ktx__reader *r)
{
    const uint8_t *p = take(r, 4);
    return p ? ktx__be32_get(p) : 0;
}

int32_t ktx__r_i32(struct ktx__reader *r)
{
    return (int32_t)ktx__r_u32(r);
}

int64_t ktx__r_i64(struct ktx__reader *r)
{
    const uint8_t *p = take(r, 8);
    if (!p)
        return 0;
    uint64_t v = ((uint64_t)ktx__be32_get(p) << 32) | ktx__be32_get(p + 4);
    return (int64_t)v;
}

bool ktx__r_bool(struct ktx__reader *r)
{
    return ktx__r_i8(r) != 0;
}

double ktx__r_f64(struct ktx__reader *r)
{
    uint64_t bits = (uint64_t)ktx__r_i64(r);
    double d;
    memcpy(&d, &bits, sizeof(d));
    return d;
}

/* Reads an unsigned LEB128 value of at most |max_bytes| bytes. */
static uint64_t read_uleb(struct ktx__reader *r, int max_bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < max_bytes; i++) {
        const uint8_t *p = take(r, 1);
        if (!p)
            return 0;
        /* The tenth byte of a 64-bit value may only carry bit 63. */
        if (i == 9 && p[0] > 1) {
            r->err = KTX_ERR_BAD_MSG;
            return 0;
        }
        v |= (uint64_t)(p[0] & 0x7f) << (7 * i);
        if (!(p[0] & 0x80))
            return v;
    }
    r->err = KTX_ERR_BAD_MSG; /* too many continuation bytes */
    return 0;
}

uint32_t ktx__r_uvarint(struct ktx__reader *r)
{
    uint64_t v = read_uleb(r, 5);
    if (v > UINT32_MAX) {
        r->err = KTX_ERR_BAD_MSG;
        return 0;
    }
    return (uint32_t)v;
}

uint64_t ktx__r_uvarlong(struct ktx__reader *r)
{
    return read_uleb(r, 10);
}

int32_t ktx__r_varint(struct ktx__reader *r)
{
    uint32_t u = ktx__r_uvarint(r);
    return (int32_t)((u >> 1) ^ (~(u & 1) + 1));
}

int64_t ktx__r_varlong(struct ktx__reader *r)
{
    uint64_t u = read_uleb(r, 10);
    return (int64_t)((u >> 1) ^ (~(u & 1) + 1));
}

struct ktx__uuid ktx__r_uuid(struct ktx__reader *r)
{
    struct ktx__uuid u;
    const uint8_t *p = take(r, 16);
    if (p)
        memcpy(u.b, p, 16);
    else
        memset(u.b, 0, 16);
    return u;
}

/*
 * Reads a length prefix: int16 (classic strings), int32 (classic bytes) or a compact
 * unsigned varint N+1. Returns the length, -1 for null, or -2 on error.
 */
static int64_t read_len(struct ktx__reader *r, bool flexible, bool wide)
{
    int64_t n;
    if (flexible)
        n = (int64_t)ktx__r_uvarint(r) - 1;
    else if (wide)
        n = ktx__r_i32(r);
    else
        n = ktx__r_i16(r);
    if (r->err || n < -1) {
        r->err = KTX_ERR_BAD_MSG;
        return -2;
    }
    return n;
}

static struct ktx__str read_str(struct ktx__reader *r, bool flexible, bool nullable)
{
    struct ktx__str s = {NULL, -1};
    int64_t n = read_len(r, flexible, false);
    if ((n == -1 && !nullable) || n > INT32_MAX)
        r->err = KTX_ERR_BAD_MSG;
    if (n < 0 || n > INT32_MAX)
        return s;
    const uint8_t *p = take(r, (size_t)n);
    if (p) {
        s.ptr = (const char *)p;
        s.len = (int32_t)n;
    }
    return s;
}

struct ktx__str ktx__r_string(struct ktx__reader *r, bool flexible)
{
    return read_str(r, flexible, false);
}

struct ktx__str ktx__r_nstring(struct ktx__reader *r, bool flexible)
{
    return read_str(r, flexible, true);
}

static struct ktx__bytes read_bytes(struct ktx__reader *r, bool flexible, bool nullable)
{
    struct ktx__bytes b = {NULL, -1};
    int64_t n = read_len(r, flexible, true);
    if ((n == -1 && !nullable) || n > INT32_MAX)
        r->err = KTX_ERR_BAD_MSG;
    if (n < 0 || n > INT32_MAX)
        return b;
    const uint8_t *p = take(r, (size_t)n);
    if (p) {
        b.ptr = p;
        b.len = (int32_t)n;
    }
    return b;
}

struct ktx__bytes ktx__r_bytes(struct ktx__reader *r, bool flexible)
{
    return read_bytes(r, flexible, false);
}

struct ktx__bytes ktx__r_nbytes(struct ktx__reader *r, bool flexible)
{
    return read_bytes(r, flexible, true);
}

int32_t ktx__r_array_len(struct ktx__reader *r, bool flexible, size_t min_elem_wire_size)
{
    int64_t n = read_len(r, flexible, true);
    if (n < -1)
        return 0;
    if (n > 0) {
        size_t min = min_elem_wire_size ? min_elem_wire_size : 1;
        if (n > INT32_MAX || (uint64_t)n > ktx__r_remaining(r) / min) {
            r->err = KTX_ERR_BAD_MSG;
            return 0;
        }
    }
    return (int32_t)n;
}

void *ktx__r_array(struct ktx__reader *r, struct ktx__arena *arena, bool flexible, bool nullable,
                   size_t min_elem_wire_size, size_t elem_size, int32_t *count)
{
    int32_t n = ktx__r_array_len(r, flexible, min_elem_wire_size);
    if (n < 0 && !nullable)
        r->err = KTX_ERR_BAD_MSG;
    *count = r->err ? 0 : n;
    if (r->err || n <= 0)
        return NULL;
    void *elems = ktx__arena_alloc(arena, (size_t)n * elem_size);
    if (!elems) {
        r->err = KTX_ERR_BAD_MSG;
        *count = 0;
    }
    return elems;
}

int32_t *ktx__r_i32_array(struct ktx__reader *r, struct ktx__arena *arena, bool flexible,
                          bool nullable, int32_t *count)
{
    int32_t *v = ktx__r_array(r, arena, flexible, nullable, 4, sizeof(*v), count);
    for (int32_t i = 0; i < *count; i++)
        v[i] = ktx__r_i32(r);
    return v;
}

struct ktx__str *ktx__r_str_array(struct ktx__reader *r, struct ktx__arena *arena, bool flexible,
                                  int32_t *count)
{
    struct ktx__str *v =
        ktx__r_array(r, arena, flexible, false, flexible ? 1 : 2, sizeof(*v), count);
    for (int32_t i = 0; i < *count; i++)
        v[i] = ktx__r_string(r, flexible);
    return v;
}

void ktx__r_tag(struct ktx__reader *r, uint32_t *tag, struct ktx__reader *sub)
{
    *tag = ktx__r_uvarint(r);
    uint32_t size = ktx__r_uvarint(r);
    const uint8_t *p = take(r, size);
    ktx__r_init(sub, p, p ? size : 0);
    if (!p)
        sub->err = KTX_ERR_BAD_MSG;
}

void ktx__r_tags_skip(struct ktx__reader *r)
{
    uint32_t n = ktx__r_uvarint(r);
    int64_t prev = -1;
    /* Each field takes at least two bytes, which bounds the loop for hostile counts. */
    if (n > ktx__r_remaining(r) / 2 + 1) {
        r->err = KTX_ERR_BAD_MSG;
        return;
    }
    for (uint32_t i = 0; i < n && !r->err; i++) {
        uint32_t tag;
        struct ktx__reader sub;
        ktx__r_tag(r, &tag, &sub);
        if ((int64_t)tag <= prev)
            r->err = KTX_ERR_BAD_MSG;
        prev = tag;
    }
}

void ktx__r_tags(struct ktx__reader *r, void *ctx,
                 bool (*fn)(void *ctx, uint32_t tag, struct ktx__reader *sub))
{
    uint32_t n = ktx__r_uvarint(r);
    int64_t last = -1;
    for (uint32_t i = 0; i < n && !r->err; i++) {
        uint32_t tag = 0;
        struct ktx__reader sub;
        ktx__r_tag(r, &tag, &sub);
        if (r->err)
            break;
        if ((int64_t)tag <= last) {
            r->err = KTX_ERR_BAD_MSG;
            break;
        }
        last = tag;
        if (fn(ctx, tag, &sub) && ktx__r_finish(&sub) != 0)
            r->err = KTX_ERR_BAD_MSG;
    }
}

int ktx__r_finish(const struct ktx__reader *r)
{
    if (r->err || r->pos != r->len)
        return KTX_ERR_BAD_MSG;
    return 0;
}

/* ---- writer ---- */

#define WRITER_DEFAULT_MAX ((size_t)1 << 30)

void ktx__w_init(struct ktx__writer *w, size_t initial, size_t max)
{
    w->p = NULL;
    w->len = 0;
    w->cap = initial;
    w->max = max ? max : WRITER_DEFAULT_MAX;
    w->err = 0;
}

void ktx__w_free(struct ktx__writer *w)
{
    free(w->p);
    w->p = NULL;
    w->len = 0;
    w->cap = 0;
}

void ktx__w_reset(struct ktx__writer *w)
{
    w->len = 0;
    w->err = 0;
}

/* Grows the buffer so that |n| more bytes fit. Returns false (and sets err) on failure. */
static bool grow(struct ktx__writer *w, size_t n)
{
    if (w->err)
        return false;
    if (n > w->max - w->len) {
        w->err = KTX_ERR_BAD_MSG;
        return false;
    }
    size_t need = w->len + n;
    if (w->p && need <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < need)
        cap = cap > w->max / 2 ? w->max : cap * 2;
    uint8_t *p = realloc(w->p, cap);
    if (!p) {
        w->err = KTX_ERR_NO_MEMORY;
        return false;
    }
    w->p = p;
    w->cap = cap;
    return true;
}

uint8_t *ktx__w_extend(struct ktx__writer *w, size_t n)
{
    if (!grow(w, n))
        return NULL;
    uint8_t *p = w->p + w->len;
    w->len += n;
    return p;
}

void ktx__w_raw(struct ktx__writer *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t *dst = ktx__w_extend(w, n);
    if (dst)
        memcpy(dst, p, n);
}

void ktx__w_i8(struct ktx__writer *w, int8_t v)
{
    uint8_t *p = ktx__w_extend(w, 1);
    if (p)
        p[0] = (uint8_t)v;
}

void ktx__w_u16(struct ktx__writer *w, uint16_t v)
{
    uint8_t *p = ktx__w_extend(w, 2);
    if (p) {
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
    }
}

void ktx__w_i16(struct ktx__writer *w, int16_t v)
{
    ktx__w_u16(w, (uint16_t)v);
}

void ktx__w_u32(struct ktx__writer *w, uint32_t v)
{
    uint8_t *p = ktx__w_extend(w, 4);
    if (p)
        ktx__be32_put(p, v);
}

void ktx__w_i32(struct ktx__writer *w, int32_t v)
{
    ktx__w_u32(w, (uint32_t)v);
}

void ktx__w_i64(struct ktx__writer *w, int64_t v)
{
    uint8_t *p = ktx__w_extend(w, 8);
    if (p) {
        ktx__be32_put(p, (uint32_t)((uint64_t)v >> 32));
        ktx__be32_put(p + 4, (uint32_t)v);
    }
}

void ktx__w_bool(struct ktx__writer *w, bool v)
{
    ktx__w_i8(w, v ? 1 : 0);
}

void ktx__w_f64(struct ktx__writer *w, double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof(bits));
    ktx__w_i64(w, (int64_t)bits);
}

void ktx__w_uvarlong(struct ktx__writer *w, uint64_t v)
{
    uint8_t buf[10];
    size_t n = 0;
    while (v >= 0x80) {
        buf[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    buf[n++] = (uint8_t)v;
    ktx__w_raw(w, buf, n);
}

void ktx__w_uvarint(struct ktx__writer *w, uint32_t v)
{
    ktx__w_uvarlong(w, v);
}

void ktx__w_varint(struct ktx__writer *w, int32_t v)
{
    ktx__w_uvarlong(w, ((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

void ktx__w_varlong(struct ktx__writer *w, int64_t v)
{
    ktx__w_uvarlong(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

size_t ktx__uvarint_size(uint32_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

size_t ktx__varint_size(int32_t v)
{
    return ktx__uvarint_size(((uint32_t)v << 1) ^ (uint32_t)(v >> 31));
}

size_t ktx__varlong_size(int64_t v)
{
    uint64_t u = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    size_t n = 1;
    while (u >= 0x80) {
        u >>= 7;
        n++;
    }
    return n;
}

void ktx__w_uuid(struct ktx__writer *w, struct ktx__uuid u)
{
    ktx__w_raw(w, u.b, 16);
}

/* Writes a length prefix for a string (int16), bytes/array (int32) or compact (N+1). */
static void write_len(struct ktx__writer *w, int32_t n, bool flexible, bool wide)
{
    if (flexible)
        ktx__w_uvarint(w, (uint32_t)(n + 1));
    else if (wide)
        ktx__w_i32(w, n);
    else if (n > INT16_MAX)
        w->err = KTX_ERR_BAD_MSG;
    else
        ktx__w_i16(w, (int16_t)n);
}

void ktx__w_nstring(struct ktx__writer *w, struct ktx__str s, bool flexible)
{
    if (s.len < 0) {
        write_len(w, -1, flexible, false);
        return;
    }
    write_len(w, s.len, flexible, false);
    ktx__w_raw(w, s.ptr, (size_t)s.len);
}

void ktx__w_string(struct ktx__writer *w, struct ktx__str s, bool flexible)
{
    if (s.len < 0) {
        w->err = KTX_ERR_BAD_MSG;
        return;
    }
    ktx__w_nstring(w, s, flexible);
}

void ktx__w_nbytes(struct ktx__writer *w, struct ktx__bytes b, bool flexible)
{
    if (b.len < 0) {
        write_len(w, -1, flexible, true);
        return;
    }
    write_len(w, b.len, flexible, true);
    ktx__w_raw(w, b.ptr, (size_t)b.len);
}

void ktx__w_bytes(struct ktx__writer *w, struct ktx__bytes b, bool flexible)
{
    if (b.len < 0) {
        w->err = KTX_ERR_BAD_MSG;
        return;
    }
    ktx__w_nbytes(w, b, flexible);
}

void ktx__w_array_len(struct ktx__writer *w, int32_t n, bool flexible)
{
    write_len(w, n < 0 ? -1 : n, flexible, true);
}

void ktx__w_fail(struct ktx__writer *w)
{
    if (!w->err)
        w->err = KTX_ERR_BAD_MSG;
}

bool ktx__w_array(struct ktx__writer *w, const void *elems, int32_t count, bool flexible,
                  bool nullable)
{
    if (count < -1 || (count == -1 && !nullable) || (count > 0 && !elems)) {
        ktx__w_fail(w);
        return false;
    }
    ktx__w_array_len(w, count, flexible);
    return !w->err;
}

void ktx__w_i32_array(struct ktx__writer *w, const int32_t *v, int32_t count, bool flexible,
                      bool nullable)
{
    if (!ktx__w_array(w, v, count, flexible, nullable))
        return;
    for (int32_t i = 0; i < count; i++)
        ktx__w_i32(w, v[i]);
}

void ktx__w_str_array(struct ktx__writer *w, const struct ktx__str *v, int32_t count,
                      bool flexible)
{
    if (!ktx__w_array(w, v, count, flexible, false))
        return;
    for (int32_t i = 0; i < count; i++)
        ktx__w_string(w, v[i], flexible);
}

void ktx__w_tags_empty(struct ktx__writer *w)
{
    ktx__w_uvarint(w, 0);
}

size_t ktx__w_reserve(struct ktx__writer *w, size_t n)
{
    size_t off = w->len;
    uint8_t *p = ktx__w_extend(w, n);
    if (p)
        memset(p, 0, n);
    return off;
}

void ktx__w_patch_i32(struct ktx__writer *w, size_t off, int32_t v)
{
    if (w->err || off + 4 > w->len)
        return;
    ktx__be32_put(w->p + off, (uint32_t)v);
}
