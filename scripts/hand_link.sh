#!/usr/bin/env bash
# hand_link.sh OUT.so DIR
#
# Links the Julia-shaped chained image in DIR (made by scripts/julia_image.py) the way
# Julia users did it by hand before chainlink (PR 40414's workflow), i.e. what
#   chainlink link -o OUT.so --base DIR/gen0/sys-o.a DIR/gen1/chained.o.a ... DIR/gen<G-1>/chained.o.a
# does:
#   1. `ar x` every generation's archive into its own temporary directory;
#   2. drop the data members (data.o / metadata.o + sysimg.o) of every generation but
#      the newest;
#   3. `objcopy --remove-section <uniqueness section>` on every text member of the older
#      generations (never on the newest generation's text);
#   4. gcc -shared -Wl,--allow-multiple-definition -o OUT.so \
#        <newest text members> <newest data members> <older text members, newest first>
#      GNU ld keeps the first definition it sees, so for a global defined in several
#      generations (julia_shared_<k>) the newest one wins.
#
# LIMITATION: GNU ld has no per-generation scope for hidden symbols. Hidden names that
# every generation reuses (j_helper_<n>, j_<word>_<n>, jl_global#<n>) would collide and
# old code would silently run the newest generation's helpers. So this script only
# accepts images generated with `julia_image.py --hidden-unique` (which suffixes those
# names with _g<gen>), and the result is only meant for `jl_loader OUT.so expected.txt
# --by-name`: it has no chainlink_image descriptor, and the old generations' dispatch
# tables are gone with their uniqueness sections. (Table bases such as
# jl_sysimg_fvars_base still collide; --allow-multiple-definition keeps the newest and
# nothing refers to them.) Set HAND_LINK_FORCE=1 to link an image without
# --hidden-unique anyway (e.g. to time the workflow; its N results will not match).
#
# Environment: CC (default gcc), OBJCOPY (default objcopy), AR (default ar),
# HAND_LINK_LDFLAGS (extra link flags, e.g. -fuse-ld=gold), HAND_LINK_KEEP=1 (keep and
# print the temporary directory). Prints one line with the elapsed seconds per step on
# stderr.
set -euo pipefail

usage() {
    echo "usage: $0 OUT.so DIR" >&2
    exit 2
}
[ $# -eq 2 ] || usage
out=$1
dir=$2
manifest=$dir/manifest.txt
[ -f "$manifest" ] || { echo "hand_link: $manifest not found (not a julia_image.py output?)" >&2; exit 2; }

CC=${CC:-gcc}
OBJCOPY=${OBJCOPY:-objcopy}
AR=${AR:-ar}

mget() { sed -n "s/^$1=//p" "$manifest" | head -n1; }
gens=$(mget generations)
section=$(mget strip_section)
hidden_unique=$(mget hidden_unique)
[ -n "$gens" ] && [ -n "$section" ] || { echo "hand_link: $manifest lacks generations/strip_section" >&2; exit 2; }
if [ "$hidden_unique" != 1 ] && [ "${HAND_LINK_FORCE:-0}" != 1 ]; then
    echo "hand_link: $dir was generated without --hidden-unique; hidden names of different" >&2
    echo "hand_link: generations would collide in a GNU ld link (set HAND_LINK_FORCE=1 to link anyway)" >&2
    exit 2
fi

case $out in /*) ;; *) out=$PWD/$out ;; esac
dir=$(cd "$dir" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/hand_link.XXXXXX")
if [ "${HAND_LINK_KEEP:-0}" = 1 ]; then
    echo "hand_link: keeping $tmp" >&2
else
    trap 'rm -rf "$tmp"' EXIT
fi

now() { date +%s.%N; }
t0=$(now)
newest=$((gens - 1))
new_objs=()
old_objs=()
for ((g = newest; g >= 0; g--)); do
    if [ "$g" -eq 0 ]; then archive=$dir/gen0/sys-o.a; else archive=$dir/gen$g/chained.o.a; fi
    [ -f "$archive" ] || { echo "hand_link: $archive not found" >&2; exit 2; }
    mkdir "$tmp/gen$g"
    (cd "$tmp/gen$g" && "$AR" x "$archive")
    mapfile -t members < <("$AR" t "$archive")
    texts=()
    datas=()
    for m in "${members[@]}"; do
        case $m in
            text.o | text\#*.o) texts+=("$tmp/gen$g/$m") ;;
            *) datas+=("$tmp/gen$g/$m") ;;
        esac
    done
    if [ "$g" -eq "$newest" ]; then
        new_objs=("${texts[@]}" "${datas[@]}")
    else
        old_objs+=("${texts[@]}")   # newest generation first; data members are dropped
    fi
done
t1=$(now)
for obj in "${old_objs[@]}"; do
    "$OBJCOPY" --remove-section "$section" "$obj"
done
t2=$(now)
# shellcheck disable=SC2086
"$CC" -shared -o "$out" -Wl,--allow-multiple-definition ${HAND_LINK_LDFLAGS:-} \
    "${new_objs[@]}" "${old_objs[@]}"
t3=$(now)
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" 'BEGIN {
    printf "hand_link: extract %.3fs, objcopy %.3fs, link %.3fs, total %.3fs\n", b - a, c - b, d - c, d - a
}' >&2
