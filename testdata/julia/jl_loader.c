/*
 * jl_loader.c - plays the Julia runtime for a chained Julia-shaped image.
 *
 * Build:  cc -o jl_loader jl_loader.c -ldl -L<dir> -ljlstub -Wl,-rpath,<dir>
 * Usage:  jl_loader IMAGE.so EXPECTED.txt [--by-name] [--tables]
 *
 * EXPECTED.txt is written by scripts/julia_image.py, one item per line:
 *   U <gen> <shard> <nfvars> <ngvars> <fvar-table-symbol> <gvar-table-symbol>
 *   F <gen> <shard> <index> <symbol> <arg> <result>
 *   G <gen> <shard> <index> <symbol> <value>
 *   N <symbol> <arg> <result>
 * Blank lines and lines starting with '#' are ignored.
 *
 * --by-name  dlsym() every N symbol, call it with arg, compare with result
 *            (the newest generation's definition must win).
 * --tables   dlsym(IMAGE, "chainlink_image") and walk it (include/chainlink_image.h):
 *            magic/version, units in U-line order (generation, shard, nfvars,
 *            ngvars), call fvars[index](arg) for every F line and read
 *            *(int64_t *)gvars[index] for every G line.
 * --own-tables  walk the newest generation's own 64-bit tables, found by their symbols
 *            (U lines name them; they must be exported, as in the 1.9 layout): what a
 *            runtime sees in an image linked without chainlink (the hand workflow).
 *            Counted with the tables' functions and slots; its units are not.
 * No flag means --by-name only.
 *
 * Output: "jl_loader: ok: <n> functions by name, <m> functions and <k> slots
 * through tables, <u> units" on stdout and exit 0 (<u> counts units walked
 * through chainlink_image, so 0 without --tables). Otherwise every mismatch
 * (the first 20 in full) on stderr, a "jl_loader: FAILED" line, exit 1.
 * Exit 2: usage error, unreadable or malformed EXPECTED.txt, dlopen failure.
 * A missing symbol, a null table entry or a crash (SIGSEGV/SIGBUS/SIGILL/
 * SIGFPE) inside a called function is reported as a mismatch, not a crash.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/chainlink_image.h"

/* From libjlstub.so. Referencing it keeps the stub a DT_NEEDED of this
 * program even under --as-needed, so the image's runtime imports resolve. */
extern int64_t ijl_runtime_mix(int64_t);

typedef int64_t (*jl_fptr_t)(int64_t);

struct fline { uint32_t gen, shard; uint64_t index; char *sym; int64_t arg, result; };
struct gline { uint32_t gen, shard; uint64_t index; char *sym; int64_t value; };
struct nline { char *sym; int64_t arg, result; };
struct uline { uint32_t gen, shard; uint64_t nfvars, ngvars; char *ftab, *gtab; };

#define VEC(T) struct { T *v; size_t n, cap; }
static VEC(struct fline) F;
static VEC(struct gline) G;
static VEC(struct nline) N;
static VEC(struct uline) U;
#define PUSH(vec, item)                                                        \
    do {                                                                       \
        if ((vec).n == (vec).cap) {                                            \
            (vec).cap = (vec).cap ? (vec).cap * 2 : 256;                       \
            (vec).v = realloc((vec).v, (vec).cap * sizeof *(vec).v);           \
            if (!(vec).v) { perror("jl_loader: realloc"); exit(2); }           \
        }                                                                      \
        (vec).v[(vec).n++] = (item);                                           \
    } while (0)

static const char *expected_path;
static unsigned long lineno;
static unsigned long nfail;

static void fail(const char *fmt, ...)
{
    if (nfail < 20) {
        va_list ap;
        va_start(ap, fmt);
        fputs("jl_loader: mismatch: ", stderr);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
        va_end(ap);
    } else if (nfail == 20) {
        fputs("jl_loader: (further mismatches not shown)\n", stderr);
    }
    nfail++;
}

static void bad_input(const char *what)
{
    fprintf(stderr, "jl_loader: %s:%lu: %s\n", expected_path, lineno, what);
    exit(2);
}

static char *next_tok(char **save)
{
    char *t = strtok_r(NULL, " \t\r\n", save);
    if (!t) bad_input("too few fields");
    return t;
}

static int64_t tok_i64(char **save)
{
    char *t = next_tok(save), *end;
    errno = 0;
    long long v = strtoll(t, &end, 10);
    if (errno || *end) bad_input("bad integer");
    return (int64_t)v;
}

static uint64_t tok_u64(char **save)
{
    char *t = next_tok(save), *end;
    if (*t == '-') bad_input("negative count/index");
    errno = 0;
    unsigned long long v = strtoull(t, &end, 10);
    if (errno || *end) bad_input("bad integer");
    return (uint64_t)v;
}

