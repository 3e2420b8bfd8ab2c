// The Q5_0 and Q8_0 small-batch kernels of matmul_x8_avx2.c for CPUs with AVX-512 VNNI
// (on 256-bit vectors): one vpdpbusd in place of maddubs + madd for each activation's
// block. Q5_0 and Q8_0 carry most of a Gemma 3 GGUF's multiply-adds (gate, up, q, k, v).
// The integer block sums are exact either way (maddubs cannot saturate on these
// operands: at most 2 x 128 x 127 per pair), and the float steps are the AVX2 kernels'
// in the same order, so the result is bit for bit the one-activation kernel's.
// The K-quant kernels gain nothing from it (their per-sub-block scale multiply stays)
// and keep the AVX2 versions.
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"

#if defined(__x86_64__)
#include "simd_avx2.h"
#define VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

#define X8_TARGET VNNI
#define X8_NAME(type) ck_dot_##type##_x8_vnni
#define X8_DOT(u, s) _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s)
#include "matmul_x8_q32.h"
#endif
