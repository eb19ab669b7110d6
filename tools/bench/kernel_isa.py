"""What the native kernel executes: instructions per vector register class in every ISA variant.

Builds (or finds in the cache) the shared library of every ISA variant of ``kan_core.native`` -- also those
this CPU cannot run, compiling needs no AVX-512 -- disassembles it with ``objdump -d`` and counts, per
exported kernel and in all, the instructions that name zmm (512-bit), ymm (256-bit) and xmm (128-bit)
registers, and the vector FMAs by width. A variant whose hot kernels show few zmm/ymm instructions does not
run at its CPU's vector width (GCC's ``-march=native`` on Intel server cores prefers 256-bit vectors).

Usage: ``python tools/bench/kernel_isa.py [--functions]``
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from collections import Counter

from kan_core.native import ISA_VARIANTS, build_variant, machine_summary

_INSN = re.compile(r"^\s+[0-9a-f]+:\t(\S+)\s*(.*)$")
_FUNC = re.compile(r"^[0-9a-f]+ <([^>]+)>:$")
_FMA = re.compile(r"^vf(n?)m(add|sub)")


def count(path: str) -> dict[str, Counter]:
    """Per function of the library (plus ``"all"``): instructions by register class and FMAs by width."""
    text = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True, check=True
    )
    out: dict[str, Counter] = {"all": Counter()}
    func = "?"
    for line in text.stdout.splitlines():
        m = _FUNC.match(line)
        if m:
            func = m.group(1)
            continue
        m = _INSN.match(line)
        if not m:
            continue
        op, args = m.groups()
        cls = "zmm" if "zmm" in args else "ymm" if "ymm" in args else "xmm" if "xmm" in args else "other"
        for key in (func, "all"):
            c = out.setdefault(key, Counter())
            c["insns"] += 1
            c[cls] += 1
            if _FMA.match(op) and cls != "other":
                c[f"fma_{cls}"] += 1
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--functions", action="store_true", help="also list every exported kernel")
    args = ap.parse_args()
    print(machine_summary())
    if shutil.which("objdump") is None:
        raise SystemExit("objdump not found (binutils)")
    cols = ("insns", "zmm", "ymm", "xmm", "fma_zmm", "fma_ymm", "fma_xmm")
    print(f"{'variant':8s} {'function':34s} " + " ".join(f"{c:>8s}" for c in cols))
    for name in ISA_VARIANTS:
        counts = count(str(build_variant(name)))
        rows = ["all"] + (
            sorted(f for f in counts if f.startswith(("kan_", "local_"))) if args.functions else []
        )
        for f in rows:
            print(f"{name:8s} {f:34s} " + " ".join(f"{counts[f][c]:8d}" for c in cols))


if __name__ == "__main__":
    main()