static uint32_t tok_u32(char **save)
{
    uint64_t v = tok_u64(save);
    if (v > UINT32_MAX) bad_input("integer out of range");
    return (uint32_t)v;
}

static char *tok_str(char **save)
{
    char *s = strdup(next_tok(save));
    if (!s) { perror("jl_loader: strdup"); exit(2); }
    return s;
}

static void read_expected(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "jl_loader: cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        char *save;
        char *kind = strtok_r(line, " \t\r\n", &save);
        if (!kind || kind[0] == '#') continue;
        if (!strcmp(kind, "F")) {
            struct fline x;
            x.gen = tok_u32(&save); x.shard = tok_u32(&save); x.index = tok_u64(&save);
            x.sym = tok_str(&save); x.arg = tok_i64(&save); x.result = tok_i64(&save);
            PUSH(F, x);
        } else if (!strcmp(kind, "G")) {
            struct gline x;
            x.gen = tok_u32(&save); x.shard = tok_u32(&save); x.index = tok_u64(&save);
            x.sym = tok_str(&save); x.value = tok_i64(&save);
            PUSH(G, x);
        } else if (!strcmp(kind, "N")) {
            struct nline x;
            x.sym = tok_str(&save); x.arg = tok_i64(&save); x.result = tok_i64(&save);
            PUSH(N, x);
        } else if (!strcmp(kind, "U")) {
            struct uline x;
            x.gen = tok_u32(&save); x.shard = tok_u32(&save);
            x.nfvars = tok_u64(&save); x.ngvars = tok_u64(&save);
            x.ftab = tok_str(&save); x.gtab = tok_str(&save);
            PUSH(U, x);
        } else {
            bad_input("unknown record kind");
        }
    }
    if (ferror(f)) { perror("jl_loader: read"); exit(2); }
    free(line);
    fclose(f);
}

/* ---- guarded calls: a fault inside image code becomes a mismatch ------- */

static sigjmp_buf guard_env;
static volatile sig_atomic_t guard_active;

