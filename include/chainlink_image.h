/* The dispatch-table directory chainlink emits into a chained image.
 *
 * Look it up with dlsym(handle, "chainlink_image") (the name is configurable with
 * `--table-name image=NAME`). Every pointer is absolute (fixed up by the dynamic loader).
 * Units are ordered oldest generation first, shards ascending; each unit's arrays list its
 * functions and global slots in the order of the unit's own tables.
 */
#ifndef CHAINLINK_IMAGE_H
#define CHAINLINK_IMAGE_H

#include <stdint.h>

#define CHAINLINK_IMAGE_MAGIC 0x4b4e4c43u /* "CLNK" */
#define CHAINLINK_IMAGE_VERSION 1u
/* The default name of the exported directory. */
#define CHAINLINK_IMAGE_SYMBOL "chainlink_image"

struct chainlink_unit {
    uint32_t generation; /* 0 = oldest base */
    uint32_t shard;      /* index of the unit within its generation */
    uint64_t nfvars;
    void *const *fvars;  /* nfvars function addresses, in the unit's table order */
    uint64_t ngvars;
    void *const *gvars;  /* ngvars global-slot addresses, in the unit's table order */
};

struct chainlink_image {
    uint32_t magic;   /* CHAINLINK_IMAGE_MAGIC */
    uint32_t version; /* CHAINLINK_IMAGE_VERSION */
    uint64_t nunits;
    const struct chainlink_unit *units;
};

#endif
