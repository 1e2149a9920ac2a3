#!/usr/bin/env python3
"""The report of a `sasha-lab soak` run, from the files it left in its run directory.

usage: soak_report.py RUN_DIR [JSON_FILE] [MAX_ERRORS]

RUN_DIR holds run.env, windows.jsonl (one record per window, written by lab/soak.sh),
wW-httperf.txt (httperf's output for window W), wW-{start,end}-nodeK.json (sashactl --json status)
and wW-{start,end}.procs (lines "K COMM PID RSS_KB FDS", "-" where the process was not running).
Prints the tables to stdout, writes the same figures as one JSON object to JSON_FILE if given.
Exit: 0, or 1 when the errors exceed MAX_ERRORS.
"""
import json
import os
import re
import sys

ERROR_KINDS = [  # httperf's name -> ours
    ("client-timo", "clientTimeout"), ("socket-timo", "socketTimeout"), ("connrefused", "refused"),
    ("connreset", "reset"), ("fd-unavail", "fdUnavail"), ("addrunavail", "addrUnavail"),
    ("ftab-full", "ftabFull"), ("other", "other"),
]


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            env[key] = value
    return env


def parse_httperf(path):
    """Connections, replies, 2xx, errors by kind and the slowest connection of one httperf run."""
    try:
        text = open(path, errors="replace").read()
    except OSError:
        text = ""
    out = {"report": bool(re.search(r"^Total: connections", text, re.M))}

    def num(pattern, cast=int):
        m = re.search(pattern, text, re.M)
        return cast(m.group(1)) if m else 0

    out["connections"] = num(r"^Total: connections (\d+)")
    out["replies"] = num(r"^Total: .* replies (\d+)")
    out["status2xx"] = num(r"^Reply status: .*2xx=(\d+)")
    out["connTimeMaxMs"] = num(r"^Connection time \[ms\]: .* max ([0-9.]+)", float)
    errors = {"total": num(r"^Errors: total (\d+)")}
    for theirs, ours in ERROR_KINDS:
        errors[ours] = num(r"^Errors: .*\b" + re.escape(theirs) + r" (\d+)")
    out["errors"] = errors
    return out


