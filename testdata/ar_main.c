/* Links against libchainar.a (ar_*.c members); only the members it needs may be pulled. */
#include <stdio.h>

int ar_needed(void);
extern int ar_data_value;
int ar_weak_only(void) __attribute__((weak)); /* a weak reference does not pull a member */

void chainlink_test(void) {
    printf("needed: %d\n", ar_needed());
    printf("data: %d\n", ar_data_value);
    printf("weak only: %d\n", ar_weak_only ? ar_weak_only() : -1);
}
