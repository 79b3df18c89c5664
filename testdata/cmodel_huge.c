/* -mcmodel=medium -fPIC with 3 GiB of .lbss: the large sections must be laid out so that
 * the small-model code and data stay within 2 GiB of each other (only the .l* sections
 * may be far away). The array is never touched beyond a few pages. */
#include <stdio.h>

#define HUGE_SIZE (3UL << 30)
static char huge_local[HUGE_SIZE];      /* .lbss */
char huge_global[HUGE_SIZE / 3];        /* .lbss, exported */
int huge_small_data = 21;               /* ordinary .data */

void chainlink_test(void) {
    huge_local[0] = 1;
    huge_local[HUGE_SIZE - 1] = 2;
    huge_global[0] = 3;
    huge_global[HUGE_SIZE / 3 - 1] = 4;
    printf("huge: %d %d %d %d %d\n", huge_local[0], huge_local[HUGE_SIZE - 1], huge_global[0],
           huge_global[HUGE_SIZE / 3 - 1], huge_small_data);
}
