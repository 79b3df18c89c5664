#include <stdio.h>
#include <string.h>

int cg_dispatch(int x, int y);
const char *cg_name(int x);
const char *cg_strings_literal(void);
extern const char *cg_strings_tail;
extern char cg_strings_buffer[32];
size_t cg_strings_length(const char *s);

static const char *main_literal(void) { return "chainlink merged literal"; }

void chainlink_test(void) {
    for (int x = 0; x <= 12; x++) printf("dispatch(%d, 10) = %d\n", x, cg_dispatch(x, 10));
    printf("names:");
    for (int x = 0; x <= 8; x++) printf(" %s", cg_name(x));
    printf("\n");
    const char *mine = main_literal(), *theirs = cg_strings_literal();
    printf("literals: \"%s\" \"%s\" equal contents: %s\n", mine, theirs,
           strcmp(mine, theirs) == 0 ? "yes" : "no");
    printf("tail: %s (%zu)\n", cg_strings_tail, cg_strings_length(cg_strings_tail));
    strcat(cg_strings_buffer, " buffer");
    printf("buffer: %s\n", cg_strings_buffer);
}
