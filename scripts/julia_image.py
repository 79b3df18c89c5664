#!/usr/bin/env python3
"""Generate a Julia-shaped *chained* system image for chainlink's tests and benchmarks.

    python3 scripts/julia_image.py --out DIR [--layout 1.9|1.10] [--generations G]
        [--functions N] [--new-functions M] [--body-scale K] [--shards S] [--gvars M]
        [--blob-bytes B]
        [--tables compressed|uncompressed] [--model small|medium|large] [--seed K]
        [--cc gcc] [--jobs J] [--hidden-unique] [--codegen auto|c|template]
        [--unique-section NAME] [--keep-build]
        [--function-sections] [--table-base function|table] [--ref-visibility hidden|default]
        [--old-hidden-refs] [--tables-cover-old]

Output in DIR (see DIR/manifest.txt for the exact names):

  gen0/sys-o.a          base image archive (generation 0)
  gen<g>/chained.o.a    chained unit archive of generation g = 1..G-1
                          layout 1.9 : text.o, data.o
                          layout 1.10: text#0.o .. text#<S-1>.o, metadata.o, sysimg.o
  libjlstub.so          stub runtime (testdata/julia/jlstub.c): ijl_runtime_mix, jl_runtime_bias
  expected.txt          what testdata/julia/jl_loader.c checks (U/F/G/N lines)
  manifest.txt          key=value description of the image

Every unit ("text" member) holds, in ONE .text section: the table base symbol (hidden,
before the first function), then every function of its table, in table order. Its
gvar slots (int64, hidden symbols) follow the gvar base symbol in .data. Its dispatch
tables and image-unique pointers live in the uniqueness section (.data.jl.unique for
layout 1.9, .data.jl.sysimg_link for 1.10): nothing outside that section refers to a
symbol defined in it, or to the data members.

Shape options (the matrix chainlink's tests cover; the defaults give the shape above):
  --function-sections   every function in a section of its own (gcc -ffunction-sections):
                        hundreds of thousands of sections in one object at large sizes.
  --table-base table    compressed tables' base labels (jl_sysimg_fvars_base, ...) sit in
                        the table's own section, not before the first function, so every
                        `.long f - base` is an R_X86_64_PC32 relocation the linker must
                        decode (required with --function-sections and compressed tables).
                        Function entries then name a local label at each function's start.
  --ref-visibility default
                        references to hidden names (other shards' helpers and slots) are
                        plain extern declarations (default visibility, through the PLT and
                        GOT); only definitions are hidden.
  --old-hidden-refs     every generation also defines hidden functions
                        (j_specialize_method_<n>), global slots (jl_gslot_<g>_<i>_<k>) and
                        thread-locals (jl_tls_<g>_<i>_<k>) with names no other generation
                        uses, and newer generations' functions call, read and read them by
                        name: new code linking against the reused old text.
  --tables-cover-old    each chained unit's table (shard 0 of every generation >= 1) also
                        lists older generations' functions, by name (uncompressed tables).

Code generation.  Function bodies are C, compiled by gcc with
    -fPIC -O2 -mcmodel=<model> -fno-reorder-functions -fno-toplevel-reorder
    -fno-tree-slp-vectorize
(the last one changes nothing in the output for these scalar bodies, checked for all
three models, but makes gcc three times faster), and concatenated (local .L labels
renamed) into one assembly file per unit together with the generated table/data
assembly, then assembled into ONE object.  gcc needs ~5 ms per function, so --codegen
template (the default above 1000 functions in all) compiles each function *shape* once,
twice with different marker constants and placeholder names, checks that the two outputs
differ only in those, and instantiates the shape's gcc output for every function by
substituting names and constants: the code and relocation mix are still exactly what gcc
emits, at the cost of one string format per function.  --codegen c compiles every
function (the default for small images).  Both give the same expected.txt for the same
seed (and the same relocation counts).

The expected results are computed here, by interpreting the same operation lists the C
is generated from (uint64 wrap-around arithmetic, so there is no undefined behaviour).
Binding rules that the expectations follow (and the linker must implement):
  * julia_g<g>_f<i> exist once; newer generations call older ones by name.
  * julia_shared_<k> exist in every generation. Through a unit's table each runs its own
    body; by name (N lines) the newest generation wins. No code calls them.
  * hidden names (helpers j_helper_<n> / j_<word>_<n>, slots jl_global#<n>, table bases)
    are reused by every generation and bind within their own generation.
    --hidden-unique appends _g<gen> to helper and slot names so that a plain
    `gcc -shared --allow-multiple-definition` link (scripts/hand_link.sh) gets them right.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import random
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

M64 = (1 << 64) - 1
ROOT = Path(__file__).resolve().parent.parent
JULIA_SRC = ROOT / "testdata" / "julia"
STUB_C = JULIA_SRC / "jlstub.c"

# Julia 1.10 names its cross-shard hidden functions after the Julia function, with a
# process-wide counter: j_getindex_123. We cycle through some plausible names.
WORDS = (
    "getindex", "setindex", "iterate", "convert", "push", "length", "show", "print",
    "hash", "isequal", "copyto", "similar", "collect", "map", "filter", "reduce",
    "string", "parse", "promote", "unsafe_load",
)

N_SHARED = 2          # julia_shared_0 .. julia_shared_{N_SHARED-1} in every generation
CODEGEN_AUTO_LIMIT = 1000
C_CHUNK = 64          # functions per gcc invocation in --codegen c


def s64(v: int) -> int:
    v &= M64
    return v - (1 << 64) if v >> 63 else v


def q(sym: str) -> str:
    """A symbol as gas must spell it: names with '#' need quotes."""
    return '"%s"' % sym if "#" in sym else sym


def c_ident(sym: str) -> str:
    return sym.replace("#", "__HASH__")


_UNSANITIZE = re.compile(r"\b(\w*?)__HASH__(\w*)")


def c_unsanitize(asm: str) -> str:
    if "__HASH__" not in asm:
        return asm
    return _UNSANITIZE.sub(lambda m: '"%s#%s"' % (m.group(1), m.group(2)), asm)


def read_runtime_constants() -> tuple[int, int, int]:
    text = STUB_C.read_text()

    def grab(name):
        m = re.search(r"#define\s+%s\s+(0x[0-9a-fA-F]+|\d+)\w*" % name, text)
        if not m:
            sys.exit("julia_image: %s: cannot find #define %s" % (STUB_C, name))
        return int(m.group(1), 0)

    return grab("JL_RUNTIME_BIAS") & M64, grab("JL_RUNTIME_MIX_MUL"), grab("JL_RUNTIME_MIX_ADD")


BIAS, MIX_MUL, MIX_ADD = read_runtime_constants()


# --------------------------------------------------------------------------------------
# Function shapes ("templates"): an operation list over `uint64_t u`.
#
#   ('muladd', ca, cb)     u = u * CA + CB                  (per-function constants)
#   ('xs', s)              u ^= u >> s
#   ('rot', r)             u = rotl(u, r)
#   ('helper', slot, sh)   u ^= HIDDEN_FN((int64_t)(u >> sh))   own generation's helper
#   ('gvar', slot)         u += HIDDEN_SLOT                      own generation's gvar slot
#   ('call', slot, sh)     u += julia_g<h>_f<j>((int64_t)(u >> sh))   older generation, by name
#   ('ocall', slot, sh)    u += j_specialize_method_<n>((int64_t)(u >> sh))  older, hidden
#   ('tls', slot)          u += jl_tls_<g>_<i>_<k>                   older generation's thread-local
#   ('mix',)               u ^= ijl_runtime_mix((int64_t)u)     runtime function (PLT)
#   ('bias',)              u += jl_runtime_bias                 runtime data (GOT)
#   ('switch', n, cases)   switch (u % n) { case i: cases[i] }  jump table
#   ('str', bytes)         p = "..." + u % len; while (*p) u = u * 31 + *p++;
# switch cases: ('muladdk', a, b), ('xs', s), ('rot', r), ('addk', c), ('not',)
# --------------------------------------------------------------------------------------

class Tpl:
    __slots__ = ("idx", "kind", "ops", "slots", "consts", "markers", "markers2", "fmt", "frozen",
                 "py")

    def __init__(self, idx, kind, ops, slots, consts, rng, xrng=None):
        self.idx = idx
        self.kind = kind          # 'jfun' | 'helper' | 'shared'
        self.ops = ops
        self.slots = slots        # slot -> 'hfunc' | 'hdata' | 'func' | 'ofunc' | 'odata' | 'otls'
        self.consts = consts      # const slot names
        # markers of the first four constants come from rng, any more (--body-scale)
        # from xrng, so that rng's sequence does not depend on the body scale
        self.markers = {c: big_const(rng if k < 4 else xrng) for k, c in enumerate(consts)}
        self.markers2 = {c: big_const(rng if k < 4 else xrng) for k, c in enumerate(consts)}
        self.fmt = None           # gas text as a str.format template (codegen template)
        self.frozen = False       # gcc's code depended on the constants: use markers only
        self.py = compile_semantics(self)

    @property
    def hidden_self(self):
        return self.kind == "helper"


def big_const(rng) -> int:
    """A 64-bit constant gcc can only materialise with movabs (and that we can find again)."""
    return rng.getrandbits(64) | (1 << 62) | (1 << 33) | 1


def mixer(rng):
    return ("xs", rng.randrange(5, 41)) if rng.random() < 0.7 else ("rot", rng.randrange(3, 62))


def case_op(rng):
    r = rng.randrange(5)
    if r == 0:
        return ("muladdk", rng.getrandbits(64) | 1, rng.getrandbits(64))
    if r == 1:
        return ("xs", rng.randrange(3, 50))
    if r == 2:
        return ("rot", rng.randrange(3, 62))
    if r == 3:
        return ("addk", rng.getrandbits(40) + 1)
    return ("not",)


def feature_ops(feats, rng, ops, slots, sfx=""):
    """Append the operations of one block of features (slot names suffixed with sfx)."""
    for f in feats:
        if f == "helper":
            slots["h0" + sfx] = "hfunc"
            ops.append(("helper", "h0" + sfx, rng.choice((0, 1, 3, 7))))
        elif f.startswith("gvar"):
            s = "g" + f[4:] + sfx
            slots[s] = "hdata"
            ops.append(("gvar", s))
        elif f.startswith("call"):
            s = "k" + f[4:] + sfx
            slots[s] = "func"
            ops.append(("call", s, rng.choice((0, 5, 11, 20))))
        elif f == "ocall":
            slots["o0" + sfx] = "ofunc"
            ops.append(("ocall", "o0" + sfx, rng.choice((0, 2, 9))))
        elif f == "oslot":
            slots["q0" + sfx] = "odata"
            ops.append(("gvar", "q0" + sfx))
        elif f == "otls":
            slots["t0" + sfx] = "otls"
            ops.append(("tls", "t0" + sfx))
        elif f == "mix":
            ops.append(("mix",))
        elif f == "bias":
            ops.append(("bias",))
        elif f == "switch":
            n = rng.randrange(8, 15)
            ops.append(("switch", n, tuple(case_op(rng) for _ in range(n))))
        elif f == "str":
            alphabet = "abcdefghijklmnopqrstuvwxyz_0123456789"
            s = "jl_" + "".join(rng.choice(alphabet) for _ in range(rng.randrange(12, 40)))
            ops.append(("str", s.encode()))
        ops.append(mixer(rng))


def make_jfun_tpl(idx, rng, ncalls, want_switch, want_str, scale=1, xrng=None, extra=()):
    """A julia_g<g>_f<i> shape. scale > 1 (--body-scale) appends scale-1 more blocks of
    the same features (fresh order, switch cases, strings, shifts; their own slots, so
    each block calls another helper and older function and reads other slots), each
    behind a muladd with its own constants. xrng draws everything the extra blocks need,
    so the first block (and, with scale 1, the whole shape) is what rng alone gives."""
    feats = ["helper", "gvar0"] + (["gvar1"] if rng.random() < 0.5 else [])
    feats += ["call%d" % i for i in range(ncalls)]
    if rng.random() < 0.45:
        feats.append("mix")
    if rng.random() < 0.45:
        feats.append("bias")
    if want_switch:
        feats.append("switch")
    if want_str:
        feats.append("str")
    feats += list(extra)
    rng.shuffle(feats)
    ops = [("muladd", "c0", "c1")]
    slots = {}
    feature_ops(feats, rng, ops, slots)
    consts = ["c0", "c1", "c2", "c3"]
    for r in range(1, scale):
        ca, cb = "c%d" % (2 + 2 * r), "c%d" % (3 + 2 * r)
        consts += [ca, cb]
        ops.append(("muladd", ca, cb))
        block = list(feats)
        xrng.shuffle(block)
        feature_ops(block, xrng, ops, slots, "r%d" % r)
    ops.append(("muladd", "c2", "c3"))
    ops.append(("xs", rng.randrange(17, 41)))
    return Tpl(idx, "jfun", tuple(ops), slots, tuple(consts), rng, xrng)


def make_helper_tpl(idx, rng, with_gvar):
    ops = [("muladd", "c0", "c1"), mixer(rng)]
    slots = {}
    if with_gvar:
        slots["g0"] = "hdata"
        ops.append(("gvar", "g0"))
    ops += [("rot", rng.randrange(3, 62)), ("muladd", "c2", "c3"), ("xs", rng.randrange(17, 41))]
    return Tpl(idx, "helper", tuple(ops), slots, ("c0", "c1", "c2", "c3"), rng)


def make_shared_tpl(idx, rng):
    ops = (("muladd", "c0", "c1"), ("helper", "h0", 2), mixer(rng), ("gvar", "g0"),
           ("muladd", "c2", "c3"), ("xs", rng.randrange(17, 41)))
    return Tpl(idx, "shared", ops, {"h0": "hfunc", "g0": "hdata"}, ("c0", "c1", "c2", "c3"), rng)


def make_templates(seed, body_scale=1, old_refs=False):
    rng = random.Random("%s:templates" % seed)
    xrng = random.Random("%s:templates:scale%d" % (seed, body_scale))
    pools, all_t = {}, []

    def add(key, t):
        pools.setdefault(key, []).append(t)
        all_t.append(t)

    for ncalls in (0, 1, 2):
        for i in range(16):
            add(("jfun", ncalls), make_jfun_tpl(len(all_t), rng, ncalls, i in (3, 11), i in (6, 14),
                                                body_scale, xrng))
    for i in range(4):
        add("helper", make_helper_tpl(len(all_t), rng, i % 2 == 0))
    for i in range(2):
        add("shared", make_shared_tpl(len(all_t), rng))
    if old_refs:
        # Shapes that also reach older generations' hidden names (their own rng, so that
        # the shapes above are the same with and without them).
        orng = random.Random("%s:templates:old" % seed)
        for ncalls in (1, 2):
            for i in range(8):
                t = make_jfun_tpl(len(all_t), orng, ncalls, i == 3, i == 6, body_scale, xrng,
                                  extra=("ocall", "oslot", "otls"))
                add(("jfun_old", ncalls), t)
    return pools, all_t


# ---- C rendering ---------------------------------------------------------------------

def c_case(op):
    t = op[0]
    if t == "muladdk":
        return "u = u * 0x%xULL + 0x%xULL;" % (op[1], op[2])
    if t == "xs":
        return "u ^= u >> %d;" % op[1]
    if t == "rot":
        return "u = (u << %d) | (u >> %d);" % (op[1], 64 - op[1])
    if t == "addk":
        return "u += 0x%xULL;" % op[1]
    if t == "not":
        return "u = ~u;"
    raise ValueError(op)


def c_function(tpl, self_ident, name_of, const_of):
    """C source of one function of shape tpl. name_of(slot) -> C identifier,
    const_of(slot) -> int."""
    out = []
    attrs = '__attribute__((visibility("hidden"), noinline, noclone))' if tpl.hidden_self \
        else "__attribute__((noinline, noclone))"
    out.append("%s int64_t %s(int64_t x)\n{\n    uint64_t u = (uint64_t)x;\n" % (attrs, self_ident))
    for op in tpl.ops:
        t = op[0]
        if t == "muladd":
            s = "u = u * 0x%xULL + 0x%xULL;" % (const_of(op[1]), const_of(op[2]))
        elif t in ("xs", "rot"):
            s = c_case(op)
        elif t == "helper":
            s = "u ^= (uint64_t)%s((int64_t)(u >> %d));" % (name_of(op[1]), op[2])
        elif t == "gvar":
            s = "u += (uint64_t)%s;" % name_of(op[1])
        elif t in ("call", "ocall"):
            s = "u += (uint64_t)%s((int64_t)(u >> %d));" % (name_of(op[1]), op[2])
        elif t == "tls":
            s = "u += (uint64_t)%s;" % name_of(op[1])
        elif t == "mix":
            s = "u ^= (uint64_t)ijl_runtime_mix((int64_t)u);"
        elif t == "bias":
            s = "u += (uint64_t)jl_runtime_bias;"
        elif t == "switch":
            cases = " ".join("case %d: %s break;" % (i, c_case(c)) for i, c in enumerate(op[2]))
            s = "switch (u %% %dU) { %s default: break; }" % (op[1], cases)
        elif t == "str":
            s = ('{ const unsigned char *p = (const unsigned char *)"%s" + (u %% %dU); '
                 "while (*p) u = u * 31U + *p++; }" % (op[1].decode(), len(op[1])))
        else:
            raise ValueError(op)
        out.append("    " + s + "\n")
    out.append("    return (int64_t)u;\n}\n")
    return "".join(out)


C_PRELUDE = (
    "#include <stdint.h>\n"
    "extern int64_t jl_runtime_bias;\n"
    "extern int64_t ijl_runtime_mix(int64_t);\n"
)


# --ref-visibility default: declarations of hidden names carry no visibility.
HIDDEN_DECLS = True


def c_decl(ident, kind):
    hidden = '__attribute__((visibility("hidden")))' if HIDDEN_DECLS else ""
    if kind in ("hfunc", "ofunc"):
        return "%s int64_t %s(int64_t);\n" % (hidden, ident)
    if kind == "func":
        return "extern int64_t %s(int64_t);\n" % ident
    if kind in ("hdata", "odata"):
        return "extern int64_t %s %s;\n" % (ident, hidden)
    if kind == "otls":
        return "extern __thread int64_t %s %s;\n" % (ident, hidden)
    raise ValueError(kind)


# ---- python semantics ----------------------------------------------------------------

def eval_case(op, u):
    t = op[0]
    if t == "muladdk":
        return (u * op[1] + op[2]) & M64
    if t == "xs":
        return u ^ (u >> op[1])
    if t == "rot":
        r = op[1]
        return ((u << r) | (u >> (64 - r))) & M64
    if t == "addk":
        return (u + op[1]) & M64
    return u ^ M64


def evaluate(fn, x):
    """fn(x) for uint64 x, as the unit's own code computes it."""
    return fn.tpl.py(x, fn.binds)


