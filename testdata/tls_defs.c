/* Thread-locals: initialised (.tdata) and zero (.tbss), global and static. */
#include <stdint.h>

__thread int tls_counter = 42;                     /* .tdata */
__thread long tls_zero;                            /* .tbss */
__thread char tls_name[16] = "tls-init";           /* .tdata */
__thread double tls_aligned __attribute__((aligned(64))); /* .tbss, 64-aligned */
static __thread int tls_local_counter = 7;         /* .tdata, local: local-dynamic candidate */
static __thread int tls_local_zero;                /* .tbss, local */

int tls_defs_local_step(void) {
    tls_local_counter += 1;
    tls_local_zero += 2;
    return tls_local_counter * 100 + tls_local_zero;
}

void tls_defs_bump(int by) {
    tls_counter += by;
    tls_zero += 2L * by;
    tls_name[0] = (char)('A' + by % 26);
}

int tls_defs_aligned_ok(void) {
    tls_aligned += 0.5;
    return ((uintptr_t)&tls_aligned % 64) == 0;
}

int *tls_defs_counter_address(void) { return &tls_counter; }
