// Hardware CRCs for S3's checksums: PCLMULQDQ folding for any reflected CRC of width 32 or
// 64 (CRC-32, CRC-32C, CRC-64/NVME), and the SSE4.2 instruction for CRC-32C. Folding keeps a
// 128-bit remainder equivalent (modulo the polynomial) to the data read so far; the caller
// finishes its last 16 bytes and any tail with its tables.
#include "CNuageCRC.h"

#if defined(__x86_64__)
#include <immintrin.h>

int nuage_crc_has_pclmul(void) { return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"); }
int nuage_crc_has_sse42(void) { return __builtin_cpu_supports("sse4.2"); }

// X (128 bits, the message's next 16 bytes, little-endian) moved forward by D bits: its first
// 64 bits H times x^(D+63) plus its last 64 bits L times x^(D-1), modulo P (k: lo = x^(D+63),
// hi = x^(D-1)); reflected carry-less products land with the register's alignment as they are.
__attribute__((target("pclmul,sse4.1")))
static inline __m128i fold(__m128i x, __m128i k) {
    return _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11));
}

__attribute__((target("pclmul,sse4.1")))
void nuage_crc_fold(const uint8_t *data, size_t blocks, uint64_t state, const uint64_t k[4], uint8_t out[16]) {
    const __m128i k512 = _mm_set_epi64x((long long)k[1], (long long)k[0]);
    const __m128i k128 = _mm_set_epi64x((long long)k[3], (long long)k[2]);
    __m128i x = _mm_xor_si128(_mm_loadu_si128((const __m128i *)data), _mm_cvtsi64_si128((long long)state));
    data += 16;
    blocks -= 1;
    if (blocks >= 7) {
        // Four remainders 64 bytes apart, each moved forward 512 bits at a time.
        __m128i x1 = _mm_loadu_si128((const __m128i *)data);
        __m128i x2 = _mm_loadu_si128((const __m128i *)(data + 16));
        __m128i x3 = _mm_loadu_si128((const __m128i *)(data + 32));
        data += 48;
        blocks -= 3;
        while (blocks >= 4) {
            x = _mm_xor_si128(fold(x, k512), _mm_loadu_si128((const __m128i *)data));
            x1 = _mm_xor_si128(fold(x1, k512), _mm_loadu_si128((const __m128i *)(data + 16)));
            x2 = _mm_xor_si128(fold(x2, k512), _mm_loadu_si128((const __m128i *)(data + 32)));
            x3 = _mm_xor_si128(fold(x3, k512), _mm_loadu_si128((const __m128i *)(data + 48)));
            data += 64;
            blocks -= 4;
        }
        x = _mm_xor_si128(fold(x, k128), x1);
        x = _mm_xor_si128(fold(x, k128), x2);
        x = _mm_xor_si128(fold(x, k128), x3);
    }
    while (blocks > 0) {
        x = _mm_xor_si128(fold(x, k128), _mm_loadu_si128((const __m128i *)data));
        data += 16;
        blocks -= 1;
    }
    _mm_storeu_si128((__m128i *)out, x);
}

__attribute__((target("sse4.2")))
uint32_t nuage_crc32c_sse42(uint32_t state, const uint8_t *data, size_t length) {
    uint64_t c = state;
    while (length >= 8) {
        uint64_t word;
        __builtin_memcpy(&word, data, 8);
        c = _mm_crc32_u64(c, word);
        data += 8;
        length -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (length > 0) {
        c32 = _mm_crc32_u8(c32, *data++);
        length -= 1;
    }
    return c32;
}

#else

int nuage_crc_has_pclmul(void) { return 0; }
int nuage_crc_has_sse42(void) { return 0; }
void nuage_crc_fold(const uint8_t *data, size_t blocks, uint64_t state, const uint64_t k[4], uint8_t out[16]) {
    (void)data; (void)blocks; (void)state; (void)k; (void)out;
}
uint32_t nuage_crc32c_sse42(uint32_t state, const uint8_t *data, size_t length) {
    (void)data; (void)length;
    return state;
}

#endif
