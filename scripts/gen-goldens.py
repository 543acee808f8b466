#!/usr/bin/env python3
"""Regenerates the golden files in crates/kiln/tests/golden from Packer 1.6.6.

Needs `packer` (apt-get install packer). The tests never run Packer: they compare kiln's
output with these files, normalised the same way (see crates/kiln/tests/common/mod.rs).
"""
import json, os, re, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(ROOT, "crates/kiln/tests/fixtures")
GOLD = os.path.join(ROOT, "crates/kiln/tests/golden")


def machine_lines(out):
    for line in out.splitlines():
        parts = line.split(",", 3)
        if len(parts) >= 3:
            yield parts


def normalize_run(out, workdir):
    artifacts = [",".join(p[1:]) for p in machine_lines(out) if p[2] in ("artifact", "artifact-count")]
    artifacts.sort(key=lambda l: l.split(",", 1)[0])  # stable: keeps order within a build
    messages = sorted(p[3][len("message,"):] for p in machine_lines(out)
                      if p[2] == "ui" and p[3].startswith("message,"))
    files = sorted(f for f in os.listdir(workdir) if f != "out.txt")
    manifest = None
    mpath = os.path.join(workdir, "manifest.json")
    if os.path.exists(mpath):
        m = json.load(open(mpath))
        for b in m["builds"]:
            b["build_time"] = 0
            b["packer_run_uuid"] = "RUN"
        m["builds"].sort(key=lambda b: b["name"])
        m["last_run_uuid"] = "RUN"
        manifest = m
    return artifacts, messages, files, manifest


def say_lines(out):
    """The say and error lines, sorted, with durations and temporary script names replaced
    (crates/kiln/tests/common/mod.rs normalises kiln's the same way)."""
    lines = []
    for p in machine_lines(out):
        if p[2] != "ui" or not (p[3].startswith("say,") or p[3].startswith("error,")):
            continue
        line = re.sub(r"packer-shell[A-Za-z0-9]+", "packer-shellX", p[3])
        line = re.sub(r" after .*", " after DURATION", line)
        lines.append(line)
    return sorted(lines)


def run(fixture, args, env_extra):
    work = tempfile.mkdtemp()
    env = dict(os.environ, **env_extra)
    p = subprocess.run(["packer", "build", "-machine-readable"] + args + [os.path.join(FIX, fixture)],
                       cwd=work, env=env, capture_output=True, text=True)
    out = p.stdout.replace(os.path.realpath(FIX), "FIXTURES").replace(work, "WORKDIR")
    return p.returncode, out, work


def main():
    os.makedirs(GOLD, exist_ok=True)
    code, out, work = run("chain.json", ["-parallel-builds=1"], {})
    assert code == 0, out
    artifacts, messages, files, manifest = normalize_run(out, work)
    name = "chain"
    open(os.path.join(GOLD, f"{name}.artifacts"), "w").write("\n".join(artifacts) + "\n")
    open(os.path.join(GOLD, f"{name}.messages"), "w").write("\n".join(messages) + "\n")
    open(os.path.join(GOLD, f"{name}.files"), "w").write("\n".join(files) + "\n")
    json.dump(manifest, open(os.path.join(GOLD, f"{name}.manifest.json"), "w"), indent=2)
    open(os.path.join(GOLD, f"{name}.says"), "w").write("\n".join(say_lines(out)) + "\n")

    code, out, work = run("functions.json", ["-var", "overridden=from-flag"], {"KILN_TEST_VALUE": "env-value"})
    assert code == 0, out
    _, messages, _, _ = normalize_run(out, work)
    open(os.path.join(GOLD, "functions.messages"), "w").write("\n".join(messages) + "\n")
    # The local plugins: shell-local's options, sleep, breakpoint, artifice, every checksum
    # type with an output template, manifest with strip_path, compress with a level.
    code, out, work = run("plugins.json", ["-parallel-builds=1"], {})
    assert code == 0, out
    artifacts, messages, files, manifest = normalize_run(out, work)
    open(os.path.join(GOLD, "plugins.artifacts"), "w").write("\n".join(artifacts) + "\n")
    open(os.path.join(GOLD, "plugins.messages"), "w").write("\n".join(messages) + "\n")
    open(os.path.join(GOLD, "plugins.files"), "w").write("\n".join(files) + "\n")
    json.dump(manifest, open(os.path.join(GOLD, "plugins.manifest.json"), "w"), indent=2)
    sums = ""
    for name in sorted(os.listdir(os.path.join(work, "sums"))):
        sums += f"== {name}\n" + open(os.path.join(work, "sums", name)).read()
    listing = subprocess.run(["tar", "tzvf", os.path.join(work, "packed-f.tar.gz")],
                             capture_output=True, text=True, check=True).stdout
    open(os.path.join(GOLD, "plugins.sums"), "w").write(sums + "== packed-f.tar.gz\n" + listing)
    # Time functions: the test fixes kiln's start time to the one Packer printed (timestamp and
    # nanos lines) with KILN_INIT_TIME.
    code, out, work = run("functions_time.json", [], {})
    assert code == 0, out
    _, messages, _, _ = normalize_run(out, work)
    open(os.path.join(GOLD, "functions_time.messages"), "w").write("\n".join(messages) + "\n")
    # `inspect` output, human and machine-readable.
    for name in ("inspect_full", "inspect_required", "inspect_empty"):
        fixture = os.path.join(FIX, "inspect", name + ".json")
        human = subprocess.run(["packer", "inspect", fixture], capture_output=True, text=True).stdout
        machine = subprocess.run(["packer", "inspect", "-machine-readable", fixture],
                                 capture_output=True, text=True).stdout
        machine = "".join(l.split(",", 1)[1] + "\n" for l in machine.splitlines())
        open(os.path.join(GOLD, name + ".inspect"), "w").write(human)
        open(os.path.join(GOLD, name + ".inspect-machine"), "w").write(machine)
    # HCL2 in JSON syntax: a directory of a .pkr.json and a .pkr.hcl with an auto var file in
    # JSON, and a JSON -var-file; what the build says and prints, the files, and `inspect`.
    hcl_json = os.path.join(FIX, "hcl_json")
    code, out, work = run("hcl_json/dir", ["-var-file=" + os.path.join(hcl_json, "given.json")], {})
    assert code == 0, out
    _, messages, files, _ = normalize_run(out, work)
    open(os.path.join(GOLD, "hcl_json.messages"), "w").write("\n".join(messages) + "\n")
    open(os.path.join(GOLD, "hcl_json.says"), "w").write("\n".join(say_lines(out)) + "\n")
    open(os.path.join(GOLD, "hcl_json.files"), "w").write("\n".join(files) + "\n")
    human = subprocess.run(["packer", "inspect", os.path.join(hcl_json, "dir")],
                           capture_output=True, text=True).stdout
    open(os.path.join(GOLD, "hcl_json.inspect"), "w").write(human)
    # Exit codes of `validate` for each case in fixtures/validate/cases.txt.
    vdir = os.path.join(FIX, "validate")
    lines = []
    for case in open(os.path.join(vdir, "cases.txt")).read().splitlines():
        if not case.strip():
            continue
        args = case.split()
        p = subprocess.run(["packer", "validate"] + args, cwd=vdir, capture_output=True, text=True)
        lines.append(f"{case} => {p.returncode}")
    open(os.path.join(GOLD, "validate.codes"), "w").write("\n".join(lines) + "\n")
    print("goldens written to", GOLD)


if __name__ == "__main__":
    sys.exit(main())
