/* Weak definitions (some overridden by weak_b.c) and weak undefined references. */
#include <stdio.h>

__attribute__((weak)) int weak_overridden(void) { return 1; }
__attribute__((weak)) int weak_kept(void) { return 2; }
__attribute__((weak)) int weak_data = 10;
__attribute__((weak)) int weak_kept_data = 30;

/* Defined nowhere: must stay NULL. */
extern void chainlink_weak_missing_fn(void) __attribute__((weak));
extern int chainlink_weak_missing_data __attribute__((weak));

int weak_b_sum(void);

void chainlink_test(void) {
    printf("overridden: %d\n", weak_overridden());
    printf("kept: %d\n", weak_kept());
    printf("data: %d\n", weak_data);
    printf("kept data: %d\n", weak_kept_data);
    printf("b sum: %d\n", weak_b_sum());
    printf("missing fn: %s\n", chainlink_weak_missing_fn ? "present" : "null");
    printf("missing data: %s\n", &chainlink_weak_missing_data ? "present" : "null");
}
