/* Per-thread values: four threads each start from the TLS image and diverge. */
#include <pthread.h>
#include <stdio.h>

extern __thread int tls_counter;
extern __thread long tls_zero;
extern __thread char tls_name[16];
int tls_defs_local_step(void);
void tls_defs_bump(int by);
int *tls_defs_counter_address(void);

#define THREADS 4
struct result {
    int start_counter;
    long start_zero;
    char start_name[16];
    int counter;
    long zero;
    char first;
    int local;
};
static struct result results[THREADS];

static void *worker(void *arg) {
    int id = (int)(long)arg;
    struct result *r = &results[id];
    r->start_counter = tls_counter;
    r->start_zero = tls_zero;
    for (int i = 0; i < 16; i++) r->start_name[i] = tls_name[i];
    for (int i = 0; i <= id; i++) tls_defs_bump(id + 1);
    r->counter = *tls_defs_counter_address();
    r->zero = tls_zero;
    r->first = tls_name[0];
    for (int i = 0; i < id; i++) tls_defs_local_step();
    r->local = tls_defs_local_step();
    return NULL;
}

void chainlink_test(void) {
    tls_counter = -1; /* the main thread's copy must not leak into the threads */
    pthread_t threads[THREADS];
    for (long i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
    for (int i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    for (int i = 0; i < THREADS; i++) {
        struct result *r = &results[i];
        printf("thread %d: start %d %ld %s end %d %ld %c local %d\n", i, r->start_counter,
               r->start_zero, r->start_name, r->counter, r->zero, r->first, r->local);
    }
    printf("main: %d %ld %s\n", tls_counter, tls_zero, tls_name);
}
