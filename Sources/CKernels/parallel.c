// Pool-parallel forms of the row kernels: each task takes a contiguous row range,
// so every thread streams its own part of the weights exactly once.
#include "ckernels.h"
#include "quant_blocks.h"
#include "kernels_internal.h"
#include <stdlib.h>

typedef struct {
    int type; const uint8_t *w; size_t row_bytes; int64_t n;
    const uint8_t *acts; size_t act_stride; int64_t T;
    float *y; int64_t y_stride; int64_t rows;
    int64_t row0;
    // ck_matmul_par's fused kernels, chosen once for all tasks (NULL: none), and the
    // activation scale table the eight-wide ones of 32-element block types read.
    ck_dot_x8_fn x8; ck_dot_x4_fn x4;
    const float *tables;
} job;

static inline void task_range(int64_t rows, int task, int n_tasks, int64_t *r0, int64_t *r1) {
    const int64_t per = (rows + n_tasks - 1) / n_tasks;
    *r0 = per * task; *r1 = *r0 + per < rows ? *r0 + per : rows;
    if (*r0 > rows) *r0 = rows;
}

static int tasks_for(ck_pool *pool, int64_t rows, int64_t min_rows) {
    const int threads = ck_pool_threads(pool);
    if (threads <= 1 || rows < 2 * min_rows) return 1;
    int64_t t = rows / min_rows;
    const int64_t cap = 4 * (int64_t)threads; // a little over-decomposition evens out stragglers
    return (int)(t < cap ? t : cap);
}

static void matvec_task(void *ctx, int task, int n_tasks) {
    job *j = ctx; int64_t r0, r1;
    task_range(j->rows, task, n_tasks, &r0, &r1);
    if (r0 < r1) ck_matvec(j->type, j->w, j->row_bytes, j->n, j->acts, j->y, r0, r1);
}

void ck_matvec_par(ck_pool *pool, int type, const void *w, size_t row_bytes, int64_t n,
                   const void *act, float *y, int64_t rows) {
    job j = { .type = type, .w = w, .row_bytes = row_bytes, .n = n, .acts = act, .y = y, .rows = rows };
    ck_pool_run(pool, matvec_task, &j, tasks_for(pool, rows, 64));
}

// The fused kernels of the weight type, when the CPU has AVX2: eight and four
// activations per unpacked row (eight with VNNI where the CPU has it: ~21% more
// multiply-adds per second for Q5_0 and Q8_0 on an AVX-512 AMD EPYC, the same results).
static void fused_kernels(int type, ck_dot_x8_fn *x8, ck_dot_x4_fn *x4) {
    *x8 = 0; *x4 = 0;
#if defined(__x86_64__)
    if (ck_cpu_level() < 1) return;
    const int vnni = ck_has_vnni();
    switch (type) {
    case CK_Q8_0: *x8 = vnni ? ck_dot_q8_0_x8_vnni : ck_dot_q8_0_x8_avx2; *x4 = ck_dot_q8_0_x4_avx2; break;
    case CK_Q5_0: *x8 = vnni ? ck_dot_q5_0_x8_vnni : ck_dot_q5_0_x8_avx2; *x4 = ck_dot_q5_0_x4_avx2; break;
    case CK_Q4_K: *x8 = ck_dot_q4_K_x8_avx2; *x4 = ck_dot_q4_K_x4_avx2; break;
    case CK_Q6_K: *x8 = ck_dot_q6_K_x8_avx2; *x4 = ck_dot_q6_K_x4_avx2; break;
    default: break;
    }
#else
    (void)type;
#endif
}

// The 32-element block types' eight-activation kernels read the activations' block
// scales from a table (ck_x8_scale_table); K-quants need none.
static int x8_needs_table(int type) { return type == CK_Q8_0 || type == CK_Q5_0; }