static void on_fault(int sig)
{
    if (guard_active) {
        guard_active = 0;
        siglongjmp(guard_env, sig);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_guards(void)
{
    static char altstack[1 << 16];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0 };
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fault;
    sa.sa_flags = SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    int sigs[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
    for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaction(sigs[i], &sa, NULL);
}

/* Returns 0 and stores the result, or the signal number that interrupted. */
static int guarded_call(jl_fptr_t f, int64_t arg, int64_t *out)
{
    int sig = sigsetjmp(guard_env, 1);
    if (sig) return sig;
    guard_active = 1;
    int64_t r = f(arg);
    guard_active = 0;
    *out = r;
    return 0;
}

static int guarded_read(const void *p, int64_t *out)
{
    int sig = sigsetjmp(guard_env, 1);
    if (sig) return sig;
    guard_active = 1;
    int64_t v = *(const volatile int64_t *)p;
    guard_active = 0;
    *out = v;
    return 0;
}

/* ---- checks -------------------------------------------------------------- */

static unsigned long check_by_name(void *h)
{
    unsigned long ok = 0;
    for (size_t i = 0; i < N.n; i++) {
        struct nline *x = &N.v[i];
        dlerror();
        void *p = dlsym(h, x->sym);
        if (!p) {
            const char *e = dlerror();
            fail("N %s: symbol not found (%s)", x->sym, e ? e : "null address");
            continue;
        }
        int64_t r;
        int sig = guarded_call((jl_fptr_t)p, x->arg, &r);
        if (sig) {
            fail("N %s(%" PRId64 "): crashed with signal %d (%s)", x->sym, x->arg, sig,
                 strsignal(sig));
        } else if (r != x->result) {
            fail("N %s(%" PRId64 ") = %" PRId64 ", expected %" PRId64, x->sym, x->arg, r,
                 x->result);
        } else {
            ok++;
        }
    }
    return ok;
}

static long unit_position(uint32_t gen, uint32_t shard)
{
    static size_t last;
    if (last < U.n && U.v[last].gen == gen && U.v[last].shard == shard) return (long)last;
    for (size_t i = 0; i < U.n; i++) {
        if (U.v[i].gen == gen && U.v[i].shard == shard) {
            last = i;
            return (long)i;
        }
    }
    return -1;
}

static void check_tables(void *h, unsigned long *nf, unsigned long *ng, unsigned long *nu)
{
    dlerror();
    const struct chainlink_image *img = dlsym(h, CHAINLINK_IMAGE_SYMBOL);
    if (!img) {
        const char *e = dlerror();
        fail("symbol %s not found (%s)", CHAINLINK_IMAGE_SYMBOL, e ? e : "null address");
        return;
    }
    if (img->magic != CHAINLINK_IMAGE_MAGIC) {
        fail("%s: magic 0x%08" PRIx32 ", expected 0x%08x", CHAINLINK_IMAGE_SYMBOL, img->magic,
             CHAINLINK_IMAGE_MAGIC);
        return;
    }
    if (img->version != CHAINLINK_IMAGE_VERSION) {
        fail("%s: version %" PRIu32 ", expected %u", CHAINLINK_IMAGE_SYMBOL, img->version,
             CHAINLINK_IMAGE_VERSION);
        return;
    }
    if (img->nunits != U.n) {
        fail("%s: %" PRIu64 " units, expected %zu", CHAINLINK_IMAGE_SYMBOL, img->nunits, U.n);
        return;
    }
    if (U.n && !img->units) {
        fail("%s: null units pointer", CHAINLINK_IMAGE_SYMBOL);
        return;
    }
    /* usable[i]: unit i matches its U line, so its F/G lines can be checked. */
    char *usable = calloc(U.n + 1, 1);
    if (!usable) { perror("jl_loader: calloc"); exit(2); }
    for (size_t i = 0; i < U.n; i++) {
        const struct chainlink_unit *cu = &img->units[i];
        const struct uline *ex = &U.v[i];
        if (cu->generation != ex->gen || cu->shard != ex->shard) {
            fail("unit %zu is generation %" PRIu32 " shard %" PRIu32
                 ", expected generation %" PRIu32 " shard %" PRIu32,
                 i, cu->generation, cu->shard, ex->gen, ex->shard);
            continue;
        }
        int good = 1;
        if (cu->nfvars != ex->nfvars) {
            fail("unit %zu (gen %" PRIu32 " shard %" PRIu32 "): %" PRIu64
                 " fvars, expected %" PRIu64 " (%s)",
                 i, ex->gen, ex->shard, cu->nfvars, ex->nfvars, ex->ftab);
            good = 0;
        }
        if (cu->ngvars != ex->ngvars) {
            fail("unit %zu (gen %" PRIu32 " shard %" PRIu32 "): %" PRIu64
                 " gvars, expected %" PRIu64 " (%s)",
                 i, ex->gen, ex->shard, cu->ngvars, ex->ngvars, ex->gtab);
            good = 0;
        }
        if ((cu->nfvars && !cu->fvars) || (cu->ngvars && !cu->gvars)) {
            fail("unit %zu (gen %" PRIu32 " shard %" PRIu32 "): null table pointer", i,
                 ex->gen, ex->shard);
            good = 0;
        }
        usable[i] = (char)good;
        if (good) (*nu)++;
    }
    for (size_t i = 0; i < F.n; i++) {
        struct fline *x = &F.v[i];
        long u = unit_position(x->gen, x->shard);
        if (u < 0) {
            fail("F %" PRIu32 " %" PRIu32 " %" PRIu64 " %s: no U line for this unit", x->gen,
                 x->shard, x->index, x->sym);
            continue;
        }
        if (!usable[u]) continue; /* already reported */
        const struct chainlink_unit *cu = &img->units[u];
        if (x->index >= cu->nfvars) {
            fail("F gen %" PRIu32 " shard %" PRIu32 " [%" PRIu64 "] %s: index out of range",
                 x->gen, x->shard, x->index, x->sym);
            continue;
        }
        void *p = cu->fvars[x->index];
        if (!p) {
            fail("F gen %" PRIu32 " shard %" PRIu32 " [%" PRIu64 "] %s: null entry", x->gen,
                 x->shard, x->index, x->sym);
            continue;
        }
        int64_t r;
        int sig = guarded_call((jl_fptr_t)p, x->arg, &r);
        if (sig) {
            fail("F gen %" PRIu32 " shard %" PRIu32 " [%" PRIu64 "] %s(%" PRId64
                 "): crashed with signal %d (%s)",
                 x->gen, x->shard, x->index, x->sym, x->arg, sig, strsignal(sig));
        } else if (r != x->result) {
            fail("F gen %" PRIu32 " shard %" PRIu32 " [%" PRIu64 "] %s(%" PRId64 ") = %" PRId64
                 ", expected %" PRId64,
                 x->gen, x->shard, x->index, x->sym, x->arg, r, x->result);
        } else {
            (*nf)++;
        }
    }
    for (size_t i = 0; i < G.n; i++) {
        struct gline *x = &G.v[i];
        long u = unit_position(x->gen, x->shard);
        if (u < 0) {
            fail("G %" PRIu32 " %" PRIu32 " %" PRIu64 " %s: no U line for this unit", x->gen,
                 x->shard, x->index, x->sym);
            continue;
        }
        if (!usable[u]) continue;
        const struct chainlink_unit *cu = &img->units[u];
        if (x->index >= cu->ngvars) {
            fail("G gen %" PRIu32 " shard %" PRIu32 " [%" PRIu64 "] %s: index out of range",
                 x->gen, x->shard, x->index, x->sym);
            continue;
        }
        const void *p = cu->gvars[x->index];
        if (!p) {
            fail("G gen %" PRIu32 " shard %" PRIu32 " [%" PRIu64 "] %s: null entry", x->gen,
                 x->shard, x->index, x->sym);
            continue;
        }
        int64_t v;
        int sig = guarded_read(p, &v);
        if (sig) {
            fail("G gen %" PRIu32 " shard %" PRIu32 " [%" PRIu64 "] %s: reading %p faulted (%s)",
                 x->gen, x->shard, x->index, x->sym, p, strsignal(sig));
        } else if (v != x->value) {
            fail("G gen %" PRIu32 " shard %" PRIu32 " [%" PRIu64 "] %s = %" PRId64
                 ", expected %" PRId64,
                 x->gen, x->shard, x->index, x->sym, v, x->value);
        } else {
            (*ng)++;
        }
    }
    free(usable);
}

/* The newest generation's units, through their own exported 64-bit tables. */
static void check_own_tables(void *h, unsigned long *nf, unsigned long *ng)
{
    uint32_t newest = 0;
    for (size_t i = 0; i < U.n; i++)
        if (U.v[i].gen > newest) newest = U.v[i].gen;
    for (size_t i = 0; i < U.n; i++) {
        const struct uline *u = &U.v[i];
        if (u->gen != newest) continue;
        void *const *ftab = dlsym(h, u->ftab);
        void *const *gtab = dlsym(h, u->gtab);
        if (!ftab || !gtab || strstr(u->ftab, "offsets")) {
            fail("unit %" PRIu32 ".%" PRIu32 ": no exported 64-bit tables %s/%s", u->gen, u->shard,
                 u->ftab, u->gtab);
            continue;
        }
        for (size_t k = 0; k < F.n; k++) {
            struct fline *x = &F.v[k];
            if (x->gen != u->gen || x->shard != u->shard) continue;
            int64_t r;
            int sig = x->index < u->nfvars ? guarded_call((jl_fptr_t)ftab[x->index], x->arg, &r) : -1;
            if (sig || r != x->result)
                fail("own table %s[%" PRIu64 "] %s(%" PRId64 "): %s", u->ftab, x->index, x->sym,
                     x->arg, sig ? "crashed or out of range" : "wrong result");
            else
                (*nf)++;
        }
        for (size_t k = 0; k < G.n; k++) {
            struct gline *x = &G.v[k];
            if (x->gen != u->gen || x->shard != u->shard) continue;
            int64_t v;
            int sig = x->index < u->ngvars ? guarded_read(gtab[x->index], &v) : -1;
            if (sig || v != x->value)
                fail("own table %s[%" PRIu64 "] %s: %s", u->gtab, x->index, x->sym,
                     sig ? "faulted or out of range" : "wrong value");
            else
                (*ng)++;
        }
    }
}

static void usage(void)
{
    fputs("usage: jl_loader IMAGE.so EXPECTED.txt [--by-name] [--tables] [--own-tables]\n", stderr);
    exit(2);
}

int main(int argc, char **argv)
{
    const char *image = NULL;
    int by_name = 0, tables = 0, own_tables = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--by-name")) by_name = 1;
        else if (!strcmp(argv[i], "--tables")) tables = 1;
        else if (!strcmp(argv[i], "--own-tables")) own_tables = 1;
        else if (argv[i][0] == '-' && argv[i][1]) usage();
        else if (!image) image = argv[i];
        else if (!expected_path) expected_path = argv[i];
        else usage();
    }
    if (!image || !expected_path) usage();
    if (!by_name && !tables && !own_tables) by_name = 1;

    /* Make sure the runtime stub is really there before blaming the image. */
    if (ijl_runtime_mix(1) != 4) {
        fputs("jl_loader: libjlstub.so's ijl_runtime_mix(1) != 4\n", stderr);
        return 2;
    }

    read_expected(expected_path);

    void *h = dlopen(image, RTLD_NOW);
    if (!h) {
        fprintf(stderr, "jl_loader: dlopen %s failed: %s\n", image, dlerror());
        return 2;
    }
    install_guards();

    unsigned long n_by_name = 0, nf = 0, ng = 0, nu = 0;
    if (by_name) n_by_name = check_by_name(h);
    if (tables) check_tables(h, &nf, &ng, &nu);
    if (own_tables) check_own_tables(h, &nf, &ng);

    if (nfail) {
        fprintf(stderr,
                "jl_loader: FAILED: %lu mismatches (passed: %lu functions by name, %lu "
                "functions and %lu slots through tables, %lu units)\n",
                nfail, n_by_name, nf, ng, nu);
        return 1;
    }
    printf("jl_loader: ok: %lu functions by name, %lu functions and %lu slots through tables, "
           "%lu units\n",
           n_by_name, nf, ng, nu);
    return 0;
}
