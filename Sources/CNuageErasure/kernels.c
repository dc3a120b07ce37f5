/*
 * GF(2^8) Reed-Solomon dot-product kernels (polynomial 0x11D, as ISA-L and klauspost/reedsolomon).
 *
 * nuage_gf_dot computes nout output rows, each the dot product of a coefficient row with the nsrc
 * input buffers. Every kernel has the shape of ISA-L's gf_Nvect_dot_prod: the outputs are taken in
 * groups of up to *_ROWS; for a group, per-coefficient tables are built on the stack, then one pass
 * over the columns loads each source block once, accumulates into the group's outputs held in
 * registers (two blocks per iteration) and stores each output block once.
 *
 *  - scalar: a 256-byte product row per coefficient, one lookup per byte. Portable reference.
 *  - avx2, avx512: split-nibble tables, c*x = lo[x & 15] ^ hi[x >> 4], looked up with vpshufb
 *    (ymm, zmm). AVX2 ends a ragged length with one overlapping 32-byte block (it recomputes the
 *    same bytes: outputs never alias inputs) and leaves len < 32 to scalar; AVX-512 uses masked
 *    loads and stores.
 *  - gfni: multiplication by c is an 8x8 bit matrix applied by vgf2p8affineqb. (vgf2p8mulb is not
 *    usable: it reduces by the AES polynomial 0x11B.)
 *
 * The log/exp tables are constants (printed once by a small generator) and the CPU features are
 * detected on first use and cached atomically, so every entry point is thread-safe.
 * x86 kernels use per-function target attributes with run-time dispatch: no global -m flags.
 */
#include "CNuageErasure.h"

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#endif

/* gf_log[a] = log2(a) for a != 0; gf_exp[i] = 2^i, i in 0..511 (period 255, long enough that
 * gf_log[a] + gf_log[b] needs no reduction). */
static const uint8_t gf_log[256] = {
      0,   0,   1,  25,   2,  50,  26, 198,   3, 223,  51, 238,  27, 104, 199,  75,
      4, 100, 224,  14,  52, 141, 239, 129,  28, 193, 105, 248, 200,   8,  76, 113,
      5, 138, 101,  47, 225,  36,  15,  33,  53, 147, 142, 218, 240,  18, 130,  69,
     29, 181, 194, 125, 106,  39, 249, 185, 201, 154,   9, 120,  77, 228, 114, 166,
      6, 191, 139,  98, 102, 221,  48, 253, 226, 152,  37, 179,  16, 145,  34, 136,
     54, 208, 148, 206, 143, 150, 219, 189, 241, 210,  19,  92, 131,  56,  70,  64,
     30,  66, 182, 163, 195,  72, 126, 110, 107,  58,  40,  84, 250, 133, 186,  61,
    202,  94, 155, 159,  10,  21, 121,  43,  78, 212, 229, 172, 115, 243, 167,  87,
      7, 112, 192, 247, 140, 128,  99,  13, 103,  74, 222, 237,  49, 197, 254,  24,
    227, 165, 153, 119,  38, 184, 180, 124,  17,  68, 146, 217,  35,  32, 137,  46,
     55,  63, 209,  91, 149, 188, 207, 205, 144, 135, 151, 178, 220, 252, 190,  97,
    242,  86, 211, 171,  20,  42,  93, 158, 132,  60,  57,  83,  71, 109,  65, 162,
     31,  45,  67, 216, 183, 123, 164, 118, 196,  23,  73, 236, 127,  12, 111, 246,
    108, 161,  59,  82,  41, 157,  85, 170, 251,  96, 134, 177, 187, 204,  62,  90,
    203,  89,  95, 176, 156, 169, 160,  81,  11, 245,  22, 235, 122, 117,  44, 215,
     79, 174, 213, 233, 230, 231, 173, 232, 116, 214, 244, 234, 168,  80,  88, 175,
};