static void matmul_task(void *ctx, int task, int n_tasks) {
    job *j = ctx; int64_t r0, r1;
    task_range(j->rows, task, n_tasks, &r0, &r1);
    const ck_dot_x8_fn x8 = j->x8;
    const ck_dot_x4_fn x4 = j->x4;
    if (x4 && j->T >= 4) {
        // Eight activations at a time, then four, then the rest one by one: a row's
        // blocks are unpacked once per group. Rows go in blocks of 16, and each group
        // of activations meets the whole block before the next group is read: the block
        // and the group stay in L1/L2, where row by row every row streamed all T
        // activations past it (a 512-token prefill: ~0.8 GB of cache traffic per
        // 2048-row matrix).
        const int64_t groups8 = x8 ? j->T / 8 : 0;
        const int64_t table_floats = j->n / 32 * 16;
        enum { ROW_BLOCK = 16 };
        for (int64_t b0 = r0; b0 < r1; b0 += ROW_BLOCK) {
            const int64_t b1 = b0 + ROW_BLOCK < r1 ? b0 + ROW_BLOCK : r1;
            // Request the next block while this one is worked on (every line of it).
            if (b1 < r1) {
                const uint8_t *next = j->w + (size_t)b1 * j->row_bytes;
                const int64_t lines = (b1 + ROW_BLOCK < r1 ? ROW_BLOCK : r1 - b1) * (int64_t)j->row_bytes;
                for (int64_t off = 0; off < lines; off += 64) __builtin_prefetch(next + off);
            }
            int64_t t = 0;
            for (int64_t g = 0; g < groups8; g++, t += 8) {
                const void *acts[8];
                for (int k = 0; k < 8; k++) acts[k] = j->acts + (size_t)(t + k) * j->act_stride;
                const float *tab = j->tables ? j->tables + g * table_floats : 0;
                for (int64_t r = b0; r < b1; r++) {
                    float out[8];
                    x8(j->w + (size_t)r * j->row_bytes, acts, tab, j->n, out);
                    for (int k = 0; k < 8; k++) j->y[(t + k) * j->y_stride + r] = out[k];
                }
            }
            for (; t + 4 <= j->T; t += 4) {
                const void *acts[4];
                for (int k = 0; k < 4; k++) acts[k] = j->acts + (size_t)(t + k) * j->act_stride;
                for (int64_t r = b0; r < b1; r++) {
                    float out[4];
                    x4(j->w + (size_t)r * j->row_bytes, acts, j->n, out);
                    for (int k = 0; k < 4; k++) j->y[(t + k) * j->y_stride + r] = out[k];
                }
            }
            for (; t < j->T; t++)
                for (int64_t r = b0; r < b1; r++)
                    j->y[t * j->y_stride + r] = ck_vec_dot(j->type, j->w + (size_t)r * j->row_bytes, j->acts + (size_t)t * j->act_stride, j->n);
        }
        return;
    }
    // Rows in small groups, all activations per group: the group stays in L1/L2
    // while the T activations stream past it.
    for (int64_t g = r0; g < r1; g += 16) {
        const int64_t g1 = g + 16 < r1 ? g + 16 : r1;
        for (int64_t t = 0; t < j->T; t++)
            ck_matvec(j->type, j->w, j->row_bytes, j->n, j->acts + (size_t)t * j->act_stride,
                      j->y + t * j->y_stride, g, g1);
    }
}

void ck_matmul_par(ck_pool *pool, int type, const void *w, size_t row_bytes, int64_t n,
                   const void *acts, size_t act_stride, int64_t T, float *y, int64_t y_stride, int64_t rows) {
    job j = { .type = type, .w = w, .row_bytes = row_bytes, .n = n, .acts = acts, .act_stride = act_stride,
              .T = T, .y = y, .y_stride = y_stride, .rows = rows };
    fused_kernels(type, &j.x8, &j.x4);
    // Built once here for every task. Without memory for it, the tasks use the
    // four-at-a-time kernel (bit for bit the same results).
    float *tables = 0;
    if (j.x8 && T >= 8 && x8_needs_table(type)) {
        const int64_t groups = T / 8, table_floats = n / 32 * 16;
        tables = malloc(sizeof(float) * (size_t)(groups * table_floats));
        if (!tables) j.x8 = 0;
        for (int64_t g = 0; tables && g < groups; g++) {
            const void *a8[8];
            for (int k = 0; k < 8; k++) a8[k] = (const uint8_t *)acts + (size_t)(8 * g + k) * act_stride;
            ck_x8_scale_table(a8, n, tables + g * table_floats);
        }
    }
    j.tables = tables;
    ck_pool_run(pool, matmul_task, &j, tasks_for(pool, rows, 32));
    free(tables);
}

