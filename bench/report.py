#!/usr/bin/env python3
"""bench/report.py — the benchmark's report, from one run of bench/run.sh.

    report.py --results RESULTS.jsonl --meta META.json --out REPORT.md
              [--template bench/benchmarks.md.in --doc docs/benchmarks.md]
              [--block FILE ...]

RESULTS.jsonl holds one loadgen JSON object per line, each tagged with its
"label" by run.sh; META.json what run.sh knows about the run (settings,
machine, commit, date, load before and after). Writes:

- REPORT.md: the results tables (what run.sh prints and saves as
  BUILD/bench-results.md);
- with --template and --doc: the whole of docs/benchmarks.md, the template's
  prose with every {{name}} filled from this run (tables, the run's
  description, and each sentence that quotes a figure);
- with --block FILE: the text between ``<!-- bench:NAME -->`` and
  ``<!-- /bench:NAME -->`` in FILE (README.md, docs/http.md) replaced by the
  block NAME generated from this run, so no page quotes another run's figures.

Every figure comes from this run: a range ("a–b") is the spread over the
run's repetitions, never over runs made at other times.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
import sys
import textwrap
from pathlib import Path
from typing import Any, Callable


def wrap(text: str, width: int = 95) -> str:
    """Markdown paragraphs and bullets (a line starting with "- " or "  - ") wrapped at
    ``width`` columns, continuation lines indented under the bullet's text."""
    out = []
    for line in text.split("\n"):
        m = re.match(r"^(\s*)(- )?", line)
        lead = m.group(1) + (m.group(2) or "")
        out.append(textwrap.fill(line[len(lead):], width, initial_indent=lead,
                                 subsequent_indent=" " * len(lead), break_long_words=False,
                                 break_on_hyphens=False))
    return "\n".join(out)


def f(x: float, d: int = 1) -> str:
    """A figure with thousands separators; "n/a" when it was not measured."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:,.{d}f}"


def span(values: list[float], d: int = 0) -> str:
    """"a–b" over the repetitions (or one figure when they agree at this precision)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    if not values:
        return "n/a"
    lo, hi = f(min(values), d), f(max(values), d)
    return lo if lo == hi else f"{lo}–{hi}"


class Run:
    def __init__(self, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
        self.rows = rows
        self.meta = meta
        self.cores = int(meta["cores"])
        self.reps = int(meta["repeat"])
        self.threads = sorted({1, self.cores})
        self.reps_text = f"{self.reps} repetitions" if self.reps != 1 else "one repetition"

    def runs(self, label: str) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["label"] == label]

    def med(self, label: str, key: str) -> float:
        v = [r[key] for r in self.runs(label) if r.get(key) is not None]
        return statistics.median(v) if v else float("nan")

    def each(self, label: str, key: str) -> list[float]:
        return [r[key] for r in self.runs(label) if r.get(key) is not None]

    def pairs(self, a: str, b: str, key: str) -> list[float]:
        """a - b per repetition (a and b measured back to back in each)."""
        return [x - y for x, y in zip(self.each(a, key), self.each(b, key))]


# --------------------------------------------------------------------------
# the tables


def stdio_tables(r: Run, out: list[str]) -> dict[str, float]:
    p = out.append
    m = r.meta
    cores, threads = r.cores, r.threads
    v: dict[str, float] = {}
    p(f"### (a) Latency, 1 session, {m['lat_calls']} sequential calls (proxy: --io-threads 1)")
    p("")
    p("| path | p50 µs | p90 µs | p99 µs | max µs |")
    p("|---|---:|---:|---:|---:|")
    for name, lab in (("direct (stdio pipes)", "lat_direct"), ("through mcpfwd (HTTP)", "lat_proxy")):
        p(f"| {name} | {f(r.med(lab,'p50_us'))} | {f(r.med(lab,'p90_us'))} | {f(r.med(lab,'p99_us'))} | {f(r.med(lab,'max_us'))} |")
    v["added50"] = r.med("lat_proxy", "p50_us") - r.med("lat_direct", "p50_us")
    v["added99"] = r.med("lat_proxy", "p99_us") - r.med("lat_direct", "p99_us")
    p(f"| **added by mcpfwd** | **{f(v['added50'])}** | {f(r.med('lat_proxy','p90_us') - r.med('lat_direct','p90_us'))} | **{f(v['added99'])}** | |")
    if cores > 1:
        lab = f"lat_proxy_t{cores}"
        p(f"| through mcpfwd, --io-threads {cores} | {f(r.med(lab,'p50_us'))} | {f(r.med(lab,'p90_us'))} | {f(r.med(lab,'p99_us'))} | {f(r.med(lab,'max_us'))} |")
        for name, lab in (("direct, all on one core", "lat_direct_pinned"), ("through mcpfwd, all on one core", "lat_proxy_pinned")):
            p(f"| {name} | {f(r.med(lab,'p50_us'))} | {f(r.med(lab,'p90_us'))} | {f(r.med(lab,'p99_us'))} | {f(r.med(lab,'max_us'))} |")
        v["pinned50"] = r.med("lat_proxy_pinned", "p50_us") - r.med("lat_direct_pinned", "p50_us")
        v["pinned99"] = r.med("lat_proxy_pinned", "p99_us") - r.med("lat_direct_pinned", "p99_us")
        p(f"| **added by mcpfwd, all on one core** | **{f(v['pinned50'])}** | {f(r.med('lat_proxy_pinned','p90_us') - r.med('lat_direct_pinned','p90_us'))} | **{f(v['pinned99'])}** | |")
    p("")
    p(f"### (b) Throughput, {m['tp_calls']} sequential calls per session, all sessions at once")
    p("")
    p("| sessions | direct req/s | " + " | ".join(f"mcpfwd io-threads {t} req/s | p50 / p99 µs" for t in threads) + " |")
    p("|---:|---:|" + "---:|---:|" * len(threads))
    for s in (16, 64):
        cells = [str(s), f(r.med(f"tp_direct_{s}", "rps"), 0)]
        for t in threads:
            lab = f"tp_proxy_{s}_t{t}"
            cells += [f(r.med(lab, "rps"), 0), f"{f(r.med(lab,'p50_us'),0)} / {f(r.med(lab,'p99_us'),0)}"]
        p("| " + " | ".join(cells) + " |")
    p("")
    p("### (c) Proxy CPU per forwarded request (utime+stime of mcpfwd over the measured calls)")
    p("")
    p("| sessions | io-threads | mcpfwd CPU µs/request | loadgen CPU µs/request |")
    p("|---:|---:|---:|---:|")
    p(f"| 1 | 1 | {f(r.med('lat_proxy','pid_cpu_us_per_call'))} | {f(r.med('lat_proxy','loadgen_cpu_us_per_call'))} |")
    if cores > 1:
        lab = f"lat_proxy_t{cores}"
        p(f"| 1 | {cores} | {f(r.med(lab,'pid_cpu_us_per_call'))} | {f(r.med(lab,'loadgen_cpu_us_per_call'))} |")
        p(f"| 1, all on one core | 1 | {f(r.med('lat_proxy_pinned','pid_cpu_us_per_call'))} | {f(r.med('lat_proxy_pinned','loadgen_cpu_us_per_call'))} |")
    for s in (16, 64):
        for t in threads:
            lab = f"tp_proxy_{s}_t{t}"
            p(f"| {s} | {t} | {f(r.med(lab,'pid_cpu_us_per_call'))} | {f(r.med(lab,'loadgen_cpu_us_per_call'))} |")
    p("")
    idle = r.runs("idle")[0]
    n = idle["sessions_opened"]
    v["idle_n"] = n
    warm = idle.get("warm", 0)
    v["per_idle"] = per_idle_kib(idle)
    p(f"### (d) Memory per idle session (VmRSS of mcpfwd alone, io-threads {cores}; keep-alive connections left open)")
    p("")
    p("| state | mcpfwd VmRSS KiB |")
    p("|---|---:|")
    p(f"| 0 sessions | {idle['rss0']:,} |")
    if warm:
        p(f"| {warm} idle sessions, opened first | {idle['rss_warm']:,} |")
        p(f"| {n} more idle sessions | {idle['rss1']:,} |")
        p(f"| **per idle session** (the {n} more) | **{f(v['per_idle'])}** |")
        p(f"| per idle session counted from 0 sessions (what the first ones cost the process "
          f"once, divided among all {n + warm}) | {f((idle['rss1'] - idle['rss0']) / (n + warm))} |")
    else:
        p(f"| {n} idle sessions | {idle['rss1']:,} |")
        p(f"| **per idle session** | **{f(v['per_idle'])}** |")
    p(f"| after the {n} were deleted | {idle['rss2']:,} |")
    p(f"| for comparison: each fast_server child (RSS, {idle['kids']} children) | {f(idle['kids_rss'] / max(idle['kids'], 1))} |")
    p("")
    p("### (e) Session creation (initialize round trip, spawning the server included)")
    p("")
    p("| how | sessions | p50 ms | p99 ms |")
    p("|---|---:|---:|---:|")
    p(f"| through mcpfwd, one at a time | {n} | {f(idle['session_create_p50_us']/1000, 2)} | {f(idle['session_create_p99_us']/1000, 2)} |")
    for s in (16, 64):
        lab = f"tp_proxy_{s}_t{cores}"
        p(f"| through mcpfwd, {s} at once (io-threads {cores}) | {s} | {f(r.med(lab,'session_create_p50_us')/1000, 2)} | {f(r.med(lab,'session_create_p99_us')/1000, 2)} |")
    p(f"| direct spawn + initialize, one at a time | 50 | {f(r.med('create_direct','session_create_p50_us')/1000, 2)} | {f(r.med('create_direct','session_create_p99_us')/1000, 2)} |")
    for s in (16, 64):
        lab = f"tp_direct_{s}"
        p(f"| direct spawn + initialize, {s} at once | {s} | {f(r.med(lab,'session_create_p50_us')/1000, 2)} | {f(r.med(lab,'session_create_p99_us')/1000, 2)} |")
    p("")
    p(f"### (f) Streamed answers, 1 session, {m['sse_calls']} calls (one log notification before each result)")
    p("")
    p("| path | p50 µs | p90 µs | p99 µs | max µs |")
    p("|---|---:|---:|---:|---:|")
    for name, lab in (("direct (stdio pipes)", "sse_direct"), ("through mcpfwd (answers as text/event-stream)", "sse_proxy")):
        p(f"| {name} | {f(r.med(lab,'p50_us'))} | {f(r.med(lab,'p90_us'))} | {f(r.med(lab,'p99_us'))} | {f(r.med(lab,'max_us'))} |")
    p("")
    v["best64"] = max(r.med(f"tp_proxy_64_t{t}", "rps") for t in threads)
    p("### Against the targets (stdio upstream)")
    p("")
    p("| target | measured | met |")
    p("|---|---:|---|")
    if cores > 1:
        worst = max(v["added50"], v["pinned50"])
        p(f"| added latency p50 < 100 µs (1 session) | {f(v['added50'])} µs (unpinned), {f(v['pinned50'])} µs (one core) | {'yes' if worst < 100 else 'no'} |")
    else:
        p(f"| added latency p50 < 100 µs (1 session) | {f(v['added50'])} µs | {'yes' if v['added50'] < 100 else 'no'} |")
    p(f"| ≥ 20,000 req/s at 64 sessions | {f(v['best64'], 0)} req/s | {'yes' if v['best64'] >= 20000 else 'no'} |")
    p(f"| < 64 KiB per idle session | {f(v['per_idle'])} KiB | {'yes' if v['per_idle'] < 64 else 'no'} |")
    p("")
    return v


