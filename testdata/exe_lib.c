/* A library that an executable links against directly (-L/-rpath, DT_NEEDED), not dlopen. */
#include <stdio.h>

int exe_lib_value = 5;                         /* the executable reads it: a copy relocation */
const char *exe_lib_name = "chainlink library";

int exe_lib_get(void) { return exe_lib_value; } /* must see the executable's copy */
void exe_lib_set(int value) { exe_lib_value = value; }
void exe_lib_callback(void) {}
int exe_lib_same_function(void (*fn)(void)) { return fn == exe_lib_callback; }

int exe_lib_apply(int (*fn)(int), int x) { return fn(x) + 1; }

__attribute__((constructor)) static void exe_lib_init(void) { exe_lib_value += 1; }
