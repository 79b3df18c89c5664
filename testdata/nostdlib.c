/* Linked with -nostdlib: no crt files, no libc DT_NEEDED. printf resolves at dlopen time
 * from the loader's libc, already in the global scope. */
#include <stdio.h>

static int initialised;
__attribute__((constructor)) static void nostdlib_init(void) { initialised = 17; }

void chainlink_test(void) { printf("nostdlib: %d\n", initialised); }