def upstream_tables(r: Run, out: list[str]) -> dict[str, float]:
    p = out.append
    threads = r.threads
    v: dict[str, float] = {}
    p("### (g) HTTP upstream: mcpfwd in front of a remote Streamable HTTP server")
    p("")
    p(wrap("Upstream: `mcpfwd --listen -- fast_server` (a native Streamable HTTP server). Direct: "
           "the load generator talks to it. Through mcpfwd: `mcpfwd --listen --upstream URL` in "
           "between (default pool of 128 connections). Upstream connections: the most TCP "
           "connections the proxy held to the upstream at once during the run (one GET stream per "
           "session included)."))
    p("")
    p("| sessions | path | req/s | p50 µs | p99 µs | mcpfwd CPU µs/req | upstream connections |")
    p("|---:|---|---:|---:|---:|---:|---:|")
    p(f"| 1 | direct | {f(r.med('uplat_direct','rps'),0)} | {f(r.med('uplat_direct','p50_us'))} | {f(r.med('uplat_direct','p99_us'))} | | |")
    p(f"| 1 | through mcpfwd (io-threads 1) | {f(r.med('uplat_proxy','rps'),0)} | {f(r.med('uplat_proxy','p50_us'))} | {f(r.med('uplat_proxy','p99_us'))} | {f(r.med('uplat_proxy','pid_cpu_us_per_call'))} | {f(r.med('uplat_proxy','up_conns'),0)} |")
    for s in (16, 64):
        p(f"| {s} | direct | {f(r.med(f'uptp_direct_{s}','rps'),0)} | {f(r.med(f'uptp_direct_{s}','p50_us'),0)} | {f(r.med(f'uptp_direct_{s}','p99_us'),0)} | | |")
        for t in threads:
            lab = f"uptp_proxy_{s}_t{t}"
            p(f"| {s} | through mcpfwd (io-threads {t}) | {f(r.med(lab,'rps'),0)} | {f(r.med(lab,'p50_us'),0)} | {f(r.med(lab,'p99_us'),0)} | {f(r.med(lab,'pid_cpu_us_per_call'))} | {f(r.med(lab,'up_conns'),0)} |")
    if r.runs("upfast_direct"):
        p(f"| 64 | FastMCP, direct | {f(r.med('upfast_direct','rps'),0)} | {f(r.med('upfast_direct','p50_us'),0)} | {f(r.med('upfast_direct','p99_us'),0)} | | |")
        p(f"| 64 | FastMCP, through mcpfwd (io-threads 1) | {f(r.med('upfast_proxy','rps'),0)} | {f(r.med('upfast_proxy','p50_us'),0)} | {f(r.med('upfast_proxy','p99_us'),0)} | {f(r.med('upfast_proxy','pid_cpu_us_per_call'))} | {f(r.med('upfast_proxy','up_conns'),0)} |")
    v["up_added50"] = r.med("uplat_proxy", "p50_us") - r.med("uplat_direct", "p50_us")
    best_t = max(threads, key=lambda t: r.med(f"uptp_proxy_64_t{t}", "rps"))
    v["up_best_t"] = best_t
    v["up_best64"] = r.med(f"uptp_proxy_64_t{best_t}", "rps")
    v["up_direct64"] = r.med("uptp_direct_64", "rps")
    v["up_ratio"] = v["up_best64"] / v["up_direct64"] * 100
    p("")
    p("| target | measured | met |")
    p("|---|---:|---|")
    p(f"| added latency p50 < 150 µs (1 session) | {f(v['up_added50'])} µs | {'yes' if v['up_added50'] < 150 else 'no'} |")
    p(f"| throughput ≥ 80 % of direct at 64 sessions | {f(v['up_ratio'])} % ({f(v['up_best64'],0)} vs {f(v['up_direct64'],0)} req/s) | {'yes' if v['up_ratio'] >= 80 else 'no'} |")
    if r.runs("upfast_direct"):
        v["fast_ratio"] = r.med("upfast_proxy", "rps") / r.med("upfast_direct", "rps") * 100
        p(f"| the same, FastMCP upstream | {f(v['fast_ratio'])} % ({f(r.med('upfast_proxy','rps'),0)} vs {f(r.med('upfast_direct','rps'),0)} req/s) | {'yes' if v['fast_ratio'] >= 80 else 'no'} |")
    p("")
    return v


def modern_tables(r: Run, out: list[str]) -> dict[str, float]:
    """(h): the stateless era (2026-07-28) beside the session era, from the same repetitions."""
    p = out.append
    m = r.meta
    threads = r.threads
    v: dict[str, float] = {}
    p("### (h) The stateless era (2026-07-28) beside the session era")
    p("")
    p(wrap("The same `tools/call echo` requests in each era. Session era: `initialize`, then calls "
           "in the session (one `fast_server` per session). Stateless era (`loadgen --era "
           "modern`): no `initialize`; every request is a POST carrying `MCP-Protocol-Version: "
           "2026-07-28`, `Mcp-Method` and `Mcp-Name`, and the `_meta` envelope in its body. "
           "Through mcpfwd with `--stateless-key shared` (every client on one `fast_server` "
           "instance) or `--stateless-key header:X-Client` (loadgen sends `X-Client: <client "
           "number>`: one instance per client). Direct: each client spawns its own server and "
           "sends the same bytes over stdio (no proxy, so no key)."))
    p("")
    p(wrap(f"1 client, {m['lat_calls']} sequential calls, proxy `--io-threads 1`; *added* is "
           f"the difference from the same era's direct median:"))
    p("")
    p("| era | path | p50 µs | p99 µs | added p50 µs | added p99 µs | mcpfwd CPU µs/req |")
    p("|---|---|---:|---:|---:|---:|---:|")
    rows1 = (("session", "direct (stdio)", "lat_direct", None),
             ("session", "through mcpfwd", "lat_proxy", "lat_direct"),
             ("stateless", "direct (stdio)", "lat_modern_direct", None),
             ("stateless", "through mcpfwd, key `shared`", "lat_modern_shared", "lat_modern_direct"),
             ("stateless", "through mcpfwd, key `header:X-Client`", "lat_modern_key", "lat_modern_direct"))
    for era, name, lab, base in rows1:
        cells = [era, name, f(r.med(lab, "p50_us")), f(r.med(lab, "p99_us"))]
        if base:
            cells += [f(r.med(lab, "p50_us") - r.med(base, "p50_us")),
                      f(r.med(lab, "p99_us") - r.med(base, "p99_us")),
                      f(r.med(lab, "pid_cpu_us_per_call"))]
        else:
            cells += ["", "", ""]
        p("| " + " | ".join(cells) + " |")
    v["session_added50"] = r.med("lat_proxy", "p50_us") - r.med("lat_direct", "p50_us")
    v["modern_added50"] = r.med("lat_modern_shared", "p50_us") - r.med("lat_modern_direct", "p50_us")
    v["modern_added99"] = r.med("lat_modern_shared", "p99_us") - r.med("lat_modern_direct", "p99_us")
    v["modern_key_added50"] = r.med("lat_modern_key", "p50_us") - r.med("lat_modern_direct", "p50_us")
    p("")
    p(f"64 clients at once, {m['tp_calls']} sequential calls each:")
    p("")
    p("| era | path | upstream processes | "
      + " | ".join(f"mcpfwd io-threads {t} req/s | p50 / p99 µs | CPU µs/req" for t in threads) + " |")
    p("|---|---|---:|" + "---:|---:|---:|" * len(threads))
    direct = (("session", "direct (stdio)", "tp_direct_64"),
              ("stateless", "direct (stdio)", "tp_modern_direct_64"))
    for era, name, lab in direct:
        cells = [era, name, "64", f(r.med(lab, "rps"), 0),
                 f"{f(r.med(lab, 'p50_us'), 0)} / {f(r.med(lab, 'p99_us'), 0)}", ""]
        cells += ["", "", ""] * (len(threads) - 1)
        p("| " + " | ".join(cells) + " |")
    proxied = (("session", "through mcpfwd", "64", "tp_proxy_64_t{t}"),
               ("stateless", "through mcpfwd, key `shared`", "1", "tp_modern_shared_64_t{t}"),
               ("stateless", "through mcpfwd, key `header:X-Client`", "64", "tp_modern_header_64_t{t}"))
    for era, name, procs, pat in proxied:
        cells = [era, name, procs]
        for t in threads:
            lab = pat.format(t=t)
            cells += [f(r.med(lab, "rps"), 0),
                      f"{f(r.med(lab, 'p50_us'), 0)} / {f(r.med(lab, 'p99_us'), 0)}",
                      f(r.med(lab, "pid_cpu_us_per_call"))]
        p("| " + " | ".join(cells) + " |")
    p("")
    p("(Direct: no proxy, so one set of figures.)")
    p("")
    for name, pat in (("session64", "tp_proxy_64_t{t}"), ("shared64", "tp_modern_shared_64_t{t}"),
                      ("key64", "tp_modern_header_64_t{t}")):
        best_t = max(threads, key=lambda t: r.med(pat.format(t=t), "rps"))
        v[name] = r.med(pat.format(t=best_t), "rps")
        v[name + "_t"] = best_t
        v[name + "_cpu"] = r.med(pat.format(t=best_t), "pid_cpu_us_per_call")
    return v


