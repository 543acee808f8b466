#!/usr/bin/env python3
"""Regenerates crates/kiln/tests/fixtures/fix/cases from Packer 1.6.6's `packer fix`.

The cases are the hand-written templates in crates/kiln/tests/fixtures/fix/inputs, the seed
template (its missing comma added), and RANDOM seeded random templates that mix the options
Packer's fixers rewrite with values of every JSON type. For each case NAME.json, NAME.out holds
what `packer fix -validate=false` printed, or NAME.err what Packer said when it refused (or
crashed on) the template. The test (crates/kiln/tests/fix.rs) never runs Packer: it compares
`kiln fix` with these files.

Needs `packer` (apt-get install packer).
"""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE = os.path.join(ROOT, "crates/kiln/tests/fixtures/fix")
SEED = os.path.join(ROOT, "../shared/seed/000_f83e5ddeb25fd349.txt")
RANDOM = 120

ANY = [None, True, False, 0, 1, 2.5, -0.0, 1e21, 1e-7, 12345678901234567890, "", "x",
       "true", "0", "yes", "a,b, c", "a`$b``c`'d`\"e", "{{ .CreateTime }}-{{.CreateTime}}",
       "clean_ami_name clean_image_name", "<&>\u2028\u0001", [], ["a", "b"], ["a", 1],
       [None, "x"], {}, {"k": "clean_image_name", "n": 1}, "thin", "esx5"]
LIKELY = ["x", "a,b, c", "a`$b``c`'d`\"e", "{{ .CreateTime }}-{{.CreateTime}}",
          "clean_ami_name", True, False, 1, 2.5, ["a", "b"], {"k": "clean_image_name"},
          "thin", "esx5", "1", "f", "<&>"]
BUILDER_TYPES = ["amazon-ebs", "amazon-instance", "amazon-chroot", "virtualbox",
                 "virtualbox-iso", "vmware", "vmware-iso", "parallels-iso", "parallels-pvm",
                 "scaleway", "qemu", "hyperv-iso", "hyperv-vmcx", "vsphere-iso",
                 "azure-chroot", "proxmox", "docker", "null"]
BUILDER_KEYS = ["iso_md5", "ami_name", "bundle_prefix", "snapshot_name",
                "guest_additions_attach", "headless", "parallels_tools_host_path",
                "guest_os_distribution", "guest_os_type", "ssh_key_path",
                "ssh_private_key_file", "ssh_disable_agent", "ssh_disable_agent_forwarding",
                "access_key", "organization_id", "shutdown_behaviour", "shutdown_behavior",
                "enhanced_networking", "ena_support", "ssh_private_ip", "ssh_interface",
                "temporary_security_group_source_cidr", "login_email", "remote_type",
                "disk_type_id", "skip_compaction", "vhd_temp_path", "clone_from_vmxc_path",
                "cpu", "ram_size", "memory", "image_labels", "spot_price_auto_product",
                "disk_size", "ssh_host_port_min", "host_port_min", "ssh_host_port_max",
                "host_port_max", "ssh_skip_nat_mapping", "skip_nat_mapping",
                "ssh_wait_timeout", "ssh_timeout", "network", "networkCard", "network_card",
                "network_adapters", "disk_thin_provisioned", "disk_eagerly_scrub", "storage",
                "iso_checksum", "iso_checksum_url", "iso_checksum_type",
                "shared_image_destination", "name"]
PROVISIONER_TYPES = ["shell", "powershell", "powershell", "ansible-local"]
PROVISIONER_KEYS = ["override", "galaxycommand", "galaxy_command", "elevated_user",
                    "elevated_password", "environment_vars", "only"]
PP_TYPES = ["vagrant", "manifest", "docker-tag", "docker-import", "compress", None]
PP_KEYS = ["aws", "digitalocean", "virtualbox", "vmware", "override", "filename", "output",
           "tag", "tags", "login_email", "keep_input_artifact"]


