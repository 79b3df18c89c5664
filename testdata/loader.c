/*
 * loader: the harness every chainlink behaviour test runs a fixture library under.
 *
 *   loader LIBRARY [ENTRY]
 *
 * dlopen()s LIBRARY with RTLD_NOW (so every symbol must resolve at load time), calls
 * ENTRY (default "chainlink_test", signature `void ENTRY(void)`), then dlclose()s the
 * library and exits. Everything goes to stdout, interleaved with these marker lines so a
 * test sees exactly when constructors and destructors ran:
 *
 *   <output of the library's constructors>
 *   loader: loaded
 *   <output of ENTRY>
 *   loader: dlclose
 *   <output of the library's destructors, if dlclose unloaded it>
 *   loader: exit
 *   <output of destructors that only run at exit>
 *
 * Failures are reported on stderr and with a distinct exit status:
 *   2 usage, 3 dlopen failed, 4 entry point not found, 5 dlclose failed.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: loader LIBRARY [ENTRY]\n");
        return 2;
    }
    const char *library = argv[1];
    const char *entry = argc == 3 ? argv[2] : "chainlink_test";

    void *handle = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (handle == NULL) {
        fprintf(stderr, "loader: dlopen(%s) failed: %s\n", library, dlerror());
        return 3;
    }
    printf("loader: loaded\n");

    dlerror();
    void *symbol = dlsym(handle, entry);
    const char *error = dlerror();
    if (error != NULL || symbol == NULL) {
        fprintf(stderr, "loader: dlsym(%s) failed: %s\n", entry, error ? error : "symbol is NULL");
        return 4;
    }
    void (*function)(void);
    *(void **)&function = symbol;
    function();

    printf("loader: dlclose\n");
    fflush(stdout);
    if (dlclose(handle) != 0) {
        fprintf(stderr, "loader: dlclose failed: %s\n", dlerror());
        return 5;
    }
    printf("loader: exit\n");
    fflush(stdout);
    return 0;
}
