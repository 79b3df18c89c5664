/*
 * chainlink_image.h - the image descriptor chainlink emits into a chained
 * system image, exported under the symbol `chainlink_image`.
 *
 * It replaces the per-unit dispatch tables (Julia's compressed int32 offset
 * tables, or 1.11-style pointer tables) that sat in the stripped uniqueness
 * sections of old generations: one entry per linked unit, holding absolute
 * pointers (R_X86_64_RELATIVE / DT_RELR in the output) to every function and
 * every global slot of that unit, each bound within the unit's own generation
 * (so a name defined in several generations, or a hidden name reused by
 * several generations, points at THIS unit's definition).
 *
 * Units are ordered oldest generation first, shards ascending within a
 * generation (layout 1.9 has one unit, shard 0, per generation).
 */
#ifndef CHAINLINK_IMAGE_H
#define CHAINLINK_IMAGE_H

#include <stdint.h>

#define CHAINLINK_IMAGE_MAGIC 0x4b4e4c43u /* "CLNK" read as a little-endian u32 */
#define CHAINLINK_IMAGE_VERSION 1u
#define CHAINLINK_IMAGE_SYMBOL "chainlink_image"

struct chainlink_unit {
    uint32_t generation;  /* 0 = the base image (sys-o.a) */
    uint32_t shard;       /* 0 for layout 1.9 */
    uint64_t nfvars;
    void *const *fvars;   /* nfvars function addresses, in table order */
    uint64_t ngvars;
    void *const *gvars;   /* ngvars slot addresses, in table order */
};

struct chainlink_image {
    uint32_t magic;       /* CHAINLINK_IMAGE_MAGIC */
    uint32_t version;     /* CHAINLINK_IMAGE_VERSION */
    uint64_t nunits;
    const struct chainlink_unit *units;
};

#endif
