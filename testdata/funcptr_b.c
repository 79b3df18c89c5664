/* Functions and data that funcptr_a.c's initialised tables point at. */
int fp_double(int x) { return 2 * x; }
int fp_square(int x) { return x * x; }
static int fp_negate(int x) { return -x; }

/* A writable pointer to a static function: a RELATIVE dynamic relocation. */
int (*fp_b_local_ptr)(int) = fp_negate;
int fp_b_data = 1000;
/* Const array of pointers to literals: .data.rel.ro.local under -fPIC. */
const char *const fp_b_words[] = {"alpha", "beta", "gamma"};
