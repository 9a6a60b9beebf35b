#!/usr/bin/env python3
"""Renders bench/run.sh's results (JSON lines) as markdown tables.

usage: report.py RESULTS.jsonl
Exits 2 if --strict is given and any load run had errors or no successful request.
"""
import json
import sys

ENDPOINTS = [
    ("discovery", "1. discovery `GET /.well-known/openid-configuration`"),
    ("jwks", "2. JWKS"),
    ("client_credentials", "3. token, `client_credentials`"),
    ("refresh_token", "4. token, `refresh_token` (rotation)"),
    ("userinfo", "5. userinfo (Bearer)"),
    ("introspection", "6. introspection"),
]


def fmt(value, digits=1):
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def ratio(a, b):
    if not a or not b:
        return None
    return a / b


def mark(value, target):
    """'7.1× ✓' when value meets target (≥), else '3.2× ✗'."""
    if value is None:
        return "–"
    return f"{value:.1f}× {'✓' if value >= target else '✗'}"


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    strict = "--strict" in sys.argv
    records = [json.loads(line) for line in open(args[0]) if line.strip()]
    meta = {}
    wrk = {}
    metrics = {}
    signins = []
    soak = []
    notes = []
    for r in records:
        kind = r.get("type")
        if kind == "meta":
            meta.update({k: v for k, v in r.items() if k != "type"})
        elif kind == "wrk":
            wrk[(r["server"], r["endpoint"])] = r
        elif kind == "metric":
            metrics[(r["server"], r["name"])] = r["value"]
        elif kind == "signin":
            signins.append(r)
        elif kind == "soak":
            soak.append(r)
        elif kind == "note":
            notes.append(r["text"])

    out = []
    p = out.append
    p("## idp vs node-oidc-provider")
    p("")
    for key, label in [
        ("machine", "machine"),
        ("versions", "versions"),
        ("settings", "settings"),
        ("loadavg_start", "load average at start (1/5/15 min)"),
        ("loadavg_end", "load average at end"),
        ("fsync_start", "disk (SQLite's directory) at start"),
        ("fsync_end", "disk at end"),
    ]:
        if key in meta:
            p(f"- {label}: {meta[key]}")
    p("")

    failures = []
    if wrk and not any(server == "node" for server, _ in wrk):
        p("| endpoint (idp) | req/s | p50 ms | p99 ms | non-2xx | socket errors |")
        p("|---|---:|---:|---:|---:|---:|")
        for key, label in ENDPOINTS:
            r = wrk.get(("idp", key))
            if r:
                p(f"| {label} | {fmt(r['rps'])} | {fmt(r['p50_ms'], 2)} | {fmt(r['p99_ms'], 2)} "
                  f"| {fmt(r['non2xx'])} | {fmt(r['socket_errors'])} |")
                if r["non2xx"] or r["socket_errors"] or not r["requests"]:
                    failures.append(f"idp {key}: {r['requests']} requests, {r['non2xx']} non-2xx, "
                                    f"{r['socket_errors']} socket errors")
        p("")
    elif wrk:
        p("| endpoint | idp req/s | node req/s | req/s ratio (≥ 5×) | idp p50 / p99 ms "
          "| node p50 / p99 ms | p99 ratio node/idp (≥ 5×) | idp non-2xx / socket err "
          "| node non-2xx / socket err | load (1 min) | noise: rustc seen, steal |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for key, label in ENDPOINTS:
            a = wrk.get(("idp", key))
            b = wrk.get(("node", key))
            if not a and not b:
                continue
            for name, r in (("idp", a), ("node", b)):
                if r and (r["non2xx"] or r["socket_errors"] or not r["requests"]):
                    failures.append(f"{name} {key}: {r['requests']} requests, "
                                    f"{r['non2xx']} non-2xx, {r['socket_errors']} socket errors")
            rps_ratio = ratio(a and a["rps"], b and b["rps"])
            p99_ratio = ratio(b and b["p99_ms"], a and a["p99_ms"])
            loads = " / ".join(fmt(r.get("load1"), 2) for r in (a, b) if r)
            rustc = " / ".join(f"{fmt(r.get('rustc'))}, {fmt(r.get('steal'))} %" for r in (a, b) if r)
            p(f"| {label} | {fmt(a and a['rps'])} | {fmt(b and b['rps'])} "
              f"| {mark(rps_ratio, 5)} "
              f"| {fmt(a and a['p50_ms'], 2)} / {fmt(a and a['p99_ms'], 2)} "
              f"| {fmt(b and b['p50_ms'], 2)} / {fmt(b and b['p99_ms'], 2)} "
              f"| {mark(p99_ratio, 5)} "
              f"| {fmt(a and a['non2xx'])} / {fmt(a and a['socket_errors'])} "
              f"| {fmt(b and b['non2xx'])} / {fmt(b and b['socket_errors'])} | {loads} | {rustc} |")
        p("")

    def mib(server, name):
        v = metrics.get((server, name))
        return None if v is None else v / 1024

    rows = [
        ("idle RSS (MiB, after start and the first request)", "rss_idle_kib", "≤ 15", mib, 15),
        ("… of which anonymous (heap, stacks)", "anon_idle_kib", "", mib, None),
        ("… of which file-backed (the binary's pages)", "file_idle_kib", "", mib, None),
        ("RSS after the load (MiB)", "rss_after_kib", "", mib, None),
        ("… of which anonymous", "anon_after_kib", "", mib, None),
        ("start → first discovery answer, new database (ms)", "start_cold_ms", "", None, None),
        ("start → first discovery answer, restart (ms)", "start_warm_ms", "≤ 40", None, 40),
    ]
    servers = [s for s in ("idp", "node", "idp-postgres") if any(k[0] == s for k in metrics)]
    if servers:
        names = {"idp": "idp (SQLite)", "node": "node-oidc-provider", "idp-postgres": "idp (PostgreSQL)"}
        p("| | " + " | ".join(names[s] for s in servers) + " | target (idp) |")
        p("|---|" + "---:|" * len(servers) + "---|")
        for label, name, target, conv, limit in rows:
            values = []
            for s in servers:
                v = conv(s, name) if conv else metrics.get((s, name))
                values.append(fmt(v))
            idp_value = (conv("idp", name) if conv else metrics.get(("idp", name)))
            verdict = ""
            if limit is not None and idp_value is not None:
                verdict = " ✓" if idp_value <= limit else " ✗"
            if all(v == "–" for v in values):
                continue
            p(f"| {label} | " + " | ".join(values) + f" | {target}{verdict if target else ''} |")
        p("")

    if signins:
        p("| whole sign-ins on idp (authorize → passkey → code → token) | sign-ins/s "
          "| p50 ms | p99 ms | errors | concurrent browsers |")
        p("|---|---:|---:|---:|---:|---:|")
        for r in signins:
            p(f"| {r['db']} | {fmt(r.get('per_second'))} | {fmt(r.get('p50_ms'), 1)} "
              f"| {fmt(r.get('p99_ms'), 1)} | {fmt(r.get('errors'))} | {fmt(r.get('workers'))} |")
            if r.get("errors") or not r.get("signins"):
                failures.append(f"sign-ins on {r['db']}: {r.get('signins')} done, "
                                f"{r.get('errors')} errors {r.get('first_errors', '')}")
        p("")

    if soak:
        p("| soak: seconds | idp RSS (MiB) |")
        p("|---:|---:|")
        for r in soak:
            p(f"| {r['t']} | {r['rss_kib'] / 1024:.1f} |")
        # After the first 30 s (warm-up: pools, caches, allocator arenas) RSS should stay flat.
        settled = [r for r in soak if r["t"] >= 30] or soak[-1:]
        p("")
        p(f"RSS {settled[0]['rss_kib'] / 1024:.1f} MiB at {settled[0]['t']} s, "
          f"{soak[-1]['rss_kib'] / 1024:.1f} MiB at the end ({soak[-1]['t']} s); maximum "
          f"{max(r['rss_kib'] for r in soak) / 1024:.1f} MiB.")
        p("")

    for n in notes:
        p(f"- {n}")
    if failures:
        p("")
        p("**Errors:**")
        for f in failures:
            p(f"- {f}")
    print("\n".join(out))
    if strict and failures:
        sys.exit(2)


if __name__ == "__main__":
    main()
