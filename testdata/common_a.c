/* Compiled with -fcommon: tentative definitions become COMMON symbols. */
#include <stdint.h>
#include <stdio.h>

int common_counter;                           /* COMMON in both objects */
int common_array[64];                         /* COMMON in both objects */
double common_vs_definition;                  /* COMMON here, initialised in common_b.c */
char common_aligned[100] __attribute__((aligned(64))); /* COMMON with alignment 64 */

void common_b_update(void);

void chainlink_test(void) {
    common_counter = 3;
    common_array[10] = 5;
    common_b_update();
    printf("counter: %d\n", common_counter);
    printf("array: %d %d\n", common_array[10], common_array[63]);
    printf("definition wins: %.2f\n", common_vs_definition);
    printf("aligned: %d %s\n", (int)((uintptr_t)common_aligned % 64), common_aligned);
}
