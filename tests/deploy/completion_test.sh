#!/usr/bin/env bash
# The bash completion the taala package installs
# (deploy/bash-completion/taalactl) against taalactl itself:
#   - its command list equals the commands `taalactl --help` lists, and
#     `taalactl help CMD` accepts each (an unknown one exits 64);
#   - its options equal the options `taalactl --help` lists (plus --help),
#     global and per command as the help says, and the ones that take a
#     value are the ones the help gives a value;
#   - completing in bash works: `taalactl lo` -> lock, options per command,
#     without and with the bash-completion package (`taalactl lock KEY
#     COMMAND` completes COMMAND through _command_offset, and returns).
#   completion_test.sh SOURCE_DIR TAALACTL
set -euo pipefail
source_dir=$(cd "${1:?usage: completion_test.sh SOURCE_DIR TAALACTL}" && pwd)
taalactl=$2
completion=$source_dir/deploy/bash-completion/taalactl
"$taalactl" --help > /dev/null || { echo "FAIL: taalactl --help"; exit 1; }
/usr/bin/python3 - "$completion" "$taalactl" <<'EOF'
import os, re, subprocess, sys
completion, taalactl = sys.argv[1], sys.argv[2]
src = open(completion).read()
def words(var):
    m = re.search(r'local %s="([^"]*)"' % var, src)
    assert m, var
    return m.group(1).split()
errors = []
def check(what, got, want):
    if set(got) != set(want) or len(got) != len(set(got)):
        errors.append(f"{what}: completion has {sorted(got)}, taalactl {sorted(want)}"
                      f" (missing {sorted(set(want) - set(got))},"
                      f" extra {sorted(set(got) - set(want))})")

help_text = subprocess.run([taalactl, "--help"], capture_output=True, text=True,
                           check=True).stdout
commands_part = help_text.split("\nCommands:\n", 1)[1].split("\nOptions", 1)[0]
help_commands = re.findall(r"^  ([a-z][a-z-]*)(?= |$)", commands_part, re.M)
check("commands", words("commands"), help_commands)
for c in words("commands"):
    r = subprocess.run([taalactl, "help"] + ([c] if c != "help" else []), capture_output=True, text=True)
    if r.returncode != 0:
        errors.append(f"taalactl help {c}: exit {r.returncode} {r.stderr.strip()}")
r = subprocess.run([taalactl, "help", "no-such-command"], capture_output=True)
if r.returncode != 64:
    errors.append(f"taalactl help no-such-command: exit {r.returncode}, not 64")

# Options: "  --name [VALUE]  [cmd[, cmd]: ]text" with continuation lines.
options_part = help_text.split("\nOptions (before or after COMMAND):\n", 1)[1]
options_part = options_part.split("\nDurations", 1)[0]
entries = re.split(r"\n(?=  --)", options_part.strip("\n"))
global_opts, value_opts, per_command = ["--help"], [], {}
for e in entries:
    m = re.match(r"\s*(--[a-z0-9-]+)(?: (\S+))?\s+(.*)", e, re.S)
    name, value, text = m.group(1), m.group(2), " ".join(m.group(3).split())
    if value:
        value_opts.append(name)
    # "list: ...; contention, leaks: ..." -> list, contention, leaks.
    owners = []
    for seg in text.split("; "):
        mm = re.match(r"([a-z-]+(?:, [a-z-]+)*): ", seg)
        if not mm:
            if not owners:
                break
            continue
        owners += mm.group(1).split(", ")
    if not owners:
        global_opts.append(name)
    for c in owners:
        per_command.setdefault(c, []).append(name)
check("global options", words("global_opts"), global_opts)
check("options taking a value", words("value_opts"), value_opts)
comp_per_command = {}
for cases, opts in re.findall(r'^\s+([a-z][a-z| -]*)\) opts\+="([^"]*)"', src, re.M):
    for c in cases.split("|"):
        comp_per_command.setdefault(c.strip(), []).extend(opts.split())