def py_case(op, ind):
    t = op[0]
    if t == "muladdk":
        return ind + "u = (u * %d + %d) & M64\n" % (op[1], op[2])
    if t == "xs":
        return ind + "u ^= u >> %d\n" % op[1]
    if t == "rot":
        return ind + "u = ((u << %d) | (u >> %d)) & M64\n" % (op[1], 64 - op[1])
    if t == "addk":
        return ind + "u = (u + %d) & M64\n" % op[1]
    return ind + "u ^= M64\n"


def compile_semantics(tpl):
    """tpl.py(u, binds): the shape's operation list as straight-line Python (what
    evaluate_ops interprets, ~3x faster)."""
    src = ["def shape(u, b):\n"]
    for i, op in enumerate(tpl.ops):
        t = op[0]
        if t == "muladd":
            src.append("    u = (u * b[%d][0] + b[%d][1]) & M64\n" % (i, i))
        elif t in ("xs", "rot"):
            src.append(py_case(op, "    "))
        elif t == "helper":
            src.append("    h = b[%d]; u ^= h.tpl.py(u >> %d, h.binds)\n" % (i, op[2]))
        elif t == "gvar":
            src.append("    u = (u + b[%d]) & M64\n" % i)
        elif t in ("call", "ocall"):
            src.append("    h = b[%d]; u = (u + h.tpl.py(u >> %d, h.binds)) & M64\n" % (i, op[2]))
        elif t == "tls":
            src.append("    u = (u + b[%d]) & M64\n" % i)
        elif t == "mix":
            src.append("    u ^= (u * MIX_MUL + MIX_ADD) & M64\n")
        elif t == "bias":
            src.append("    u = (u + BIAS) & M64\n")
        elif t == "switch":
            src.append("    k = u %% %d\n" % op[1])
            for j, c in enumerate(op[2]):
                src.append("    %s k == %d:\n" % ("if" if j == 0 else "elif", j))
                src.append(py_case(c, "        "))
        elif t == "str":
            src.append("    s = %r\n    for c in s[u %% %d:]:\n        u = (u * 31 + c) & M64\n"
                       % (op[1], len(op[1])))
        else:
            raise ValueError(op)
    src.append("    return u\n")
    env = {"M64": M64, "MIX_MUL": MIX_MUL, "MIX_ADD": MIX_ADD, "BIAS": BIAS}
    exec("".join(src), env)
    return env["shape"]


