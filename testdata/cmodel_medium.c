/* Compiled with -mcmodel=medium -fPIC: arrays over the 64 KiB large-data threshold go to
 * .lbss / .ldata / .lrodata and are addressed with 64-bit GOT-relative offsets. */
#include <stdio.h>

#define BIG 20000 /* 20000 ints = 80000 bytes > 65536 */

static int medium_local_bss[BIG];                 /* .lbss */
int medium_global_bss[BIG];                       /* .lbss, exported */
int medium_global_data[BIG] = {[0] = 3, [BIG - 1] = 4}; /* .ldata */
static const int medium_rodata[BIG] = {[0] = 5, [BIG / 2] = 6, [BIG - 1] = 7}; /* .lrodata */
static int medium_small = 9;                      /* small: ordinary .data */

long medium_sum(int scale) {
    for (int i = 0; i < BIG; i += 1000) medium_local_bss[i] = i / 1000 * scale;
    medium_global_bss[BIG - 1] = scale;
    long sum = medium_small;
    for (int i = 0; i < BIG; i++) sum += medium_local_bss[i] + medium_global_bss[i];
    sum += medium_global_data[0] + medium_global_data[BIG - 1];
    for (int i = 0; i < BIG; i++) sum += medium_rodata[i];
    return sum;
}

void medium_print(void) {
    printf("medium: %d %d %d\n", medium_global_data[0], medium_global_data[BIG - 1], medium_small);
}