def headline_tables(r: Run, out: list[str]) -> dict[str, float]:
    """The default configuration against fast_http_server (direct), and the issue-14 targets."""
    p = out.append
    m = r.meta
    v: dict[str, float] = {}
    ratio = lambda a, b: a / b if b and not math.isnan(b) else float("nan")
    per_rep = lambda a, b, key: [x / y for x, y in zip(r.each(a, key), r.each(b, key)) if y]
    p(f"### The headline: the default configuration against a native Streamable HTTP server")
    p("")
    p("`mcpfwd --listen 127.0.0.1:0 -- fast_server` (no `--io-threads`: one I/O thread per core, "
      f"here {r.cores}) against `fast_http_server`, fast_server's Streamable HTTP twin (direct: the "
      "same answers, the server speaking HTTP itself), measured back to back in each repetition. "
      f"Latency: 1 session, {m['lat_calls']} calls; throughput: 64 sessions x {m['tp_calls']} calls; "
      "CPU: utime+stime of mcpfwd (its servers not included) and of fast_http_server, per call. "
      "The ratios are of the medians; the range is over the repetitions.")
    p("")
    p("| figure | direct | mcpfwd | ratio (range) |")
    p("|---|---:|---:|---:|")
    rows = [
        ("one session, p50 µs", "hl_lat", "p50_us", 1),
        ("one session, p99 µs", "hl_lat", "p99_us", 1),
        ("CPU µs per call, 1 session", "hl_lat", "pid_cpu_us_per_call", 1),
        ("64 sessions, req/s", "hl_tp", "rps", 0),
        ("64 sessions, p50 µs", "hl_tp", "p50_us", 0),
        ("CPU µs per call, 64 sessions", "hl_tp", "pid_cpu_us_per_call", 1),
        ("session setup, one at a time, p50 µs", "hl_create", "session_create_p50_us", 0),
        ("session setup, warm pool (`--prespawn 64`), p50 µs", "hl_create", "session_create_p50_us", 0),
    ]
    for i, (name, lab, key, d) in enumerate(rows):
        mine = lab + ("_pool" if "warm pool" in name else "_proxy")
        dv, pv = r.med(lab + "_direct", key), r.med(mine, key)
        rt = ratio(pv, dv)
        v[f"{mine}_{key}_ratio"] = rt
        rng = span(per_rep(mine, lab + "_direct", key), 2)
        p(f"| {name} | {f(dv, d)} | {f(pv, d)} | {f(rt, 2)} ({rng}) |")
    p("")
    allocs = r.runs("hl_allocs")
    instr = r.runs("hl_instr")
    v["allocs"] = allocs[0]["per_call"] if allocs else float("nan")
    v["instr"] = instr[0]["per_call"] if instr and instr[0]["per_call"] > 0 else float("nan")
    p("Stable counts per forwarded call (1 session, default configuration; the difference of "
      "two runs of different lengths, so session setup cancels out):")
    p("")
    p("| count | per call |")
    p("|---|---:|")
    p(f"| heap allocations in mcpfwd (`LD_PRELOAD=libmalloc_count.so`; 3,000 vs 1,000 calls) | {f(v['allocs'], 1)} |")
    p(f"| instructions in mcpfwd (callgrind, all threads; 1,200 vs 200 calls) | {f(v['instr'], 0)} |")
    p("")
    return v


def scale_tables(r: Run, out: list[str]) -> dict[str, float]:
    """The scale figure (bench/scale.sh): many idle sessions through an HTTP upstream, and
    active sessions beside them."""
    p = out.append
    v: dict[str, float] = {}
    failed = r.runs("scale_failed")
    idle = r.runs("scale_idle")
    if failed or not idle:
        p("### Scale: idle sessions held, active ones beside them")
        p("")
        why = failed[0]["why"] if failed else "not run (BENCH_SCALE=0)"
        p(wrap(f"Not measured: {why}."))
        p("")
        return v
    d = idle[0]
    k, s = d["sessions"], d["active"]
    p(f"### Scale: {k:,} idle sessions held, {s:,} active ones beside them")
    p("")
    v["scale_sessions"] = k
    v["scale_open_s"] = d["open_s"]
    v["scale_kib"] = (d["rss1"] - d["rss0"]) / k
    v["scale_fds"] = (d["fd1"] - d["fd_before"]) / k
    alone_each = r.each("scale_alone", "rps")
    alone = statistics.mean(alone_each) if alone_each else float("nan")
    beside = r.med("scale_beside", "rps")
    v["scale_ratio"] = beside / alone * 100 if alone else float("nan")
    errs = lambda lab: sum(x.get("errors", 0) + x.get("mismatches", 0) for x in r.runs(lab))
    v["scale_errors"] = errs("scale_beside") + errs("scale_alone") + d["errors"] + d["mismatches"]
    lim = f"{d['hard_nofile']:,}" if d["hard_nofile"] >= 0 else "unlimited"
    p(wrap(f"Upstream: `fast_http_server` (native Streamable HTTP; no per-session state, no GET "
           f"stream: 405). Proxy: `mcpfwd --listen 127.0.0.1:0 {d['proxy_limits']} --upstream URL`, "
           f"otherwise the default configuration ({r.cores} I/O threads, pool of 128). {k:,} "
           f"sessions opened ({d['open_concurrency']} at a time) and held idle, their keep-alive "
           f"connections open; then {s:,} active sessions x {d['active_calls']} calls beside them, "
           f"against the same {s:,} without them (before and after, averaged). Hard descriptor "
           f"limit: {lim}."))
    p("")
    p("| figure | measured |")
    p("|---|---:|")
    p(f"| {k:,} sessions opened (initialize + initialized each) | {d['sessions_opened']:,} in "
      f"{f(d['open_s'], 2)} s ({f(d['sessions_opened'] / d['open_s'] if d['open_s'] else float('nan'), 0)}/s; "
      f"p50 {f(d['session_create_p50_us'] / 1000, 1)} ms, p99 {f(d['session_create_p99_us'] / 1000, 1)} ms) |")
    p(f"| mcpfwd VmRSS: at start / before the {k:,} / {k:,} held / after they ended | "
      f"{f(d['rss0'] / 1024, 1)} / {f(d['rss_before'] / 1024, 1)} / {f(d['rss1'] / 1024, 1)} / "
      f"{f(d['rss2'] / 1024, 1)} MiB |")
    p(f"| memory per idle session (held minus at start, / {k:,}) | {f(v['scale_kib'], 1)} KiB |")
    p(f"| mcpfwd descriptors: at start / before the {k:,} / {k:,} held / after the active run "
      f"beside them / after they ended | {d['fd0']:,} / {d['fd_before']:,} / {d['fd1']:,} / "
      f"{d['fd_active']:,} / {d['fd2']:,} |")
    p(f"| descriptors per idle session (held minus before, / {k:,}) | {f(v['scale_fds'], 3)} |")
    p(f"| TCP connections mcpfwd held to the upstream: before the {k:,} / {k:,} held / most "
      f"during the active run beside them | {d['up_conns_before']:,} / {d['up_conns']:,} / "
      f"{d['up_conns_active']:,} |")
    p(f"| mcpfwd's connections to the upstream in TIME_WAIT once the {k:,} were open (each new "
      f"session's GET attempt, answered 405, is a connection of its own) | {d['up_time_wait']:,} |")
    p(f"| {s:,} active sessions alone, req/s (before, after) | {f(alone, 0)} "
      f"({', '.join(f(x, 0) for x in alone_each)}) |")
    p(f"| {s:,} active sessions beside the {k:,} idle, req/s | {f(beside, 0)} "
      f"({f(v['scale_ratio'], 1)} % of alone) |")
    p(f"| p50 / p99 µs, alone (mean) / beside | "
      f"{f(statistics.mean(r.each('scale_alone', 'p50_us')), 0)} / {f(statistics.mean(r.each('scale_alone', 'p99_us')), 0)}"
      f" / {f(r.med('scale_beside', 'p50_us'), 0)} / {f(r.med('scale_beside', 'p99_us'), 0)} |")
    cpu_alone = r.each("scale_alone", "pid_cpu_us_per_call")
    v["scale_cpu_alone"] = statistics.mean(cpu_alone) if cpu_alone else float("nan")
    v["scale_cpu_beside"] = r.med("scale_beside", "pid_cpu_us_per_call")
    p(f"| mcpfwd CPU µs per call, alone (mean) / beside (less sensitive to the machine's load than req/s) | "
      f"{f(v['scale_cpu_alone'])} / {f(v['scale_cpu_beside'])} |")
    p(f"| errors or wrong answers (all runs of this figure) | {v['scale_errors']:,} |")
    p("")
    if d["fd_active"] < d["fd1"]:
        p(wrap(f"**{d['fd1'] - d['fd_active']:,} idle connections were closed before the active run "
               f"beside them ended** (mcpfwd's keep-alive timeout, 60 s: the machine was too slow "
               f"for this figure)."))
        p("")
    return v


PEERS = (("supergateway", "supergateway"), ("punkpeye", "punkpeye mcp-proxy"),
         ("sparfenyuk", "sparfenyuk mcp-proxy"))