static const uint8_t gf_exp[512] = {
      1,   2,   4,   8,  16,  32,  64, 128,  29,  58, 116, 232, 205, 135,  19,  38,
     76, 152,  45,  90, 180, 117, 234, 201, 143,   3,   6,  12,  24,  48,  96, 192,
    157,  39,  78, 156,  37,  74, 148,  53, 106, 212, 181, 119, 238, 193, 159,  35,
     70, 140,   5,  10,  20,  40,  80, 160,  93, 186, 105, 210, 185, 111, 222, 161,
     95, 190,  97, 194, 153,  47,  94, 188, 101, 202, 137,  15,  30,  60, 120, 240,
    253, 231, 211, 187, 107, 214, 177, 127, 254, 225, 223, 163,  91, 182, 113, 226,
    217, 175,  67, 134,  17,  34,  68, 136,  13,  26,  52, 104, 208, 189, 103, 206,
    129,  31,  62, 124, 248, 237, 199, 147,  59, 118, 236, 197, 151,  51, 102, 204,
    133,  23,  46,  92, 184, 109, 218, 169,  79, 158,  33,  66, 132,  21,  42,  84,
    168,  77, 154,  41,  82, 164,  85, 170,  73, 146,  57, 114, 228, 213, 183, 115,
    230, 209, 191,  99, 198, 145,  63, 126, 252, 229, 215, 179, 123, 246, 241, 255,
    227, 219, 171,  75, 150,  49,  98, 196, 149,  55, 110, 220, 165,  87, 174,  65,
    130,  25,  50, 100, 200, 141,   7,  14,  28,  56, 112, 224, 221, 167,  83, 166,
     81, 162,  89, 178, 121, 242, 249, 239, 195, 155,  43,  86, 172,  69, 138,   9,
     18,  36,  72, 144,  61, 122, 244, 245, 247, 243, 251, 235, 203, 139,  11,  22,
     44,  88, 176, 125, 250, 233, 207, 131,  27,  54, 108, 216, 173,  71, 142,   1,
      2,   4,   8,  16,  32,  64, 128,  29,  58, 116, 232, 205, 135,  19,  38,  76,
    152,  45,  90, 180, 117, 234, 201, 143,   3,   6,  12,  24,  48,  96, 192, 157,
     39,  78, 156,  37,  74, 148,  53, 106, 212, 181, 119, 238, 193, 159,  35,  70,
    140,   5,  10,  20,  40,  80, 160,  93, 186, 105, 210, 185, 111, 222, 161,  95,
    190,  97, 194, 153,  47,  94, 188, 101, 202, 137,  15,  30,  60, 120, 240, 253,
    231, 211, 187, 107, 214, 177, 127, 254, 225, 223, 163,  91, 182, 113, 226, 217,
    175,  67, 134,  17,  34,  68, 136,  13,  26,  52, 104, 208, 189, 103, 206, 129,
     31,  62, 124, 248, 237, 199, 147,  59, 118, 236, 197, 151,  51, 102, 204, 133,
     23,  46,  92, 184, 109, 218, 169,  79, 158,  33,  66, 132,  21,  42,  84, 168,
     77, 154,  41,  82, 164,  85, 170,  73, 146,  57, 114, 228, 213, 183, 115, 230,
    209, 191,  99, 198, 145,  63, 126, 252, 229, 215, 179, 123, 246, 241, 255, 227,
    219, 171,  75, 150,  49,  98, 196, 149,  55, 110, 220, 165,  87, 174,  65, 130,
     25,  50, 100, 200, 141,   7,  14,  28,  56, 112, 224, 221, 167,  83, 166,  81,
    162,  89, 178, 121, 242, 249, 239, 195, 155,  43,  86, 172,  69, 138,   9,  18,
     36,  72, 144,  61, 122, 244, 245, 247, 243, 251, 235, 203, 139,  11,  22,  44,
     88, 176, 125, 250, 233, 207, 131,  27,  54, 108, 216, 173,  71, 142,   1,   2,
};

uint8_t nuage_gf_mul(uint8_t a, uint8_t b) {
    return (a && b) ? gf_exp[gf_log[a] + gf_log[b]] : 0;
}

uint8_t nuage_gf_inv(uint8_t a) {
    return a ? gf_exp[255 - gf_log[a]] : 0;
}

/* a * x: shift, reducing by 0x11D. */
static uint8_t gf_mul2(uint8_t a) {
    return (uint8_t)((a << 1) ^ ((a >> 7) * 0x1d));
}

