#ifndef CNUAGE_CRC_H
#define CNUAGE_CRC_H

#include <stddef.h>
#include <stdint.h>

/// Whether this CPU has PCLMULQDQ (carry-less multiply) and SSE4.2 (the CRC32C instruction).
int nuage_crc_has_pclmul(void);
int nuage_crc_has_sse42(void);

/// Folds `blocks` (at least 1) 16-byte blocks of a reflected CRC of width 32 or 64 into one:
/// `state` (the CRC register before its final XOR) is XORed into the first bytes, and `out`
/// receives 16 bytes whose CRC, from a zero register, is the CRC of all the blocks. `k` holds
/// x^575, x^511, x^191 and x^127 modulo the polynomial, bit-reflected in 64 bits.
void nuage_crc_fold(const uint8_t *data, size_t blocks, uint64_t state, const uint64_t k[4], uint8_t out[16]);

/// CRC-32C with the SSE4.2 instruction: `state` is the register before its final XOR.
uint32_t nuage_crc32c_sse42(uint32_t state, const uint8_t *data, size_t length);

#endif
