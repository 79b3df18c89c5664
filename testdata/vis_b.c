#include <stdio.h>

__attribute__((visibility("hidden"))) int vis_hidden_fn(int x);
__attribute__((visibility("hidden"))) extern int vis_hidden_data;
extern int vis_hidden_via_got; /* declared default here, defined hidden in vis_a.c */
__attribute__((visibility("protected"))) int vis_protected_fn(int x);
extern int vis_protected_data;
int vis_default_fn(int x);
extern int vis_default_data;
int vis_a_internal(int x);

void chainlink_test(void) {
    printf("hidden fn: %d\n", vis_hidden_fn(1));
    printf("hidden data: %d\n", vis_hidden_data);
    vis_hidden_via_got += 1;
    printf("hidden via got: %d\n", vis_hidden_via_got);
    printf("protected fn: %d\n", vis_protected_fn(2));
    printf("protected data: %d\n", vis_protected_data);
    printf("default fn: %d\n", vis_default_fn(3));
    vis_default_data *= 2;
    printf("default data: %d\n", vis_default_data);
    printf("internal: %d\n", vis_a_internal(4));
}
