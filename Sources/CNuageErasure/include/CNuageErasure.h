#ifndef CNUAGE_ERASURE_H
#define CNUAGE_ERASURE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Dot-product kernels, picked per call; SIMD ones exist on x86-64 only (see nuage_kernel_available).
enum { NUAGE_KERNEL_SCALAR = 0, NUAGE_KERNEL_AVX2 = 1, NUAGE_KERNEL_AVX512 = 2, NUAGE_KERNEL_GFNI = 3 };

/// 1 when this CPU (CPUID + XGETBV OS support for ymm/zmm state) can run the kernel, else 0.
int nuage_kernel_available(int kernel);

/// GF(2^8) with polynomial x^8+x^4+x^3+x^2+1 (0x11D), the one ISA-L and klauspost/reedsolomon use.
uint8_t nuage_gf_mul(uint8_t a, uint8_t b);
/// Multiplicative inverse; inv(0) = 0.
uint8_t nuage_gf_inv(uint8_t a);

/// For r in 0..<nout, i in 0..<len: out[r][i] = XOR over j in 0..<nsrc of mul(coefs[r*nsrc + j], in[j][i]).
/// Any len and alignment; nsrc and nout in 1...255 (other counts: nothing is written).
/// Output buffers must not alias input buffers. Unknown or unavailable kernel: falls back to scalar.
/// Thread-safe; no allocation.
void nuage_gf_dot(int kernel, size_t len, int nsrc, int nout, const uint8_t *coefs,
                  const uint8_t *const *in, uint8_t *const *out);

#ifdef __cplusplus
}
#endif

#endif