for c in sorted(set(per_command) | set(comp_per_command)):
    check(f"options of {c}", comp_per_command.get(c, []), per_command.get(c, []))

# Completing in bash (without the bash-completion package).
script = f"""
source {completion}
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _taalactl
      echo "$*|${{COMPREPLY[*]}}"; }}
t taalactl lo
t taalactl --endpoint x:1 f
t taalactl revoke --r
t taalactl --json watch --k
t taalactl help h
t taalactl lock --
"""
out = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                     check=True).stdout.splitlines()
want = {"taalactl lo": "lock", "taalactl --endpoint x:1 f": "force-release",
        "taalactl revoke --r": "--reason", "taalactl --json watch --k": "--key",
        "taalactl help h": "health hash-token help"}
for line in out:
    k, v = line.split("|", 1)
    if k in want and v != want[k]:
        errors.append(f"completing '{k}': got '{v}', want '{want[k]}'")
    if k == "taalactl lock --":
        check("completing 'taalactl lock --'", v.split(),
              global_opts + per_command["lock"])

# Completing with the bash-completion package, as on most Debian hosts:
# _init_completion, and `taalactl lock KEY [--] COMMAND` handing COMMAND to
# bash-completion's _command_offset (which once re-entered _taalactl
# forever: a re-entry counter turns that hang into a failure).
bc = "/usr/share/bash-completion/bash_completion"
if not os.path.exists(bc):
    errors.append(f"{bc} missing: scripts/install-deps.sh installs bash-completion")
else:
    script = f"""
source {bc}
source {completion}
eval "$(declare -f _taalactl | sed '1s/_taalactl/_taalactl_real/')"
_taalactl() {{ if ((++calls > 5)); then echo "RE-ENTERED"; exit 3; fi; _taalactl_real "$@"; }}
t() {{ COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"
      COMP_POINT=${{#COMP_LINE}}; COMPREPLY=(); calls=0
      _taalactl taalactl "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD - 1]}}" 2>/dev/null
      echo "$*|${{COMPREPLY[*]}}"; }}
t taalactl lo
t taalactl lock ''
t taalactl lock my/key ech
t taalactl lock my/key -- ech
t taalactl lock -- my/key ech
t taalactl --endpoint host : 7070 lock --wait 1s my/key ech
t taalactl lock my/key --wait ''
t taalactl lock my/key --w
t taalactl lock my/key taalactl lo
t taalactl lock my/key taalactl lock k2 -- ech
"""
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True,
                       timeout=20)
    if r.returncode != 0:
        errors.append(f"completion with bash-completion: exit {r.returncode}: {r.stdout[-300:]}")
    got = dict(line.split("|", 1) for line in r.stdout.splitlines() if "|" in line)
    def has(k, w):
        v = got.get(k)
        if v is None or w not in v.split():
            errors.append(f"with bash-completion, completing '{k}': got '{v}', want '{w}' among them")
    def empty(k):
        if got.get(k) != "":
            errors.append(f"with bash-completion, completing '{k}': got '{got.get(k)}', want nothing")
    has("taalactl lo", "lock")
    empty("taalactl lock ")  # KEY: free-form
    for k in ("taalactl lock my/key ech", "taalactl lock my/key -- ech",
              "taalactl lock -- my/key ech",
              "taalactl --endpoint host : 7070 lock --wait 1s my/key ech",
              "taalactl lock my/key taalactl lock k2 -- ech"):
        has(k, "echo")
    empty("taalactl lock my/key --wait ")  # --wait's value
    has("taalactl lock my/key --w", "--wait")
    has("taalactl lock my/key taalactl lo", "lock")
for e in errors:
    print("FAIL:", e)
if errors:
    sys.exit(1)
print(f"completion OK: {len(help_commands)} commands, "
      f"{len(global_opts)} global options, "
      f"{sum(len(v) for v in per_command.values())} command options")
EOF