static void dequant_task(void *ctx, int task, int n_tasks) {
    job *j = ctx; int64_t r0, r1;
    task_range(j->rows, task, n_tasks, &r0, &r1);
    for (int64_t r = r0; r < r1; r++)
        ck_dequantize_row(j->type, j->w + (size_t)(j->row0 + r) * j->row_bytes, j->y + r * j->n, j->n);
}

void ck_dequantize_rows_par(ck_pool *pool, int type, const void *w, size_t row_bytes, int64_t n,
                            int64_t row0, int64_t count, float *dst) {
    job j = { .type = type, .w = w, .row_bytes = row_bytes, .n = n, .y = dst, .rows = count, .row0 = row0 };
    ck_pool_run(pool, dequant_task, &j, tasks_for(pool, count, 64));
}

/// Gathered rows idx[] of one matrix (w2 NULL) or of two of the same type and shape
/// against one activation: y1[i] = w1[idx[i]]·x, y2[i] = w2[idx[i]]·x.
typedef struct {
    int type; const uint8_t *w1, *w2; size_t row_bytes; int64_t n;
    const void *act; const int32_t *idx; int64_t rows; float *y1, *y2;
} rows_job;

static void rows_task(void *ctx, int task, int n_tasks) {
    rows_job *j = ctx; int64_t r0, r1;
    task_range(j->rows, task, n_tasks, &r0, &r1);
    const int matrices = j->w2 ? 2 : 1;
    const int64_t ahead = ck_prefetch_rows_ahead(matrices * j->row_bytes);
#define PREFETCH_ROW(i) do { \
        ck_prefetch_bytes(j->w1 + (size_t)j->idx[i] * j->row_bytes, j->row_bytes); \
        if (j->w2) ck_prefetch_bytes(j->w2 + (size_t)j->idx[i] * j->row_bytes, j->row_bytes); \
    } while (0)
    for (int64_t i = r0; i < r1 && i < r0 + ahead; i++) PREFETCH_ROW(i);
    for (int64_t i = r0; i < r1; i++) {
        if (i + ahead < r1) PREFETCH_ROW(i + ahead);
        j->y1[i] = ck_vec_dot(j->type, j->w1 + (size_t)j->idx[i] * j->row_bytes, j->act, j->n);
        if (j->w2) j->y2[i] = ck_vec_dot(j->type, j->w2 + (size_t)j->idx[i] * j->row_bytes, j->act, j->n);
    }
#undef PREFETCH_ROW
}

void ck_matvec_rows_par(ck_pool *pool, int type, const void *w, size_t row_bytes, int64_t n,
                        const void *act, const int32_t *idx, int64_t count, float *y) {
    ck_matvec_rows2_par(pool, type, w, NULL, row_bytes, n, act, idx, count, y, NULL);
}

void ck_matvec_rows2_par(ck_pool *pool, int weight_type, const void *w1, const void *w2, size_t row_bytes, int64_t n,
                         const void *act, const int32_t *idx, int64_t count, float *y1, float *y2) {
    rows_job j = { .type = weight_type, .w1 = w1, .w2 = w2, .row_bytes = row_bytes, .n = n, .act = act,
                   .idx = idx, .rows = count, .y1 = y1, .y2 = y2 };
    ck_pool_run(pool, rows_task, &j, tasks_for(pool, count, 32));
}