/* ---- scalar ---- */

/* row[x] = c * x for every byte x, by linearity from the products c * 2^k. */
static void mul_row(uint8_t c, uint8_t row[256]) {
    row[0] = 0;
    for (int b = 1; b < 256; b <<= 1, c = gf_mul2(c))
        for (int x = 0; x < b; x++)
            row[b + x] = row[x] ^ c;
}

static void dot_scalar(size_t len, int nsrc, int nout, const uint8_t *coefs,
                       const uint8_t *const *in, uint8_t *const *out) {
    uint8_t row[256];
    for (int r = 0; r < nout; r++) {
        uint8_t *o = out[r];
        for (int j = 0; j < nsrc; j++) {
            const uint8_t *s = in[j];
            mul_row(coefs[r * nsrc + j], row);
            if (j == 0)
                for (size_t i = 0; i < len; i++) o[i] = row[s[i]];
            else
                for (size_t i = 0; i < len; i++) o[i] ^= row[s[i]];
        }
    }
}

#if defined(__x86_64__)

/* ---- CPU detection ---- */

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

/* Bit k set when kernel k can run: the instructions exist and the OS saves ymm (XCR0 bits 1-2)
 * and, for AVX-512, opmask and zmm state (bits 5-7). */
static int detect_kernels(void) {
    unsigned a, b, c, d;
    int k = 1 << NUAGE_KERNEL_SCALAR;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX))
        return k;
    uint64_t xcr0 = xgetbv0();
    if ((xcr0 & 0x06) != 0x06 || !__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return k;
    if (b & bit_AVX2)
        k |= 1 << NUAGE_KERNEL_AVX2;
    if ((xcr0 & 0xe6) == 0xe6 && (b & bit_AVX512F) && (b & bit_AVX512BW)) {
        k |= 1 << NUAGE_KERNEL_AVX512;
        if (c & bit_GFNI)
            k |= 1 << NUAGE_KERNEL_GFNI;
    }
    return k;
}

static int cpu_kernels(void) {
    static atomic_int cached = -1;
    int k = atomic_load_explicit(&cached, memory_order_relaxed);
    if (k < 0) {
        k = detect_kernels();
        atomic_store_explicit(&cached, k, memory_order_relaxed);
    }
    return k;
}

/* ---- shared by the SIMD kernels ---- */

/* Outputs per group: what fits in registers with two blocks per step (16 ymm, 32 zmm). The group's
 * tables are on the stack: at most 255 sources * ROWS * 32 (or 8) bytes, i.e. 32 KiB for AVX2,
 * 64 KiB for AVX-512, 16 KiB for GFNI. */
#define AVX2_ROWS 4
#define AVX512_ROWS 8
#define GFNI_ROWS 8

/* for (int i = 0; i < n; i++), fully unrolled: n is a constant once inlined, and the unrolling
 * keeps the accumulator arrays in registers. */
#define UNROLLED(i, n) _Pragma("GCC unroll 8") for (int i = 0; i < (n); i++)

/* Split-nibble tables of c (avx2, avx512): t[x] = c * x and t[16 + x] = c * (x << 4), x in 0..15. */
static void nibble_tables(uint8_t c, uint8_t t[32]) {
    uint8_t c16 = gf_mul2(gf_mul2(gf_mul2(gf_mul2(c))));
    t[0] = t[16] = 0;
    for (int b = 1; b < 16; b <<= 1, c = gf_mul2(c), c16 = gf_mul2(c16))
        for (int x = 0; x < b; x++) {
            t[b + x] = t[x] ^ c;
            t[16 + b + x] = t[16 + x] ^ c16;
        }
}

/* Tables of rows r0..r0+g-1, source-major: coefficient (r0 + r, j) at tab + 32 * (j * g + r). */
static void group_nibble_tables(const uint8_t *coefs, int nsrc, int r0, int g, uint8_t *tab) {
    for (int j = 0; j < nsrc; j++)
        for (int r = 0; r < g; r++, tab += 32)
            nibble_tables(coefs[(r0 + r) * nsrc + j], tab);
}

/* ---- avx2 ---- */

