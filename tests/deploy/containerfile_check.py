#!/usr/bin/python3
"""Static checks of the container image's files (issue 13), without root or
buildah (deploy_image builds and runs the image itself):
  tests/deploy/containerfile_check.py SOURCE_DIR
deploy/container/Containerfile and Dockerfile are the same file; the base is
an ARG defaulting to Debian 12 slim; the stages are there; the runtime stage
runs as uid 10001, declares /var/lib/taala, exposes 7070 and 7071, stops on
SIGTERM, and its HEALTHCHECK and ENTRYPOINT are exec form on binaries of the
image (no curl, wget or shell); the container's flag file uses the shared
ports and data directory; the two ignore files agree and keep build trees
and .git out of the context."""
import json
import re
import sys

src = sys.argv[1]
errors = []


def read(path):
    with open(f"{src}/{path}", encoding="utf-8") as f:
        return f.read()


def check(ok, message):
    if not ok:
        errors.append(message)


containerfile = read("deploy/container/Containerfile")
check(containerfile == read("deploy/container/Dockerfile"),
      "deploy/container/Containerfile and Dockerfile differ")

# Instructions, continuation lines joined, comments dropped.
text = re.sub(r"\\\n", " ", containerfile)
lines = [l.strip() for l in text.splitlines()
         if l.strip() and not l.strip().startswith("#")]
first_from = next(i for i, l in enumerate(lines) if l.upper().startswith("FROM "))
check(any(l == "ARG BASE=docker.io/library/debian:12-slim"
          for l in lines[:first_from]),
      "no ARG BASE=docker.io/library/debian:12-slim before the first FROM")

stages = {}
current = None
for line in lines:
    m = re.match(r"FROM\s+(\S+)(?:\s+AS\s+(\S+))?$", line, re.IGNORECASE)
    if m:
        current = m.group(2) or m.group(1)
        stages[current] = {"from": m.group(1), "lines": []}
    elif current:
        stages[current]["lines"].append(line)
for name in ("build", "prebuilt", "debs", "runtime"):
    check(name in stages, f"no stage {name}")
check(list(stages)[-1] == "runtime", "runtime is not the last stage (the default target)")
check(stages.get("build", {}).get("from") == "${BASE}", "build is not FROM ${BASE}")
check(stages.get("runtime", {}).get("from") == "${BASE}", "runtime is not FROM ${BASE}")

runtime = stages.get("runtime", {"lines": []})["lines"]


def instruction(name):
    return [l[len(name):].strip() for l in runtime
            if l.upper().startswith(name + " ")]


check(instruction("USER") == ["10001:10001"], f"USER is {instruction('USER')}")
check(instruction("VOLUME") == ['["/var/lib/taala"]'], f"VOLUME is {instruction('VOLUME')}")
check(instruction("EXPOSE") == ["7070 7071"], f"EXPOSE is {instruction('EXPOSE')}")
check(instruction("STOPSIGNAL") == ["SIGTERM"], "STOPSIGNAL is not SIGTERM")
entry = instruction("ENTRYPOINT")
check(len(entry) == 1 and json.loads(entry[0]) ==
      ["/usr/bin/taalad", "--flagfile=/etc/taala/taalad.flags"],
      f"ENTRYPOINT is {entry}")
health = instruction("HEALTHCHECK")
m = re.search(r"\bCMD\s+(\[.*\])$", health[0]) if len(health) == 1 else None
check(m is not None, f"HEALTHCHECK is not exec form: {health}")
if m:
    cmd = json.loads(m.group(1))
    check(cmd[:2] == ["/usr/bin/taalactl", "health"] and
          "--admin=127.0.0.1:7071" in cmd,
          f"HEALTHCHECK runs {cmd}")
check(not re.search(r"\b(curl|wget)\b", "\n".join(runtime)),
      "the runtime stage uses curl or wget")
installs = [l for l in runtime if "apt-get install" in l]
check(len(installs) == 1 and "--no-install-recommends" in installs[0] and
      "/tmp/taala_*.deb" in installs[0] and "taala-dev" not in installs[0] and
      "rm -rf /var/lib/apt/lists/*" in installs[0],
      f"the runtime stage's install is not the taala package alone, "
      f"without recommends and apt lists: {installs}")
user_at = next((i for i, l in enumerate(runtime) if "useradd" in l), None)
check(user_at is not None and "--uid 10001" in runtime[user_at] and
      installs and user_at < runtime.index(installs[0]),
      "user taala (uid 10001) is not made before the package is installed")
check(any(l.startswith("COPY deploy/container/taalad.flags /etc/taala/taalad.flags")
          for l in runtime), "the flag file is not /etc/taala/taalad.flags")

flags = [l.strip() for l in read("deploy/container/taalad.flags").splitlines()
         if l.strip() and not l.strip().startswith("#")]
for flag in ("--listen=0.0.0.0:7070", "--admin_listen=0.0.0.0:7071",
             "--data_dir=/var/lib/taala"):
    check(flag in flags, f"deploy/container/taalad.flags lacks {flag}")
check(not any(f.startswith("--insecure_allow_remote") for f in flags),
      "the image's flag file must not allow plaintext remote access by itself")

ignore = read(".containerignore")
check(ignore == read(".dockerignore"), ".containerignore and .dockerignore differ")
patterns = [l.strip() for l in ignore.splitlines()
            if l.strip() and not l.startswith("#")]
check(".git" in patterns and "build*" in patterns,
      f".containerignore does not leave out .git and build*: {patterns}")

for e in errors:
    print(f"containerfile_check: {e}", file=sys.stderr)
if not errors:
    print("containerfile_check: ok")
sys.exit(1 if errors else 0)
