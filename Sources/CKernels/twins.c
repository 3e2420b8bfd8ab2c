// Random weights in quantized block form for the speed twins (SpeedTwin.swift): models
// with a real model's shapes and types but no file, made in memory with a fixed seed.
// Each row is seeded from (seed, row) alone, so any split of the rows across threads
// gives the same bytes.
#include "ckernels.h"
#include "quant_blocks.h"
#include <string.h>

static inline uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void random_bytes(uint64_t *s, uint8_t *dst, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) { const uint64_t r = splitmix64(s); memcpy(dst + i, &r, 8); }
    if (i < n) { const uint64_t r = splitmix64(s); memcpy(dst + i, &r, n - i); }
}

static ck_half to_half(float x) { _Float16 h = (_Float16)x; ck_half out; memcpy(&out, &h, 2); return out; }

// ≈ N(0, 1): the sum of four uniforms (Irwin–Hall), centred and scaled to unit variance.
static float gaussian(uint64_t *s) {
    const uint64_t r = splitmix64(s);
    float sum = 0;
    for (int k = 0; k < 4; k++) sum += (float)((r >> (16 * k)) & 0xFFFF) / 65536.0f;
    return (sum - 2.0f) * 1.7320508f;  // var of one U(0,1) is 1/12: four have 1/3
}

int ck_fill_random_rows(int type, void *dst, size_t row_bytes, int64_t cols, int64_t row0, int64_t rows,
                        uint64_t seed, float sigma) {
    const int64_t block = type == CK_Q4_K || type == CK_Q6_K ? 256 : type == CK_Q8_0 ? 32 : type == CK_F32 ? 1 : 0;
    if (block == 0 || cols <= 0 || cols % block) return -1;
    for (int64_t r = 0; r < rows; r++) {
        uint64_t s = seed ^ ((uint64_t)(row0 + r) * 0xD1B54A32D192ED03ull);
        splitmix64(&s);
        uint8_t *row = (uint8_t *)dst + (size_t)r * row_bytes;
        switch (type) {
        case CK_Q4_K: {
            // Every sub-block: scale 16, min 16, so w = 16·d·(q − 7.5) with dmin = 7.5·d:
            // uniform over 16 levels, mean 0, std 16·d·√(255/12) ≈ 73.8·d.
            const float d = sigma / 73.76f;
            for (int64_t b = 0; b < cols / 256; b++) {
                blk_q4_K *k = (blk_q4_K *)row + b;
                random_bytes(&s, k->qs, sizeof k->qs);
                k->d = to_half(d); k->dmin = to_half(7.5f * d);
                const uint8_t S = 16, M = 16;
                for (int j = 0; j < 4; j++) {
                    k->scales[j] = (uint8_t)((S & 63) | ((S >> 4) << 6));
                    k->scales[j + 4] = (uint8_t)((M & 63) | ((M >> 4) << 6));
                    k->scales[j + 8] = (uint8_t)((S & 0xF) | ((M & 0xF) << 4));
                }
            }
            break;
        }
        case CK_Q6_K: {
            // Scales 8: w = 8·d·(q − 32), q uniform in [0, 64): std 8·d·18.47.
            const float d = sigma / (8.0f * 18.475f);
            for (int64_t b = 0; b < cols / 256; b++) {
                blk_q6_K *k = (blk_q6_K *)row + b;
                random_bytes(&s, k->ql, sizeof k->ql);
                random_bytes(&s, k->qh, sizeof k->qh);
                for (int j = 0; j < 16; j++) k->scales[j] = 8;
                k->d = to_half(d);
            }
            break;
        }
        case CK_Q8_0: {
            // q uniform in [−127, 127]: std ≈ 73.6·d.
            const float d = sigma / 73.6f;
            for (int64_t b = 0; b < cols / 32; b++) {
                blk_q8_0 *k = (blk_q8_0 *)row + b;
                random_bytes(&s, (uint8_t *)k->qs, sizeof k->qs);
                for (int j = 0; j < 32; j++) if (k->qs[j] == -128) k->qs[j] = -127;
                k->d = to_half(d);
            }
            break;
        }
        case CK_F32: {
            float *f = (float *)row;
            for (int64_t i = 0; i < cols; i++) f[i] = sigma * gaussian(&s);
            break;
        }
        default:
            return -1;
        }
    }
    return 0;
}
