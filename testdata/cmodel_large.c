/* Compiled with -mcmodel=large -fPIC: every address is formed from a 64-bit GOT base
 * (GOTPC64), data through GOTOFF64 / GOT64, calls through PLTOFF64. */
#include <stdio.h>
#include <string.h>

static int large_local[1000] = {[999] = 11};
int large_global = 12;
static int large_helper(int x) { return x * 2; }
extern int cmodel_small_value(void); /* defined in the small-model object */

long large_compute(const char *text) {
    char buffer[64];
    snprintf(buffer, sizeof buffer, "%s!", text); /* libc call from the large model */
    long total = (long)strlen(buffer);
    total += large_local[999] + large_global + large_helper(5) + cmodel_small_value();
    int (*fp)(int) = large_helper; /* function address in the large model */
    return total + fp(100);
}

void large_print(void) { printf("large: %d %d\n", large_local[999], large_global); }
