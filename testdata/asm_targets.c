/*
 * Driver and targets for the asm_*.s relocation fixtures. Each asm_*.s file defines
 * `long asm_case(long index)` returning the value its index-th check computes, or -1 past
 * the last one; chainlink_test prints them all. The targets below live in this object, so
 * every relocation in the .s files crosses an object boundary, against global (preemptible)
 * and hidden symbols.
 */
#include <stdio.h>

long asm_global_data = 0x1111;
__attribute__((visibility("hidden"))) long asm_hidden_data[2] = {0x2222, 0x2323};
__attribute__((visibility("hidden"))) const long asm_hidden_ro = 0x5555;
char asm_sized_global[123];
__attribute__((visibility("hidden"))) char asm_sized_hidden[45];

long asm_global_fn(void) { return 0x77; }
__attribute__((visibility("hidden"))) long asm_hidden_fn(void) { return 0x88; }

long asm_case(long index);

void chainlink_test(void) {
    for (long i = 0;; i++) {
        long value = asm_case(i);
        if (value == -1) break;
        printf("case %ld: %#lx\n", i, value);
    }
}