/* out[r][pos + 32 * b + i], r < g, b < blocks, i < 32. */
static inline __attribute__((always_inline, target("avx2")))
void avx2_step(size_t pos, int blocks, int g, int nsrc, const uint8_t *tab,
               const uint8_t *const *in, uint8_t *const *out) {
    const __m256i nib = _mm256_set1_epi8(0x0f);
    __m256i acc[2][AVX2_ROWS];
    UNROLLED (b, blocks)
        UNROLLED (r, g)
            acc[b][r] = _mm256_setzero_si256();
    for (int j = 0; j < nsrc; j++, tab += 32 * g) {
        __m256i lo[2], hi[2];
        UNROLLED (b, blocks) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(in[j] + pos + 32 * b));
            lo[b] = _mm256_and_si256(x, nib);
            hi[b] = _mm256_and_si256(_mm256_srli_epi64(x, 4), nib);
        }
        UNROLLED (r, g) {
            __m256i tl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(tab + 32 * r)));
            __m256i th = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(tab + 32 * r + 16)));
            UNROLLED (b, blocks)
                acc[b][r] = _mm256_xor_si256(acc[b][r], _mm256_xor_si256(_mm256_shuffle_epi8(tl, lo[b]),
                                                                         _mm256_shuffle_epi8(th, hi[b])));
        }
    }
    UNROLLED (b, blocks)
        UNROLLED (r, g)
            _mm256_storeu_si256((__m256i *)(out[r] + pos + 32 * b), acc[b][r]);
}

/* All columns of g outputs; len >= 32. */
static inline __attribute__((always_inline, target("avx2")))
void avx2_rows(size_t len, int g, int nsrc, const uint8_t *tab,
               const uint8_t *const *in, uint8_t *const *out) {
    size_t pos = 0;
    for (; pos + 64 <= len; pos += 64)
        avx2_step(pos, 2, g, nsrc, tab, in, out);
    for (; pos < len; pos += 32) {
        if (len - pos < 32)
            pos = len - 32;
        avx2_step(pos, 1, g, nsrc, tab, in, out);
    }
}

__attribute__((target("avx2")))
static void dot_avx2(size_t len, int nsrc, int nout, const uint8_t *coefs,
                     const uint8_t *const *in, uint8_t *const *out) {
    if (len < 32) {
        dot_scalar(len, nsrc, nout, coefs, in, out);
        return;
    }
    _Alignas(64) uint8_t tab[AVX2_ROWS * 255 * 32];
    for (int r0 = 0; r0 < nout; r0 += AVX2_ROWS) {
        int g = nout - r0 < AVX2_ROWS ? nout - r0 : AVX2_ROWS;
        group_nibble_tables(coefs, nsrc, r0, g, tab);
        switch (g) {
        case 1: avx2_rows(len, 1, nsrc, tab, in, out + r0); break;
        case 2: avx2_rows(len, 2, nsrc, tab, in, out + r0); break;
        case 3: avx2_rows(len, 3, nsrc, tab, in, out + r0); break;
        default: avx2_rows(len, 4, nsrc, tab, in, out + r0); break;
        }
    }
}

/* ---- avx512 ---- */

/* out[r][pos + 64 * b + i], r < g, b < blocks, i < 64; when masked (then blocks == 1), only the
 * bytes selected by mask are read and written. */
static inline __attribute__((always_inline, target("avx512f,avx512bw")))
void avx512_step(size_t pos, int blocks, int masked, __mmask64 mask, int g, int nsrc,
                 const uint8_t *tab, const uint8_t *const *in, uint8_t *const *out) {
    const __m512i nib = _mm512_set1_epi8(0x0f);
    __m512i acc[2][AVX512_ROWS];
    UNROLLED (b, blocks)
        UNROLLED (r, g)
            acc[b][r] = _mm512_setzero_si512();
    for (int j = 0; j < nsrc; j++, tab += 32 * g) {
        __m512i lo[2], hi[2];
        UNROLLED (b, blocks) {
            const uint8_t *p = in[j] + pos + 64 * b;
            __m512i x = masked ? _mm512_maskz_loadu_epi8(mask, p) : _mm512_loadu_si512(p);
            lo[b] = _mm512_and_si512(x, nib);
            hi[b] = _mm512_and_si512(_mm512_srli_epi64(x, 4), nib);
        }
        UNROLLED (r, g) {
            __m512i tl = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(tab + 32 * r)));
            __m512i th = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(tab + 32 * r + 16)));
            UNROLLED (b, blocks) /* 0x96: three-way xor */
                acc[b][r] = _mm512_ternarylogic_epi64(acc[b][r], _mm512_shuffle_epi8(tl, lo[b]),
                                                      _mm512_shuffle_epi8(th, hi[b]), 0x96);
        }
    }
    UNROLLED (b, blocks)
        UNROLLED (r, g) {
            uint8_t *p = out[r] + pos + 64 * b;
            if (masked)
                _mm512_mask_storeu_epi8(p, mask, acc[b][r]);
            else
                _mm512_storeu_si512(p, acc[b][r]);
        }
}

