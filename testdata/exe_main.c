/* An executable linked against the library built from exe_lib.c. */
#include <stdio.h>

extern int exe_lib_value;
extern const char *exe_lib_name;
int exe_lib_get(void);
void exe_lib_set(int value);
void exe_lib_callback(void);
int exe_lib_same_function(void (*fn)(void));
int exe_lib_apply(int (*fn)(int), int x);

static int triple(int x) { return 3 * x; }

int main(void) {
    printf("name: %s\n", exe_lib_name);
    printf("value after constructor: %d %d\n", exe_lib_value, exe_lib_get());
    exe_lib_value = 40;
    printf("library sees executable's write: %d\n", exe_lib_get());
    exe_lib_set(41);
    printf("executable sees library's write: %d\n", exe_lib_value);
    printf("function address equal: %d\n", exe_lib_same_function(exe_lib_callback));
    printf("callback into executable: %d\n", exe_lib_apply(triple, 14));
    return 0;
}