def peers_tables(r: Run, out: list[str]) -> dict[str, float]:
    """mcpfwd vs the peers (bench/peers.sh): direct, mcpfwd and each peer from one run,
    each figure also as a ratio to direct (memory: to mcpfwd, direct keeps no sessions)."""
    p = out.append
    v: dict[str, float] = {}
    settings = r.runs("peer_settings")
    p("### mcpfwd vs the peers")
    p("")
    if not settings:
        p("Not measured in this run (`BENCH_PEERS=0`).")
        p("")
        return v
    st = settings[0]
    n = int(st.get("repeat", r.reps))
    reps = f"{n} repetitions" if n != 1 else "one repetition"
    info = {x["peer"]: x for x in r.runs("peer_info") if "wanted" in x}
    who = [("direct", "direct"), ("mcpfwd", "mcpfwd")]
    for key, name in PEERS:
        i = info.get(key, {})
        who.append((key, f"{name} {i.get('version') or i.get('wanted', '')}".strip()))
    p("Each proxy fronts `fast_server` on loopback, installed and started by `bench/peers.sh`; "
      "direct is `fast_http_server`, mcpfwd its default configuration, measured in the same "
      f"run ({reps} of the per-call figures; memory and setup once). Calls: direct and "
      f"mcpfwd {st['mcpfwd_lat_calls']:,} (1 session) and 64 × {st['mcpfwd_tp_calls']:,}; each "
      f"peer {st['lat_calls']:,} and 64 × {st['tp_calls']:,}. CPU: utime+stime of the proxy "
      "process itself (node or python; its servers not included), of the server itself for "
      f"direct. Memory: VmRSS growth with {st['idle']} idle sessions, per session. Each cell: "
      "the median, then the ratio to direct (memory: to mcpfwd).")
    p("")
    p("| figure | " + " | ".join(n for _, n in who) + " |")
    p("|---|" + "---:|" * len(who))

    def failed(lab: str) -> bool:
        return any("failed" in x for x in r.runs(lab))

    def idle_val(k: str, kind: str) -> float:
        rows = [x for x in r.runs(f"peer_idle_{k}") if "rss1" in x]
        if not rows:
            return float("nan")
        x = rows[0]
        n = max(int(x.get("sessions_opened", 0)), 1)
        if kind == "proxy":
            return per_idle_kib(x)
        if kind == "with_servers":
            return per_idle_kib(x) + x["kids_rss"] / (n + x.get("warm", 0))
        if kind == "servers":
            return float(x["kids"])
        return x["session_create_p50_us"] / 1000

    lat, tp, idle = "peer_lat_", "peer_tp_", "peer_idle_"
    # (figure, its runs, value of one column, decimals, the column it is a ratio to)
    rows: list[tuple[str, str, Callable[[str], float], int, str]] = [
        ("one session, p50 µs", lat, lambda k: r.med(lat + k, "p50_us"), 0, "direct"),
        ("one session, p99 µs", lat, lambda k: r.med(lat + k, "p99_us"), 0, "direct"),
        ("CPU µs per call, 1 session", lat, lambda k: r.med(lat + k, "pid_cpu_us_per_call"), 0, "direct"),
        ("64 sessions, req/s", tp, lambda k: r.med(tp + k, "rps"), 0, "direct"),
        ("CPU µs per call, 64 sessions", tp, lambda k: r.med(tp + k, "pid_cpu_us_per_call"), 0, "direct"),
        ("session setup, one at a time, p50 ms", idle, lambda k: idle_val(k, "setup"), 2, "direct"),
        ("session setup, 64 at once, p50 ms", tp, lambda k: r.med(tp + k, "session_create_p50_us") / 1000, 1, "direct"),
        ("memory per idle session, proxy process, KiB", idle, lambda k: idle_val(k, "proxy"), 1, "mcpfwd"),
        ("memory per idle session, with its server processes, KiB", idle, lambda k: idle_val(k, "with_servers"), 1, "mcpfwd"),
        (f"server processes for {st['idle']} idle sessions", idle, lambda k: idle_val(k, "servers"), 0, ""),
    ]
    for name, src, get, d, base in rows:
        bv = get(base) if base else float("nan")
        cells = []
        for k, _ in who:
            if k in info and info[k].get("installed") != "1":
                cells.append("not installed")
                continue
            if k == "direct" and not base:
                cells.append("— (it is the server)")
                continue
            val = get(k)
            if math.isnan(val):
                cells.append("failed" if failed(src + k) else "—")
                continue
            rt = val / bv if base and base != k and bv and not math.isnan(bv) else float("nan")
            v[f"{k}:{name}"] = val
            cells.append(f(val, d) + ("" if math.isnan(rt) else f" ({f(rt, 2)}×)"))
        p(f"| {name} | " + " | ".join(cells) + " |")
    p("")
    notes = []
    for key, name in PEERS:
        i = info.get(key)
        if not i:
            continue
        if i.get("installed") != "1":
            notes.append(f"{name} {i.get('wanted')}: not installed ({i.get('why', '?')})")
            continue
        kids = idle_val(key, "servers")
        mode = ("the idle-session run failed" if math.isnan(kids) else "one server process per session"
                if kids >= st["idle"] else "one server process shared by all sessions"
                if kids == 1 else f"{kids:.0f} server processes")
        notes.append(f"{name} {i.get('version')} ({i.get('package')}, {i.get('runtime')}): {mode}")
    if notes:
        p("Peers: " + "; ".join(notes) + ".")
        p("")
    return v


def pool_why(r: Run) -> str:
    """Why session setup on a pooled process stays above 2x direct."""
    fa = r.runs("first_answer")
    direct = r.med("hl_create_direct", "session_create_p50_us")
    pool = r.med("hl_create_pool", "session_create_p50_us")
    if not fa or math.isnan(direct):
        return "the first-answer figure was not measured in this run"
    cold = fa[0]["first_p50_us"] - fa[0]["second_p50_us"]
    return (f"a pooled server has answered one ping before it is handed out (since 2171204), "
            f"so the time a fresh fast_server takes over its first message ({f(cold)} µs more "
            f"than its second, unwarmed: `bench/first_answer.py`) should no longer count; what "
            f"the {f(pool - direct)} µs over direct are made of is not measured: mcpfwd's setup "
            f"work (HTTP parsing, the session, its registration, the pipe hop), the server's "
            f"first initialize (a path the ping does not take), and the spawner replacing each "
            f"taken server on the other core")


def per_idle_kib(x: dict) -> float:
    """VmRSS per idle session: the sessions opened after the warm ones (run.sh's
    WARM_SESSIONS) against the RSS with the warm ones open; counted from no session at all
    in a run without warm ones."""
    n = max(int(x.get("sessions_opened", 0)), 1)
    return (x["rss1"] - x.get("rss_warm", x["rss0"])) / n


def targets_table(r: Run, v: dict[str, float], out: list[str]) -> None:
    p = out.append
    idle = r.runs("idle")
    per_idle = v.get("per_idle", float("nan")) if idle else float("nan")
    p("### Against the issue-14 targets")
    p("")
    p("Each target is a ratio to direct measured in the same run (the headline table above), "
      "except memory, which is absolute (table (d)).")
    p("")
    p("| target | measured | met |")
    p("|---|---:|---|")
    def row(name: str, val: float, ok: bool, fmt: str, why: str) -> None:
        met = "n/a (not measured)" if math.isnan(val) else ("yes" if ok else f"no: {why}")
        p(f"| {name} | {fmt} | {met} |")
    def floor_says(lab: str, key: str, bound: float, at_most: bool) -> str:
        """Why not, from the floor table: whether the least proxy of this architecture meets
        the target in the same run, and mcpfwd's own extra work per call."""
        fx = v.get(f"{lab}_floor_{key}_over_{lab}_direct", float("nan"))
        if math.isnan(fx):
            return "the floor was not measured in this run (see The floor)"
        shown = f"{f(100 * fx, 1)} %" if key == "rps" else f"{f(fx, 2)}×"
        sc = [v.get(f"count_{w}_alone_syscalls", float("nan")) for w in ("floor", "mcpfwd")]
        work = ("" if any(math.isnan(x) for x in sc) else
                f"; mcpfwd makes {f(sc[1], 1)} system calls per call where the floor makes "
                f"{f(sc[0], 1)}")
        if (fx <= bound) if at_most else (fx >= bound):
            return (f"the floor relay (the same process hop and nothing else) reaches {shown} "
                    f"here, so the gap is mcpfwd's own work{work} (see The floor)")
        return (f"the floor relay itself is at {shown}: no proxy that adds this process hop "
                f"meets it on this machine{work} (see The floor)")
    x = v["hl_lat_proxy_p50_us_ratio"]
    row("one session, p50 ≤ 1.3× direct", x, x <= 1.3, f"{f(x, 2)}×",
        floor_says("fl_lat", "p50_us", 1.3, True))
    x = v["hl_lat_proxy_p99_us_ratio"]
    row("one session, p99 ≤ 1.5× direct", x, x <= 1.5, f"{f(x, 2)}×",
        floor_says("fl_lat", "p99_us", 1.5, True) +
        "; and the tail of a shared, busy machine (see the range over the repetitions)")
    x = v["hl_lat_proxy_pid_cpu_us_per_call_ratio"]
    row("proxy CPU per call ≤ 0.5× direct's, 1 session", x, x <= 0.5, f"{f(x, 2)}×",
        floor_says("fl_lat", "pid_cpu_us_per_call", 0.5, True))
    x = v["hl_tp_proxy_pid_cpu_us_per_call_ratio"]
    row("proxy CPU per call ≤ 0.7× direct's, 64 sessions", x, x <= 0.7, f"{f(x, 2)}×",
        floor_says("fl_tp", "pid_cpu_us_per_call", 0.7, True))
    x = v["hl_tp_proxy_rps_ratio"]
    row("throughput at 64 sessions ≥ 60 % of direct", x, x >= 0.6, f"{f(100 * x, 1)} %",
        floor_says("fl_tp", "rps", 0.6, False) + "; load generator, mcpfwd and 64 server "
        "processes share the cores, so this is total CPU per call")
    row("memory per idle session ≤ 16 KiB", per_idle, per_idle <= 16, f"{f(per_idle, 1)} KiB",
        "see (d)")
    x = v["hl_create_pool_session_create_p50_us_ratio"]
    row("session setup with a warm pool ≤ 2× direct's", x, x <= 2, f"{f(x, 2)}× (`--prespawn 64`)",
        pool_why(r))
    k = v.get("scale_sessions", float("nan"))
    if math.isnan(k):
        p("| 10,000 concurrent sessions with a remote upstream | not measured in this run "
          "(`BENCH_SCALE=0`) | n/a |")
    else:
        # "As fast as alone" is judged on mcpfwd's CPU per call (within 10 %): req/s of the
        # whole machine moves by tens of percent between runs here (see Scale).
        ok = (k >= 10000 and v["scale_errors"] == 0 and v["scale_fds"] <= 1.0
              and v["scale_cpu_beside"] <= 1.1 * v["scale_cpu_alone"])
        p(f"| 10,000 concurrent sessions with a remote upstream (at most one descriptor each; "
          f"1,000 active beside them cost what they cost alone; no error) | {int(k):,} opened "
          f"in {f(v['scale_open_s'], 1)} s, {f(v['scale_kib'], 1)} KiB and "
          f"{f(v['scale_fds'], 3)} descriptors each; beside them mcpfwd CPU "
          f"{f(v['scale_cpu_beside'])} µs per call against {f(v['scale_cpu_alone'])} alone "
          f"(req/s {f(v['scale_ratio'], 1)} % of alone); {v['scale_errors']:,} errors | "
          + ("yes" if ok else "no: see Scale") + " |")
    p("")


