#!/usr/bin/env python3
"""Regenerates crates/kiln-template/tests/fmt/cases from Packer 1.6.6's `packer fmt`.

Each input in crates/kiln-template/tests/fmt/inputs is written as it is and in VARIANTS
mangled forms (a seeded random mix of indentation, spaces and tabs between tokens, operators
squeezed together, comments at line ends, stray blank lines, CRLF line ends). For each case
NAME.in the file NAME.out holds what `packer fmt` made of it, or NAME.err marks that Packer
refused it. The test (crates/kiln-template/tests/fmt.rs) never runs Packer: it compares kiln's
formatter with these files.

Needs `packer` (apt-get install packer).
"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "crates/kiln-template/tests/fmt")
VARIANTS = 6


def mangle(text, rng):
    out = []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if rng.random() < 0.5:
            line = " " * rng.randint(0, 6) + line.lstrip(" \t")
        line = re.sub(r"[ \t]+", lambda m: rng.choice([" ", "  ", "\t", " \t "])
                      if rng.random() < 0.4 else m.group(0), line)
        line = re.sub(r"[,=(\[{]", lambda m: m.group(0) + (" " * rng.randint(1, 2)
                      if rng.random() < 0.2 else ""), line)
        if rng.random() < 0.15:
            line = re.sub(r" ?([=+*/<>:?-]) ?", r"\1", line)
        if rng.random() < 0.08 and line.strip():
            line += rng.choice([" # c", "// c2", " /* c3 */"])
        if rng.random() < 0.1:
            line += " " * rng.randint(1, 3)
        if rng.random() < 0.05:
            out.append(" " * rng.randint(0, 3))
        out.append(line)
    nl = "\r\n" if rng.random() < 0.2 else "\n"
    return nl.join(out)


def main():
    if not shutil.which("packer"):
        sys.exit("gen-fmt-goldens: packer is not installed (apt-get install packer)")
    cases = os.path.join(BASE, "cases")
    shutil.rmtree(cases, ignore_errors=True)
    os.makedirs(cases)
    rng = random.Random(20261203)
    for name in sorted(os.listdir(os.path.join(BASE, "inputs"))):
        text = open(os.path.join(BASE, "inputs", name), newline="", encoding="utf-8").read()
        stem = name.split(".")[0]
        ext = name[len(stem):]
        for i, variant in enumerate([text] + [mangle(text, rng) for _ in range(VARIANTS)]):
            case = f"{stem}_{i}"
            with tempfile.TemporaryDirectory() as d:
                f = os.path.join(d, "case" + ext)
                open(f, "w", newline="", encoding="utf-8").write(variant)
                r = subprocess.run(["packer", "fmt", f], capture_output=True, text=True)
                open(os.path.join(cases, case + ".in"), "w", newline="",
                     encoding="utf-8").write(variant)
                if r.returncode != 0:
                    open(os.path.join(cases, case + ".err"), "w").write("packer fmt refused it\n")
                else:
                    out = open(f, newline="", encoding="utf-8").read()
                    open(os.path.join(cases, case + ".out"), "w", newline="",
                         encoding="utf-8").write(out)
    print("wrote", len(os.listdir(cases)), "files to", os.path.relpath(cases, ROOT))


main()
