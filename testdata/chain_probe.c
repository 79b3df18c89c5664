/*
 * chain_probe.c - loads a chained image and prints what its functions compute.
 *
 * Usage: chain_probe IMAGE.so [NAME...] [--tables]
 *
 * For each NAME: dlsym() it, call it as long (*)(long) with 1, print "NAME(1) = V".
 * --tables: walk chainlink_image (include/chainlink_image.h) and print one line per unit,
 * "unit G.S: fvars F0 F1 ... | gvars G0 G1 ...", where Fi is fvars[i](1) and Gi is
 * *(long *)gvars[i].
 * Exit 2 when the image does not load (dlerror() on stdout), 3 for a missing NAME, 4 for
 * a missing or malformed directory.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "../include/chainlink_image.h"

int main(int argc, char **argv)
{
    void *image = dlopen(argv[1], RTLD_NOW);
    if (!image) {
        printf("%s\n", dlerror());
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--tables") == 0) {
            const struct chainlink_image *dir = dlsym(image, CHAINLINK_IMAGE_SYMBOL);
            if (!dir || dir->magic != CHAINLINK_IMAGE_MAGIC || dir->version != CHAINLINK_IMAGE_VERSION)
                return 4;
            for (uint64_t u = 0; u < dir->nunits; u++) {
                const struct chainlink_unit *unit = &dir->units[u];
                printf("unit %u.%u: fvars", unit->generation, unit->shard);
                for (uint64_t f = 0; f < unit->nfvars; f++)
                    printf(" %ld", ((long (*)(long))unit->fvars[f])(1));
                printf(" | gvars");
                for (uint64_t g = 0; g < unit->ngvars; g++)
                    printf(" %ld", *(const long *)unit->gvars[g]);
                printf("\n");
            }
            continue;
        }
        long (*f)(long) = (long (*)(long))dlsym(image, argv[i]);
        if (!f) {
            printf("%s: not found\n", argv[i]);
            return 3;
        }
        printf("%s(1) = %ld\n", argv[i], f(1));
    }
    return 0;
}
