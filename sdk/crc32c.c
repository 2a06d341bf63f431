/*
 * CRC-32C: a portable slicing-by-8 path and an SSE4.2 path that runs three independent
 * crc32 instruction streams in parallel (the instruction has a latency of three cycles
 * but a throughput of one per cycle) and combines them with a table-driven shift.
 *
 * All tables are built once, on first use, under pthread_once; the choice between the
 * paths is made at the same time with __builtin_cpu_supports("sse4.2"). The hardware
 * functions carry __attribute__((target("sse4.2"))) so that the rest of the library is
 * built for the baseline instruction set.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define KTX_CRC32C_X86 1
#include <nmmintrin.h>
#endif

/* Reflected Castagnoli polynomial. */
#define POLY 0x82F63B78u

/* Bytes per stream in one 3-way block: long blocks for big buffers, short ones for the
 * tail. Each size needs its own shift table (see shift_table below). */
#define LONG_BLOCK 8192
#define SHORT_BLOCK 256

/* sw_table[k][b]: the CRC register after byte |b| followed by |k| zero bytes. */
static uint32_t sw_table[8][256];
/* Shift tables: the linear map "feed LONG_BLOCK (SHORT_BLOCK) zero bytes into the CRC
 * register", split per register byte so that it costs four lookups. */
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];

static uint32_t (*crc_impl)(uint32_t, const void *, size_t);
static bool hw_available;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

/* Feeds |n| zero bytes into the raw CRC register |reg| one byte at a time. */
static uint32_t feed_zeros(uint32_t reg, size_t n)
{
    while (n--)
        reg = sw_table[0][reg & 0xff] ^ (reg >> 8);
    return reg;
}

/* Builds |table| so that shift(reg) = XOR of table[k][byte k of reg] equals feeding
 * |zeros| zero bytes into |reg|. The map is linear over GF(2), so the image of each of
 * the 32 basis bits determines it. */
static void build_shift_table(uint32_t table[4][256], size_t zeros)
{
    uint32_t basis[32];
    for (int i = 0; i < 32; i++)
        basis[i] = feed_zeros((uint32_t)1 << i, zeros);
    for (int k = 0; k < 4; k++) {
        for (int b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int bit = 0; bit < 8; bit++)
                if (b & (1 << bit))
                    v ^= basis[8 * k + bit];
            table[k][b] = v;
        }
    }
}

static void build_sw_tables(void)
{
    for (uint32_t b = 0; b < 256; b++) {
        uint32_t reg = b;
        for (int i = 0; i < 8; i++)
            reg = (reg >> 1) ^ (POLY & (0u - (reg & 1)));
        sw_table[0][b] = reg;
    }
    for (int k = 1; k < 8; k++)
        for (int b = 0; b < 256; b++)
            sw_table[k][b] = (sw_table[k - 1][b] >> 8) ^ sw_table[0][sw_table[k - 1][b] & 0xff];
}

static uint32_t crc_sw_impl(uint32_t crc, const void *buf, size_t len);
#ifdef KTX_CRC32C_X86
static uint32_t crc_hw_impl(uint32_t crc, const void *buf, size_t len);
#endif

static void crc_init(void)
{
    build_sw_tables();
    build_shift_table(shift_long, LONG_BLOCK);
    build_shift_table(shift_short, SHORT_BLOCK);
    crc_impl = crc_sw_impl;
#ifdef KTX_CRC32C_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        hw_available = true;
        crc_impl = crc_hw_impl;
    }
#endif
}

