/* String literals, including one identical to a literal in codegen_main.c and a pointer
 * into the middle of a literal. */
#include <string.h>

int cg_helper(int x) { return x * 10 + 1; }

const char *cg_strings_literal(void) { return "chainlink merged literal"; }
const char *cg_strings_tail = "hello, world" + 7; /* points into a literal */
char cg_strings_buffer[32] = "writable";

size_t cg_strings_length(const char *s) { return strlen(s); }
