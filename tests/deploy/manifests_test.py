#!/usr/bin/python3
"""Every YAML file under deploy/ parses, and the deployment files agree with
the daemon they deploy (issue 13).

  manifests_test.py --source=SOURCE_DIR --taalad=TAALAD --taalactl=TAALACTL

Checks, against the real taalad binary:
  - every *.yaml / *.yml under deploy/ parses (all its documents);
  - every flag in the Kubernetes flag files (base and insecure overlay), the
    compose command and the container args is one `taalad --help` lists
    (or Abseil's --flagfile), and `taalad --print_config` shows each of
    them with its value and source (flag file, command line, environment),
    warning about nothing;
  - the --listen / --admin_listen ports equal the containerPorts, the
    Service's port and targetPort (gRPC only: the admin port is not
    published behind the Service), the probes' ports, the NetworkPolicy's
    ports, compose's published ports, the Prometheus scrape port and the
    Containerfile's EXPOSE;
  - the Service, the PodDisruptionBudget, the NetworkPolicy and the
    Prometheus Kubernetes job select the StatefulSet's pods (its
    template's labels);
  - the NetworkPolicy admits the gRPC port from anywhere, the admin port
    only from pods selected by a Prometheus label, and no other port;
  - probes: liveness and startup on /healthz, readiness on /readyz, all
    over plain HTTP (the admin listener serves no TLS);
  - --data_dir is the PVC template's mountPath (and compose's volume, and the
    Containerfile's VOLUME);
  - TLS and token flag paths lie under their Secrets' mountPaths, and the
    flag file under the ConfigMap's; the Secret volumes' modes let the
    pod's user read them (root-owned files: group read with fsGroup);
  - the memory limit and --memory_budget agree (budget below the limit);
  - terminationGracePeriodSeconds and compose's stop_grace_period exceed
    --drain_timeout;
  - every metric name in the alert rules is exported by a running taalad's
    /metrics (or is Prometheus' own `up`); with promtool installed (Debian:
    prometheus), `promtool check config/rules` and `promtool test rules
    rules_test.yml`; with prometheus, a real Prometheus scrapes that taalad
    with prometheus.yml's static job and evaluates every rule without error;
  - kustomize (kubectl kustomize, if installed) builds both variants, and
    docker-compose (if installed) validates compose.yaml;
  - with python3-kubernetes installed, every field of the manifests (and
    of both built variants) exists in the Kubernetes API where it stands,
    with its type (a typo such as `readinesProbe` would otherwise parse);
  - the ConfigMap's flag file, its paths moved into a temporary directory
    and its ports to free loopback ones, starts a real taalad serving TLS
    with bearer tokens: /healthz and /readyz open, /metrics only with a
    token, `taalactl health` over TLS with a token, JSON log lines; the
    insecure overlay's flag file starts one serving plaintext, all open.
Prints each failure and exits 1 if there is any; when the files
themselves are inconsistent it says so quickly and skips the checks that
run taalad and Prometheus.
"""

import argparse
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import yaml

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print("FAIL: " + what, flush=True)
    return cond


