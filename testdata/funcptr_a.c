/* Function pointers and data pointers stored in initialised data, writable and const. */
#include <stdio.h>

int fp_double(int x);
int fp_square(int x);
extern int (*fp_b_local_ptr)(int);
extern int fp_b_data;
extern const char *const fp_b_words[];

static int fp_inc(int x) { return x + 1; }

struct op {
    const char *name;
    int (*fn)(int);
};

/* Writable .data: pointers to global (preemptible) and static functions, and to literals. */
struct op fp_ops[] = {{"double", fp_double}, {"square", fp_square}, {"inc", fp_inc}};
int fp_ops_count = 3;

/* Const but relocated: .data.rel.ro (made read-only after relocation, PT_GNU_RELRO). */
const struct op fp_const_ops[] = {{"const-square", fp_square}, {"const-inc", fp_inc}};
const int fp_const_ops_count = 2;

int *fp_data_ptr = &fp_b_data;          /* pointer to another object's data */
const char *fp_message = "function pointers"; /* pointer to a literal */
static const char *const fp_local_strings[] = {"one", "two", "three"};
const char *const *fp_local_strings_ptr = fp_local_strings; /* pointer to a local rel.ro table */

void chainlink_test(void) {
    printf("%s\n", fp_message);
    for (int i = 0; i < fp_ops_count; i++) printf("%s(7) = %d\n", fp_ops[i].name, fp_ops[i].fn(7));
    for (int i = 0; i < fp_const_ops_count; i++)
        printf("%s(9) = %d\n", fp_const_ops[i].name, fp_const_ops[i].fn(9));
    printf("b local ptr(5) = %d\n", fp_b_local_ptr(5));
    fp_ops[0].fn = fp_b_local_ptr;
    printf("reassigned(6) = %d\n", fp_ops[0].fn(6));
    *fp_data_ptr += 1;
    printf("data via pointer: %d\n", fp_b_data);
    printf("words: %s %s %s\n", fp_b_words[0], fp_b_words[1], fp_b_words[2]);
    printf("local strings: %s %s %s\n", fp_local_strings_ptr[0], fp_local_strings_ptr[1],
           fp_local_strings_ptr[2]);
}