static inline __attribute__((always_inline, target("avx512f,avx512bw")))
void avx512_rows(size_t len, int g, int nsrc, const uint8_t *tab,
                 const uint8_t *const *in, uint8_t *const *out) {
    size_t pos = 0;
    for (; pos + 128 <= len; pos += 128)
        avx512_step(pos, 2, 0, 0, g, nsrc, tab, in, out);
    if (pos + 64 <= len) {
        avx512_step(pos, 1, 0, 0, g, nsrc, tab, in, out);
        pos += 64;
    }
    if (pos < len)
        avx512_step(pos, 1, 1, ~(__mmask64)0 >> (64 - (len - pos)), g, nsrc, tab, in, out);
}

__attribute__((target("avx512f,avx512bw")))
static void dot_avx512(size_t len, int nsrc, int nout, const uint8_t *coefs,
                       const uint8_t *const *in, uint8_t *const *out) {
    _Alignas(64) uint8_t tab[AVX512_ROWS * 255 * 32];
    for (int r0 = 0; r0 < nout; r0 += AVX512_ROWS) {
        int g = nout - r0 < AVX512_ROWS ? nout - r0 : AVX512_ROWS;
        group_nibble_tables(coefs, nsrc, r0, g, tab);
        switch (g) {
        case 1: avx512_rows(len, 1, nsrc, tab, in, out + r0); break;
        case 2: avx512_rows(len, 2, nsrc, tab, in, out + r0); break;
        case 3: avx512_rows(len, 3, nsrc, tab, in, out + r0); break;
        case 4: avx512_rows(len, 4, nsrc, tab, in, out + r0); break;
        case 5: avx512_rows(len, 5, nsrc, tab, in, out + r0); break;
        case 6: avx512_rows(len, 6, nsrc, tab, in, out + r0); break;
        case 7: avx512_rows(len, 7, nsrc, tab, in, out + r0); break;
        default: avx512_rows(len, 8, nsrc, tab, in, out + r0); break;
        }
    }
}

/* ---- gfni ---- */

/* The vgf2p8affineqb matrix of multiplication by c: output bit i is the parity of the input byte
 * ANDed with byte 7 - i of the qword, whose bit j is therefore bit i of c * 2^j. */
static uint64_t gfni_matrix(uint8_t c) {
    uint64_t m = 0;
    for (int j = 0; j < 8; j++, c = gf_mul2(c))
        for (int i = 0; i < 8; i++)
            m |= (uint64_t)((c >> i) & 1) << (8 * (7 - i) + j);
    return m;
}

/* As avx512_step, with one matrix per coefficient: coefficient (r, j) at tab[j * g + r]. */
static inline __attribute__((always_inline, target("avx512f,avx512bw,gfni")))
void gfni_step(size_t pos, int blocks, int masked, __mmask64 mask, int g, int nsrc,
               const uint64_t *tab, const uint8_t *const *in, uint8_t *const *out) {
    __m512i acc[2][GFNI_ROWS];
    UNROLLED (b, blocks)
        UNROLLED (r, g)
            acc[b][r] = _mm512_setzero_si512();
    for (int j = 0; j < nsrc; j++, tab += g) {
        __m512i x[2];
        UNROLLED (b, blocks) {
            const uint8_t *p = in[j] + pos + 64 * b;
            x[b] = masked ? _mm512_maskz_loadu_epi8(mask, p) : _mm512_loadu_si512(p);
        }
        UNROLLED (r, g) {
            __m512i m = _mm512_set1_epi64((long long)tab[r]);
            UNROLLED (b, blocks)
                acc[b][r] = _mm512_xor_si512(acc[b][r], _mm512_gf2p8affine_epi64_epi8(x[b], m, 0));
        }
    }
    UNROLLED (b, blocks)
        UNROLLED (r, g) {
            uint8_t *p = out[r] + pos + 64 * b;
            if (masked)
                _mm512_mask_storeu_epi8(p, mask, acc[b][r]);
            else
                _mm512_storeu_si512(p, acc[b][r]);
        }
}

