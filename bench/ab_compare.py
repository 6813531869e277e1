#!/usr/bin/env python3
"""Alternate benchmark binaries (e.g. two builds of taala) and compare medians.

On a shared, noisy machine a "before" and an "after" measured minutes apart
differ by more than the change being measured. This runs every variant once
per round, in an order that alternates between rounds (forward, then
reversed), so each variant's runs are spread over the same stretch of time;
then it reports, per metric, the median over rounds of every variant and the
requested ratios: of the medians, and the median [min, max] of the
per-round ratios (each compares two runs made next to each other).

  --kind=taala   each variant is a taala-bench command (--scenario=pairs);
                 --json=<tmp> is appended. Metrics per client count C:
                 "taala C" and "noop C" (pairs/s, the run's medians over its
                 own --repeat), "taala/noop C", and the process CPU time per
                 pair "taala cpu_us/pair C" (in-process backends only; for
                 it, lower is better).
  --kind=table   each variant is a lock_table_bench command;
                 --benchmark_out=<tmp> --benchmark_out_format=json is
                 appended. Metrics: items_per_second of each benchmark (for
                 the Acquire+Release benchmarks: pairs/s; threads together),
                 the median of its --benchmark_repetitions if any.
The summary also gives each variant's best round (the highest value: the
run least disturbed by other load), and the ratio of the bests.

Example (see docs/benchmarks.md, "Issue 4"):
  bench/ab_compare.py --kind=table --rounds=7 \
      --variant before='/tmp/taala-before/build/bench/lock_table_bench
                        --benchmark_filter=Flat --benchmark_min_time=0.5' \
      --variant after='build-b4/bench/lock_table_bench
                       --benchmark_filter=Flat --benchmark_min_time=0.5' \
      --ratio after/before

Each --variant is LABEL=COMMAND (split like a shell would, with shlex). Each
--ratio is A/B (labels). --json writes every sample and summary. Exits 1 if
any run fails (a non-zero exit status or no result file).
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time


def parse_taala(path):
    with open(path) as f:
        doc = json.load(f)
    metrics = {}
    for row in doc["rows"]:
        metrics[f'{row["backend"]} {row["clients"]}'] = row["pairs_per_sec"]
        if row.get("cpu_us_per_pair", -1) > 0:
            metrics[f'{row["backend"]} cpu_us/pair {row["clients"]}'] = (
                row["cpu_us_per_pair"])
        if row["errors"]:
            raise RuntimeError(f"{row['errors']} errors in {row}")
    for clients, ratio in doc.get("taala_over_noop_pairs_per_sec", {}).items():
        metrics[f"taala/noop {clients}"] = ratio["of_medians"]
    return metrics


def parse_table(path):
    with open(path) as f:
        doc = json.load(f)
    values = {}  # name -> [items/s of each --benchmark_repetitions]
    for b in doc["benchmarks"]:
        if b.get("error_occurred"):
            raise RuntimeError(f"{b['name']}: {b.get('error_message')}")
        if b.get("run_type", "iteration") != "iteration":
            continue
        name = b.get("run_name", b["name"])
        values.setdefault(name, []).append(b["items_per_second"])
    return {name: statistics.median(v) for name, v in values.items()}


def run_variant(kind, command, tmpdir, index):
    out = os.path.join(tmpdir, f"run{index}.json")
    argv = shlex.split(command)
    if kind == "taala":
        argv.append(f"--json={out}")
    else:
        argv += [f"--benchmark_out={out}", "--benchmark_out_format=json"]
    log = os.path.join(tmpdir, f"run{index}.log")
    with open(log, "w") as f:
        rc = subprocess.call(argv, stdout=f, stderr=subprocess.STDOUT)
    if rc != 0 or not os.path.exists(out):
        with open(log) as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"{argv} exited {rc}:\n{tail}")
    return parse_taala(out) if kind == "taala" else parse_table(out)


def fmt(x):
    if x >= 1e5:
        return f"{x / 1e6:.3f}M"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.3f}"


def main():
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--kind", choices=["taala", "table"], required=True)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--variant", action="append", required=True,
                   help="LABEL=COMMAND")
    p.add_argument("--ratio", action="append", default=[], help="A/B")
    p.add_argument("--json", help="write samples and summary here")
    args = p.parse_args()

    variants = []
    for v in args.variant:
        label, sep, command = v.partition("=")
        if not sep or not label or not command.strip():
            p.error(f"--variant {v!r}: want LABEL=COMMAND")
        variants.append((label, command))
    labels = [label for label, _ in variants]
    ratios = []
    for r in args.ratio:
        a, sep, b = r.partition("/")
        if not sep or a not in labels or b not in labels:
            p.error(f"--ratio {r!r}: want A/B with labels among {labels}")
        ratios.append((a, b))

    samples = {label: [] for label in labels}  # label -> [metrics per round]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="ab_compare.") as tmpdir:
        index = 0
        for rnd in range(args.rounds):
            order = variants if rnd % 2 == 0 else list(reversed(variants))
            for label, command in order:
                index += 1
                t0 = time.time()
                try:
                    metrics = run_variant(args.kind, command, tmpdir, index)
                except RuntimeError as e:
                    print(f"FAILED: {label}: {e}", file=sys.stderr)
                    return 1
                samples[label].append(metrics)
                shown = ", ".join(f"{k} {fmt(v)}" for k, v in metrics.items())
                print(f"[round {rnd + 1}/{args.rounds}] {label} "
                      f"({time.time() - t0:.0f}s): {shown}", flush=True)

    metric_names = list(samples[labels[0]][0].keys())
    summary = {"medians": {}, "bests": {}, "ratios": {}}
    print(f"\nMedians over {args.rounds} rounds "
          f"({time.time() - started:.0f}s in all):")
    width = max(len(m) for m in metric_names)
    print(f"  {'metric':<{width}}  " + "  ".join(f"{l:>14}" for l in labels))
    for m in metric_names:
        row = {}
        for label in labels:
            row[label] = statistics.median(s[m] for s in samples[label])
        summary["medians"][m] = row
        summary["bests"][m] = {l: max(s[m] for s in samples[l])
                               for l in labels}
        print(f"  {m:<{width}}  " +
              "  ".join(f"{fmt(row[l]):>14}" for l in labels))
    print("Best round of each:")
    for m in metric_names:
        print(f"  {m:<{width}}  " + "  ".join(
            f"{fmt(summary['bests'][m][l]):>14}" for l in labels))
    for a, b in ratios:
        name = f"{a}/{b}"
        summary["ratios"][name] = {}
        print(f"\n{name}: ratio of medians; per-round ratios median "
              f"[min, max]; ratio of bests")
        for m in metric_names:
            med_a = summary["medians"][m][a]
            med_b = summary["medians"][m][b]
            paired = [sa[m] / sb[m]
                      for sa, sb in zip(samples[a], samples[b]) if sb[m]]
            entry = {
                "of_medians": med_a / med_b if med_b else None,
                "paired_median": statistics.median(paired),
                "paired_min": min(paired),
                "paired_max": max(paired),
                "of_bests": summary["bests"][m][a] / summary["bests"][m][b],
            }
            summary["ratios"][name][m] = entry
            print(f"  {m:<{width}}  {entry['of_medians']:.3f}  "
                  f"{entry['paired_median']:.3f} "
                  f"[{entry['paired_min']:.3f}, {entry['paired_max']:.3f}]  "
                  f"{entry['of_bests']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"kind": args.kind, "rounds": args.rounds,
                       "variants": dict(variants), "samples": samples,
                       "summary": summary}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
