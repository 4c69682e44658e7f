#!/usr/bin/env python3
"""What the schemas cannot see in deploy/: that the manifests use the real binaries.

For every Switchyard process a manifest starts (the Dockerfile's CMD and
HEALTHCHECK, each compose service and health check, each container of the
rendered Kubernetes manifests whose image is Switchyard's):

* its binary is one the image has, and every `--flag` it is given is one that
  binary (or its `syctl` subcommand) takes, read from its `--help`;
* every SWITCHYARD_* variable it is given is one its binary reads (the
  Dockerfile's ENV: one some binary reads);
* every absolute path in its arguments and variables is on something mounted
  into it (a volume, a Secret or ConfigMap key, a compose secret) or made by
  the image, and a Secret or ConfigMap mounted with items has that key;
* every ${env:NAME} of a gateway.yaml it reads (`--config FILE`, `syctl
  apply|diff -f FILE`) is set in its environment.

The compose file's secrets, volumes and depends_on must name what it defines.

    manifests.py --bin DIR --dockerfile FILE --compose FILE [--k8s RENDERED.yaml ...]

Prints one line per problem and exits 1 if there was any.
"""

import argparse
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

import yaml

BINARIES = {"switchyard-control", "switchyard-proxy", "syctl"}
ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")
problems = []


def problem(where, message):
    problems.append(f"{where}: {message}")


@dataclass
class Mount:
    path: str
    # A file mount (compose bind of a file, a secret file) is matched exactly.
    is_file: bool = False
    # Keys a Secret/ConfigMap volume holds; None: any file may be there.
    keys: set | None = None
    # key -> text, where the content is known (rendered ConfigMaps, bound files).
    content: dict = field(default_factory=dict)


@dataclass
class Process:
    where: str
    argv: list
    env: dict  # name -> value (None when it comes from a secret reference), the image's included
    given: set  # the names the manifest sets (the image's ENV is checked on its own)
    mounts: list
    image_dirs: set


class Help:
    """`BIN [SUBCOMMAND...] --help`, cached."""

    def __init__(self, bin_dir):
        self.bin_dir = bin_dir
        self.cache = {}

    def text(self, binary, path=()):
        key = (binary, tuple(path))
        if key not in self.cache:
            exe = os.path.join(self.bin_dir, binary)
            run = subprocess.run([exe, *path, "--help"], capture_output=True, text=True, timeout=30)
            if run.returncode != 0:
                raise SystemExit(f"manifests.py: {exe} {' '.join(path)} --help failed: {run.stderr.strip()}")
            self.cache[key] = run.stdout
        return self.cache[key]

    def subcommands(self, binary, path):
        text = self.text(binary, path)
        if "\nCommands:\n" not in text:
            return set()
        block = text.split("\nCommands:\n", 1)[1].split("\n\n", 1)[0]
        return {line.split()[0] for line in block.splitlines() if line.strip()}


def mentions(text, word):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


def check_process(p, help_):
    if not p.argv:
        problem(p.where, "no command")
        return
    binary = os.path.basename(p.argv[0])
    if binary not in BINARIES or (p.argv[0].startswith("/") and p.argv[0] != f"/usr/local/bin/{binary}"):
        problem(p.where, f"{p.argv[0]} is not one of the image's binaries (/usr/local/bin/{{{','.join(sorted(BINARIES))}}})")
        return
    args = p.argv[1:]
    # syctl's subcommand path: leading words its help lists as commands.
    path = []
    for word in args:
        if word.startswith("-") or word not in help_.subcommands(binary, path):
            break
        path.append(word)
    text = help_.text(binary, path)
    command = " ".join([binary, *path])
    for arg in args[len(path):]:
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            if not mentions(text, flag):
                problem(p.where, f"{command} takes no {flag}")
    # syctl names its variables in its top-level help only.
    env_text = text + help_.text(binary)
    for name in sorted(p.given):
        if name.startswith("SWITCHYARD_") and not mentions(env_text, name):
            problem(p.where, f"{binary} reads no {name}")
    # Paths given as arguments or variables.
    values = [a for a in args if a.startswith("/")]
    values += [a.split("=", 1)[1] for a in args if a.startswith("--") and "=" in a and a.split("=", 1)[1].startswith("/")]
    values += [v for v in p.env.values() if isinstance(v, str) and v.startswith("/")]
    for value in values:
        check_path(p, value)
    # gateway.yaml files it reads: their ${env:...} must be set.
    for i, arg in enumerate(args[:-1]):
        if arg in ("--config", "-f", "--file"):
            text_of = file_content(p, args[i + 1])
            if text_of is None:
                continue
            for name in sorted(env_refs(yaml.safe_load(text_of))):
                if name not in p.env:
                    problem(p.where, f"{args[i + 1]} references ${{env:{name}}}, which is not set here")