FLOOR_WHO = (("direct", "direct"), ("floor", "floor relay"), ("mcpfwd", "mcpfwd"))
# The issue-14 targets that are ratios to direct: (name, label, key, bound, at most?).
FLOOR_TARGETS = (
    ("one session, p50 ≤ 1.3× direct", "fl_lat", "p50_us", 1.3, True),
    ("one session, p99 ≤ 1.5× direct", "fl_lat", "p99_us", 1.5, True),
    ("proxy CPU per call ≤ 0.5× direct's, 1 session", "fl_lat", "pid_cpu_us_per_call", 0.5, True),
    ("proxy CPU per call ≤ 0.7× direct's, 64 sessions", "fl_tp", "pid_cpu_us_per_call", 0.7, True),
    ("throughput at 64 sessions ≥ 60 % of direct", "fl_tp", "rps", 0.6, False),
)


def floor_tables(r: Run, out: list[str]) -> dict[str, float]:
    """The floor (bench/floor.sh): direct, floor_relay and mcpfwd back to back; what each
    ratio target of issue 14 means against the least any proxy of this architecture costs."""
    p = out.append
    m = r.meta
    v: dict[str, float] = {}
    ratio = lambda a, b: a / b if b and not math.isnan(a) and not math.isnan(b) else float("nan")
    per_rep = lambda a, b, key: [x / y for x, y in zip(r.each(a, key), r.each(b, key)) if y]
    p("### The floor: the least any proxy of this architecture costs")
    p("")
    if not r.runs("fl_lat_direct"):
        p("Not measured in this run (`BENCH_FLOOR=0`).")
        p("")
        return v
    p("The same load generator against direct (`fast_http_server`), the floor relay "
      "(`floor_relay -- fast_server`: HTTP in, one spawned stdio server per connection, a pipe "
      "round trip, HTTP out, and nothing else: one thread, epoll, no JSON) and mcpfwd in its "
      "default configuration, back to back in each repetition. Latency: 1 session, "
      f"{m['lat_calls']} calls; throughput: 64 sessions x {m['tp_calls']} calls; CPU: utime+stime "
      "per call of the measured process (the floor relay or mcpfwd without its servers; the "
      "direct server). Ratios of the medians, the range over the repetitions in parentheses.")
    p("")
    rows = [
        ("one session, p50 µs", "fl_lat", "p50_us", 1),
        ("one session, p99 µs", "fl_lat", "p99_us", 1),
        ("CPU µs per call, 1 session", "fl_lat", "pid_cpu_us_per_call", 1),
        ("64 sessions, req/s", "fl_tp", "rps", 0),
        ("CPU µs per call, 64 sessions", "fl_tp", "pid_cpu_us_per_call", 1),
    ]
    pinned = bool(r.runs("fl_lat_direct_pin"))
    p("| figure | direct | floor relay | mcpfwd | floor/direct | mcpfwd/direct | mcpfwd/floor |")
    p("|---|---:|---:|---:|---:|---:|---:|")
    for suffix in ("", "_pin") if pinned else ("",):
        for name, lab, key, d in rows:
            lab_d, lab_f, lab_m = (f"{lab}_{w}{suffix}" for w, _ in FLOOR_WHO)
            if not r.runs(lab_d):
                continue
            dv, fv, mv = r.med(lab_d, key), r.med(lab_f, key), r.med(lab_m, key)
            cells = []
            for a, b, la, lb in ((fv, dv, lab_f, lab_d), (mv, dv, lab_m, lab_d),
                                 (mv, fv, lab_m, lab_f)):
                x = ratio(a, b)
                cells.append(f"{f(x, 2)} ({span(per_rep(la, lb, key), 2)})")
                v[f"{la}_{key}_over_{lb}"] = x
            label = name + (", one core" if suffix else "")
            p(f"| {label} | {f(dv, d)} | {f(fv, d)} | {f(mv, d)} | " + " | ".join(cells) + " |")
    p("")
    if pinned:
        p("\"One core\": 1 session, every process (load generator, server or relay, its stdio server) under "
          "`taskset -c 0`, so no wake-up crosses cores; mcpfwd, in its default configuration, "
          "still runs one I/O thread per core of the machine on that one core.")
        p("")

    counts = {w: r.runs(f"fl_counts_{w}") for w, _ in FLOOR_WHO}
    if all(counts.values()):
        c = {w: rows_[0] for w, rows_ in counts.items()}
        perf = all(x.get("tool") == "perf" for x in c.values())
        p("Counts per call (" + (
            "`perf stat -e context-switches,raw_syscalls:sys_enter,task-clock` attached to the "
            "measured process: alone (`-i`: its threads) and, at 1 session, with the stdio server it "
            "spawned for the session (children inherited); the difference of a 3,000- and a "
            "1,000-call session (64 sessions: 300 and 100 calls each), so setup cancels out; CPU "
            "time: the 3,000-call session's (300 calls) over all its calls, warmup included; "
            "direct has no stdio server, so its rows with and without one are the same" if perf else
            "context switches of the measured process's threads from `/proc/PID/task/*/status`, "
            "the difference of a 3,000- and a 1,000-call session; `perf` was not usable") + ")")
        p("")
        p("| per call | direct | floor relay | mcpfwd |")
        p("|---|---:|---:|---:|")
        rows_c = [("context switches, 1 session, the process alone", "alone", "ctx", 1)]
        if perf:
            rows_c = [
                ("context switches, 1 session, the process alone", "alone", "ctx", 1),
                ("system calls, 1 session, the process alone", "alone", "syscalls", 1),
                ("CPU µs (task-clock), 1 session, the process alone", "alone", "cpu_us", 1),
                ("context switches, 1 session, with its stdio server", "with_server", "ctx", 1),
                ("system calls, 1 session, with its stdio server", "with_server", "syscalls", 1),
                ("CPU µs (task-clock), 1 session, with its stdio server", "with_server", "cpu_us", 1),
                ("context switches, 64 sessions, the process alone", "alone64", "ctx", 2),
                ("system calls, 64 sessions, the process alone", "alone64", "syscalls", 1),
                ("CPU µs (task-clock), 64 sessions, the process alone", "alone64", "cpu_us", 1),
            ]
        for name, part, key, d in rows_c:
            vals = [c[w].get(part, {}).get(key, float("nan")) for w, _ in FLOOR_WHO]
            for (w, _), x in zip(FLOOR_WHO, vals):
                v[f"count_{w}_{part}_{key}"] = x
            p(f"| {name} | " + " | ".join(f(x, d) for x in vals) + " |")
        p("")

    p("What the floor means for each issue-14 target that is a ratio to direct (default "
      "configuration, all cores; the verdict follows the ratio of the medians, and in parentheses "
      "is how many repetitions' own ratios meet the target): a target the floor relay misses cannot be met by any proxy that adds this "
      "process hop; mcpfwd/floor is what mcpfwd itself can still win.")
    p("")
    p("| target | floor relay | mcpfwd | mcpfwd/floor | the floor says |")
    p("|---|---:|---:|---:|---|")
    for name, lab, key, bound, at_most in FLOOR_TARGETS:
        fx = v[f"{lab}_floor_{key}_over_{lab}_direct"]
        mx = v[f"{lab}_mcpfwd_{key}_over_{lab}_direct"]
        mf = v[f"{lab}_mcpfwd_{key}_over_{lab}_floor"]
        ok = [(x <= bound) if at_most else (x >= bound)
              for x in per_rep(f"{lab}_floor", f"{lab}_direct", key)]
        if math.isnan(fx) or not ok:
            say = "n/a (not measured)"
        elif (fx <= bound) if at_most else (fx >= bound):
            say = "reachable: the floor meets it"
        else:
            say = "out of reach for this architecture: the floor itself misses it"
        say += f" (repetitions meeting it: {sum(ok)} of {len(ok)})"
        fmt = (lambda x: f"{f(100 * x, 1)} %") if key == "rps" else (lambda x: f"{f(x, 2)}×")
        p(f"| {name} | {fmt(fx)} | {fmt(mx)} | {f(mf, 2)}× | {say} |")
    p("")
    return v


def checked_line(r: Run) -> str:
    bad = sum(x.get("errors", 0) + x.get("mismatches", 0) for x in r.rows)
    total = sum(x.get("total_requests", 0) for x in r.rows)
    return f"All {total:,} measured calls were checked: {bad} errors or mismatched answers."


def header(r: Run) -> list[str]:
    m = r.meta
    out = ["## mcpfwd benchmark results", ""]
    out.append(f"- machine: {m['cpu']} x {m['cores']} cores, {m['mem']}, Linux {m['kernel']}")
    out.append(f"- mcpfwd: `{m['mcpfwd']}` ({m['mcpfwd_version']}); source tree at {m['commit']} "
               f"when the report was written")
    out.append(f"- every figure is the median of {m['repeat']} runs; load generator, proxy and "
               f"servers share the {m['cores']} cores; loopback TCP")
    out.append(f"- CPU busy just before the run: {m['busy_before']} %; load average before / after: "
               f"{m['load_before']} / {m['load_after']}; wall time {m['elapsed']} s")
    if int(m["busy_before"]) > 10:
        out.append("- **warning: other work was using the CPUs when the run started; the numbers are noisy**")
    out.append("")
    return out