static inline uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static uint32_t crc_sw_impl(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    uint32_t reg = ~crc;
    while (len >= 8) {
        uint64_t word = load_le64(p) ^ reg;
        reg = sw_table[7][word & 0xff] ^ sw_table[6][(word >> 8) & 0xff] ^
              sw_table[5][(word >> 16) & 0xff] ^ sw_table[4][(word >> 24) & 0xff] ^
              sw_table[3][(word >> 32) & 0xff] ^ sw_table[2][(word >> 40) & 0xff] ^
              sw_table[1][(word >> 48) & 0xff] ^ sw_table[0][word >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        reg = sw_table[0][(reg ^ *p++) & 0xff] ^ (reg >> 8);
    return ~reg;
}

/* Applies a shift table to the raw register |reg|. */
static inline uint32_t shift(const uint32_t table[4][256], uint32_t reg)
{
    return table[0][reg & 0xff] ^ table[1][(reg >> 8) & 0xff] ^ table[2][(reg >> 16) & 0xff] ^
           table[3][reg >> 24];
}

#ifdef KTX_CRC32C_X86
static inline uint64_t load_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v)); /* x86 is little-endian, as the crc32 instruction expects */
    return v;
}

/* Runs the raw register |reg| over |len| bytes with one crc32 instruction stream. */
__attribute__((target("sse4.2"))) static uint32_t hw_1way(uint32_t reg, const uint8_t *p,
                                                          size_t len)
{
    uint64_t r = reg;
    while (len >= 8) {
        r = _mm_crc32_u64(r, load_u64(p));
        p += 8;
        len -= 8;
    }
    reg = (uint32_t)r;
    while (len--)
        reg = _mm_crc32_u8(reg, *p++);
    return reg;
}

/*
 * Runs the raw register |reg| over as many blocks of 3 * |block| bytes as |*len| holds.
 * Streams 1 and 2 start from a zero register; since the CRC register is linear in its
 * input, crc(A || B) = shift_|B|(crc(A)) ^ crc0(B), which joins them. Advances |*pp|
 * and |*len| past the blocks consumed.
 */
__attribute__((target("sse4.2"))) static uint32_t hw_3way(uint32_t reg, const uint8_t **pp,
                                                          size_t *len, size_t block,
                                                          const uint32_t table[4][256])
{
    const uint8_t *p = *pp;
    while (*len >= 3 * block) {
        uint64_t c0 = reg, c1 = 0, c2 = 0;
        const uint8_t *end = p + block;
        do {
            c0 = _mm_crc32_u64(c0, load_u64(p));
            c1 = _mm_crc32_u64(c1, load_u64(p + block));
            c2 = _mm_crc32_u64(c2, load_u64(p + 2 * block));
            p += 8;
        } while (p < end);
        reg = shift(table, (uint32_t)c0) ^ (uint32_t)c1;
        reg = shift(table, reg) ^ (uint32_t)c2;
        p += 2 * block;
        *len -= 3 * block;
    }
    *pp = p;
    return reg;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw_impl(uint32_t crc, const void *buf,
                                                              size_t len)
{
    const uint8_t *p = buf;
    uint32_t reg = ~crc;
    /* Align to 8 bytes so that the 64-bit loads do not split cache lines. */
    while (len && ((uintptr_t)p & 7)) {
        reg = _mm_crc32_u8(reg, *p++);
        len--;
    }
    reg = hw_3way(reg, &p, &len, LONG_BLOCK, shift_long);
    reg = hw_3way(reg, &p, &len, SHORT_BLOCK, shift_short);
    return ~hw_1way(reg, p, len);
}

static uint32_t crc_hw_1way_impl(uint32_t crc, const void *buf, size_t len)
{
    return ~hw_1way(~crc, buf, len);
}
#endif /* KTX_CRC32C_X86 */

uint32_t ktx__crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return crc_impl(crc, buf, len);
}

uint32_t ktx__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
    return crc_sw_impl(crc, buf, len);
}

uint32_t ktx__crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
#ifdef KTX_CRC32C_X86
    if (hw_available)
        return crc_hw_impl(crc, buf, len);
#endif
    return crc_sw_impl(crc, buf, len);
}

uint32_t ktx__crc32c_hw_1way(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&crc_once, crc_init);
#ifdef KTX_CRC32C_X86
    if (hw_available)
        return crc_hw_1way_impl(crc, buf, len);
#endif
    return crc_sw_impl(crc, buf, len);
}

bool ktx__crc32c_hw_available(void)
{
    pthread_once(&crc_once, crc_init);
    return hw_available;
}