def env_refs(node):
    """The NAMEs of every ${env:NAME} in a YAML document's strings (comments are not strings)."""
    if isinstance(node, str):
        return set(ENV_REF.findall(node))
    items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return set().union(*(env_refs(i) for i in items))


def find_mount(p, value):
    best = None
    for m in p.mounts:
        if m.is_file:
            if value == m.path:
                return m
        elif value == m.path or value.startswith(m.path.rstrip("/") + "/"):
            if best is None or len(m.path) > len(best.path):
                best = m
    return best


def check_path(p, value):
    m = find_mount(p, value)
    if m is None:
        if any(value == d or value.startswith(d + "/") for d in p.image_dirs):
            return
        problem(p.where, f"{value} is on nothing mounted into the container")
        return
    if m.is_file or m.keys is None:
        return
    rest = value[len(m.path.rstrip("/")) + 1:]
    if rest and rest not in m.keys:
        problem(p.where, f"{value}: the volume at {m.path} holds only {sorted(m.keys)}")


def file_content(p, value):
    m = find_mount(p, value)
    if m is None:
        return None
    if m.is_file:
        return m.content.get("")
    return m.content.get(value[len(m.path.rstrip("/")) + 1:])


# --- the Dockerfile ---------------------------------------------------------------------


def read_dockerfile(path):
    """The final stage's ENV, CMD and HEALTHCHECK, and the directories it creates."""
    text = re.sub(r"\\\n", " ", open(path).read())
    stages = re.split(r"(?im)^\s*FROM\s", text)
    final = stages[-1]
    env, cmd, health, dirs = {}, None, None, set()
    for line in final.splitlines():
        line = line.strip()
        word = line.split(" ", 1)[0].upper()
        rest = line[len(word):].strip()
        if word == "ENV":
            for pair in re.findall(r"(\S+?)=(\S+)", rest):
                env[pair[0]] = pair[1]
        elif word == "CMD":
            cmd = json.loads(rest)
        elif word == "HEALTHCHECK" and (m := re.search(r"\bCMD\s+(\[.*\])", rest)):
            health = json.loads(m.group(1))
        elif word in ("COPY", "WORKDIR"):
            dest = rest.split()[-1]
            if dest.startswith("/") and not dest.startswith("/usr/local/bin"):
                dirs.add(dest.rstrip("/"))
    return env, cmd, health, dirs


def check_dockerfile(path, help_):
    env, cmd, health, dirs = read_dockerfile(path)
    everything = "".join(help_.text(b) for b in sorted(BINARIES))
    for name in env:
        if name.startswith("SWITCHYARD_") and not mentions(everything, name):
            problem(path, f"ENV {name}: no binary reads it")
    # The default command reads /etc/switchyard/gateway.yaml from a mount the image leaves to the user.
    for what, argv in (("CMD", cmd), ("HEALTHCHECK", health)):
        if argv is None:
            problem(path, f"no exec-form {what}")
            continue
        mounts = [Mount("/etc/switchyard")] if what == "CMD" else []
        check_process(Process(f"{path} {what}", argv, dict(env), set(), mounts, dirs), help_)
    return env, cmd, dirs


# --- compose ------------------------------------------------------------------------------


