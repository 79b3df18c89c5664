/* libm calls on values the compiler cannot fold (parsed at run time). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

void chainlink_test(void) {
    double two = strtod("2.0", NULL), half = strtod("0.5", NULL), ten = strtod("10", NULL);
    printf("sqrt(2) = %.6f\n", sqrt(two));
    printf("cos(0.5) = %.6f\n", cos(half));
    printf("pow(2, 10) = %.1f\n", pow(two, ten));
    printf("log(10) = %.6f\n", log(ten));
    printf("atan2(1, 2) = %.6f\n", atan2(half * two, two));
    printf("floor(-0.5) = %.1f\n", floor(-half));
}
