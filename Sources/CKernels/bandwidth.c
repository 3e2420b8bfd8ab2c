// Measures how fast this machine streams memory into the cores, the number that
// bounds decode speed: every decoded token reads every weight it touches once.
#include "ckernels.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

typedef struct { const uint8_t *buf; size_t bytes; double sink[64]; } bw_job;

#if defined(__x86_64__)
__attribute__((target("avx2")))
static double sum_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_load_si256((const __m256i *)(p + i)));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
    }
    a0 = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    int64_t out[4];
    _mm256_storeu_si256((__m256i *)out, a0);
    return (double)(out[0] + out[1] + out[2] + out[3]);
}
#endif

static double sum_scalar(const uint8_t *p, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i + 8 <= n; i += 8) { uint64_t v; memcpy(&v, p + i, 8); s += v; }
    return (double)s;
}

static void bw_task(void *ctx, int task, int n_tasks) {
    bw_job *j = ctx;
    const size_t per = (j->bytes / (size_t)n_tasks) & ~(size_t)127;
    const uint8_t *p = j->buf + per * (size_t)task;
#if defined(__x86_64__)
    if (ck_cpu_level() >= 1) { j->sink[task & 63] += sum_avx2(p, per); return; }
#endif
    j->sink[task & 63] += sum_scalar(p, per);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double ck_measure_read_bandwidth(ck_pool *pool, size_t bytes, int repetitions) {
    bytes &= ~(size_t)4095;
    if (bytes < (1u << 20) || repetitions < 1) return 0;
    uint8_t *buf = aligned_alloc(4096, bytes);
    if (!buf) return 0;
    memset(buf, 1, bytes); // fault every page in before timing
    bw_job j = { .buf = buf, .bytes = bytes };
    double best = 0;
    for (int r = 0; r < repetitions; r++) {
        const double t0 = now_s();
        ck_pool_run(pool, bw_task, &j, ck_pool_threads(pool));
        const double dt = now_s() - t0;
        if (dt > 0 && (double)bytes / dt > best) best = (double)bytes / dt;
    }
    free(buf);
    return best;
}
