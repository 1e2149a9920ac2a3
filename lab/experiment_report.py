#!/usr/bin/env python3
"""Figures of `sasha-lab experiment` (docs/experiment.md): one case's row, the table beside the
paper's numbers, the calibration's served rate.

  experiment_report.py case DIR --preset P --paper-rate R --scale F --repeat N --csv FILE --series FILE
  experiment_report.py table OUT_DIR
  experiment_report.py rebuild OUT_DIR    (results.csv and series.csv again from OUT_DIR/cases)
  experiment_report.py calibration HTTPERF_OUTPUT

Times are wall-clock milliseconds: nginx's access log ($msec), the events' wallMs and the
script's injection instants all read CLOCK_REALTIME on the same machine.
"""
import csv
import json
import os
import re
import sys

# The paper's section 4 (Figure 4 and its text): the average level of service during fault
# detection and recovery, cps, by offered rate and scenario; None where the text gives no figure.
PAPER = {
    2500: {"none": 2465, "dispatcher": 1755, "server1": 2053, "server2": 1691, "server3": 1574, "server4": None},
    1500: {"none": 1488, "dispatcher": 1297, "server1": 1451, "server2": 1221, "server3": 1081, "server4": None},
    500: {"none": 499.4, "dispatcher": None, "server1": 492.1, "server2": 482.2, "server3": 468.2, "server4": 448.9},
}
PAPER_LOST = {(500, "dispatcher"): 2941}
PAPER_NOTE = {(2500, "server4"): "ends just under 500", (1500, "server4"): "ends just under 500",
              (500, "dispatcher"): "2,941 connections lost"}
SCENARIOS = ["none", "dispatcher", "server1", "server2", "server3", "server4"]
FIELDS = ["preset", "scale", "paper_rate", "scenario", "repeat", "offered_cps", "achieved_cps",
          "window_start_s", "window_ms", "window_avg_cps", "window_source", "final_cps", "connections",
          "lost", "client_timeouts", "socket_timeouts", "refused", "reset", "other_errors", "rejected_503",
          "paper_cps", "paper_lost"]


def die(msg):
    print("experiment_report: error: " + msg, file=sys.stderr)
    sys.exit(3)


def httperf_numbers(text):
    def field(pattern):
        m = re.search(pattern, text, re.M)
        return int(float(m.group(1))) if m else 0
    return {
        "connections": field(r"^Total: connections (\d+)"),
        "ok": field(r"^Reply status: 1xx=\d+ 2xx=(\d+)"),
        "st5xx": field(r"^Reply status: .* 5xx=(\d+)"),
        "errors": field(r"^Errors: total (\d+)"),
        "client_timeouts": field(r"^Errors: total \d+ client-timo (\d+)"),
        "socket_timeouts": field(r"^Errors: total .* socket-timo (\d+)"),
        "refused": field(r"^Errors: total .* connrefused (\d+)"),
        "reset": field(r"^Errors: total .* connreset (\d+)"),
        "fd_unavail": field(r"^Errors: fd-unavail (\d+)"),
        "addr_unavail": field(r"^Errors: .* addrunavail (\d+)"),
        "other": field(r"^Errors: .* other (\d+)"),
        "test_s": float(re.search(r"test-duration ([0-9.]+) s", text).group(1)) if "test-duration" in text else 0.0,
    }


def access_times(path):
    """(wall ms, status) of every load request (/size/) from the experiment's clients."""
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.split()
            # $msec $remote_addr:$remote_port $request(3 words) $status $bytes
            if len(parts) < 6 or not parts[1].startswith("10.78.") or not parts[3].startswith("/size/"):
                continue
            try:
                out.append((int(float(parts[0]) * 1000), int(parts[5])))
            except ValueError:
                continue
    return out


def load_events(path):
    try:
        with open(path) as f:
            return json.load(f).get("events", [])
    except (OSError, ValueError):
        return []


def window(meta, events_by_node):
    """[first injection, end of recovery] in wall ms, and how its end was found.

    End: the moment the ring holds none of the faulty nodes, i.e. the latest, over the faulty
    nodes, of the first member-lost (or member-left) event naming it that a surviving node logged
    after its injection (a purge's ring-formed, or a view change dropping a node that no longer
    acknowledges); for a dispatcher fault also the new dispatcher's reconstruction-completed
    (or, without one, its dispatcher-started), whichever comes last."""
    inj = meta["injectionsMs"]
    if not inj:
        return None, None, "no fault"
    t0 = inj[0]
    survivors = meta["survivors"]
    ends = []
    for victim, at in zip(meta["victims"], inj):
        addr = "10.77.0.%d" % victim
        lost = [e["wallMs"] for k in survivors for e in events_by_node.get(k, [])
                if e["kind"] in ("member-lost", "member-left") and e.get("node") == addr and e["wallMs"] >= at]
        if not lost:
            return t0, None, "node%d never left the ring" % victim
        ends.append(min(lost))
    end = max(ends)
    source = "member-lost(%s)" % "+".join("node%d" % v for v in meta["victims"])
    if meta["scenario"] == "dispatcher":
        rec = [e["wallMs"] for k in survivors for e in events_by_node.get(k, [])
               if e["kind"] == "reconstruction-completed" and e["wallMs"] >= t0]
        started = [e["wallMs"] for k in survivors for e in events_by_node.get(k, [])
                   if e["kind"] == "dispatcher-started" and e["wallMs"] >= t0]
        if rec:
            end, source = max(end, min(rec)), source + "+reconstruction-completed"
        elif started:
            end, source = max(end, min(started)), source + "+dispatcher-started"
        else:
            source += " (no new dispatcher seen)"
    return t0, end, source