def evaluate_ops(fn, x):
    """Reference interpreter of fn's operation list (kept for cross-checking)."""
    u = x
    for op, b in zip(fn.tpl.ops, fn.binds):
        t = op[0]
        if t == "muladd":
            u = (u * b[0] + b[1]) & M64
        elif t == "xs":
            u ^= u >> op[1]
        elif t == "rot":
            r = op[1]
            u = ((u << r) | (u >> (64 - r))) & M64
        elif t == "helper":
            u ^= evaluate_ops(b, u >> op[2])
        elif t == "gvar":
            u = (u + b) & M64
        elif t in ("call", "ocall"):
            u = (u + evaluate_ops(b, u >> op[2])) & M64
        elif t == "tls":
            u = (u + b) & M64
        elif t == "mix":
            u ^= (u * MIX_MUL + MIX_ADD) & M64
        elif t == "bias":
            u = (u + BIAS) & M64
        elif t == "switch":
            u = eval_case(op[2][u % op[1]], u)
        elif t == "str":
            s = op[1]
            for c in s[u % len(s):]:
                u = (u * 31 + c) & M64
    return u


# ---- the image plan ------------------------------------------------------------------

class Fn:
    __slots__ = ("name", "gen", "shard", "tpl", "names", "consts", "binds", "arg", "result")

    def __init__(self, name, gen, shard, tpl):
        self.name, self.gen, self.shard, self.tpl = name, gen, shard, tpl
        self.names = {}     # slot -> symbol name
        self.consts = {}    # const slot -> uint64
        self.binds = None   # per op: (A, B) | Fn | slot value | None
        self.arg = 0
        self.result = None


