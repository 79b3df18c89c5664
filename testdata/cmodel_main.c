#include <stdio.h>

long medium_sum(int scale);
void medium_print(void);
long large_compute(const char *text);
void large_print(void);
extern int medium_global_data[];
extern int large_global;

int cmodel_small_value(void) { return 1000; }

void chainlink_test(void) {
    printf("medium sum: %ld\n", medium_sum(2));
    medium_global_data[0] = 30;
    medium_print();
    printf("large compute: %ld\n", large_compute("abc"));
    large_global = 13;
    large_print();
}
