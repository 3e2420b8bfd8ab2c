// A persistent thread pool for the per-layer matrix-vector products. Spawning or
// waking threads per call costs more than a 2048x640 matvec takes (~40 us), so
// workers spin on a generation counter for a while before sleeping on a condvar.
#include "ckernels.h"
#include <pthread.h>
#include <stdatomic.h>
#include <sched.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#else
#define CPU_RELAX() ((void)0)
#endif

struct ck_pool {
    int n_threads;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    // One caller at a time: fn, ctx and the counters describe a single run, and two
    // threads running the engine at once (a reply and a sparkify fit in the chat) would
    // otherwise overwrite each other's tasks mid-run.
    pthread_mutex_t caller;
    atomic_int generation;
    atomic_int next_task;
    atomic_int finished;   // workers done with the current generation
    atomic_int stop;
    int n_tasks;
    void (*fn)(void *, int, int);
    void *ctx;
};

// About a millisecond of spinning before a worker sleeps: decode calls the pool
// every few tens of microseconds, so workers stay hot during generation and go
// quiet when the app is idle.
enum { SPIN_ITERATIONS = 20000 };

// Set on the pool's workers and on a caller during its run: a task that itself calls
// ck_pool_run runs its tasks inline instead of waiting for the pool it is part of.
static _Thread_local int inside_run;

static void run_tasks(ck_pool *p) {
    int i;
    while ((i = atomic_fetch_add_explicit(&p->next_task, 1, memory_order_acq_rel)) < p->n_tasks)
        p->fn(p->ctx, i, p->n_tasks);
}

static void *worker(void *arg) {
    ck_pool *p = arg;
    int seen = 0;
    inside_run = 1;
    for (;;) {
        int spins = 0;
        while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen) {
            if (++spins < SPIN_ITERATIONS) {
                // Yield now and then: when the cores are oversubscribed (other
                // programs, or more threads than cores) pure spinning starves the
                // very thread we are waiting for.
                if (spins % 64 == 0) sched_yield(); else CPU_RELAX();
                continue;
            }
            pthread_mutex_lock(&p->mutex);
            while (atomic_load_explicit(&p->generation, memory_order_acquire) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cond, &p->mutex);
            pthread_mutex_unlock(&p->mutex);
            break;
        }
        if (atomic_load(&p->stop)) return 0;
        seen = atomic_load_explicit(&p->generation, memory_order_acquire);
        run_tasks(p);
        atomic_fetch_add_explicit(&p->finished, 1, memory_order_acq_rel);
    }
}

ck_pool *ck_pool_create(int n_threads) {
    if (n_threads < 1) n_threads = 1;
    ck_pool *p = calloc(1, sizeof *p);
    if (!p) return 0;
    p->n_threads = n_threads;
    pthread_mutex_init(&p->mutex, 0);
    pthread_mutex_init(&p->caller, 0);
    pthread_cond_init(&p->cond, 0);
    p->threads = calloc((size_t)n_threads, sizeof(pthread_t));
    for (int i = 1; i < n_threads; i++) {
        if (pthread_create(&p->threads[i], 0, worker, p) != 0) { p->n_threads = i; break; }
    }
    return p;
}

void ck_pool_destroy(ck_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mutex);
    atomic_store(&p->stop, 1);
    atomic_fetch_add(&p->generation, 1);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mutex);
    for (int i = 1; i < p->n_threads; i++) pthread_join(p->threads[i], 0);
    pthread_mutex_destroy(&p->mutex);
    pthread_mutex_destroy(&p->caller);
    pthread_cond_destroy(&p->cond);
    free(p->threads);
    free(p);
}

int ck_pool_threads(const ck_pool *p) { return p ? p->n_threads : 1; }

void ck_pool_run(ck_pool *p, void (*fn)(void *, int, int), void *ctx, int n_tasks) {
    if (!p || p->n_threads == 1 || n_tasks <= 1 || inside_run) {
        for (int i = 0; i < n_tasks; i++) fn(ctx, i, n_tasks);
        return;
    }
    pthread_mutex_lock(&p->caller);
    inside_run = 1;
    p->fn = fn; p->ctx = ctx; p->n_tasks = n_tasks;
    atomic_store_explicit(&p->finished, 0, memory_order_release);
    atomic_store_explicit(&p->next_task, 0, memory_order_release);
    pthread_mutex_lock(&p->mutex);
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_acq_rel);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->mutex);
    run_tasks(p);
    int spins = 0;
    while (atomic_load_explicit(&p->finished, memory_order_acquire) < p->n_threads - 1) {
        if (++spins % 64 == 0) sched_yield(); else CPU_RELAX();
    }
    inside_run = 0;
    pthread_mutex_unlock(&p->caller);
}