def read_status(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def purges_in_window(run_dir, w, nodes):
    """Purges counted by the nodes during window w; a daemon restarted in between counts from 0."""
    total = 0
    for k in range(1, nodes + 1):
        start = read_status(os.path.join(run_dir, f"w{w}-start-node{k}.json"))
        end = read_status(os.path.join(run_dir, f"w{w}-end-node{k}.json"))
        if not end:
            continue
        p_end = end.get("counters", {}).get("purges", 0)
        if start and start.get("pid") == end.get("pid"):
            total += max(0, p_end - start.get("counters", {}).get("purges", 0))
        else:
            total += p_end
    return total


def read_procs(run_dir, windows):
    """{node: {comm: [(pid, rss_kb, fds), ...]}} over every sample of the run."""
    procs = {}
    for w in range(windows):
        for phase in ("start", "end"):
            try:
                lines = open(os.path.join(run_dir, f"w{w}-{phase}.procs")).read().splitlines()
            except OSError:
                continue
            for line in lines:
                parts = line.split()
                if len(parts) != 5 or "-" in parts[2:]:
                    continue
                k, comm, pid, rss, fds = parts
                procs.setdefault(int(k), {}).setdefault(comm, []).append((int(pid), int(rss), int(fds)))
    return procs


def main():
    run_dir = sys.argv[1]
    json_file = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    max_errors = int(sys.argv[3]) if len(sys.argv) > 3 and sys.argv[3] else None
    env = read_env(os.path.join(run_dir, "run.env"))
    nodes = int(env["NODES"])
    with open(os.path.join(run_dir, "windows.jsonl")) as f:
        windows = [json.loads(line) for line in f if line.strip()]

    for rec in windows:
        w = rec["window"]
        rec["load"] = parse_httperf(os.path.join(run_dir, f"w{w}-httperf.txt"))
        rec["purges"] = purges_in_window(run_dir, w, nodes)

    by_fault = {}
    for rec in windows:
        agg = by_fault.setdefault(rec["fault"], {"count": 0, "connections": 0, "errors": {"total": 0},
                                                 "purges": 0, "dispatcherChanged": 0, "connTimeMaxMs": 0.0})
        agg["count"] += 1
        agg["connections"] += rec["load"]["connections"]
        for kind, n in rec["load"]["errors"].items():
            agg["errors"][kind] = agg["errors"].get(kind, 0) + n
        agg["purges"] += rec["purges"]
        agg["dispatcherChanged"] += int(rec["dispatcherBefore"] != rec["dispatcherAfter"])
        agg["connTimeMaxMs"] = max(agg["connTimeMaxMs"], rec["load"]["connTimeMaxMs"])
    totals = {"windows": len(windows), "connections": 0, "replies": 0, "errors": {}, "purges": 0,
              "windowsWithoutReport": 0}
    for rec in windows:
        totals["connections"] += rec["load"]["connections"]
        totals["replies"] += rec["load"]["replies"]
        totals["purges"] += rec["purges"]
        totals["windowsWithoutReport"] += int(not rec["load"]["report"])
        for kind, n in rec["load"]["errors"].items():
            totals["errors"][kind] = totals["errors"].get(kind, 0) + n

    procs = read_procs(run_dir, len(windows))
    node_stats = {}
    for k in sorted(procs):
        node_stats[f"node{k}"] = {}
        for comm, samples in sorted(procs[k].items()):
            pids = []
            for pid, _, _ in samples:
                if pid not in pids:
                    pids.append(pid)
            last = [s for s in samples if s[0] == pids[-1]]
            node_stats[f"node{k}"][comm] = {
                "samples": len(samples), "pids": len(pids),
                "rssKbMin": min(s[1] for s in samples), "rssKbMax": max(s[1] for s in samples),
                "fdsMin": min(s[2] for s in samples), "fdsMax": max(s[2] for s in samples),
                # The last process's own first and last sample: a leak shows as growth here even
                # when a restart reset the figures in between.
                "lastPidRssKbFirst": last[0][1], "lastPidRssKbLast": last[-1][1],
                "lastPidFdsFirst": last[0][2], "lastPidFdsLast": last[-1][2],
            }

    def err_text(e):
        kinds = [f"{ours} {e.get(ours, 0)}" for _, ours in ERROR_KINDS if e.get(ours, 0)]
        return str(e.get("total", 0)) + (f" ({', '.join(kinds)})" if kinds else "")

    print(f"soak: {len(windows)} windows of {env['EVERY']} s, {env['RATE']} conn/s, faults held "
          f"{env['HOLD']} s, seed {env['SEED']}, {nodes} nodes; files in {run_dir}")
    print()
    print(f"{'W':>3} {'start':>6}  {'fault':<15} {'target':<28} {'conns':>6} {'errors':<28} {'maxms':>7} "
          f"{'purges':>6}  dispatcher")
    for rec in windows:
        load = rec["load"]
        notes = f"  [{rec['notes']}]" if rec["notes"] else ""
        print(f"{rec['window'] + 1:>3} {rec['startMs'] / 1000:>5.0f}s  {rec['fault']:<15} {rec['target'] or '-':<28} "
              f"{load['connections']:>6} {err_text(load['errors']):<28} {load['connTimeMaxMs']:>7.0f} "
              f"{rec['purges']:>6}  {rec['dispatcherBefore'] or 'none'} -> {rec['dispatcherAfter'] or 'none'}"
              f"{'' if load['report'] else '  [no httperf report]'}{notes}")
    print()
    print(f"{'fault':<15} {'count':>5} {'conns':>8} {'errors':<40} {'maxms':>7} {'purges':>6} {'disp.changed':>12}")
    for kind, agg in sorted(by_fault.items(), key=lambda kv: (kv[0] != "none", kv[0])):
        print(f"{kind:<15} {agg['count']:>5} {agg['connections']:>8} {err_text(agg['errors']):<40} "
              f"{agg['connTimeMaxMs']:>7.0f} {agg['purges']:>6} {agg['dispatcherChanged']:>12}")
    print(f"{'total':<15} {len(windows):>5} {totals['connections']:>8} {err_text(totals['errors']):<40} "
          f"{'':>7} {totals['purges']:>6}")
    if totals["windowsWithoutReport"]:
        print(f"({totals['windowsWithoutReport']} window(s) without an httperf report)")
    print()
    print(f"{'node':<7} {'process':<7} {'samples':>7} {'pids':>4} {'RSS MiB min-max':>16} {'fds min-max':>12} "
          f"{'last pid RSS MiB':>16} {'last pid fds':>13}")
    for node, comms in node_stats.items():
        for comm, s in comms.items():
            print(f"{node:<7} {comm:<7} {s['samples']:>7} {s['pids']:>4} "
                  f"{s['rssKbMin'] / 1024:>7.1f}-{s['rssKbMax'] / 1024:<8.1f} {s['fdsMin']:>5}-{s['fdsMax']:<6} "
                  f"{s['lastPidRssKbFirst'] / 1024:>7.1f}->{s['lastPidRssKbLast'] / 1024:<7.1f} "
                  f"{s['lastPidFdsFirst']:>5}->{s['lastPidFdsLast']:<6}")

    if json_file:
        report = {"run": {"windows": len(windows), "faultEveryS": int(env["EVERY"]), "rate": int(env["RATE"]),
                          "faultForS": int(env["HOLD"]), "seed": int(env["SEED"]), "nodes": nodes,
                          "faultSet": env["FAULTS"].split(), "dir": run_dir},
                  "windows": windows, "byFault": by_fault, "totals": totals, "processes": node_stats}
        with open(json_file, "w") as f:
            json.dump(report, f, indent=1)
            f.write("\n")
    if max_errors is not None and totals["errors"].get("total", 0) > max_errors:
        print(f"soak: {totals['errors']['total']} errors exceed --max-errors {max_errors}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
