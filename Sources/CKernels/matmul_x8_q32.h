// The Q5_0 and Q8_0 eight-activation kernels (matmul_x8_avx2.c explains them), written
// once and compiled for each instruction set that includes this file after defining:
//   X8_TARGET     the functions' target attribute
//   X8_NAME(t)    the kernel's name for block type t
//   X8_DOT(u, s)  8 int32 lanes, each the sum of four products of unsigned bytes u and
//                 signed bytes s (maddubs + madd on AVX2, vpdpbusd with VNNI)
// Only the integer dot differs between the copies; its sums are exact either way, so
// every copy gives the one-activation kernel's result bit for bit.

X8_TARGET void X8_NAME(q5_0)(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]) {
    const blk_q5_0 *x = row;
    const act32 *y[8];
    for (int t = 0; t < 8; t++) y[t] = acts[t];
    __m256 acc[8], off = _mm256_setzero_ps();
    for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
    float sc[8] __attribute__((aligned(32)));
    for (int64_t i = 0; i < n / 32; i++) {
        const __m256 dw = _mm256_set1_ps(h2f(x[i].d));
        // The eight block scales dw*d[t] go through memory: a broadcast from memory is a
        // load, not a shuffle on the ports the multiplies need.
        _mm256_store_ps(sc, _mm256_mul_ps(dw, _mm256_loadu_ps(tab + 16 * i)));
        off = _mm256_fmadd_ps(dw, _mm256_loadu_ps(tab + 16 * i + 8), off);
        const __m256i q = q5_bytes(x[i].qs, x[i].qh);
        for (int t = 0; t < 8; t++) {
            const __m256i p = X8_DOT(q, _mm256_loadu_si256((const __m256i *)y[t][i].qs));
            acc[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + t), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    // Q5_0 stores q + 16: the -16 * dw * d * sum(a) of every block, for all eight at once.
    finish8(acc, _mm256_mul_ps(_mm256_set1_ps(-16.0f), off), out);
}

X8_TARGET void X8_NAME(q8_0)(const void *row, const void *const acts[8], const float *tab, int64_t n, float out[8]) {
    const blk_q8_0 *x = row;
    const act32 *y[8];
    for (int t = 0; t < 8; t++) y[t] = acts[t];
    __m256 acc[8];
    for (int t = 0; t < 8; t++) acc[t] = _mm256_setzero_ps();
    float sc[8] __attribute__((aligned(32)));
    for (int64_t i = 0; i < n / 32; i++) {
        _mm256_store_ps(sc, _mm256_mul_ps(_mm256_set1_ps(h2f(x[i].d)), _mm256_loadu_ps(tab + 16 * i)));
        const __m256i w = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i aw = _mm256_sign_epi8(w, w);  // |w|; each activation takes w's sign
        for (int t = 0; t < 8; t++) {
            const __m256i a = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)y[t][i].qs), w);
            const __m256i p = X8_DOT(aw, a);
            acc[t] = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + t), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    finish8(acc, _mm256_setzero_ps(), out);
}
