/* Defines functions and data that calls_main.c uses across the object boundary. */
#include <stdio.h>
#include <string.h>

int util_counter = 5;                        /* .data */
int util_table[4] = {10, 20, 30, 40};        /* .data */
char util_name[16] = "util";                 /* .data */
long util_bss_value;                         /* .bss */
const char *util_greeting = "hello from util"; /* .data pointer to a literal */

int util_add(int a, int b) { return a + b; }

/* qsort callback passed by main into libc. */
int util_compare_ints(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

size_t util_format(char *buffer, size_t size, const char *who, int value) {
    return (size_t)snprintf(buffer, size, "%s=%d", who, value);
}

void util_bump(void) {
    util_counter += 1;
    util_bss_value += 100;
}

size_t util_name_length(void) { return strlen(util_name); }
