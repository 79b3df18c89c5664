/* Constructors and destructors with priorities; ctor_b.c has the interleaving ones. */
#include <stdio.h>

__attribute__((constructor(101))) static void a_ctor_101(void) { printf("ctor a 101\n"); }
__attribute__((constructor(300))) static void a_ctor_300(void) { printf("ctor a 300\n"); }
__attribute__((constructor)) static void a_ctor_default(void) { printf("ctor a default\n"); }
__attribute__((destructor(101))) static void a_dtor_101(void) { printf("dtor a 101\n"); }
__attribute__((destructor)) static void a_dtor_default(void) { printf("dtor a default\n"); }

void chainlink_test(void) { printf("test runs\n"); }