# --------------------------------------------------------------------------
# the sentences that quote figures (docs/benchmarks.md, README.md, docs/http.md)


def reading_stdio(r: Run, v: dict[str, float]) -> str:
    cores = r.cores
    b = []
    if cores > 1:
        d_unpinned = r.med("lat_direct", "p50_us")
        d_pinned = r.med("lat_direct_pinned", "p50_us")
        # A difference under half the pinned figure is not called an effect.
        placement = d_unpinned > 1.5 * d_pinned
        head = ("Latency depends on where the scheduler puts the processes." if placement else
                "Where the scheduler put the processes changed little in this run.")
        where = (f"A wake-up across cores costs more than one on the same core: the direct path "
                 f"measures {f(d_pinned)} µs at the median when client and server share a core "
                 f"and {f(d_unpinned)} µs when they do not."
                 if placement else
                 f"The direct path measures {f(d_pinned)} µs at the median when client and "
                 f"server share a core and {f(d_unpinned)} µs when they do not.")
        b.append(
            f"- **{head}** {where} "
            f"The rows \"all on one core\" "
            f"(`taskset -c 0` on mcpfwd, its server and the load generator) take placement out: mcpfwd "
            f"adds {f(v['pinned50'])} µs at the median and {f(v['pinned99'])} µs at p99 per "
            f"request there. Unpinned, the added median was {span(r.pairs('lat_proxy', 'lat_direct', 'p50_us'))} µs "
            f"over the {r.reps_text} of this run (the table gives the median of each "
            f"path).")
        t1 = r.each("lat_proxy", "pid_cpu_us_per_call")
        tn = r.each(f"lat_proxy_t{cores}", "pid_cpu_us_per_call")
        better = statistics.median(t1) < statistics.median(tn) if t1 and tn else None
        if better is not None:
            g1 = r.med("lat_proxy", "loadgen_cpu_us_per_call")
            gn = r.med(f"lat_proxy_t{cores}", "loadgen_cpu_us_per_call")
            verdict = (f"A single session cost more CPU with {cores} I/O threads in this run." if better else
                       f"With a single session, {cores} I/O threads cost no more CPU than one in this run.")
            b.append(
                f"- **{verdict}** With `--io-threads {cores}` a lone session cost "
                f"{span(tn)} µs of proxy CPU per request, against {span(t1)} µs with one thread "
                f"(the repetitions' spread). Since each I/O thread runs an io_context of its own, "
                f"a lone session's connection, session and server pipes are on one thread and "
                f"no request wakes the other (`strace`: no `futex` per call; see Separate "
                f"measurements), so hand-offs are not the difference; the load generator's own "
                f"CPU per call moved with it ({f(gn)} against {f(g1)} µs), which points at how "
                f"busy the shared machine was during those runs.")
    cpu64 = r.med("tp_proxy_64_t1", "pid_cpu_us_per_call")
    gen64 = r.med("tp_proxy_64_t1", "loadgen_cpu_us_per_call")
    direct_tp = r.each("tp_direct_16", "rps") + r.each("tp_direct_64", "rps")
    proxy_tp = [r.med(f"tp_proxy_64_t{t}", "rps") for t in r.threads]
    b.append(
        f"- **The throughput figure is the machine's, not mcpfwd's.** At 64 sessions mcpfwd used "
        f"{f(cpu64)} µs of CPU per forwarded request and the load generator {f(gen64)} µs; the "
        f"servers and the kernel used the rest of the {cores} cores, which carried "
        f"{span(proxy_tp)} req/s through mcpfwd (io-threads {' or '.join(str(t) for t in r.threads)}). "
        f"The same load without the proxy reached {span(direct_tp)} req/s (every repetition at 16 "
        f"and 64 sessions). On its own, one mcpfwd I/O thread would forward roughly "
        f"1 s / {f(cpu64)} µs ≈ {f(1e6 / cpu64, 0) if cpu64 else 'n/a'} requests per second.")
    idle = r.runs("idle")[0]
    kid = idle["kids_rss"] / max(idle["kids"], 1)
    after = idle["rss2"]
    if after >= idle["rss1"] - (idle["rss1"] - idle["rss0"]) * 0.1:
        after_text = ("The RSS did not go down after the sessions ended "
                      f"({after:,} KiB): glibc keeps the freed heap for reuse.")
    else:
        after_text = f"After the sessions ended the RSS went back to {after:,} KiB."
    b.append(
        f"- **Memory per idle session: {f(v['per_idle'])} KiB** ({int(v['idle_n'])} sessions, one "
        f"measurement). That is the session, its coroutine frames and its idle keep-alive "
        f"connection. The proxy's share is small next to the server process each session runs "
        f"({f(kid / 1024)} MiB RSS even for this minimal C++ server). {after_text}")
    d1 = r.med("create_direct", "session_create_p50_us") / 1000
    p1 = idle["session_create_p50_us"] / 1000
    b.append(
        f"- **Session creation**, one at a time, took {f(p1, 2)} ms through mcpfwd (p50) against "
        f"{f(d1, 2)} ms for spawning the server and initializing it directly. When many sessions "
        f"start at once the servers' start-ups compete for the cores: direct, 16 or 64 sessions at "
        f"once took {span([x / 1000 for x in r.each('tp_direct_16', 'session_create_p50_us')], 1)} ms "
        f"and {span([x / 1000 for x in r.each('tp_direct_64', 'session_create_p50_us')], 1)} ms each "
        f"(p50, over the repetitions); through mcpfwd "
        f"{span([x / 1000 for x in r.each(f'tp_proxy_16_t{cores}', 'session_create_p50_us')], 1)} ms and "
        f"{span([x / 1000 for x in r.each(f'tp_proxy_64_t{cores}', 'session_create_p50_us')], 1)} ms. "
        f"Through mcpfwd the spawns and `initialize`s also queue on its I/O threads: "
        f"`posix_spawnp` blocks the thread that calls it until the child has called `exec` "
        f"(see \"Separate measurements\" below).")
    return wrap("\n".join(b))


def reading_upstream(r: Run, v: dict[str, float]) -> str:
    cores = r.cores
    b = []
    b.append(
        f"- **Added latency: {f(v['up_added50'])} µs at the median** "
        f"({f(r.med('uplat_proxy', 'p50_us'))} µs through mcpfwd against "
        f"{f(r.med('uplat_direct', 'p50_us'))} µs direct; "
        f"{span(r.pairs('uplat_proxy', 'uplat_direct', 'p50_us'))} µs over the repetitions), "
        f"{'under' if v['up_added50'] < 150 else 'over'} the issue's 150 µs. It is one more HTTP "
        f"exchange over loopback: mcpfwd parses the client's POST, writes its own POST on a "
        f"pooled keep-alive connection (the head written by hand, the body as received), reads "
        f"the answer and writes it back.")
    direct_cpu = cores * 1e6 / v["up_direct64"]
    via_cpu = cores * 1e6 / v["up_best64"]
    t = int(v["up_best_t"])
    proxy_cpu = r.med(f"uptp_proxy_64_t{t}", "pid_cpu_us_per_call")
    downstream_cpu = r.med(f"tp_proxy_64_t{t}", "pid_cpu_us_per_call")
    rest = via_cpu - direct_cpu - proxy_cpu
    met = v["up_ratio"] >= 80
    text = (
        f"- **Throughput against a native upstream: {f(v['up_ratio'], 0)} % of direct at 64 "
        f"sessions ({f(v['up_best64'], 0)} against {f(v['up_direct64'], 0)} req/s).** ")
    text += ("The issue's target of 80 % is met." if met else
             f"The issue's target of 80 % is not met on this machine, where the load generator, "
             f"both mcpfwd processes and the server share the same {cores} cores, so throughput "
             f"is total CPU per request:")
    b.append(text)
    b.append(f"  - Direct costs {cores} cores / {f(v['up_direct64'], 0)} req/s ≈ {f(direct_cpu, 0)} µs "
             f"of CPU per request (the upstream mcpfwd, its server, the load generator, the kernel).")
    b.append(f"  - Through mcpfwd it costs {cores} / {f(v['up_best64'], 0)} ≈ {f(via_cpu, 0)} µs. "
             f"mcpfwd itself accounts for {f(proxy_cpu, 0)} µs: the same downstream work as in "
             f"figure (c) ({f(downstream_cpu, 0)} µs at 64 sessions) plus "
             f"{f(proxy_cpu - downstream_cpu, 0)} µs for its HTTP client. The remaining "
             f"{f(rest, 0)} µs is the kernel's TCP work for the extra loopback hop and the "
             f"wake-ups of one more process.")
    if rest > 0:
        b.append(f"  - Even a proxy that cost nothing in user space would leave the extra hop's "
                 f"kernel work: {f(direct_cpu, 0)} / ({f(direct_cpu, 0)} + {f(rest, 0)}) ≈ "
                 f"{f(direct_cpu / (direct_cpu + rest) * 100, 0)} % of direct at best.")
    if "fast_ratio" in v:
        b.append(
            f"- **Throughput against a real server: {f(v['fast_ratio'], 0)} % of direct at 64 "
            f"sessions** (FastMCP over Streamable HTTP, answers streamed as SSE: "
            f"{f(r.med('upfast_proxy', 'rps'), 0)} against {f(r.med('upfast_direct', 'rps'), 0)} "
            f"req/s). A Python server costs far more per request than the proxy does, so the "
            f"ratio is what the pool lets through (it was 33 % before a735b87, when the default "
            f"pool had 16 connections: 64 sessions then shared 15 request connections to a "
            f"server that "
            f"takes tens of milliseconds per answer).")
    conns = max(x for t in r.threads for x in r.each(f"uptp_proxy_64_t{t}", "up_conns"))
    line = (f"- **Connections: at most {f(conns, 0)} at 64 sessions against the native upstream** "
            f"(the bound is 128 pooled plus one GET stream per session: 192)")
    if r.runs("upfast_proxy"):
        line += (f"; against FastMCP at most {f(max(r.each('upfast_proxy', 'up_conns')), 0)}, at "
                 f"the peak when the sessions open")
    line += (". The test suite checks the bound independently "
             "(`tests/python/e2e/test_upstream_pool.py`, counting from `/proc/net/tcp` and from the "
             "upstream's access log, with `--upstream-pool-max 3`).")
    b.append(line)
    return wrap("\n".join(b))


