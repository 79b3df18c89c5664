#include <string.h>

int common_counter;
int common_array[64];
double common_vs_definition = 2.5;
char common_aligned[100] __attribute__((aligned(64)));

void common_b_update(void) {
    common_counter += 4;
    common_array[10] *= 3;
    common_array[63] = common_counter;
    strcpy(common_aligned, "shared");
}