class Unit:
    __slots__ = ("gen", "shard", "member", "fvars", "gvars", "hidden_refs", "hidden_defs", "uid",
                 "extra_fvars", "tls")

    def __init__(self, gen, shard, member, uid):
        self.gen, self.shard, self.member, self.uid = gen, shard, member, uid
        self.fvars = []       # Fn, in table order (also .text order)
        self.gvars = []       # (symbol, uint64 value), in table order
        self.hidden_refs = set()   # hidden names this unit refers to (.hidden on the reference)
        self.hidden_defs = set()   # hidden functions this unit defines
        self.extra_fvars = []      # older generations' Fn its table lists after its own
        self.tls = []              # (symbol, uint64 value): thread-locals it defines

    @property
    def table_fvars(self):
        return self.fvars + self.extra_fvars


class Layout:
    def __init__(self, args):
        self.name = args.layout
        self.v110 = args.layout == "1.10"
        self.S = args.shards if self.v110 else 1
        self.M = args.gvars
        self.hu = args.hidden_unique
        self.compressed = args.tables == "compressed"
        self.base_in_table = args.table_base == "table"
        self.function_sections = args.function_sections
        self.section = args.unique_section or (".data.jl.sysimg_link" if self.v110 else ".data.jl.unique")

    def text_member(self, i):
        return "text#%d.o" % i if self.v110 else "text.o"

    @property
    def data_members(self):
        return ["metadata.o", "sysimg.o"] if self.v110 else ["data.o"]

    def archive(self, g):
        return "gen0/sys-o.a" if g == 0 else "gen%d/chained.o.a" % g

    def sfx(self, g):
        return "_g%d" % g if self.hu else ""

    def fbase(self, i):
        return "jl_fvar_base_%d" % i if self.v110 else "jl_sysimg_fvars_base"

    def gbase(self, i):
        return "jl_gvar_base_%d" % i if self.v110 else "jl_sysimg_gvars_base"

    def ftable(self, i):
        if self.v110:
            return ("jl_fvar_offsets_%d" if self.compressed else "jl_fvar_ptrs_%d") % i
        return "jl_sysimg_fvars_offsets" if self.compressed else "jl_sysimg_fvars_ptrs"

    def gtable(self, i):
        if self.v110:
            return ("jl_gvar_offsets_%d" if self.compressed else "jl_gvar_ptrs_%d") % i
        return "jl_sysimg_gvars_offsets" if self.compressed else "jl_sysimg_gvars_ptrs"

    def fcount(self, i):
        return "jl_fvar_count_%d" % i if self.v110 else "jl_sysimg_fvars_count"

    def gcount(self, i):
        return "jl_gvar_count_%d" % i if self.v110 else "jl_sysimg_gvars_count"

    @property
    def tables_hidden(self):
        return self.v110

    def slot_name(self, g, i, k):
        if self.v110:
            return "jl_global#%d%s" % (i * self.M + k, self.sfx(g))
        return "jl_global_%d_%d" % (g, k)

    def helper_name(self, g, n):
        if self.v110:
            return "j_%s_%d%s" % (WORDS[n % len(WORDS)], n, self.sfx(g))
        return "j_helper_%d%s" % (n, self.sfx(g))

    @property
    def data_symbol(self):
        return "jl_sysimg_data" if self.v110 else "jl_system_image_data"

    @property
    def size_symbol(self):
        return "jl_sysimg_size" if self.v110 else "jl_system_image_size"

    @property
    def blob_member(self):
        return "sysimg.o" if self.v110 else "data.o"

    def image_ptr_hidden(self, g, i):
        return "jl_image_pointers_%d_%d" % (g, i) if self.v110 else "jl_image_pointers_%d" % g


def functions_of(args, g):
    """julia_g<g>_f<i> functions of generation g (--functions, --new-functions)."""
    return args.functions if g == 0 else args.new_functions