def value(rng, key):
    if key == "override":
        return rng.choice([{"virtualbox": {"a": 1}}, {"x": 1},
                           [{"virtualbox": 1}, {"b": 2}], None, "x"])
    if key in ("elevated_user", "elevated_password"):
        return rng.choice(["a`$b", "x", 1])
    if key == "image_labels":
        return rng.choice([{"a": "clean_ami_name"}, "clean_image_name", None])
    if key in ("network_adapters", "storage"):
        return rng.choice([[], [{"a": 1}], "x"])
    if key == "environment_vars":
        return rng.choice([["A=`$x", None], "x", None, ["a", 1]])
    if key in ("tag", "tags"):
        return rng.choice(["a,b", ["a", "c"], 5, None, "a, a", [1]])
    return rng.choice(LIKELY) if rng.random() < 0.8 else rng.choice(ANY)


def plugin(rng, types, keys, n):
    o = {}
    t = rng.choice(types)
    if t is not None:
        o["type"] = t
    for _ in range(rng.randint(0, n)):
        k = rng.choice(keys)
        o[k] = value(rng, k)
    if t == "vmware-iso" and rng.random() < 0.7:
        o["remote_type"] = "esx5"
    if t == "azure-chroot" and rng.random() < 0.7:
        o["shared_image_destination"] = {"exlude_from_latest": value(rng, None)}
    return o


def random_template(rng):
    t = {}
    r = rng.random()
    if r < 0.9:
        t["builders"] = [plugin(rng, BUILDER_TYPES, BUILDER_KEYS, 6)
                         for _ in range(rng.randint(1, 3))]
    elif r < 0.93:
        t["builders"] = []
    elif r < 0.96:
        t["builders"] = [None, {"type": 5}]
    if rng.random() < 0.6:
        ps = [plugin(rng, PROVISIONER_TYPES, PROVISIONER_KEYS, 3)
              for _ in range(rng.randint(0, 3))]
        r = rng.random()
        t["provisioners"] = (ps[0] if r < 0.1 and ps else {} if r < 0.15
                             else "x" if r < 0.18 else ps)
    if rng.random() < 0.6:
        pps = []
        for _ in range(rng.randint(0, 3)):
            r = rng.random()
            if r < 0.2:
                pps.append(rng.choice(PP_TYPES) or "manifest")
            elif r < 0.4:
                pps.append([plugin(rng, PP_TYPES, PP_KEYS, 3), "compress"])
            else:
                pps.append(plugin(rng, PP_TYPES, PP_KEYS, 3))
        t["post-processors"] = pps if rng.random() < 0.95 else None
    if rng.random() < 0.05:
        t["Builders"] = [{"type": "vmware"}]
    return t


def seed_template():
    text = open(SEED, encoding="utf-8").read()
    start = text.index("```json\n") + len("```json\n")
    end = start + text[start:].index("```")
    return text[start:end].replace('"elasticsearch"\n', '"elasticsearch",\n', 1)


def main():
    if not shutil.which("packer"):
        sys.exit("gen-fix-goldens: packer is not installed (apt-get install packer)")
    cases = os.path.join(BASE, "cases")
    shutil.rmtree(cases, ignore_errors=True)
    os.makedirs(cases)
    texts = {}
    for name in sorted(os.listdir(os.path.join(BASE, "inputs"))):
        texts[name[:-len(".json")]] = open(os.path.join(BASE, "inputs", name),
                                           encoding="utf-8").read()
    texts["seed"] = seed_template()
    rng = random.Random(20261204)
    for i in range(RANDOM):
        texts[f"random{i:03}"] = json.dumps(random_template(rng), indent=1) + "\n"
    for name, text in texts.items():
        path = os.path.join(cases, name + ".json")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        # (a crashing Packer writes crash.log where it runs)
        with tempfile.TemporaryDirectory() as cwd:
            run = subprocess.run(["packer", "fix", "-validate=false", path],
                                 capture_output=True, text=True, cwd=cwd)
        if run.returncode == 0:
            out, ext = run.stdout, ".out"
        else:
            said = (run.stdout + run.stderr).strip().splitlines()
            said = [l for l in said if l.startswith("panic: ")] or said
            out, ext = (said[0] if said else f"exit {run.returncode}") + "\n", ".err"
        with open(os.path.join(cases, name + ext), "w", encoding="utf-8") as f:
            f.write(out)
    print(f"gen-fix-goldens: {len(texts)} cases in {cases}")


if __name__ == "__main__":
    main()
