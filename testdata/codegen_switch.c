/* Switches: one big enough for a jump table at -O2 (PC-relative entries in .rodata), one
 * that switch conversion turns into a table of string pointers (relocated .data.rel.ro). */
#include <stdio.h>

int cg_helper(int x);

int cg_dispatch(int x, int y) {
    switch (x) {
    case 0: return y + 1;
    case 1: return y * 3;
    case 2: return cg_helper(y);
    case 3: return y - 7;
    case 4: return y << 2;
    case 5: return cg_helper(y + 1) * 2;
    case 6: return y ^ 0x55;
    case 7: return y / 3;
    case 8: return y % 5 + 100;
    case 9: return -y;
    case 10: return cg_helper(y) + cg_helper(y * 2);
    case 11: return y * y;
    default: return 12345;
    }
}

const char *cg_name(int x) {
    switch (x) {
    case 0: return "zero";
    case 1: return "one";
    case 2: return "two";
    case 3: return "three";
    case 4: return "four";
    case 5: return "five";
    case 6: return "six";
    case 7: return "seven";
    default: return "many";
    }
}
