// Block layouts of GGML's quantized types (little-endian, packed) and of our own
// int8 activation formats, plus half/bfloat conversions shared by every kernel file.
#pragma once
#include <stdint.h>
#include <string.h>
#include <math.h>

typedef uint16_t ck_half;

typedef struct { ck_half d; int8_t qs[32]; } blk_q8_0;                         // 34 bytes
typedef struct { ck_half d; uint8_t qs[16]; } blk_q4_0;                        // 18
typedef struct { ck_half d, m; uint8_t qs[16]; } blk_q4_1;                     // 20
typedef struct { ck_half d; uint8_t qh[4]; uint8_t qs[16]; } blk_q5_0;         // 22
typedef struct { ck_half d, m; uint8_t qh[4]; uint8_t qs[16]; } blk_q5_1;      // 24
typedef struct { ck_half d, dmin; uint8_t scales[12]; uint8_t qs[128]; } blk_q4_K;              // 144
typedef struct { ck_half d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; } blk_q5_K; // 176
typedef struct { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; ck_half d; } blk_q6_K;      // 210

// Activation formats (ours, not GGML's): the vector a weight row is dotted with.
// a32: blocks of 32 with the scale and d*sum(qs), so offset types (Q4_0's -8,
// Q4_1's +m) fold into one multiply per block.
typedef struct { float d; float s; int8_t qs[32]; } act32;                      // 40 bytes
// a256: K-quant super-blocks with per-16 sums for the min/offset terms.
typedef struct { float d; int16_t bsums[16]; int8_t qs[256]; } act256;         // 292 bytes

_Static_assert(sizeof(blk_q8_0) == 34, "q8_0");
_Static_assert(sizeof(blk_q4_0) == 18, "q4_0");
_Static_assert(sizeof(blk_q4_1) == 20, "q4_1");
_Static_assert(sizeof(blk_q5_0) == 22, "q5_0");
_Static_assert(sizeof(blk_q5_1) == 24, "q5_1");
_Static_assert(sizeof(blk_q4_K) == 144, "q4_K");
_Static_assert(sizeof(blk_q5_K) == 176, "q5_K");
_Static_assert(sizeof(blk_q6_K) == 210, "q6_K");
_Static_assert(sizeof(act32) == 40, "act32");
_Static_assert(sizeof(act256) == 292, "act256");

static inline float ck_half_to_float(ck_half h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F, mant = h & 0x3FF, bits;
    if (exp == 0) {
        if (mant == 0) { bits = sign; }
        else { // subnormal: renormalise
            exp = 127 - 15 + 1;
            while ((mant & 0x400) == 0) { mant <<= 1; exp--; }
            mant &= 0x3FF;
            bits = sign | (exp << 23) | (mant << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7F800000 | (mant << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f; memcpy(&f, &bits, 4); return f;
}

static inline float ck_bf16_to_float(uint16_t b) {
    uint32_t bits = (uint32_t)b << 16; float f; memcpy(&f, &bits, 4); return f;
}

// Q4_K/Q5_K pack eight 6-bit scales and eight 6-bit mins in 12 bytes.
static inline void ck_scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) { *d = q[j] & 63; *m = q[j + 4] & 63; }
    else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}