def cmd_case(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="experiment_report.py case")
    ap.add_argument("dir")
    ap.add_argument("--preset", required=True)
    ap.add_argument("--paper-rate", type=int, required=True)
    ap.add_argument("--scale", type=float, required=True)
    ap.add_argument("--repeat", type=int, required=True)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--series", required=True)
    a = ap.parse_args(argv)
    with open(os.path.join(a.dir, "meta.json")) as f:
        meta = json.load(f)
    tot = {}
    for c in range(1, 6):
        path = os.path.join(a.dir, "httperf.c%d.txt" % c)
        try:
            text = open(path).read()
        except OSError:
            die("%s: missing" % path)
        if "Total: connections" not in text:
            die("%s: httperf produced no report: %s" % (path, text.strip().splitlines()[-1:] or "empty"))
        for key, v in httperf_numbers(text).items():
            tot[key] = max(tot.get(key, 0), v) if key == "test_s" else tot.get(key, 0) + v
    times = []
    events = {}
    # A node cut off keeps serving what it had queued and logs it, but those replies never reach
    # a client: a faulty node's log counts only up to its injection.
    cut = dict(zip(meta["victims"], meta["injectionsMs"]))
    for k in range(1, 7):
        times += [(t, st) for t, st in access_times(os.path.join(a.dir, "access.node%d.log" % k))
                  if k not in cut or t < cut[k]]
        events[k] = load_events(os.path.join(a.dir, "events.node%d.json" % k))
    ok = sorted(t for t, st in times if 200 <= st < 300)
    start, dur = meta["startMs"], meta["durationS"]
    t0, end, source = window(meta, events)
    win_ms = win_avg = ""
    if t0 is not None and end is not None:
        win_ms = end - t0
        n = sum(1 for t in ok if t0 <= t < end)
        win_avg = round(n * 1000.0 / win_ms, 1) if win_ms > 0 else ""
    # Final rate: the ok replies/s over the last quarter of the load (at most 5 s), its last
    # partial second left out.
    tail = min(5, max(1, dur // 4))
    fin_end = start + dur * 1000
    final = sum(1 for t in ok if fin_end - tail * 1000 <= t < fin_end) / float(tail)
    achieved = round(tot["ok"] / tot["test_s"], 1) if tot["test_s"] else 0.0
    scenario = meta["scenario"]
    paper = PAPER.get(a.paper_rate, {}).get(scenario)
    row = {
        "preset": a.preset, "scale": a.scale, "paper_rate": a.paper_rate, "scenario": scenario, "repeat": a.repeat,
        "offered_cps": meta["rate"], "achieved_cps": achieved,
        "window_start_s": round((t0 - start) / 1000.0, 2) if t0 is not None else "",
        "window_ms": win_ms, "window_avg_cps": win_avg, "window_source": source, "final_cps": round(final, 1),
        "connections": tot["connections"], "lost": tot["errors"], "client_timeouts": tot["client_timeouts"],
        "socket_timeouts": tot["socket_timeouts"], "refused": tot["refused"], "reset": tot["reset"],
        "other_errors": tot["fd_unavail"] + tot["addr_unavail"] + tot["other"], "rejected_503": tot["st5xx"],
        "paper_cps": "" if paper is None else paper, "paper_lost": PAPER_LOST.get((a.paper_rate, scenario), ""),
    }
    new = not os.path.exists(a.csv)
    with open(a.csv, "a", newline="") as f:
        w = csv.DictWriter(f, FIELDS)
        if new:
            w.writeheader()
        w.writerow(row)
    # Replies per second from the load's start, with the injections marked.
    new = not os.path.exists(a.series)
    with open(a.series, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["preset", "paper_rate", "scenario", "repeat", "second", "ok_replies", "rejected_503", "fault"])
        inj = {int((t - start) // 1000) for t in meta["injectionsMs"]}
        for s in range(dur + 3):
            lo, hi = start + s * 1000, start + (s + 1) * 1000
            w.writerow([a.preset, a.paper_rate, scenario, a.repeat, s, sum(1 for t in ok if lo <= t < hi),
                        sum(1 for t, st in times if st == 503 and lo <= t < hi), 1 if s in inj else 0])
    print("  %-7s %5d cps (x%s) %-10s #%d: achieved %7.1f, window %s ms avg %s, final %.1f; lost %d "
          "(timeouts %d, refused %d, reset %d), 503 %d; window end by %s"
          % (a.preset, a.paper_rate, a.scale, scenario, a.repeat, achieved, win_ms or "-", win_avg or "-", final,
             tot["errors"], tot["client_timeouts"] + tot["socket_timeouts"], tot["refused"], tot["reset"],
             tot["st5xx"], source))


def fmt(v):
    if v == "" or v is None:
        return "-"
    v = float(v)
    return "{:,.1f}".format(v) if v < 1000 and v != int(v) else "{:,.0f}".format(v)


def cmd_table(argv):
    out = argv[0]
    with open(os.path.join(out, "run.json")) as f:
        run = json.load(f)
    try:
        with open(os.path.join(out, "results.csv")) as f:
            rows = list(csv.DictReader(f))
    except OSError:
        die("%s/results.csv: no results" % out)
    scale = run["scale"]
    print("SASHA paper section 4 / Figure 4 beside this run: %s, %s (%d cores, kernel %s), commit %s"
          % (run["date"], run["host"], run["cores"], run["kernel"], run["commit"]))
    print("%d s per case, %d repeat(s), servers capped at %d cps each (paper: ~500)."
          % (run["durationS"], run["repeat"], run["capacity"]))
    if scale != 1:
        print("SCALED RUN: every offered rate and the servers' capacity are %s x the paper's. The 'ours' figures"
              " are measured at the scaled rates; 'ours/F' divides them by %s to set them beside the paper's;"
              " the ratio is ours / (paper x %s)." % (scale, scale, scale))
    print("Fault cases: average ok replies/s during detection and recovery (first fault -> the ring holds no"
          " faulty node [and the new dispatcher's reconstruction is done]); 'none': achieved ok replies/s over the run.")
    print("ratio = ours / (paper x F); 'run ratio' sets the whole run's achieved rate beside the paper's figure"
          " instead (the paper's text calls some of its figures the test's average; docs/experiment.md).")
    head = ("timers", "offered", "scenario", "ours", "ours/F" if scale != 1 else "", "paper", "ratio", "window ms",
            "achieved", "run ratio", "final", "lost", "of conns", "503s", "paper's text")
    line = "%-7s %7s %-10s %8s %8s %8s %6s %9s %8s %9s %8s %6s %8s %6s %s"
    print(line % head)
    for r in rows:
        fault = r["scenario"] != "none"
        ours = r["window_avg_cps"] if fault else r["achieved_cps"]
        paper = r["paper_cps"]
        ratio = run_ratio = "-"
        if ours not in ("", None) and paper not in ("", None):
            ratio = "%.2f" % (float(ours) / (float(paper) * scale))
        if paper not in ("", None):
            run_ratio = "%.2f" % (float(r["achieved_cps"]) / (float(paper) * scale))
        note = PAPER_NOTE.get((int(r["paper_rate"]), r["scenario"]), "")
        print(line % (r["preset"], "{:,}".format(int(r["paper_rate"])), r["scenario"], fmt(ours),
                      fmt(float(ours) / scale) if scale != 1 and ours != "" else "",
                      fmt(paper) if paper else "-",
                      ratio, r["window_ms"] or "-", fmt(r["achieved_cps"]), run_ratio, fmt(r["final_cps"]), r["lost"],
                      r["connections"], r["rejected_503"], note))


def cmd_rebuild(argv):
    """results.csv and series.csv again from the raw files in OUT_DIR/cases (after a change here)."""
    out = argv[0]
    with open(os.path.join(out, "run.json")) as f:
        scale = json.load(f)["scale"]
    for name in ("results.csv", "series.csv"):
        if os.path.exists(os.path.join(out, name)):
            os.rename(os.path.join(out, name), os.path.join(out, name + ".old"))
    cases = os.path.join(out, "cases")
    dirs = [d for d in os.listdir(cases) if os.path.exists(os.path.join(cases, d, "meta.json"))]
    def key(d):   # presets by name, rates high to low, scenarios in the paper's order
        preset, rate, scenario, n = d.split("-")
        return (preset, -int(rate), SCENARIOS.index(scenario), int(n))
    dirs.sort(key=key)
    for d in dirs:
        preset, rate, scenario, n = d.split("-")
        cmd_case([os.path.join(cases, d), "--preset", preset, "--paper-rate", rate, "--scale", str(scale),
                  "--repeat", n, "--csv", os.path.join(out, "results.csv"), "--series", os.path.join(out, "series.csv")])


def cmd_calibration(argv):
    text = open(argv[0]).read()
    if "Total: connections" not in text:
        print(0)
        return
    n = httperf_numbers(text)
    print("%.1f" % (n["ok"] / n["test_s"] if n["test_s"] else 0))


def main():
    if len(sys.argv) < 2:
        die("usage: experiment_report.py case|table|calibration ...")
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "case":
        cmd_case(argv)
    elif cmd == "table" and len(argv) == 1:
        cmd_table(argv)
    elif cmd == "rebuild" and len(argv) == 1:
        cmd_rebuild(argv)
    elif cmd == "calibration" and len(argv) == 1:
        cmd_calibration(argv)
    else:
        die("usage: experiment_report.py case|table|calibration ...")


if __name__ == "__main__":
    main()
