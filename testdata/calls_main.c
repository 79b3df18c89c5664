/* Calls across objects and into libc; reads and writes another object's globals. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern int util_counter;
extern int util_table[4];
extern char util_name[16];
extern long util_bss_value;
extern const char *util_greeting;
int util_add(int a, int b);
int util_compare_ints(const void *a, const void *b);
size_t util_format(char *buffer, size_t size, const char *who, int value);
void util_bump(void);
size_t util_name_length(void);

static int compare_descending(const void *a, const void *b) { return util_compare_ints(b, a); }

static void print_ints(const char *label, const int *values, int count) {
    printf("%s:", label);
    for (int i = 0; i < count; i++) printf(" %d", values[i]);
    printf("\n");
}

void chainlink_test(void) {
    printf("add: %d\n", util_add(2, 40));
    printf("strlen(greeting): %zu\n", strlen(util_greeting));
    printf("greeting: %s\n", util_greeting);

    int values[] = {5, 3, 9, 1, 7, 2};
    qsort(values, 6, sizeof values[0], util_compare_ints);
    print_ints("ascending", values, 6);
    qsort(values, 6, sizeof values[0], compare_descending);
    print_ints("descending", values, 6);

    char buffer[32];
    size_t length = util_format(buffer, sizeof buffer, util_name, util_counter);
    printf("format: %s (%zu)\n", buffer, length);

    util_counter = 7;
    util_bump();
    util_table[2] += util_counter;
    strcpy(util_name, "renamed");
    printf("counter: %d bss: %ld\n", util_counter, util_bss_value);
    print_ints("table", util_table, 4);
    printf("name: %s (%zu)\n", util_name, util_name_length());
}