def check_compose(path, help_, image_env, image_cmd, image_dirs):
    doc = yaml.safe_load(open(path))
    base = os.path.dirname(path)
    services = doc.get("services", {})
    secrets = set(doc.get("secrets") or {})
    volumes = set(doc.get("volumes") or {})
    for name, svc in services.items():
        where = f"{path} services.{name}"
        for dep in svc.get("depends_on") or {}:
            if dep not in services:
                problem(where, f"depends_on {dep}: no such service")
        mounts = []
        for s in svc.get("secrets") or []:
            source = s if isinstance(s, str) else s.get("source")
            if source not in secrets:
                problem(where, f"secret {source}: not defined under secrets:")
            target = s.get("target") if isinstance(s, dict) and s.get("target") else source
            mounts.append(Mount(target if target.startswith("/") else f"/run/secrets/{target}", is_file=True))
        for v in svc.get("volumes") or []:
            parts = v.split(":") if isinstance(v, str) else [v.get("source", ""), v["target"]]
            source, target = parts[0], parts[1]
            if source.startswith((".", "/")):
                local = os.path.normpath(os.path.join(base, source))
                if not os.path.exists(local):
                    problem(where, f"volume {source}: no such file or directory")
                    continue
                if os.path.isfile(local):
                    mounts.append(Mount(target, is_file=True, content={"": open(local).read()}))
                else:
                    mounts.append(Mount(target))
            else:
                if source not in volumes:
                    problem(where, f"volume {source}: not defined under volumes:")
                mounts.append(Mount(target))
        if "switchyard" not in str(svc.get("image", "")):
            continue
        env = dict(image_env)
        given = svc.get("environment") or {}
        if isinstance(given, list):
            given = dict(item.split("=", 1) if "=" in item else (item, None) for item in given)
        env.update({k: (str(v) if v is not None else None) for k, v in given.items()})
        argv = svc.get("command") or image_cmd
        if isinstance(argv, str):
            problem(where, "command: use the exec (list) form; the image has no shell")
            continue
        check_process(Process(where, argv, env, set(given), mounts, image_dirs), help_)
        test = (svc.get("healthcheck") or {}).get("test")
        if test:
            if test[0] != "CMD":
                problem(where, f"healthcheck: {test[0]} needs a shell, which the image has not: use CMD")
            else:
                # The service's variables are for its process, not for the health check's.
                check_process(Process(f"{where} healthcheck", test[1:], env, set(), mounts, image_dirs), help_)


# --- rendered Kubernetes manifests ------------------------------------------------------------


def check_kubernetes(path, help_, image_env, image_dirs):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    config_maps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d.get("kind") == "ConfigMap"}
    found = 0
    for d in docs:
        spec = (d.get("spec") or {}).get("template", {}).get("spec")
        if spec is None:
            continue
        volumes = {v["name"]: v for v in spec.get("volumes") or []}
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            if "switchyard" not in c.get("image", "").rsplit("/", 1)[-1]:
                continue
            found += 1
            where = f"{path} {d['kind']}/{d['metadata']['name']} container {c['name']}"
            mounts = []
            for vm in c.get("volumeMounts") or []:
                v = volumes.get(vm["name"])
                if v is None:
                    problem(where, f"volumeMount {vm['name']}: no such volume")
                    continue
                keys, content = None, {}
                if "secret" in v:
                    items = v["secret"].get("items")
                    keys = {i["path"] for i in items} if items else None
                elif "configMap" in v:
                    data = config_maps.get(v["configMap"]["name"])
                    items = v["configMap"].get("items")
                    if items:
                        keys = {i["path"] for i in items}
                        content = {i["path"]: (data or {}).get(i["key"]) for i in items}
                    elif data is not None:
                        keys, content = set(data), dict(data)
                mounts.append(Mount(vm["mountPath"], keys=keys, content=content))
            env = dict(image_env)
            for e in c.get("env") or []:
                env[e["name"]] = e.get("value")
            given = {e["name"] for e in c.get("env") or []}
            argv = (c.get("command") or []) + (c.get("args") or [])
            check_process(Process(where, argv, env, given, mounts, image_dirs), help_)
    if found == 0:
        problem(path, "no Switchyard container in it")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the folder with the three binaries")
    ap.add_argument("--dockerfile", required=True)
    ap.add_argument("--compose", action="append", default=[])
    ap.add_argument("--k8s", action="append", default=[], help="a rendered kustomization")
    a = ap.parse_args()
    help_ = Help(a.bin)
    image_env, image_cmd, image_dirs = check_dockerfile(a.dockerfile, help_)
    for path in a.compose:
        check_compose(path, help_, image_env, image_cmd, image_dirs)
    for path in a.k8s:
        check_kubernetes(path, help_, image_env, image_dirs)
    for line in problems:
        print(line)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
