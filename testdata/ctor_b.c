#include <stdio.h>

__attribute__((constructor(102))) static void b_ctor_102(void) { printf("ctor b 102\n"); }
__attribute__((constructor(200))) static void b_ctor_200(void) { printf("ctor b 200\n"); }
__attribute__((constructor)) static void b_ctor_default(void) { printf("ctor b default\n"); }
__attribute__((destructor(150))) static void b_dtor_150(void) { printf("dtor b 150\n"); }
__attribute__((destructor)) static void b_dtor_default(void) { printf("dtor b default\n"); }