def reading_modern(r: Run, v: dict[str, float]) -> str:
    b = []
    s_cpu = r.med("lat_proxy", "pid_cpu_us_per_call")
    m_cpu = r.med("lat_modern_shared", "pid_cpu_us_per_call")
    more = m_cpu > s_cpu
    b.append(
        f"- **Added latency, 1 client: {f(v['modern_added50'])} µs at the median in the stateless "
        f"era** (key `shared`; {f(v['modern_key_added50'])} µs with `header:X-Client`, which is "
        f"the same path for one client) **against {f(v['session_added50'])} µs in the session "
        f"era**; over the {r.reps_text} "
        f"{span(r.pairs('lat_modern_shared', 'lat_modern_direct', 'p50_us'))} µs against "
        f"{span(r.pairs('lat_proxy', 'lat_direct', 'p50_us'))} µs. mcpfwd's CPU per request: "
        f"{f(m_cpu)} µs against {f(s_cpu)} µs. "
        + ("A stateless request costs the proxy more than a session one" if more else
           "A stateless request does more work in the proxy than a session one, though it did "
           "not show in this run's CPU figures")
        + ": its body is parsed whole for the validation ladder (the `_meta` envelope, the "
        f"routing headers checked against the body), its id is rewritten on the way up and the "
        f"answer's on the way back, each by parsing and re-serializing the message, where a "
        f"session-era message is forwarded as received.")
    ratio_shared = v["shared64"] / v["session64"] * 100
    ratio_key = v["key64"] / v["session64"] * 100
    b.append(
        f"- **Throughput, 64 clients: {f(v['shared64'], 0)} req/s with the shared key and "
        f"{f(v['key64'], 0)} req/s with one key per client, against {f(v['session64'], 0)} "
        f"req/s in the session era** ({f(ratio_shared, 0)} % and {f(ratio_key, 0)} % of it; "
        f"each the better of io-threads {' and '.join(str(t) for t in r.threads)}). mcpfwd's CPU "
        f"per request there: {f(v['shared64_cpu'])} µs (shared), {f(v['key64_cpu'])} µs (one "
        f"key per client), {f(v['session64_cpu'])} µs (session era). As in (b), the figure is "
        f"the machine's: the load generator, mcpfwd and the servers share the {r.cores} cores. "
        f"With the shared key one `fast_server` answers all 64 clients over one pipe (it "
        f"answers everything one read brought with one write); with one key per client, as in "
        f"the session era, 64 server processes do."
        + (" With the shared key mcpfwd spent less CPU per request than in the session era, "
           "although each request does more work (above): with many requests in flight on one "
           "pipe, one read or write carries several messages, which is the likely reason (not "
           "profiled)." if v["shared64_cpu"] < v["session64_cpu"] else ""))
    b.append(
        f"- **Direct, without mcpfwd**, a stateless-era request "
        f"({f(r.med('lat_modern_direct', 'call_body_bytes'), 0)} bytes of JSON, against "
        f"{f(r.med('lat_direct', 'call_body_bytes'), 0)} without the envelope) took "
        f"{f(r.med('lat_modern_direct', 'p50_us'))} µs at the median for one client, against "
        f"{f(r.med('lat_direct', 'p50_us'))} µs in the session era; at 64 clients "
        f"{f(r.med('tp_modern_direct_64', 'rps'), 0)} against "
        f"{f(r.med('tp_direct_64', 'rps'), 0)} req/s.")
    return wrap("\n".join(b))


def reading_floor(r: Run, v: dict[str, float]) -> str:
    """The floor's figures in words (docs/benchmarks.md, "The floor")."""
    if not r.runs("fl_lat_direct"):
        return "The floor was not measured in this run (`BENCH_FLOOR=0`)."
    med = lambda w, lab, key: r.med(f"{lab}_{w}", key)
    dp, fp, mp = (med(w, "fl_lat", "p50_us") for w, _ in FLOOR_WHO)
    dc, fc, mc = (med(w, "fl_lat", "pid_cpu_us_per_call") for w, _ in FLOOR_WHO)
    dc64, fc64, mc64 = (med(w, "fl_tp", "pid_cpu_us_per_call") for w, _ in FLOOR_WHO)
    drps, frps, mrps = (med(w, "fl_tp", "rps") for w, _ in FLOOR_WHO)
    g = lambda w, part, key: v.get(f"count_{w}_{part}_{key}", float("nan"))
    perf = not math.isnan(g("floor", "alone", "syscalls"))
    b = []
    b.append(
        f"- **The hop alone: {'+' if fp >= dp else '−'}{f(abs(fp - dp), 0)} µs at p50.** The floor "
        "relay answers one session "
        f"in {f(fp, 0)} µs (p50) where direct answers in {f(dp, 0)} µs ({f(fp / dp, 2)}×): that is "
        "what the process hop costs on this machine, with no parsing, routing or validation at all. "
        f"mcpfwd takes {f(mp, 0)} µs, {f(mp - fp, 0)} µs above the floor ({f(mp / fp, 2)}×).")
    if r.runs("fl_lat_floor_pin"):
        dq, fq, mq = (med(w, "fl_lat", "p50_us") for w in ("direct_pin", "floor_pin", "mcpfwd_pin"))
        b.append(
            f"- **On one core** (`taskset -c 0`, no wake-up crosses cores) the floor relay answers in "
            f"{f(fq, 0)} µs, direct in {f(dq, 0)} µs ({f(fq / dq, 2)}×; on all cores "
            f"{f(fp / dp, 2)}×), mcpfwd in {f(mq, 0)} µs ({f(mq / fq, 2)}× the floor).")
    if perf:
        b.append(
            f"- **Why: the counts.** Per call at 1 session, direct's server makes "
            f"{f(g('direct', 'alone', 'ctx'), 1)} context switches and "
            f"{f(g('direct', 'alone', 'syscalls'), 1)} system calls. The floor relay makes "
            f"{f(g('floor', 'alone', 'ctx'), 1)} and {f(g('floor', 'alone', 'syscalls'), 1)} "
            "(`epoll_wait`, `read` from the socket, `writev` to the pipe, `epoll_wait`, `read` from "
            "the pipe, `writev` to the socket: it sleeps twice per call, once for the request and "
            "once for the answer), and with its stdio server "
            f"{f(g('floor', 'with_server', 'ctx'), 1)} and {f(g('floor', 'with_server', 'syscalls'), 1)}: "
            "the server's `read` and `write` wake a second process per call. mcpfwd makes "
            f"{f(g('mcpfwd', 'alone', 'ctx'), 1)} and {f(g('mcpfwd', 'alone', 'syscalls'), 1)} alone, "
            f"{f(g('mcpfwd', 'with_server', 'ctx'), 1)} and {f(g('mcpfwd', 'with_server', 'syscalls'), 1)} "
            "with its server. Any proxy of this architecture does at least the floor's: the request "
            "crosses a socket and a pipe, the answer a pipe and a socket, and each crossing is a "
            "system call on both sides and the wake-up of the side that waits.")
        ftc, dtc, mtc = (g(w, "alone", "cpu_us") for w in ("floor", "direct", "mcpfwd"))
        more = (g("floor", "alone", "syscalls") >= g("direct", "alone", "syscalls")
                and g("floor", "alone", "ctx") >= g("direct", "alone", "ctx"))
        b.append(
            f"- **CPU.** At one session the floor relay spends {f(fc, 1)} µs of CPU per call "
            f"(/proc ticks; {f(ftc, 1)} µs by perf's task-clock), direct's server {f(dc, 1)} µs "
            f"({f(dtc, 1)} µs): {f(fc / dc, 2)}× ({f(ftc / dtc, 2)}× by task-clock). "
            + ("The relay makes as many system calls and sleeps as the direct server or more, "
               "and what the direct server does besides (parse one small request, write its "
               "answer) is cheap next to them: a target of half the direct server's CPU asks a "
               "proxy to do the same kernel work in half the time. " if more else "")
            + f"At 64 sessions: {f(fc64, 1)} against {f(dc64, 1)} µs ({f(fc64 / dc64, 2)}×), where "
            f"one wake-up serves several ready sessions (context switches per call: direct "
            f"{f(g('direct', 'alone64', 'ctx'), 2)}, floor {f(g('floor', 'alone64', 'ctx'), 2)}, "
            f"mcpfwd {f(g('mcpfwd', 'alone64', 'ctx'), 2)}).")
        b.append(
            f"- **What mcpfwd can still win.** Over the floor, mcpfwd adds {f(mp - fp, 0)} µs at p50, "
            f"{f(mtc - ftc, 1)} µs of CPU per call at one session by task-clock "
            f"({f(mc - fc, 1)} µs by /proc), {f(mc64 - fc64, 1)} µs at 64 sessions, and "
            f"{f(g('mcpfwd', 'alone', 'syscalls') - g('floor', 'alone', 'syscalls'), 1)} system calls "
            "per call: that part, and only that part, is mcpfwd's own.")
    else:
        if not math.isnan(g("floor", "alone", "ctx")):
            b.append(
                f"- **Context switches per call** (from /proc, the process alone, 1 session): direct "
                f"{f(g('direct', 'alone', 'ctx'), 1)}, floor relay {f(g('floor', 'alone', 'ctx'), 1)}, "
                f"mcpfwd {f(g('mcpfwd', 'alone', 'ctx'), 1)}.")
        b.append(
            f"- **CPU.** At one session the floor relay spends {f(fc, 1)} µs of CPU per call, "
            f"direct's server {f(dc, 1)} µs ({f(fc / dc, 2)}×), mcpfwd {f(mc, 1)} µs; at 64 "
            f"sessions {f(fc64, 1)}, {f(dc64, 1)} and {f(mc64, 1)} µs.")
    b.append(
        f"- **Throughput.** At 64 sessions the floor relay reaches {f(100 * frps / drps, 1)} % of "
        f"direct's {f(drps, 0)} req/s, mcpfwd {f(100 * mrps / drps, 1)} % "
        f"({f(100 * mrps / frps, 1)} % of the floor's): the load generator, the relay and 64 "
        "stdio servers share the cores, so this is total CPU per call, and the hop's extra system "
        "calls and wake-ups" + (" (the counts at 64 sessions)" if perf else "")
        + " are spent whatever the relay does."
        + (" Here the floor outran direct: on a machine busy with other work, 65 processes get a "
           "larger share of the contended cores than direct's one, so this figure means something "
           "only on an idle machine." if frps > drps else ""))
    return "\n".join(wrap(x) for x in b)