def load_all(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def taalad_flag_names(taalad):
    out = subprocess.run([taalad, "--help"], capture_output=True, text=True,
                         timeout=20)
    names = set(re.findall(r"^\s+--([a-z0-9_]+) \(", out.stdout + out.stderr,
                           re.M))
    if len(names) < 20:
        sys.exit("could not read taalad's flags from --help:\n" + out.stdout)
    # Abseil's own flags that a deployment may use.
    return names | {"flagfile"}


def parse_flags(lines):
    """{name: value} of `--name=value` / `--name` lines (comments skipped)."""
    flags = {}
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^--([A-Za-z0-9_]+)(?:=(.*))?$", line)
        if not check(m, "not a flag: %r" % line):
            continue
        flags[m.group(1)] = m.group(2) if m.group(2) is not None else "true"
    return flags


def port_of(addr):
    return int(addr.rsplit(":", 1)[1])


def duration_seconds(text):
    """Abseil durations (5s, 1m30s, 500ms) and compose's (30s, 1m)."""
    total = 0.0
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([0-9.]+)(ms|us|ns|h|m|s)", str(text))
    if not parts or "".join(a + b for a, b in parts) != str(text):
        raise ValueError("bad duration %r" % text)
    for num, unit in parts:
        total += float(num) * units[unit]
    return total


def quantity_bytes(q):
    m = re.match(r"^([0-9.]+)(Ki|Mi|Gi|Ti|K|M|G|T)?$", str(q))
    mult = {None: 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 1024,
            "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}
    return float(m.group(1)) * mult[m.group(2)]


def budget_bytes(budget, limit):
    """--memory_budget: a percentage (of the container's limit) or bytes."""
    if budget.endswith("%"):
        pct = float(budget[:-1])
        check(0 < pct < 100, "--memory_budget=%s is not below 100%%" % budget)
        return limit * pct / 100
    m = re.match(r"^([0-9]+)(KiB|MiB|GiB)?$", budget)
    check(m, "--memory_budget=%s unreadable" % budget)
    return int(m.group(1)) * {None: 1, "KiB": 1024, "MiB": 1024**2,
                              "GiB": 1024**3}[m.group(2)]


def selects(selector, labels):
    """Whether a label selector selects a pod with `labels`: a Service's
    map, or a LabelSelector (matchLabels, matchExpressions). An empty or
    missing selector counts as selecting nothing here: every selector in
    these manifests must name the pods it means."""
    if not selector:
        return False
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        selector = {"matchLabels": selector}
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if ((op == "In" and labels.get(key) not in values) or
                (op == "NotIn" and labels.get(key) in values) or
                (op == "Exists" and key not in labels) or
                (op == "DoesNotExist" and key in labels)):
            return False
    return bool(selector.get("matchLabels") or
                selector.get("matchExpressions"))


def secret_mode_readable(mode, run_as_user, fs_group):
    """Whether the pod's user can read a Secret volume's file of `mode`.
    The kubelet writes them owned by root, group fsGroup when one is set:
    the owner bits serve only root, the group bits the pod's processes
    (fsGroup is one of their supplementary groups), the other bits
    anyone."""
    return (run_as_user == 0 or bool(mode & 0o004) or
            (fs_group is not None and bool(mode & 0o040)))


def network_policy_checks(np, labels, named, grpc, admin):
    """Ingress to the pods: gRPC from anywhere, the admin port only from
    Prometheus' pods, nothing else."""
    spec = np.get("spec", {})
    check(selects(spec.get("podSelector"), labels), "the NetworkPolicy's "
          "podSelector %s does not select the StatefulSet's pods %s" %
          (spec.get("podSelector"), labels))
    check("Ingress" in spec.get("policyTypes", []),
          "the NetworkPolicy restricts no Ingress")
    open_to = {}  # port -> list of `from` lists (None: from anywhere)
    for rule in spec.get("ingress", []):
        ports = rule.get("ports")
        if not check(ports, "a NetworkPolicy ingress rule without ports "
                     "opens every port: %s" % rule):
            continue
        for p in ports:
            check(p.get("protocol", "TCP") == "TCP" and "endPort" not in p,
                  "NetworkPolicy port %s" % p)
            port = named.get(p.get("port"), p.get("port"))
            open_to.setdefault(port, []).append(rule.get("from"))
    check(set(open_to) == {grpc, admin}, "the NetworkPolicy admits ports "
          "%s, want the flags' %d and %d" % (sorted(open_to, key=str), grpc,
                                             admin))
    check(None in open_to.get(grpc, []), "the NetworkPolicy does not admit "
          "the gRPC port %d from anywhere (clients)" % grpc)
    for peers in open_to.get(admin, []):
        if not check(peers, "the NetworkPolicy admits the admin port %d "
                     "from anywhere: only Prometheus scrapes it" % admin):
            continue
        for peer in peers:
            pod_labels = (peer.get("podSelector") or {}).get(
                "matchLabels") or {}
            check("ipBlock" not in peer and
                  any("prometheus" in str(v) for v in pod_labels.values()),
                  "NetworkPolicy admin peer %s is not pods labelled as "
                  "Prometheus" % peer)


def under(path, directory):
    return os.path.normpath(path).startswith(os.path.normpath(directory) + "/")


def start_taalad(taalad, tmp):
    data = os.path.join(tmp, "data")
    port_file = os.path.join(tmp, "port")
    admin_file = os.path.join(tmp, "admin_port")
    log = open(os.path.join(tmp, "taalad.log"), "w")
    proc = subprocess.Popen(
        [taalad, "--listen=127.0.0.1:0", "--port_file=" + port_file,
         "--admin_listen=127.0.0.1:0", "--admin_port_file=" + admin_file,
         "--data_dir=" + data, "--durability=none"],
        stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not os.path.exists(port_file):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            sys.exit("taalad did not start:\n" +
                     open(os.path.join(tmp, "taalad.log")).read())
        time.sleep(0.05)
    return proc, int(open(admin_file).read().strip())


def exported_metric_names(admin):
    with urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % admin, timeout=10) as r:
        text = r.read().decode()
    names = set()
    for line in text.splitlines():
        m = re.match(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (\w+)", line)
        if m:
            names.add(m.group(1))
            if m.group(2) in ("histogram", "summary"):
                names |= {m.group(1) + s for s in ("_bucket", "_sum",
                                                   "_count")}
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", line)
        if m:
            names.add(m.group(1))
    check(len(names) > 10, "/metrics exported almost nothing:\n" + text)
    return names


PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "bool", "inf", "nan"}
PROMQL_FUNCTIONS = {
    "abs", "absent", "absent_over_time", "avg", "avg_over_time", "ceil",
    "changes", "clamp_max", "clamp_min", "count", "count_over_time", "delta",
    "deriv", "floor", "histogram_quantile", "idelta", "increase", "irate",
    "label_replace", "max", "max_over_time", "min", "min_over_time",
    "predict_linear", "quantile", "quantile_over_time", "rate", "resets",
    "round", "scalar", "sort", "sum", "sum_over_time", "time", "timestamp",
    "topk", "bottomk", "vector"}
PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def expr_metric_names(expr):
    """The metric names an expression selects (PromQL, good enough for
    rules: label matchers, grouping lists, ranges and strings removed)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)"
               r"\s*\([^)]*\)",
               " ", e)
    names = set()
    for m in re.finditer(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?", e):
        word, call = m.group(1), m.group(2)
        if call:
            check(word in PROMQL_FUNCTIONS,
                  "unknown PromQL function %s in %r" % (word, expr))
        elif word.lower() not in PROMQL_WORDS:
            names.add(word)
    return names


def http_status(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def check_print_config(taalad, where, argv, env, want):
    """`taalad ARGV --print_config` with ENV: every flag in WANT has its
    value and source ("flag file", "command line", "environment VAR"), and
    nothing is warned about (a TAALAD_ variable that names no flag)."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("TAALAD_")}
    environ.update(env)
    r = subprocess.run([taalad] + argv + ["--print_config"], env=environ,
                       capture_output=True, text=True, timeout=20)
    if not check(r.returncode == 0, "%s: taalad --print_config: exit %d %s" %
                 (where, r.returncode, r.stdout + r.stderr)):
        return
    got = {}
    for line in r.stdout.splitlines():
        check(not line.startswith("# warning"), "%s: %s" % (where, line))
        m = re.match(r"^--([a-z0-9_]+)=(.*?)  # (.*)$", line)
        if m:
            got[m.group(1)] = (m.group(2), m.group(3))
    for name, (value, source) in want.items():
        check(got.get(name) == (value, source), "%s: --%s is %s, want %r "
              "from %s" % (where, name, got.get(name), value, source))


def without_kubernetes_jobs(deploy, tmp, admin=None, interval=None):
    """A copy of prometheus.yml (and rules.yml) without the kubernetes_sd
    jobs; with `admin`, the static job scrapes that port on loopback."""
    d = os.path.join(tmp, "prometheus")
    os.makedirs(d, exist_ok=True)
    src = os.path.join(deploy, "prometheus")
    shutil.copy(os.path.join(src, "rules.yml"), d)
    conf = load_all(os.path.join(src, "prometheus.yml"))[0]
    conf["scrape_configs"] = [j for j in conf["scrape_configs"]
                              if "kubernetes_sd_configs" not in j]
    if admin:
        conf["scrape_configs"][0]["static_configs"] = [
            {"targets": ["127.0.0.1:%d" % admin]}]
    if interval:
        conf["global"]["scrape_interval"] = interval
        conf["global"]["evaluation_interval"] = interval
    path = os.path.join(d, "prometheus.yml")
    with open(path, "w") as f:
        yaml.safe_dump(conf, f)
    return path


def prometheus_checks(deploy, admin, tmp):
    promtool = shutil.which("promtool")
    if not promtool:
        print("note: no promtool (Debian package prometheus): the Prometheus "
              "files are only parsed and their metric names checked")
        return
    src = os.path.join(deploy, "prometheus")
    for argv in (["check", "rules", "rules.yml"],
                 ["test", "rules", "rules_test.yml"]):
        r = subprocess.run([promtool] + argv, cwd=src, capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 0, "promtool %s: %s%s" % (" ".join(argv),
                                                        r.stdout, r.stderr))
    r = subprocess.run([promtool, "check", "config", "prometheus.yml"],
                       cwd=src, capture_output=True, text=True, timeout=30)
    if (r.returncode != 0 and "kubernetes_sd_configs not found" in
            r.stdout + r.stderr):
        # Debian builds Prometheus without Kubernetes discovery.
        print("note: this promtool has no kubernetes_sd_configs; checking "
              "prometheus.yml without the Kubernetes job")
        path = without_kubernetes_jobs(deploy, tmp)
        r = subprocess.run([promtool, "check", "config", path],
                           capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "promtool check config: %s%s" % (r.stdout,
                                                              r.stderr))
    prometheus = shutil.which("prometheus")
    if not prometheus:
        return
    path = without_kubernetes_jobs(deploy, tmp, admin, "1s")
    log_path = os.path.join(tmp, "prometheus.log")
    proc = subprocess.Popen(
        [prometheus, "--config.file=" + path,
         "--storage.tsdb.path=" + os.path.join(tmp, "tsdb"),
         "--web.listen-address=127.0.0.1:0"],
        stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    try:
        base, rules, up = None, [], None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            if base is None:
                m = re.search(r'msg="Listening on" address=(127\.0\.0\.1:\d+)',
                              open(log_path).read())
                if not m:
                    continue
                base = "http://" + m.group(1)
            try:
                with urllib.request.urlopen(base + "/api/v1/rules",
                                            timeout=5) as r:
                    rules = [x for g in json.load(r)["data"]["groups"]
                             for x in g["rules"]]
                with urllib.request.urlopen(base + "/api/v1/query?query=up",
                                            timeout=5) as r:
                    res = json.load(r)["data"]["result"]
                    up = res[0]["value"][1] if res else None
            except (urllib.error.URLError, OSError, ValueError):
                continue
            if up == "1" and rules and all(x["health"] == "ok"
                                           for x in rules):
                break
        check(up == "1", "Prometheus did not scrape taalad (up=%s):\n%s" %
              (up, open(log_path).read()[-2000:]))
        for x in rules:
            check(x["health"] == "ok", "Prometheus: rule %s is %s: %s" %
                  (x["name"], x["health"], x.get("lastError", "")))
        check(len(rules) == sum(len(g["rules"]) for g in load_all(
            os.path.join(src, "rules.yml"))[0]["groups"]),
              "Prometheus loaded %d rules" % len(rules))
        print("Prometheus scraped taalad and evaluated %d rules" % len(rules))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


K8S_MODELS = {"StatefulSet": "V1StatefulSet", "Service": "V1Service",
              "ConfigMap": "V1ConfigMap",
              "PodDisruptionBudget": "V1PodDisruptionBudget",
              "NetworkPolicy": "V1NetworkPolicy"}


def strict_fields(obj, type_name, path, models):
    """Like `kubectl apply --validate=strict`, from the Kubernetes Python
    client's models: every field name exists where it stands, and scalars
    have their type (IntOrString: either)."""
    if type_name.startswith("list["):
        if check(isinstance(obj, list), "%s: not a list" % path):
            for i, item in enumerate(obj):
                strict_fields(item, type_name[5:-1], "%s[%d]" % (path, i),
                              models)
        return
    if type_name.startswith("dict("):
        if check(isinstance(obj, dict), "%s: not a map" % path):
            inner = type_name[5:-1].split(", ", 1)[1]
            for k, v in obj.items():
                strict_fields(v, inner, "%s.%s" % (path, k), models)
        return
    basic = {"str": str, "int": int, "bool": bool, "float": (int, float),
             "object": (int, str, dict, list, bool)}
    if type_name in basic:
        ok = isinstance(obj, basic[type_name]) and not (
            type_name == "int" and isinstance(obj, bool))
        check(ok, "%s: %r is not a %s" % (path, obj, type_name))
        return
    model = getattr(models, type_name, None)
    if not check(model is not None, "%s: no model %s" % (path, type_name)):
        return
    if not check(isinstance(obj, dict), "%s: not an object" % path):
        return
    by_json = {j: py for py, j in model.attribute_map.items()}
    for k, v in obj.items():
        if check(k in by_json, "%s: unknown field %r (%s)" % (path, k,
                                                              type_name)):
            strict_fields(v, model.openapi_types[by_json[k]],
                          "%s.%s" % (path, k), models)


def strict_check(where, objects):
    try:
        from kubernetes import client as models
    except ImportError:
        print("note: no python3-kubernetes: %s's field names are not "
              "checked" % where)
        return
    for obj in objects:
        kind = obj.get("kind")
        if check(kind in K8S_MODELS, "%s: unexpected kind %s" % (where,
                                                                 kind)):
            strict_fields(obj, K8S_MODELS[kind], "%s %s" % (where, kind),
                          models)


def compose_config(deploy):
    """`docker-compose config` validates the file against the Compose
    schema (no Docker daemon needed), when a compose tool is installed."""
    for tool in (["docker-compose"], ["docker", "compose"]):
        if not shutil.which(tool[0]):
            continue
        r = subprocess.run(tool + ["-p", "taala", "-f", "compose.yaml",
                                   "config", "-q"], cwd=deploy,
                           capture_output=True, text=True, timeout=60)
        if tool[0] == "docker" and "is not a docker command" in r.stderr:
            continue
        check(r.returncode == 0, "%s config: %s%s" % (" ".join(tool),
                                                      r.stdout, r.stderr))
        print("%s config accepts compose.yaml" % " ".join(tool))
        return
    print("note: no docker-compose: compose.yaml is only parsed")


def kustomize_builds(deploy):
    kubectl = shutil.which("kubectl")
    if not kubectl:
        print("note: no kubectl: the kustomizations are only parsed")
        return
    built = {}
    for variant in ("base", "insecure"):
        r = subprocess.run([kubectl, "kustomize",
                            os.path.join(deploy, "k8s", variant)],
                           capture_output=True, text=True, timeout=30)
        if not check(r.returncode == 0, "kubectl kustomize k8s/%s: %s" %
                     (variant, r.stderr)):
            return
        objects = [d for d in yaml.safe_load_all(r.stdout) if d]
        strict_check("kustomize k8s/" + variant, objects)
        built[variant] = {d["kind"]: d for d in objects}
    kinds = sorted(built["base"])
    check(kinds == ["ConfigMap", "NetworkPolicy", "PodDisruptionBudget",
                    "Service", "StatefulSet"], "k8s/base builds %s" % kinds)
    check(sorted(built["insecure"]) == kinds, "k8s/insecure builds %s" %
          sorted(built["insecure"]))
    for variant, objs in built.items():
        check(all("namespace" not in o["metadata"] for o in objs.values()),
              "k8s/%s names a namespace" % variant)
    pod = built["insecure"]["StatefulSet"]["spec"]["template"]["spec"]
    secrets = [v["name"] for v in pod["volumes"] if "secret" in v]
    mounts = [m["mountPath"] for m in pod["containers"][0]["volumeMounts"]]
    check(not secrets and not any(m.startswith(("/etc/taala/tls",
                                                "/etc/taala/auth"))
                                  for m in mounts),
          "k8s/insecure still mounts Secrets: %s %s" % (secrets, mounts))
    flags = parse_flags(built["insecure"]["ConfigMap"]["data"]["taalad.flags"]
                        .splitlines())
    check("tls_cert" not in flags and "auth_tokens_file" not in flags,
          "k8s/insecure's flags still name TLS or token files")
    print("kubectl kustomize builds k8s/base and k8s/insecure")


def make_secrets(taalactl, tmp):
    """What the Secrets hold: a CA, a server certificate for 127.0.0.1 and
    its key (taala-tls), and a tokens file with one scrape token
    (taala-tokens). Returns (root, token): root stands for /etc/taala."""
    root = os.path.join(tmp, "root")
    for d in ("tls", "auth"):
        os.makedirs(os.path.join(root, d))
    tls = os.path.join(root, "tls")
    openssl = [
        "openssl req -x509 -new -nodes -newkey ec -pkeyopt "
        "ec_paramgen_curve:prime256v1 -keyout ca.key -out ca.crt -days 2 "
        "-subj /CN=taala-test-ca -addext basicConstraints=critical,CA:TRUE "
        "-addext keyUsage=critical,keyCertSign,cRLSign",
        "openssl req -new -nodes -newkey ec -pkeyopt "
        "ec_paramgen_curve:prime256v1 -keyout tls.key -out tls.csr "
        "-subj /CN=localhost",
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > ext && "
        "openssl x509 -req -in tls.csr -CA ca.crt -CAkey ca.key "
        "-CAcreateserial -out tls.crt -days 2 -extfile ext"]
    for cmd in openssl:
        r = subprocess.run(cmd, shell=True, cwd=tls, capture_output=True,
                           text=True, timeout=20)
        if not check(r.returncode == 0, "%s: %s" % (cmd, r.stderr)):
            return None, None
    token = "manifests-test-token"
    r = subprocess.run([taalactl, "hash-token", "prometheus"], input=token,
                       capture_output=True, text=True, timeout=20)
    if not check(r.returncode == 0, "taalactl hash-token: %s" % r.stderr):
        return None, None
    with open(os.path.join(root, "auth", "tokens"), "w") as f:
        f.write(r.stdout)
    return root, token


def run_flag_file(taalad, taalactl, name, text, tmp, root, token):
    """Starts taalad with flag file `text`, /etc/taala moved to `root`, the
    data directory into tmp, and the ports to free ones (on the flag file's
    hosts with TLS and tokens, else on loopback); checks what a client, a
    probe and a scraper get over loopback."""
    secure = "tls_cert" in parse_flags(text.splitlines())
    lines = []
    for line in text.splitlines():
        line = line.replace("/etc/taala/", root + "/")
        line = line.replace("/var/lib/taala",
                            os.path.join(tmp, name + "-data"))
        if secure:
            # The flag file's hosts (0.0.0.0: the kubelet probes the pod's
            # IP), so that the admin listener beyond loopback is shown to
            # need no --insecure_allow_remote once auth is on.
            line = re.sub(r"^--(listen|admin_listen)=(.*):[0-9]+$",
                          r"--\1=\2:0", line)
        else:
            line = re.sub(r"^--(listen|admin_listen)=.*$",
                          r"--\1=127.0.0.1:0", line)
        lines.append(line)
    flagfile = os.path.join(tmp, name + ".flags")
    with open(flagfile, "w") as f:
        f.write("\n".join(lines) + "\n")
    port_file, admin_file = (os.path.join(tmp, name + "." + n)
                             for n in ("port", "admin_port"))
    log_path = os.path.join(tmp, name + ".log")
    proc = subprocess.Popen(
        [taalad, "--flagfile=" + flagfile, "--port_file=" + port_file,
         "--admin_port_file=" + admin_file],
        stdout=open(log_path, "w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if proc.poll() is not None or time.monotonic() > deadline:
                check(False, "taalad did not start with the %s flag file:\n%s"
                      % (name, open(log_path).read()))
                return
            time.sleep(0.05)
        port = int(open(port_file).read())
        admin = "http://127.0.0.1:%d" % int(open(admin_file).read())
        check(http_status(admin + "/healthz") == 200,
              "%s: /healthz not open" % name)
        check(http_status(admin + "/readyz") == 200,
              "%s: /readyz not open" % name)
        if secure:
            check(http_status(admin + "/metrics") == 401,
                  "%s: /metrics answers without a token" % name)
            check(http_status(admin + "/metrics", token) == 200,
                  "%s: /metrics refuses the scrape token" % name)
        else:
            check(http_status(admin + "/metrics") == 200,
                  "%s: /metrics is not open" % name)
        cmd = [taalactl, "--endpoint=127.0.0.1:%d" % port]
        env = dict(os.environ)
        env.pop("TAALA_TOKEN", None)
        if secure:
            cmd.append("--tls-ca=" + os.path.join(root, "tls", "ca.crt"))
            env["TAALA_TOKEN"] = token
        r = subprocess.run(cmd + ["health"], env=env, capture_output=True,
                           text=True, timeout=30)
        check(r.returncode == 0, "%s: taalactl health (TLS and a token: %s): "
              "exit %d %s%s" % (name, secure, r.returncode, r.stdout,
                                r.stderr))
        log = open(log_path).read()
        check(log.lstrip().startswith("{"), "%s: --log_format=json: the log "
              "is not JSON lines:\n%s" % (name, log[:300]))
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        check(rc == 0, "taalad (%s flags) exited %d after SIGTERM:\n%s"
              % (name, rc, open(log_path).read()[-2000:]))
    print("the %s flag file serves (TLS and tokens: %s)" % (name, secure))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--taalad", required=True)
    ap.add_argument("--taalactl", required=True)
    args = ap.parse_args()
    deploy = os.path.join(args.source, "deploy")
    known = taalad_flag_names(args.taalad)
    tmp = tempfile.mkdtemp(prefix="manifests_test.")
    try:
        return run_checks(args, deploy, known, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_checks(args, deploy, known, tmp):

    # 1. Every YAML file parses.
    docs = {}
    files = sorted(glob.glob(os.path.join(deploy, "**", "*.yaml"),
                             recursive=True) +
                   glob.glob(os.path.join(deploy, "**", "*.yml"),
                             recursive=True))
    check(len(files) >= 8, "expected the compose, k8s and prometheus files, "
          "found %s" % files)
    for path in files:
        rel = os.path.relpath(path, deploy)
        try:
            docs[rel] = load_all(path)
            print("parsed %s (%d documents)" % (rel, len(docs[rel])))
        except yaml.YAMLError as e:
            check(False, "%s does not parse: %s" % (rel, e))
    if FAILURES:
        return 1

    def kind(rel, k):
        found = [d for d in docs[rel] if d.get("kind") == k]
        check(len(found) == 1, "%s: want one %s, got %d" % (rel, k,
                                                            len(found)))
        return found[0] if found else {}

    for rel in ("k8s/base/statefulset.yaml", "k8s/base/service.yaml",
                "k8s/base/configmap.yaml", "k8s/base/pdb.yaml",
                "k8s/base/networkpolicy.yaml"):
        strict_check(rel, docs[rel])
    sts = kind("k8s/base/statefulset.yaml", "StatefulSet")
    svc = kind("k8s/base/service.yaml", "Service")
    cm = kind("k8s/base/configmap.yaml", "ConfigMap")
    pdb = kind("k8s/base/pdb.yaml", "PodDisruptionBudget")
    netpol = kind("k8s/base/networkpolicy.yaml", "NetworkPolicy")
    cm_insecure = kind("k8s/insecure/flags.yaml", "ConfigMap")
    compose = docs["compose.yaml"][0]
    rules = docs["prometheus/rules.yml"][0]
    prom = docs["prometheus/prometheus.yml"][0]

    # 2. Flags: names taalad knows, values it accepts.
    flag_files = {"k8s/base": cm["data"]["taalad.flags"],
                  "k8s/insecure": cm_insecure["data"]["taalad.flags"]}
    flag_sets = {}
    for where, text in flag_files.items():
        flags = parse_flags(text.splitlines())
        flag_sets[where] = flags
        for name in flags:
            check(name in known, "%s flag file: --%s is not a taalad flag" %
                  (where, name))
        path = os.path.join(tmp, where.replace("/", "_") + ".flags")
        with open(path, "w") as f:
            f.write(text)
        check_print_config(args.taalad, where, ["--flagfile=" + path], {},
                           {n: (v, "flag file") for n, v in flags.items()})
    base = flag_sets["k8s/base"]
    pod = sts["spec"]["template"]["spec"]
    ctr = pod["containers"][0]
    ctr_flags = parse_flags(ctr.get("args", []))
    for name in ctr_flags:
        check(name in known, "StatefulSet args: --%s is not a taalad flag" %
              name)
    svc_compose = compose["services"]["taalad"]
    compose_flags = parse_flags(svc_compose["command"])
    for name in compose_flags:
        check(name in known, "compose command: --%s is not a taalad flag" %
              name)
    for name, value in svc_compose.get("environment", {}).items():
        if name.startswith("TAALAD_"):
            flag = name[len("TAALAD_"):].lower()
            check(flag in known, "compose environment %s names no taalad "
                  "flag (--%s)" % (name, flag))
            compose_flags.setdefault(flag, str(value).lower())
    check_print_config(
        args.taalad, "compose", list(svc_compose["command"]),
        {k: str(v).lower() if isinstance(v, bool) else str(v)
         for k, v in svc_compose.get("environment", {}).items()},
        dict({n: (v, "command line") for n, v in
              parse_flags(svc_compose["command"]).items()},
             **{k[len("TAALAD_"):].lower(): (str(v).lower(),
                                             "environment " + k)
                for k, v in svc_compose.get("environment", {}).items()
                if k.startswith("TAALAD_")}))
    for e in ctr.get("env", []):
        if e["name"].startswith("TAALAD_"):
            check(e["name"][len("TAALAD_"):].lower() in known,
                  "StatefulSet env %s names no taalad flag" % e["name"])
    for where, flags in list(flag_sets.items()) + [("compose", compose_flags)]:
        for required in ("listen", "admin_listen", "data_dir",
                         "drain_timeout"):
            check(required in flags, "%s: no --%s" % (where, required))

    # 3. Ports.
    grpc = port_of(base["listen"])
    admin = port_of(base["admin_listen"])
    check((grpc, admin) == (7070, 7071), "ports %d/%d, the convention is "
          "7070/7071" % (grpc, admin))
    for where, flags in list(flag_sets.items()) + [("compose", compose_flags)]:
        check(port_of(flags["listen"]) == grpc and
              port_of(flags["admin_listen"]) == admin,
              "%s listens on other ports than the base flag file" % where)
    named = {p["name"]: p["containerPort"] for p in ctr["ports"]}
    check(named == {"grpc": grpc, "admin": admin},
          "containerPorts %s, want grpc=%d admin=%d" % (named, grpc, admin))
    # The Service carries gRPC only: the kubelet probes the pod's IP and
    # Prometheus scrapes the pods (kubernetes_sd role pod, checked below),
    # so the plain-HTTP admin port needs no Service address.
    check([p["name"] for p in svc["spec"]["ports"]] == ["grpc"],
          "Service ports %s, want grpc only (the admin port is not "
          "published behind the Service)" %
          [p["name"] for p in svc["spec"]["ports"]])
    for p in svc["spec"]["ports"]:
        target = p["targetPort"]
        target = named.get(target, target)
        want = {"grpc": grpc}.get(p["name"])
        check(p["port"] == want and target == want,
              "Service port %s: port %s targetPort %s, want %s" %
              (p["name"], p["port"], p["targetPort"], want))
    # Selectors: each object applies to the StatefulSet's pods.
    labels = sts["spec"]["template"]["metadata"].get("labels", {})
    check(selects(sts["spec"]["selector"], labels), "the StatefulSet's "
          "selector does not match its pod template's labels %s" % labels)
    check(selects(svc["spec"].get("selector"), labels), "the Service's "
          "selector %s selects no taalad pod (template labels %s): clients "
          "would find no endpoints" % (svc["spec"].get("selector"), labels))
    check(selects(pdb["spec"].get("selector"), labels), "the "
          "PodDisruptionBudget's selector %s selects no taalad pod "
          "(template labels %s)" % (pdb["spec"].get("selector"), labels))
    network_policy_checks(netpol, labels, named, grpc, admin)
    probes = {"livenessProbe": "/healthz", "startupProbe": "/healthz",
              "readinessProbe": "/readyz"}
    for probe, path in probes.items():
        get = ctr.get(probe, {}).get("httpGet", {})
        port = named.get(get.get("port"), get.get("port"))
        check(get.get("path") == path and port == admin,
              "%s: %s on %s, want %s on %d" % (probe, get.get("path"),
                                               get.get("port"), path, admin))
        check(get.get("scheme", "HTTP") == "HTTP", "%s: scheme %s, but the "
              "admin listener is plain HTTP" % (probe, get.get("scheme")))
    published = set()
    for p in svc_compose["ports"]:
        host_ip, host_port, ctr_port = str(p).split(":")
        check(host_ip == "127.0.0.1", "compose publishes %s beyond loopback"
              % p)
        check(host_port == ctr_port, "compose maps %s to another port" % p)
        published.add(int(ctr_port))
    check(published == {grpc, admin}, "compose publishes %s" % published)
    hc = svc_compose["healthcheck"]["test"]
    check(hc[0] == "CMD" and "--admin=127.0.0.1:%d" % admin in hc,
          "compose health check %s is not exec form on the admin port" % hc)

    # Prometheus: the static target and the kubernetes_sd port name.
    for job in prom["scrape_configs"]:
        check(job.get("metrics_path", "/metrics") == "/metrics",
              "job %s scrapes %s" % (job["job_name"], job.get("metrics_path")))
        for sc in job.get("static_configs", []):
            for t in sc["targets"]:
                check(port_of(t) == admin, "job %s scrapes port %s, not the "
                      "admin port %d" % (job["job_name"], t, admin))
        for rl in job.get("relabel_configs", []):
            if rl.get("source_labels") == [
                    "__meta_kubernetes_pod_container_port_name"]:
                check(named.get(rl["regex"]) == admin, "job %s keeps port %s,"
                      " not the admin port" % (job["job_name"], rl["regex"]))
            m = re.match(r"^__meta_kubernetes_pod_label_(.*)$",
                         (rl.get("source_labels") or [""])[0])
            if m and rl.get("action") == "keep":
                have = {re.sub(r"[^a-zA-Z0-9_]", "_", k): v
                        for k, v in labels.items()}
                check(re.fullmatch(rl["regex"], have.get(m.group(1), "")),
                      "job %s keeps pods with %s=~%s: not the StatefulSet's"
                      % (job["job_name"], m.group(1), rl["regex"]))
        if "kubernetes_sd_configs" in job:
            check("authorization" in job, "job %s sends no bearer token "
                  "(auth is on in the manifests)" % job["job_name"])
            # The Service has no admin port: pods must be scraped directly.
            check(all(sd.get("role") == "pod"
                      for sd in job["kubernetes_sd_configs"]),
                  "job %s discovers %s, not pods: the Service does not "
                  "publish the admin port" % (job["job_name"],
                                              job["kubernetes_sd_configs"]))

    # 4. Volumes and paths.
    mounts = {m["name"]: m["mountPath"] for m in ctr["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    pvcs = [t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]]
    check(pvcs == ["data"], "volumeClaimTemplates %s" % pvcs)
    check(sts["spec"]["volumeClaimTemplates"][0]["spec"]["accessModes"] ==
          ["ReadWriteOnce"], "the data PVC is not ReadWriteOnce")
    check(mounts.get("data") == base["data_dir"] == "/var/lib/taala",
          "PVC mounted at %s, --data_dir=%s" % (mounts.get("data"),
                                                base["data_dir"]))
    for where, flags in list(flag_sets.items()) + [("compose", compose_flags)]:
        check(flags["data_dir"] == base["data_dir"], "%s --data_dir=%s" %
              (where, flags["data_dir"]))
    compose_vols = [str(v).split(":") for v in svc_compose["volumes"]]
    check([v[1] for v in compose_vols if v[0] in compose["volumes"]] ==
          [base["data_dir"]], "compose's named volume is not at --data_dir")
    check(vols["flags"]["configMap"]["name"] == cm["metadata"]["name"],
          "the flags volume is not ConfigMap %s" % cm["metadata"]["name"])
    flags_mount = [m for m in ctr["volumeMounts"] if m["name"] == "flags"][0]
    flag_file_path = (flags_mount["mountPath"] if flags_mount.get("subPath")
                      == "taalad.flags" else
                      os.path.join(flags_mount["mountPath"], "taalad.flags"))
    check(ctr_flags.get("flagfile") == flag_file_path ==
          "/etc/taala/taalad.flags",
          "--flagfile=%s is not the ConfigMap's taalad.flags (%s)" %
          (ctr_flags.get("flagfile"), flag_file_path))
    secret_flags = {"tls": ("tls_cert", "tls_key"),
                    "tokens": ("auth_tokens_file",)}
    for vol, flags in secret_flags.items():
        check("secret" in vols.get(vol, {}), "volume %s is no Secret" % vol)
        for flag in flags:
            check(flag in base and under(base[flag], mounts.get(vol, "?")),
                  "--%s=%s is not under the %s Secret's mountPath %s" %
                  (flag, base.get(flag), vol, mounts.get(vol)))
    # The Secrets' files are root's; fsGroup only makes them group-owned.
    run_as = ctr.get("securityContext", {}).get(
        "runAsUser", pod.get("securityContext", {}).get("runAsUser"))
    fs_group = pod.get("securityContext", {}).get("fsGroup")
    for vol in secret_flags:
        secret = vols.get(vol, {}).get("secret", {})
        modes = [("defaultMode", secret.get("defaultMode", 0o644))] + [
            ("item %s" % i.get("key"), i["mode"])
            for i in secret.get("items", []) if "mode" in i]
        for what, mode in modes:
            check(secret_mode_readable(mode, run_as, fs_group),
                  "Secret volume %s: %s %04o, files owned by root (group %s):"
                  " runAsUser %s cannot read them" % (vol, what, mode,
                                                      fs_group, run_as))
    check(os.path.basename(base["tls_cert"]) == "tls.crt" and
          os.path.basename(base["tls_key"]) == "tls.key",
          "TLS files are not the kubernetes.io/tls Secret's keys")
    insecure = flag_sets["k8s/insecure"]
    check(insecure.get("insecure_allow_remote") == "true" and
          "tls_cert" not in insecure,
          "the insecure overlay is not plaintext with --insecure_allow_remote")
    check(compose_flags.get("insecure_allow_remote") == "true" or
          "tls_cert" in compose_flags, "compose listens beyond loopback "
          "without TLS or --insecure_allow_remote")

    # 5. Memory, security, shutdown.
    limit = quantity_bytes(ctr["resources"]["limits"]["memory"])
    request = quantity_bytes(ctr["resources"]["requests"]["memory"])
    budget = budget_bytes(base["memory_budget"], limit)
    check(0 < budget < limit, "--memory_budget=%s is %d bytes, the limit %d"
          % (base["memory_budget"], budget, limit))
    check(request <= limit, "memory request above the limit")
    sc, psc = ctr["securityContext"], pod["securityContext"]
    check(psc.get("runAsNonRoot") and psc.get("runAsUser") == 10001 and
          psc.get("fsGroup") == 10001, "pod securityContext %s" % psc)
    check(sc.get("readOnlyRootFilesystem") is True and
          sc.get("allowPrivilegeEscalation") is False and
          sc.get("capabilities", {}).get("drop") == ["ALL"],
          "container securityContext %s" % sc)
    check(pod.get("enableServiceLinks") is False, "enableServiceLinks is not "
          "false: a Service's variables would collide with TAALAD_<FLAG>")
    check(sts["spec"]["replicas"] == 1, "replicas is not 1")
    check(pdb["spec"].get("maxUnavailable") == 1 and
          "minAvailable" not in pdb["spec"],
          "the PodDisruptionBudget would block node drains")
    drain = duration_seconds(base["drain_timeout"])
    check(pod["terminationGracePeriodSeconds"] > drain,
          "terminationGracePeriodSeconds %s <= --drain_timeout %s" %
          (pod["terminationGracePeriodSeconds"], drain))
    check(duration_seconds(svc_compose["stop_grace_period"]) >
          duration_seconds(compose_flags["drain_timeout"]),
          "compose stop_grace_period <= --drain_timeout")
    check(str(svc_compose.get("user")).split(":")[0] == "10001",
          "compose user %s" % svc_compose.get("user"))

    # 6. The Containerfile, when this branch has it.
    cf = os.path.join(deploy, "container", "Containerfile")
    if os.path.exists(cf):
        text = open(cf).read()
        runtime = re.split(r"(?i)\bAS\s+runtime\b", text, 1)[-1]
        exposed = set(int(p.split("/")[0]) for line in re.findall(
            r"^EXPOSE\s+(.*)$", runtime, re.M) for p in line.split())
        check({grpc, admin} <= exposed, "Containerfile EXPOSE %s" % exposed)
        volumes = re.findall(r"^VOLUME\s+(.*)$", runtime, re.M)
        check(any(base["data_dir"] in v for v in volumes),
              "Containerfile VOLUME %s is not %s" % (volumes,
                                                     base["data_dir"]))
    else:
        print("note: no deploy/container/Containerfile in this tree")

    # kustomize builds both variants (when kubectl is installed): the
    # insecure overlay drops the Secrets and keeps everything else.
    kustomize_builds(deploy)

    # The files disagree: say so now, before the slower checks that start
    # taalad and Prometheus (they would test a deployment already known to
    # be wrong).
    if FAILURES:
        print("%d failure(s) in the deployment files; the checks that run "
              "taalad and Prometheus were skipped" % len(FAILURES))
        return 1

    # 7. Alert rules name only metrics taalad exports; promtool checks the
    # files and runs rules_test.yml, and a real Prometheus scrapes a real
    # taalad and evaluates every rule (when they are installed).
    proc, admin = start_taalad(args.taalad, tmp)
    try:
        exported = exported_metric_names(admin)
        print("taalad exports %d metric names" % len(exported))
        n = 0
        for group in rules["groups"]:
            for rule in group["rules"]:
                n += 1
                names = expr_metric_names(str(rule["expr"]))
                check(names, "rule %s selects no metric" % rule.get("alert"))
                for name in names:
                    check(name in exported or name in PROMETHEUS_OWN,
                          "rule %s: %s is not exported by taalad" %
                          (rule.get("alert"), name))
        check(n >= 4, "only %d alert rules" % n)
        text = yaml.safe_dump(rules)
        for topic in ("taala_deadlock_refusals_total",
                      "taala_wal_fsync_seconds", "taala_hold_seconds", "up{"):
            check(topic in text, "no alert on %s" % topic)
        prometheus_checks(deploy, admin, tmp)
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
        check(rc == 0, "taalad exited %d after SIGTERM" % rc)

    compose_config(deploy)

    # 8. Both flag files start a real taalad, their paths moved into a
    # temporary directory and their ports to free loopback ones. The base:
    # TLS with the Secret's file names, bearer tokens, probes open without a
    # token, /metrics only with one (as prometheus.yml's Kubernetes job
    # sends). The insecure overlay: plaintext, everything open.
    root, token = make_secrets(args.taalactl, tmp)
    if root:
        for where, text in flag_files.items():
            run_flag_file(args.taalad, args.taalactl, where.replace("/", "-"),
                          text, tmp, root, token)

    if FAILURES:
        print("%d failure(s)" % len(FAILURES))
        return 1
    print("OK: %d YAML files, %d flags known to taalad, %d alert rules" %
          (len(files), len(known), n))
    return 0


if __name__ == "__main__":
    sys.exit(main())