static inline __attribute__((always_inline, target("avx512f,avx512bw,gfni")))
void gfni_rows(size_t len, int g, int nsrc, const uint64_t *tab,
               const uint8_t *const *in, uint8_t *const *out) {
    size_t pos = 0;
    for (; pos + 128 <= len; pos += 128)
        gfni_step(pos, 2, 0, 0, g, nsrc, tab, in, out);
    if (pos + 64 <= len) {
        gfni_step(pos, 1, 0, 0, g, nsrc, tab, in, out);
        pos += 64;
    }
    if (pos < len)
        gfni_step(pos, 1, 1, ~(__mmask64)0 >> (64 - (len - pos)), g, nsrc, tab, in, out);
}

__attribute__((target("avx512f,avx512bw,gfni")))
static void dot_gfni(size_t len, int nsrc, int nout, const uint8_t *coefs,
                     const uint8_t *const *in, uint8_t *const *out) {
    uint64_t tab[GFNI_ROWS * 255];
    for (int r0 = 0; r0 < nout; r0 += GFNI_ROWS) {
        int g = nout - r0 < GFNI_ROWS ? nout - r0 : GFNI_ROWS;
        for (int j = 0; j < nsrc; j++)
            for (int r = 0; r < g; r++)
                tab[j * g + r] = gfni_matrix(coefs[(r0 + r) * nsrc + j]);
        switch (g) {
        case 1: gfni_rows(len, 1, nsrc, tab, in, out + r0); break;
        case 2: gfni_rows(len, 2, nsrc, tab, in, out + r0); break;
        case 3: gfni_rows(len, 3, nsrc, tab, in, out + r0); break;
        case 4: gfni_rows(len, 4, nsrc, tab, in, out + r0); break;
        case 5: gfni_rows(len, 5, nsrc, tab, in, out + r0); break;
        case 6: gfni_rows(len, 6, nsrc, tab, in, out + r0); break;
        case 7: gfni_rows(len, 7, nsrc, tab, in, out + r0); break;
        default: gfni_rows(len, 8, nsrc, tab, in, out + r0); break;
        }
    }
}

#endif /* __x86_64__ */

/* ---- entry points ---- */

int nuage_kernel_available(int kernel) {
    if (kernel == NUAGE_KERNEL_SCALAR)
        return 1;
#if defined(__x86_64__)
    if (kernel >= NUAGE_KERNEL_AVX2 && kernel <= NUAGE_KERNEL_GFNI)
        return (cpu_kernels() >> kernel) & 1;
#endif
    return 0;
}

void nuage_gf_dot(int kernel, size_t len, int nsrc, int nout, const uint8_t *coefs,
                  const uint8_t *const *in, uint8_t *const *out) {
    if (len == 0 || nsrc < 1 || nsrc > 255 || nout < 1 || nout > 255)
        return;
    if (!nuage_kernel_available(kernel))
        kernel = NUAGE_KERNEL_SCALAR;
    switch (kernel) {
#if defined(__x86_64__)
    case NUAGE_KERNEL_AVX2: dot_avx2(len, nsrc, nout, coefs, in, out); break;
    case NUAGE_KERNEL_AVX512: dot_avx512(len, nsrc, nout, coefs, in, out); break;
    case NUAGE_KERNEL_GFNI: dot_gfni(len, nsrc, nout, coefs, in, out); break;
#endif
    default: dot_scalar(len, nsrc, nout, coefs, in, out); break;
    }
}