def blocks(r: Run, v: dict[str, float]) -> dict[str, str]:
    """The generated paragraphs other pages carry (between <!-- bench:NAME --> markers)."""
    m = r.meta
    pinned = f" ({f(v['pinned50'], 0)} µs with everything on one core)" if "pinned50" in v else ""
    up = f"{f(v['up_added50'], 0)} µs (p50)"
    cmd = ("(`cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DMCPFWD_BUILD_BENCH=ON "
           "&& ninja -C build/bench bench`, which also rewrites these figures).")
    readme = (
        f"Measured on a {r.cores}-core machine on {m['date']} (tree at {m['commit']}), "
        f"mcpfwd's Streamable HTTP mode adds {f(v['added50'], 0)} µs (p50) per call over talking "
        f"to the server's stdio directly{pinned}, forwards {f(v['best64'], 0)} requests/s at 64 "
        f"sessions (load generator and servers on the same {r.cores} cores), and holds "
        f"{f(v['per_idle'], 0)} KiB per idle session. In the stateless era (2026-07-28) it adds "
        f"{f(v['modern_added50'], 0)} µs (p50) and forwards {f(v['shared64'], 0)} requests/s from "
        f"64 clients sharing one server process ({f(v['key64'], 0)} with one per client). In "
        f"front of a remote Streamable HTTP server it adds {up}: [docs/benchmarks.md](docs/benchmarks.md) has the figures, the method and "
        f"the command {cmd}")
    idle = r.runs("idle")[0]
    cpu64 = r.med("tp_proxy_64_t1", "pid_cpu_us_per_call")
    http = (
        f"From one run on {r.cores} cores ({m['date']}, tree at {m['commit']}): added latency "
        f"{f(v['added50'], 0)} µs p50 per call, {f(v['best64'], 0)} forwarded requests/s at 64 "
        f"sessions (load generator included), {f(cpu64, 0)} µs of proxy CPU per request, "
        f"{f(v['per_idle'], 0)} KiB per idle session, {f(idle['session_create_p50_us'] / 1000, 1)} ms "
        f"to create a session (spawn + initialize). Stateless era (2026-07-28): "
        f"{f(v['modern_added50'], 0)} µs added p50, {f(v['shared64'], 0)} requests/s at 64 clients "
        f"with `--stateless-key shared`, {f(v['key64'], 0)} with one key per client. In front of "
        f"a remote Streamable HTTP server: "
        f"{f(v['up_added50'], 0)} µs added p50; at 64 sessions {f(v['up_ratio'], 0)} % of the "
        f"direct throughput with a native server when everything shares {r.cores} cores")
    if "fast_ratio" in v:
        http += f", {f(v['fast_ratio'], 0)} % with a FastMCP server"
    http += " (figures and why: [benchmarks.md](benchmarks.md), which the bench command rewrites)."
    return {"readme": wrap(readme), "http": wrap(http)}


# --------------------------------------------------------------------------
# filling the template and the marked blocks


def run_description(r: Run) -> str:
    m = r.meta
    build = [x for x in (f"build type {m['build_type']}" if m["build_type"] else "",
                         m["compiler"], f"Boost {m['boost']}" if m["boost"] else "") if x]
    build_text = "; ".join([m["mcpfwd_version"]] + (build or ["build not recorded"]))
    warn = ""
    if int(m["busy_before"]) > 10:
        warn = " **Other work was using the CPUs when the run started: the figures are noisy.**"
    return wrap(
        f"One run of `bench/run.sh` (the `bench` target) on {m['date']}, measuring `{m['mcpfwd']}` "
        f"({build_text}) of the tree at {m['commit']}, on {m['cpu']} × {m['cores']} cores "
        f"({m['virt']}), {m['mem']}, {m['os']}, Linux {m['kernel']}. CPU busy in the second "
        f"before the run: {m['busy_before']} % (the script warns above 10 %); load average "
        f"before / after: {m['load_before']} / {m['load_after']}. Every figure is the median of "
        f"{m['repeat']} run{'s' if int(m['repeat']) != 1 else ''} unless said otherwise; the load generator, the proxies and the "
        f"servers share the {m['cores']} cores, over loopback TCP. The whole run took "
        f"{m['elapsed']} s.{warn}")


def fill(template: str, values: dict[str, str]) -> str:
    used: set[str] = set()

    def sub(mo: re.Match[str]) -> str:
        name = mo.group(1)
        if name not in values:
            raise SystemExit(f"report.py: the template names {{{{{name}}}}}, which is not generated")
        used.add(name)
        return values[name]

    out = re.sub(r"\{\{([a-z0-9_]+)\}\}", sub, template)
    unused = set(values) - used
    if unused:
        raise SystemExit(f"report.py: generated but not in the template: {sorted(unused)}")
    return out


def replace_block(path: Path, name: str, text: str) -> None:
    src = path.read_text(encoding="utf-8")
    rx = re.compile(rf"(<!-- bench:{name} [^\n]*-->\n)(.*?)(<!-- /bench:{name} -->)", re.S)
    if len(rx.findall(src)) != 1:
        raise SystemExit(f"report.py: {path} needs exactly one <!-- bench:{name} ... --> ... "
                         f"<!-- /bench:{name} --> block")
    path.write_text(rx.sub(lambda mo: mo.group(1) + text + "\n" + mo.group(3), src), encoding="utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", required=True, type=Path)
    ap.add_argument("--meta", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--template", type=Path)
    ap.add_argument("--doc", type=Path)
    ap.add_argument("--block", action="append", default=[], metavar="NAME=FILE")
    a = ap.parse_args()

    rows = [json.loads(ln) for ln in a.results.read_text().splitlines() if ln.strip()]
    meta = json.loads(a.meta.read_text())
    r = Run(rows, meta)

    out = header(r)
    if meta["only"] == "headline":
        v = headline_tables(r, out)
        targets_table(r, v, out)
        out.append(checked_line(r))
        a.out.write_text("\n".join(out) + "\n", encoding="utf-8")
        if a.doc or a.block:
            raise SystemExit("report.py: the docs come from a full run only (BENCH_ONLY unset)")
        return 0
    if meta["only"] in ("floor", "scale", "peers"):
        {"floor": floor_tables, "scale": scale_tables, "peers": peers_tables}[meta["only"]](r, out)
        out.append(checked_line(r))
        a.out.write_text("\n".join(out) + "\n", encoding="utf-8")
        if a.doc or a.block:
            raise SystemExit("report.py: the docs come from a full run only (BENCH_ONLY unset)")
        return 0
    if meta["only"] != "all":
        v = upstream_tables(r, out)
        out.append(checked_line(r))
        a.out.write_text("\n".join(out) + "\n", encoding="utf-8")
        if a.doc or a.block:
            raise SystemExit("report.py: the docs come from a full run only (BENCH_ONLY unset)")
        return 0

    headline: list[str] = []
    hv = headline_tables(r, headline)
    tables: list[str] = []
    v = stdio_tables(r, tables)
    v.update(hv)
    floor: list[str] = []
    v.update(floor_tables(r, floor))
    scale: list[str] = []
    v.update(scale_tables(r, scale))
    targets_table(r, v, headline)
    up: list[str] = []
    v.update(upstream_tables(r, up))
    modern: list[str] = []
    v.update(modern_tables(r, modern))
    peers: list[str] = []
    peers_tables(r, peers)
    out += headline + floor + tables + up + modern + peers + scale + [checked_line(r)]
    a.out.write_text("\n".join(out) + "\n", encoding="utf-8")

    if a.template and a.doc:
        # the tables' "###" headings sit under the page's "## Results", as in the report
        join: Callable[[list[str]], str] = lambda ls: "\n".join(ls).rstrip("\n")
        m = meta
        values = {
            "run": run_description(r),
            "headline_tables": join(headline),
            "stdio_tables": join(tables),
            "upstream_tables": join(up),
            "modern_tables": join(modern),
            "scale_tables": join(scale),
            "peers_tables": join(peers),
            "checked": checked_line(r),
            "reading_stdio": reading_stdio(r, v),
            "reading_upstream": reading_upstream(r, v),
            "reading_modern": reading_modern(r, v),
            "floor_tables": join(floor),
            "reading_floor": reading_floor(r, v),
            "elapsed": str(m["elapsed"]),
            "cores": str(r.cores),
            "repeat": str(m["repeat"]),
            "lat_calls": str(m["lat_calls"]),
            "tp_calls": str(m["tp_calls"]),
            "idle": str(m["idle"]),
            "sse_calls": str(m["sse_calls"]),
            "sse_proxy_p50": f(r.med("sse_proxy", "p50_us"), 0),
            "sse_direct_p50": f(r.med("sse_direct", "p50_us"), 0),
        }
        text = fill(a.template.read_text(encoding="utf-8"), values)
        a.doc.write_text(text, encoding="utf-8")
    gen = blocks(r, v)
    for spec in a.block:
        name, _, file = spec.partition("=")
        if name not in gen or not file:
            raise SystemExit(f"report.py: --block {spec!r}: known blocks are {sorted(gen)}")
        replace_block(Path(file), name, gen[name])
    return 0


if __name__ == "__main__":
    sys.exit(main())
