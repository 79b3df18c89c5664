/* Uses tls_defs.c's thread-locals across the object boundary. */
#include <stdio.h>

extern __thread int tls_counter;
extern __thread long tls_zero;
extern __thread char tls_name[16];
int tls_defs_local_step(void);
void tls_defs_bump(int by);
int tls_defs_aligned_ok(void);
int *tls_defs_counter_address(void);

void chainlink_test(void) {
    printf("initial: %d %ld %s\n", tls_counter, tls_zero, tls_name);
    tls_defs_bump(3);
    printf("bumped: %d %ld %s\n", tls_counter, tls_zero, tls_name);
    tls_counter += 1000;
    printf("same address: %s\n", tls_defs_counter_address() == &tls_counter ? "yes" : "no");
    printf("counter: %d\n", *tls_defs_counter_address());
    printf("local: %d\n", tls_defs_local_step());
    printf("local: %d\n", tls_defs_local_step());
    printf("aligned: %d\n", tls_defs_aligned_ok());
}