def helpers_of(args, lay, g):
    return max(2 * lay.S, 4, functions_of(args, g) // 16)


def plan_image(args, lay, pools):
    """Decide every unit, function, slot and binding. Returns (units, jfuns, shared)."""
    S, M, G = lay.S, lay.M, args.generations
    units, jfuns, shared = [], [], []   # jfuns[g][j]; shared[g][k]
    # --old-hidden-refs: per generation, hidden functions, slots and thread-locals with
    # names of their own, which newer generations use by name.
    ospecs, oslots, otls = [], [], []
    old_value = {}                      # slot or thread-local name -> value
    uid = 0
    for g in range(G):
        N = functions_of(args, g)
        H = helpers_of(args, lay, g)
        rng = random.Random("%s:%s:gen%d" % (args.seed, lay.name, g))
        orng = random.Random("%s:%s:old%d" % (args.seed, lay.name, g))
        gunits = []
        for i in range(S):
            gunits.append(Unit(g, i, lay.text_member(i), uid))
            uid += 1
        # gvar slots
        slot_val = {}
        for u in gunits:
            for k in range(M):
                name = lay.slot_name(g, u.shard, k)
                v = rng.getrandbits(64)
                u.gvars.append((name, v))
                slot_val[name] = v

        def pick_slot(shard, other):
            if M == 0:
                raise SystemExit("julia_image: --gvars must be at least 1")
            sh = (shard + 1 + rng.randrange(S - 1)) % S if other and S > 1 else shard
            return gunits[sh].gvars[rng.randrange(M)][0]

        def new_fn(name, shard, tpl):
            fn = Fn(name, g, shard, tpl)
            for c in tpl.consts:
                fn.consts[c] = tpl.markers[c] if tpl.frozen else rng.getrandbits(64)
            fn.arg = rng.getrandbits(64)
            return fn

        # hidden helpers (same names in every generation, generation-specific bodies)
        helpers = []
        for n in range(H):
            shard = n % S
            fn = new_fn(lay.helper_name(g, n), shard, rng.choice(pools["helper"]))
            if "g0" in fn.tpl.slots:
                fn.names["g0"] = pick_slot(shard, False)
            helpers.append(fn)

        specs, gslots, gtls = [], [], []
        if args.old_hidden_refs:
            for n in range(max(2, N // 32)):
                shard = n % S
                fn = new_fn("j_specialize_method_%d" % (g * 1000000 + n + 1), shard,
                            orng.choice(pools["helper"]))
                if "g0" in fn.tpl.slots:
                    fn.names["g0"] = pick_slot(shard, False)
                specs.append(fn)
            for u in gunits:
                for k in range(2):
                    name, v = "jl_gslot_%d_%d_%d" % (g, u.shard, k), orng.getrandbits(64)
                    u.gvars.append((name, v))
                    gslots.append(name)
                    old_value[name] = v
                    name, v = "jl_tls_%d_%d_%d" % (g, u.shard, k), orng.getrandbits(64)
                    u.tls.append((name, v))
                    gtls.append(name)
                    old_value[name] = v
        ospecs.append(specs)
        oslots.append(gslots)
        otls.append(gtls)

        def pick_helper(shard):
            # mostly a helper of another shard (a cross-shard hidden call in layout 1.10)
            target = (shard + 1 + rng.randrange(S - 1)) % S if S > 1 and rng.random() < 0.7 else shard
            return helpers[target + S * rng.randrange((H - target + S - 1) // S)]

        gj = []
        for j in range(N):
            shard = j * S // N
            ncalls = 0 if g == 0 else (2 if rng.random() < 0.25 else 1)
            tpl = rng.choice(pools[("jfun", ncalls)])
            if args.old_hidden_refs and g > 0 and orng.random() < 0.5:
                tpl = orng.choice(pools[("jfun_old", ncalls)])
            fn = new_fn("julia_g%d_f%d" % (g, j), shard, tpl)
            for slot, kind in fn.tpl.slots.items():
                if kind == "hfunc":
                    fn.names[slot] = pick_helper(shard).name
                elif kind == "hdata":
                    fn.names[slot] = pick_slot(shard, slot != "g0")
                elif kind == "func":
                    h = rng.randrange(g)
                    fn.names[slot] = jfuns[h][rng.randrange(len(jfuns[h]))].name
                else:
                    h = orng.randrange(g)
                    pool = {"ofunc": [f.name for f in ospecs[h]], "odata": oslots[h], "otls": otls[h]}[kind]
                    fn.names[slot] = orng.choice(pool)
            gj.append(fn)
        gs = []
        for k in range(N_SHARED):
            shard = k % S
            fn = new_fn("julia_shared_%d" % k, shard, rng.choice(pools["shared"]))
            fn.names["h0"] = pick_helper(shard).name
            fn.names["g0"] = pick_slot(shard, False)
            gs.append(fn)
        jfuns.append(gj)
        shared.append(gs)

        # bind every slot (hidden names within this generation, or by their own names in an
        # older one; julia_g* globally)
        helper_by_name = {h.name: h for h in helpers}
        spec_by_name = {f.name: f for gen_specs in ospecs for f in gen_specs}
        for fn in gj + gs + helpers + specs:
            binds = []
            for op in fn.tpl.ops:
                t = op[0]
                if t == "muladd":
                    binds.append((fn.consts[op[1]], fn.consts[op[2]]))
                elif t == "helper":
                    binds.append(helper_by_name[fn.names[op[1]]])
                elif t in ("gvar", "tls"):
                    nm = fn.names[op[1]]
                    binds.append(old_value[nm] if nm in old_value else slot_val[nm])
                elif t == "call":
                    nm = fn.names[op[1]]
                    h, j = map(int, nm[len("julia_g"):].split("_f"))
                    binds.append(jfuns[h][j])
                elif t == "ocall":
                    binds.append(spec_by_name[fn.names[op[1]]])
                else:
                    binds.append(None)
            fn.binds = binds
            u = gunits[fn.shard]
            for slot, kind in fn.tpl.slots.items():
                if kind != "func":
                    u.hidden_refs.add(fn.names[slot])
        for fn in gj:
            gunits[fn.shard].fvars.append(fn)
        for fn in gs:
            gunits[fn.shard].fvars.append(fn)
        for fn in helpers + specs:
            gunits[fn.shard].fvars.append(fn)
            gunits[fn.shard].hidden_defs.add(fn.name)
        if args.tables_cover_old and g > 0:
            # The first unit's table also reaches older generations' functions.
            for h in range(g):
                older = jfuns[h]
                for j in sorted({0, len(older) // 2, len(older) - 1}):
                    gunits[0].extra_fvars.append(older[j])
                for f in ospecs[h][:1]:
                    gunits[0].extra_fvars.append(f)
                    gunits[0].hidden_refs.add(f.name)
        units.extend(gunits)
    return units, jfuns, shared


# ---- code generation -------------------------------------------------------------------

class Runner:
    def __init__(self, args, build):
        self.args = args
        self.build = build
        self.pool = cf.ThreadPoolExecutor(max_workers=args.jobs)
        self.cflags = ["-fPIC", "-O2", "-mcmodel=%s" % args.model, "-fno-reorder-functions",
                       "-fno-toplevel-reorder", "-fno-tree-slp-vectorize", "-w"]
        if args.function_sections:
            self.cflags.insert(-1, "-ffunction-sections")

    def run(self, cmd, cwd=None):
        p = subprocess.run(cmd, cwd=cwd or self.build, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise RuntimeError("command failed (%d): %s\n%s%s" % (p.returncode, " ".join(map(str, cmd)),
                                                                   p.stdout, p.stderr))
        return p

    def submit(self, cmd, cwd=None):
        return self.pool.submit(self.run, cmd, cwd)

    def compile_s(self, src, out):
        return self.submit([self.args.cc, "-S"] + self.cflags + ["-o", out, src])


_DROP_LINE = re.compile(r"^\t\.(?:file|ident|hidden)\b.*\n|^\t\.section\t\.note\.GNU-stack.*\n", re.M)
_TEXT_SUBSECTION = re.compile(r"^\t\.section\t\.text\.", re.M)


_SECTION_LINE = re.compile(r"^\t\.section\t([^,\s]+)(,.*)?$", re.M)


def clean_gcc_asm(asm, what, function_sections=False):
    """Drop per-file directives (.file, .ident, .hidden, the GNU-stack note; the unit
    writes its own) and spell every .section with its full attributes: gcc writes them
    only the first time in a file, and we reorder and concatenate its output."""
    if not function_sections and _TEXT_SUBSECTION.search(asm):
        raise RuntimeError("%s: gcc emitted code outside .text (a .text.* section); "
                           "the unit's functions must share one .text section" % what)
    asm = _DROP_LINE.sub("", asm)
    full = {}

    def section(m):
        if m.group(2):
            full.setdefault(m.group(1), m.group(0))
            return m.group(0)
        return full.get(m.group(1), m.group(0))

    return _SECTION_LINE.sub(section, asm)


def template_tu(tpls, which):
    """One C file holding every shape, with placeholder names and marker constants."""
    out = [C_PRELUDE]
    for t in tpls:
        for slot, kind in t.slots.items():
            out.append(c_decl("__tpl%d_%s" % (t.idx, slot), kind))
    for t in tpls:
        marks = t.markers if which == 1 else t.markers2
        out.append(c_function(t, "__tpl%d_self" % t.idx, lambda s, t=t: "__tpl%d_%s" % (t.idx, s),
                              marks.__getitem__))
    return "".join(out)


def split_by_function(asm, tpls):
    pieces, cur = {}, []
    size_re = re.compile(r"^\t\.size\t__tpl(\d+)_self, \.-__tpl\1_self$")
    for line in asm.splitlines(keepends=True):
        cur.append(line)
        m = size_re.match(line.rstrip("\n"))
        if m:
            pieces[int(m.group(1))] = "".join(cur)
            cur = []
    missing = [t.idx for t in tpls if t.idx not in pieces]
    if missing:
        raise RuntimeError("template asm: functions %s not found" % missing)
    return pieces


def to_format(piece, t):
    s = piece.replace("{", "{{").replace("}", "}}").replace(".L", ".L{L}")
    s = re.sub(r"__tpl%d_(\w+)" % t.idx, lambda m: "{n_%s}" % m.group(1), s)
    by_value = {s64(v): c for c, v in t.markers.items()}

    def imm(m):
        c = by_value.get(int(m.group(1)))
        return "${c_%s}" % c if c else m.group(0)

    s = re.sub(r"\$(-?\d+)\b", imm, s)
    defs = set(re.findall(r"^(\.L\{L\}\w+):", s, re.M))
    refs = set(re.findall(r"\.L\{L\}\w+", s))
    if not refs <= defs:
        raise RuntimeError("template %d: gcc shared local labels between functions: %s"
                           % (t.idx, sorted(refs - defs)))
    if "__tpl" in s:
        raise RuntimeError("template %d: foreign placeholder in asm" % t.idx)
    return s


def placeholder_map(t, marks):
    d = {"L": "", "n_self": "__tpl%d_self" % t.idx}
    for slot in t.slots:
        d["n_" + slot] = "__tpl%d_%s" % (t.idx, slot)
    for c in t.consts:
        d["c_" + c] = str(s64(marks[c]))
    return d


def build_templates(runner, tpls):
    """Compile every shape twice (different markers); keep gcc's text as a format string."""
    futs = []
    for which in (1, 2):
        src = runner.build / ("templates%d.c" % which)
        src.write_text(template_tu(tpls, which))
        futs.append(runner.compile_s(src.name, "templates%d.s" % which))
    for f in futs:
        f.result()
    fs = runner.args.function_sections
    a1 = clean_gcc_asm((runner.build / "templates1.s").read_text(), "templates", fs)
    a2 = clean_gcc_asm((runner.build / "templates2.s").read_text(), "templates", fs)
    p1, p2 = split_by_function(a1, tpls), split_by_function(a2, tpls)
    frozen = []
    for t in tpls:
        fmt = to_format(p1[t.idx], t)
        if fmt.format_map(placeholder_map(t, t.markers2)) != p2[t.idx]:
            # gcc's code depends on the constants' values: keep this shape's constants.
            t.frozen = True
            frozen.append(t.idx)
        t.fmt = fmt
    return frozen


def fn_asm_template(fn, label):
    t = fn.tpl
    d = {"L": label, "n_self": q(fn.name)}
    for slot, nm in fn.names.items():
        d["n_" + slot] = q(nm)
    for c, v in fn.consts.items():
        d["c_" + c] = str(s64(v))
    return t.fmt.format_map(d)


def c_chunk_source(fns):
    decls, seen = [], set()
    for fn in fns:
        for slot, kind in fn.tpl.slots.items():
            nm = fn.names[slot]
            if nm in seen:
                continue
            seen.add(nm)
            decls.append(c_decl(c_ident(nm), kind))
    out = [C_PRELUDE] + decls
    for fn in fns:
        consts = fn.consts
        names = fn.names
        out.append(c_function(fn.tpl, c_ident(fn.name), lambda s, names=names: c_ident(names[s]),
                              consts.__getitem__))
    return "".join(out)


def entry_label(unit, k):
    """The local label at the start of function k of a unit's table (--table-base table)."""
    return ".Lfv%d_%d" % (unit.uid, k)


def add_entry_labels(asm, unit, fns, first):
    """Puts entry_label() right after each function's own label in gcc's text for fns."""
    for k, fn in enumerate(fns, first):
        label = "%s:\n" % q(fn.name)
        at = asm.find("\n" + label)
        if at < 0:
            raise RuntimeError("%s: label not found in its assembly" % fn.name)
        at += 1 + len(label)
        asm = asm[:at] + entry_label(unit, k) + ":\n" + asm[at:]
    return asm


def unit_tables_asm(unit, lay):
    i, sec = unit.shard, lay.section
    fb, gb = lay.fbase(i), lay.gbase(i)
    hid = lay.tables_hidden
    out = ["\t.section\t%s,\"aw\",@progbits\n" % sec]

    def obj(sym, size, align, hidden):
        s = ["\t.p2align %d\n" % align, "\t.globl\t%s\n" % q(sym)]
        if hidden:
            s.append("\t.hidden\t%s\n" % q(sym))
        s.append("\t.type\t%s, @object\n\t.size\t%s, %d\n%s:\n" % (q(sym), q(sym), size, q(sym)))
        return "".join(s)

    fsyms = [fn.name for fn in unit.table_fvars]
    gsyms = [nm for nm, _ in unit.gvars]
    if lay.compressed:
        if lay.base_in_table:
            # Functions by a local label each: a PC-relative relocation against a global
            # of default visibility could not be linked into a shared library.
            fsyms = [entry_label(unit, k) for k in range(len(unit.fvars))]
        for table, base, syms in ((lay.ftable(i), fb, fsyms), (lay.gtable(i), gb, gsyms)):
            if lay.base_in_table:
                out.append("\t.p2align 2\n\t.globl\t%s\n\t.hidden\t%s\n%s:\n" % (q(base), q(base), q(base)))
            out.append(obj(table, 4 * (len(syms) + 1), 2, hid))
            out.append("\t.long\t%d\n" % len(syms))
            qb = q(base)
            out.extend("\t.long\t%s - %s\n" % (q(s), qb) for s in syms)
    else:
        for table, count, syms in ((lay.ftable(i), lay.fcount(i), fsyms),
                                   (lay.gtable(i), lay.gcount(i), gsyms)):
            out.append(obj(count, 8, 3, hid))
            out.append("\t.quad\t%d\n" % len(syms))
            out.append(obj(table, 8 * len(syms), 3, hid))
            out.extend("\t.quad\t%s\n" % q(s) for s in syms)
    out.append(obj(lay.image_ptr_hidden(unit.gen, i), 8, 3, True))
    out.append("\t.quad\t%s\n" % lay.data_symbol)
    if i == 0:
        out.append(obj("jl_image_pointers", 8, 3, False))
        out.append("\t.quad\t%s\n" % lay.data_symbol)
    return "".join(out)


def unit_asm_head(unit, lay):
    if lay.compressed and lay.base_in_table:
        return "\t.text\n"
    fb = lay.fbase(unit.shard)
    return "\t.text\n\t.globl\t%s\n\t.hidden\t%s\n\t.p2align 4\n%s:\n" % (fb, fb, fb)


def unit_asm_tail(unit, lay):
    gb = lay.gbase(unit.shard)
    out = ["\t.data\n\t.p2align 3\n"]
    if not (lay.compressed and lay.base_in_table):
        out.append("\t.globl\t%s\n\t.hidden\t%s\n%s:\n" % (gb, gb, gb))
    for nm, v in unit.gvars:
        qn = q(nm)
        out.append("\t.globl\t%s\n\t.hidden\t%s\n\t.type\t%s, @object\n\t.size\t%s, 8\n%s:\n\t.quad\t%d\n"
                   % (qn, qn, qn, qn, qn, s64(v)))
    if unit.tls:
        out.append("\t.section\t.tdata,\"awT\",@progbits\n\t.p2align 3\n")
        for nm, v in unit.tls:
            qn = q(nm)
            out.append("\t.globl\t%s\n\t.hidden\t%s\n\t.type\t%s, @object\n\t.size\t%s, 8\n%s:\n\t.quad\t%d\n"
                       % (qn, qn, qn, qn, qn, s64(v)))
    out.append(unit_tables_asm(unit, lay))
    # Definitions are hidden; so are references, unless --ref-visibility default.
    hidden = unit.hidden_defs | (unit.hidden_refs if HIDDEN_DECLS else set())
    out.extend("\t.hidden\t%s\n" % q(nm) for nm in sorted(hidden))
    out.append("\t.section\t.note.GNU-stack,\"\",@progbits\n")
    return "".join(out)


def data_probe_source(lay, B):
    return ("#include <stdint.h>\nconst unsigned char %s[%d] = {1};\nconst uint64_t %s = %d;\n"
            % (lay.data_symbol, B, lay.size_symbol, B))


def data_asm_from_probe(probe, lay, blob_name):
    """gcc's assembly for the data member with the initializer replaced by .incbin."""
    lines = probe.splitlines(keepends=True)
    label = lay.data_symbol + ":\n"
    try:
        at = lines.index(label)
    except ValueError:
        raise RuntimeError("data probe: label %s not found" % lay.data_symbol)
    end = at + 1
    while end < len(lines) and re.match(r"\t\.(?:string|ascii|byte|zero|value|long|quad|skip)\b", lines[end]):
        end += 1
    return "".join(lines[:at + 1] + ['\t.incbin\t"%s"\n' % blob_name] + lines[end:])


def metadata_source(lay, g):
    return ("#include <stdint.h>\n"
            "extern const unsigned char %s[];\n"
            "const int32_t jl_metadata_version = 110;\n"
            "const int32_t jl_metadata_generation = %d;\n"
            "const void *const jl_metadata_ptrs[] = { %s };\n" % (lay.data_symbol, g, lay.data_symbol))


# ---- main ----------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="output directory")
    ap.add_argument("--layout", choices=("1.9", "1.10"), default="1.9")
    ap.add_argument("--generations", type=int, default=3, help="generations G (>= 1), 0 = base")
    ap.add_argument("--functions", type=int, default=200, help="julia_g<g>_f<i> per generation")
    ap.add_argument("--new-functions", type=int, default=None,
                    help="julia_g<g>_f<i> per generation for generations >= 1 (default: --functions); "
                         "each calls one or two older functions by name")
    ap.add_argument("--body-scale", type=int, default=1,
                    help="K: julia_g<g>_f<i> bodies repeat their block of features (helper call, "
                         "slot loads, calls by name, runtime PLT/GOT, switch table, string) K "
                         "times, for K times the code and relocations per function")
    ap.add_argument("--shards", type=int, default=2, help="text shards per generation (1.10 only)")
    ap.add_argument("--gvars", type=int, default=None, help="gvar slots per unit (default N/4)")
    ap.add_argument("--blob-bytes", type=int, default=256 * 1024, help="size of the data blob")
    ap.add_argument("--tables", choices=("compressed", "uncompressed"), default="compressed")
    ap.add_argument("--model", choices=("small", "medium", "large"), default="medium")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cc", default="gcc")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--hidden-unique", action="store_true",
                    help="suffix hidden helper/slot names with _g<gen> (for scripts/hand_link.sh)")
    ap.add_argument("--codegen", choices=("auto", "c", "template"), default="auto",
                    help="c: gcc compiles every function; template: gcc compiles each shape once "
                         "(auto: c up to %d functions in all)" % CODEGEN_AUTO_LIMIT)
    ap.add_argument("--unique-section", default=None,
                    help="uniqueness section name (default by layout)")
    ap.add_argument("--keep-build", action="store_true",
                    help="keep DIR/.julia_image-build (C sources, .s files)")
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--function-sections", action="store_true",
                    help="every function in a section of its own (gcc -ffunction-sections)")
    ap.add_argument("--table-base", choices=("function", "table"), default="function",
                    help="where compressed tables' base labels are: before the first function "
                         "(offsets are constants) or in the table's section (relocations)")
    ap.add_argument("--ref-visibility", choices=("hidden", "default"), default="hidden",
                    help="visibility of references to hidden names (definitions stay hidden)")
    ap.add_argument("--old-hidden-refs", action="store_true",
                    help="newer generations call, read and read older generations' hidden "
                         "functions, slots and thread-locals by name")
    ap.add_argument("--tables-cover-old", action="store_true",
                    help="chained units' tables also list older generations' functions "
                         "(uncompressed tables)")
    args = ap.parse_args(argv)
    if args.function_sections and args.tables == "compressed" and args.table_base == "function":
        ap.error("--function-sections with compressed tables needs --table-base table (an offset "
                 "between two functions' sections is not an assembly-time constant)")
    if args.tables_cover_old and args.tables == "compressed":
        ap.error("--tables-cover-old needs --tables uncompressed (a compressed table describes "
                 "one section of one object)")
    if args.gvars is None:
        args.gvars = max(1, args.functions // 4)
    if args.new_functions is None:
        args.new_functions = args.functions
    if args.generations < 1 or args.functions < 1 or args.shards < 1 or args.gvars < 1 \
            or args.blob_bytes < 1 or args.jobs < 1 or args.new_functions < 1 or args.body_scale < 1:
        ap.error("--generations, --functions, --new-functions, --body-scale, --shards, --gvars, "
                 "--blob-bytes and --jobs must be >= 1")
    if args.layout == "1.10" and min(args.functions, args.new_functions) < args.shards:
        ap.error("--functions and --new-functions must be at least --shards")
    if args.codegen == "auto":
        total = args.functions + (args.generations - 1) * args.new_functions
        args.codegen = "c" if total <= CODEGEN_AUTO_LIMIT else "template"
    return args


def main(argv=None):
    t0 = time.monotonic()
    args = parse_args(argv)
    global HIDDEN_DECLS
    HIDDEN_DECLS = args.ref_visibility == "hidden"
    lay = Layout(args)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    for p in out.glob("gen*"):
        if re.fullmatch(r"gen\d+", p.name) and p.is_dir():
            shutil.rmtree(p)
    for name in ("expected.txt", "manifest.txt", "libjlstub.so"):
        (out / name).unlink(missing_ok=True)
    build = out / ".julia_image-build"
    if build.exists():
        shutil.rmtree(build)
    build.mkdir()
    runner = Runner(args, build)
    timings = {}
    try:
        # stub runtime and data-member probe are independent of everything else
        stub_f = runner.submit([args.cc, "-shared", "-fPIC", "-O2", "-o", str(out / "libjlstub.so"),
                                str(STUB_C)])
        (build / "probe.c").write_text(data_probe_source(lay, args.blob_bytes))
        probe_f = runner.compile_s("probe.c", "probe.s")

        pools, tpls = make_templates(args.seed, args.body_scale, args.old_hidden_refs)
        frozen = []
        if args.codegen == "template":
            frozen = build_templates(runner, tpls)
            if frozen and not args.quiet:
                print("julia_image: note: shapes %s keep their constants (gcc folded them)" % frozen,
                      file=sys.stderr)
        timings["templates"] = time.monotonic() - t0

        units, jfuns, shared = plan_image(args, lay, pools)
        timings["plan"] = time.monotonic() - t0

        # per-unit function assembly
        chunk_futs = {}
        if args.codegen == "c":
            for u in units:
                lst = []
                for c in range(0, len(u.fvars), C_CHUNK):
                    stem = "u%d_c%d" % (u.uid, c // C_CHUNK)
                    (build / (stem + ".c")).write_text(c_chunk_source(u.fvars[c:c + C_CHUNK]))
                    lst.append((stem, runner.compile_s(stem + ".c", stem + ".s")))
                chunk_futs[u.uid] = lst

        probe_f.result()
        probe = (build / "probe.s").read_text()
        gen_dirs = []
        for g in range(args.generations):
            d = build / ("gen%d" % g)
            d.mkdir()
            gen_dirs.append(d)

        asm_futs = []
        for u in units:
            d = gen_dirs[u.gen]
            s_name = "u%d.s" % u.uid
            labels = lay.compressed and lay.base_in_table
            with open(d / s_name, "w") as f:
                f.write(unit_asm_head(u, lay))
                if args.codegen == "c":
                    for k, (stem, fut) in enumerate(chunk_futs[u.uid]):
                        fut.result()
                        asm = clean_gcc_asm((build / (stem + ".s")).read_text(), stem, lay.function_sections)
                        asm = c_unsanitize(asm.replace(".L", ".Lc%d_" % k))
                        if labels:
                            first = k * C_CHUNK
                            asm = add_entry_labels(asm, u, u.fvars[first:first + C_CHUNK], first)
                        f.write(asm)
                else:
                    for k, fn in enumerate(u.fvars):
                        asm = fn_asm_template(fn, "%x_" % k)
                        f.write(add_entry_labels(asm, u, [fn], k) if labels else asm)
                f.write(unit_asm_tail(u, lay))
            asm_futs.append(runner.submit([args.cc, "-c", "-o", u.member, s_name], cwd=d))
        for g, d in enumerate(gen_dirs):
            blob = random.Random("%s:%s:blob%d" % (args.seed, lay.name, g)).randbytes(args.blob_bytes)
            (d / "blob.bin").write_bytes(blob)
            (d / "blob.s").write_text(data_asm_from_probe(probe, lay, "blob.bin"))
            asm_futs.append(runner.submit([args.cc, "-c", "-o", lay.blob_member, "blob.s"], cwd=d))
            if lay.v110:
                (d / "metadata.c").write_text(metadata_source(lay, g))
                asm_futs.append(runner.submit([args.cc, "-c"] + runner.cflags +
                                              ["-o", "metadata.o", "metadata.c"], cwd=d))
        timings["asm"] = time.monotonic() - t0

        # expected results (overlaps with the assembler)
        lines = []
        for u in units:
            lines.append("U %d %d %d %d %s %s\n" % (u.gen, u.shard, len(u.table_fvars), len(u.gvars),
                                                    lay.ftable(u.shard), lay.gtable(u.shard)))
        for u in units:
            for k, fn in enumerate(u.table_fvars):
                if fn.result is None:
                    fn.result = evaluate(fn, fn.arg)
                lines.append("F %d %d %d %s %d %d\n" % (u.gen, u.shard, k, fn.name, s64(fn.arg),
                                                        s64(fn.result)))
        for u in units:
            for k, (nm, v) in enumerate(u.gvars):
                lines.append("G %d %d %d %s %d\n" % (u.gen, u.shard, k, nm, s64(v)))
        for gj in jfuns:
            for fn in gj:
                lines.append("N %s %d %d\n" % (fn.name, s64(fn.arg), s64(fn.result)))
        for fn in shared[-1]:
            lines.append("N %s %d %d\n" % (fn.name, s64(fn.arg), s64(fn.result)))
        (out / "expected.txt").write_text("".join(lines))
        timings["expected"] = time.monotonic() - t0

        for f in asm_futs:
            f.result()
        timings["assembled"] = time.monotonic() - t0
        members = [lay.text_member(i) for i in range(lay.S)] + lay.data_members
        ar_futs = []
        for g, d in enumerate(gen_dirs):
            dest = out / lay.archive(g)
            dest.parent.mkdir(parents=True, exist_ok=True)
            ar_futs.append(runner.submit(["ar", "rcsD", str(dest)] + members, cwd=d))
        for f in ar_futs:
            f.result()
        stub_f.result()
        timings["archives"] = time.monotonic() - t0

        nfun = sum(len(u.fvars) for u in units)
        manifest = [
            ("layout", lay.name),
            ("generations", args.generations),
            ("functions_per_generation", args.functions),
            ("shards", lay.S),
            ("gvars_per_unit", lay.M),
            ("shared_per_generation", N_SHARED),
            ("helpers_per_generation", max(2 * lay.S, 4, args.functions // 16)),
            ("blob_bytes", args.blob_bytes),
            ("tables", args.tables),
            ("model", args.model),
            ("seed", args.seed),
        ] + ([
            ("new_functions_per_generation", args.new_functions),
            ("helpers_per_new_generation", helpers_of(args, lay, 1)),
        ] if args.new_functions != args.functions else []) + ([
            ("body_scale", args.body_scale),
        ] if args.body_scale != 1 else []) + [
            ("hidden_unique", int(args.hidden_unique)),
            ("function_sections", int(args.function_sections)),
            ("table_base", args.table_base),
            ("ref_visibility", args.ref_visibility),
            ("old_hidden_refs", int(args.old_hidden_refs)),
            ("tables_cover_old", int(args.tables_cover_old)),
            ("codegen", args.codegen),
            ("frozen_shapes", ",".join(map(str, frozen))),
            ("cflags", " ".join(runner.cflags[:-1])),
            ("strip_section", lay.section),
            ("base_archive", lay.archive(0)),
            ("chained_archives", " ".join(lay.archive(g) for g in range(1, args.generations))),
            ("text_members", " ".join(lay.text_member(i) for i in range(lay.S))),
            ("data_members", " ".join(lay.data_members)),
            ("members", " ".join(members)),
            ("fvars_base", " ".join(lay.fbase(i) for i in range(lay.S))),
            ("gvars_base", " ".join(lay.gbase(i) for i in range(lay.S))),
            ("fvars_table", " ".join(lay.ftable(i) for i in range(lay.S))),
            ("gvars_table", " ".join(lay.gtable(i) for i in range(lay.S))),
            ("fvars_count", "" if lay.compressed else " ".join(lay.fcount(i) for i in range(lay.S))),
            ("gvars_count", "" if lay.compressed else " ".join(lay.gcount(i) for i in range(lay.S))),
            ("tables_visibility", "hidden" if lay.tables_hidden else "default"),
            ("image_data_symbol", lay.data_symbol),
            ("image_size_symbol", lay.size_symbol),
            ("image_pointers", "jl_image_pointers"),
            ("runtime_library", "libjlstub.so"),
            ("runtime_symbols", "ijl_runtime_mix jl_runtime_bias"),
            ("units", len(units)),
            ("table_functions_total", nfun),
            ("expected", "expected.txt"),
        ]
        (out / "manifest.txt").write_text("".join("%s=%s\n" % kv for kv in manifest))
    finally:
        runner.pool.shutdown(wait=True, cancel_futures=True)
        if not args.keep_build:
            shutil.rmtree(build, ignore_errors=True)
    if not args.quiet:
        print("julia_image: %s: layout %s, %d generations, %d units, %d table functions, "
              "codegen %s, %.2fs (templates %.2f, plan %.2f, asm text %.2f, expected %.2f, "
              "assembled %.2f)" % (out, lay.name, args.generations, len(units), nfun, args.codegen,
                                   time.monotonic() - t0, timings["templates"], timings["plan"],
                                   timings["asm"], timings["expected"], timings["assembled"]),
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as e:
        sys.exit("julia_image: error: %s" % e)
