#!/usr/bin/env python3
"""The HTTP, evidence and start-up figures of BENCHMARKS.md, measured side by side in one run.

Run through `benches/run.sh`, which builds the release binaries, installs wrk and the peer's packages, and
passes the paths here. Steps:

1. `bench-prepare` makes a data dir: the real ATT&CK v18.1 Enterprise catalogue and synthetic volume
   (100k tests, 10k evidence rows, 1M audit rows by default).
2. Aegis (the release binary) serves it; the ceiling server (`bench-ceiling`: the same poem stack answering
   with the precomputed bodies Aegis returned) and the FastAPI peer (benches/peer) run beside it.
3. wrk measures every endpoint at 1, 16 and 64 connections, RUNS times, rotating between Aegis, the
   ceiling and the peer so each comparison shares the machine's state; the tables show medians.
4. Evidence: a 1 GiB upload and download over loopback next to `sha256sum` and `cat` of the same file,
   with the server's peak RSS before and after.
5. Start-up: empty data dir to the first 200 (seeding included), warm start, idle RSS, binary sizes.

Standard library only; results go to <out>/results.json and <out>/results.md.
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LUA = ROOT / "benches" / "http" / "request.lua"
CONNECTIONS = [1, 16, 64]
GIB = 1024 * 1024 * 1024


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid, field):
    """A /proc/<pid>/status figure in MiB (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def http(method, url, token=None, body=None, content_type=None, timeout=60):
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if content_type:
        headers["Content-Type"] = content_type
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def wait_for_200(url, deadline_seconds=60.0, poll=0.002, any_status=False):
    """Seconds until `url` first answers 200 (or anything, with `any_status`), polling every `poll` s."""
    started = time.perf_counter()
    while time.perf_counter() - started < deadline_seconds:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except urllib.error.HTTPError:
            if any_status:
                return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(poll)
    raise RuntimeError(f"{url} did not answer 200 within {deadline_seconds} s")


class Server:
    """A child process serving HTTP on a loopback port, stopped with SIGTERM."""

    log_dir = Path("/tmp")  # set to the scratch dir by main()

    def __init__(self, name, argv, env=None, cwd=None, log_dir=None):
        self.name = name
        # Logs go to a file: a pipe nobody reads fills up and stalls the server.
        self.log_path = Path(log_dir or Server.log_dir) / f"{name}.log"
        self.argv = argv
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.process = None

    def start(self, health_url, any_status=False):
        self.started_at = time.perf_counter()
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=self.cwd, stdout=subprocess.DEVNULL, stderr=self.log
        )
        try:
            self.ready_after = wait_for_200(health_url, any_status=any_status)
        except RuntimeError:
            self.process.kill()
            self.process.wait()
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} did not start: {tail}")
        return self.ready_after

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process:
            self.log.close()


def aegis_env(data_dir, port, extra=None):
    env = {
        "AEGIS_DATA_DIR": str(data_dir),
        "AEGIS_BIND": f"127.0.0.1:{port}",
        "AEGIS_ADMIN_PASSWORD": "bench-admin-password-123",
        "AEGIS_INTEL_FEEDS": "",
        "AEGIS_MAX_UPLOAD_MB": "2048",
        "RUST_LOG": os.environ.get("RUST_LOG", "info"),
    }
    env.update(extra or {})
    return env


def run_wrk(url, connections, seconds, env):
    threads = min(2, connections)
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA), url]
    out = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("{"))
    result = json.loads(line)
    errors = result["connect_errors"] + result["read_errors"] + result["write_errors"] + result["timeouts"]
    seconds_run = result["duration_us"] / 1e6
    ok = result["requests"] - result["non_2xx"]
    return {
        "rps": ok / seconds_run,
        "all_rps": result["requests"] / seconds_run,
        "p50_ms": result["p50_us"] / 1000,
        "p90_ms": result["p90_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "non_2xx": result["non_2xx"],
        "socket_errors": errors,
        "bytes_per_request": result["bytes"] / max(result["requests"], 1),
    }


def median_of(runs):
    keys = ["rps", "all_rps", "p50_ms", "p90_ms", "p99_ms", "bytes_per_request"]
    summary = {key: statistics.median(run[key] for run in runs) for key in keys}
    summary["non_2xx"] = sum(run["non_2xx"] for run in runs)
    summary["socket_errors"] = sum(run["socket_errors"] for run in runs)
    summary["runs"] = len(runs)
    return summary


def login(base, username, password):
    status, body = http(
        "POST",
        f"{base}/api/v1/auth/login",
        body=urllib.parse.urlencode({"username": username, "password": password}),
        content_type="application/x-www-form-urlencoded",
    )
    if status != 200:
        raise RuntimeError(f"login as {username}: {status} {body[:300]!r}")
    return json.loads(body)["access_token"]


def pick_fixtures(database):
    """Ids and filter values that make the measured requests realistic, read from the prepared data."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        # A technique with a typical number of tests (the median of those that have any).
        counts = conn.execute(
            "SELECT mitre_id, test_count FROM techniques WHERE test_count > 0 ORDER BY test_count"
        ).fetchall()
        technique_mitre_id, technique_tests = counts[len(counts) // 2]
        technique_uuid = conn.execute("SELECT id FROM techniques WHERE mitre_id = ?", (technique_mitre_id,)).fetchone()[0]
        # A test with evidence.
        test_id = conn.execute("SELECT test_id FROM evidence ORDER BY test_id LIMIT 1").fetchone()[0]
        # An action of about a tenth of the log: a filter that still leaves a long list.
        total = conn.execute("SELECT MAX(seq) FROM audit_logs").fetchone()[0]
        actions = conn.execute("SELECT action, COUNT(*) FROM audit_logs GROUP BY action").fetchall()
        action, action_count = min(actions, key=lambda pair: abs(pair[1] - total / 10))
        tactic = "defense-evasion"
        return {
            "technique_mitre_id": technique_mitre_id,
            "technique_tests": technique_tests,
            "technique_uuid": technique_uuid,
            "test_id": test_id,
            "audit_rows": total,
            "audit_action": action,
            "audit_action_rows": action_count,
            "tactic": tactic,
        }
    finally:
        conn.close()


def endpoints(fixtures):
    """(name, what, method, path, role, body, content type, has ceiling, peer path)"""
    f = fixtures
    deep = max(f["audit_rows"] - 1000, 0)
    action_deep = max(f["audit_action_rows"] // 2, 0)
    test_body = json.dumps(
        {
            "technique_id": f["technique_uuid"],
            "name": "Benchmark test",
            "description": "Created by the HTTP benchmark",
            "platform": "windows",
            "procedure_text": "Run the atomic test, collect the EDR alert",
            "tool_used": "Atomic Red Team",
        }
    )
    techniques_filtered = f"/api/v1/techniques?tactic={f['tactic']}&status=in_progress"
    return [
        ("techniques_all", "GET /techniques (all)", "GET", "/api/v1/techniques", "viewer", None, None, True,
         "/api/v1/techniques"),
        ("techniques_filtered", f"GET /techniques?tactic={f['tactic']}&status=in_progress", "GET",
         techniques_filtered, "viewer", None, None, True, techniques_filtered),
        ("technique", f"GET /techniques/{f['technique_mitre_id']} ({f['technique_tests']} tests)", "GET",
         f"/api/v1/techniques/{f['technique_mitre_id']}", "viewer", None, None, True, None),
        ("metrics_summary", "GET /metrics/summary", "GET", "/api/v1/metrics/summary", "viewer", None, None, True,
         None),
        ("metrics_by_tactic", "GET /metrics/by-tactic", "GET", "/api/v1/metrics/by-tactic", "viewer", None, None,
         True, "/api/v1/metrics/by-tactic"),
        ("audit_first_page", "GET /audit-logs (newest 50)", "GET", "/api/v1/audit-logs?limit=50", "admin", None,
         None, True, None),
        ("audit_filtered", f"GET /audit-logs?action={f['audit_action']} (first page)", "GET",
         f"/api/v1/audit-logs?action={f['audit_action']}&limit=50", "admin", None, None, True, None),
        ("audit_filtered_deep", f"GET /audit-logs?action={f['audit_action']}&offset={action_deep}", "GET",
         f"/api/v1/audit-logs?action={f['audit_action']}&offset={action_deep}&limit=50", "admin", None, None,
         True, None),
        ("audit_deep", f"GET /audit-logs?offset={deep} (deepest pages of {f['audit_rows']:,} rows)", "GET",
         f"/api/v1/audit-logs?offset={deep}&limit=50", "admin", None, None, True, None),
        ("test", "GET /tests/{id} (with evidence)", "GET", f"/api/v1/tests/{f['test_id']}", "viewer", None, None,
         True, None),
        ("tests_create", "POST /tests", "POST", "/api/v1/tests", "red_tech", test_body, "application/json", False,
         None),
        ("login", "POST /auth/login (Argon2id; 28 accounts in turn)", "POST", "/api/v1/auth/login", None,
         "\n".join(f"username={user['username']}&password=bench-password-123" for user in f["users"]),
         "application/x-www-form-urlencoded", False, None),
    ]


def http_phase(args, work, prepared):
    data_dir = work / "data"
    fixtures = pick_fixtures(data_dir / "aegis.db")
    fixtures["users"] = prepared["users"]
    log(f"fixtures: { {key: value for key, value in fixtures.items() if key != 'users'} }")
    port, ceiling_port, peer_port = free_port(), free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    aegis = Server("aegis", [args.aegis, "serve"], aegis_env(data_dir, port))
    aegis.start(f"{base}/api/v1/health")
    servers = [aegis]
    try:
        password = prepared["password"]
        tokens = {role: login(base, f"{role}_1", password) for role in ["viewer", "admin", "red_tech"]}
        only = [name for name in os.environ.get("BENCH_ENDPOINTS", "").split(",") if name]
        table = [row for row in endpoints(fixtures) if not only or row[0] in only]

        bodies = work / "bodies"
        bodies.mkdir(exist_ok=True)
        for name, _, method, path, role, body, ctype, has_ceiling, _ in table:
            if has_ceiling:
                status, payload = http(method, base + path, tokens[role])
                if status != 200:
                    raise RuntimeError(f"{name}: {status} {payload[:300]!r}")
                (bodies / f"{name}.json").write_bytes(payload)
        ceiling_base = f"http://127.0.0.1:{ceiling_port}"
        ceiling = Server("ceiling", [args.ceiling, f"127.0.0.1:{ceiling_port}", str(bodies)])
        ceiling.start(f"{ceiling_base}/ceiling/none", any_status=True)  # 404: it is up
        servers.append(ceiling)

        peer_base = None
        if args.peer_python:
            peer_base = f"http://127.0.0.1:{peer_port}"
            peer = Server(
                "peer",
                [args.peer_python, "-m", "uvicorn", "app:app", "--app-dir", str(ROOT / "benches" / "peer"),
                 "--host", "127.0.0.1", "--port", str(peer_port), "--workers", "2", "--no-access-log",
                 "--log-level", "warning"],
                env={"PEER_DATA_DIR": str(data_dir), "PYTHONDONTWRITEBYTECODE": "1"},
            )
            peer.start(f"{peer_base}/api/v1/techniques", any_status=True)  # 401 without a token: it is up
            servers.append(peer)
            subprocess.run(
                [args.peer_python, str(ROOT / "benches" / "peer" / "check_parity.py"), base, peer_base,
                 tokens["viewer"]],
                check=True,
            )

        results = {}
        for name, what, method, path, role, body, ctype, has_ceiling, peer_path in table:
            targets = [("aegis", base + path)]
            if has_ceiling:
                targets.append(("ceiling", f"{ceiling_base}/ceiling/{name}"))
            if peer_base and peer_path:
                targets.append(("peer", peer_base + peer_path))
            env = {"WRK_METHOD": method}
            if body and "\n" in body:
                env["WRK_BODIES"] = body
            elif body:
                env["WRK_BODY"] = body
            if ctype:
                env["WRK_CONTENT_TYPE"] = ctype
            if role:
                env["WRK_TOKEN"] = tokens[role]
            results[name] = {"what": what, "by_connections": {}}
            for connections in CONNECTIONS:
                runs = {target: [] for target, _ in targets}
                for target, url in targets:  # warm-up: caches, pools, connections
                    run_wrk(url, connections, 1, env)
                for _ in range(args.runs):
                    for target, url in targets:
                        runs[target].append(run_wrk(url, connections, args.seconds, env))
                summary = {target: median_of(target_runs) for target, target_runs in runs.items()}
                results[name]["by_connections"][connections] = summary
                line = "  ".join(
                    f"{target} {s['rps']:.0f} rps p50 {s['p50_ms']:.2f} p99 {s['p99_ms']:.2f} ms"
                    + (f" non-2xx {s['non_2xx']}" if s["non_2xx"] else "")
                    for target, s in summary.items()
                )
                log(f"{name} c={connections}: {line}")
        return {"fixtures": fixtures, "endpoints": results}
    finally:
        for server in reversed(servers):
            server.stop()


def timed(argv, runs, stdout=subprocess.DEVNULL):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=stdout)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def evidence_phase(args, work):
    data_dir = work / "data"
    big = work / "evidence-1gib.bin"
    if not big.exists() or big.stat().st_size != GIB:
        log("writing a 1 GiB file of random bytes")
        with open(big, "wb") as out:
            for _ in range(GIB // (16 * 1024 * 1024)):
                out.write(os.urandom(16 * 1024 * 1024))
    size_mb = GIB / 1e6
    sha256sum_s = timed(["sha256sum", str(big)], args.runs)
    cat_s = timed(["sh", "-c", f"cat '{big}' > /dev/null"], args.runs)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    aegis = Server("aegis", [args.aegis, "serve"], aegis_env(data_dir, port))
    aegis.start(f"{base}/api/v1/health")
    try:
        conn = sqlite3.connect(f"file:{data_dir / 'aegis.db'}?mode=ro", uri=True)
        test_id = conn.execute("SELECT id FROM tests WHERE state = 'draft' LIMIT 1").fetchone()[0]
        conn.close()
        token = login(base, "red_tech_1", "bench-password-123")
        time.sleep(1)
        rss_before = proc_status(aegis.pid, "VmRSS")
        hwm_before = proc_status(aegis.pid, "VmHWM")
        uploads, downloads = [], []
        for run in range(args.runs):
            started = time.perf_counter()
            out = subprocess.run(
                ["curl", "-sS", "--fail-with-body", "-H", f"Authorization: Bearer {token}", "-F",
                 f"file=@{big};filename=memory-{run}.dmp", f"{base}/api/v1/tests/{test_id}/evidence"],
                check=True, capture_output=True,
            ).stdout
            uploads.append(time.perf_counter() - started)
            evidence = json.loads(out)
            started = time.perf_counter()
            subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", evidence["download_url"]], check=True)
            downloads.append(time.perf_counter() - started)
        hwm_after = proc_status(aegis.pid, "VmHWM")
        rss_after = proc_status(aegis.pid, "VmRSS")
    finally:
        aegis.stop()
    upload_s, download_s = statistics.median(uploads), statistics.median(downloads)
    return {
        "size_bytes": GIB,
        "sha256sum_mb_s": size_mb / sha256sum_s,
        "cat_mb_s": size_mb / cat_s,
        "upload_mb_s": size_mb / upload_s,
        "download_mb_s": size_mb / download_s,
        "upload_vs_sha256sum": sha256sum_s / upload_s,
        "download_vs_cat": cat_s / download_s,
        "rss_before_mib": rss_before,
        "hwm_before_mib": hwm_before,
        "hwm_after_mib": hwm_after,
        "rss_after_mib": rss_after,
        "peak_growth_mib": hwm_after - hwm_before,
    }


def start_and_idle(args, env, port):
    """Starts Aegis: seconds to the first 200, and its RSS (MiB) a second later, idle."""
    server = Server("aegis", [args.aegis, "serve"], env)
    try:
        seconds = server.start(f"http://127.0.0.1:{port}/api/v1/health")
        time.sleep(1)
        return seconds, proc_status(server.pid, "VmRSS")
    finally:
        server.stop()


def startup_phase(args, work):
    cold, warm, idle_cold, idle_warm = [], [], [], []
    for run in range(args.runs):
        data_dir = work / f"startup-{run}"
        shutil.rmtree(data_dir, ignore_errors=True)
        port = free_port()
        env = aegis_env(data_dir, port, {"AEGIS_MITRE_SOURCE": str(args.bundle), "RUST_LOG": "warn"})
        for starts, idles in [(cold, idle_cold), (warm, idle_warm)]:  # an empty data dir, then the same again
            seconds, rss = start_and_idle(args, env, port)
            starts.append(seconds)
            idles.append(rss)
        shutil.rmtree(data_dir, ignore_errors=True)
    sizes = {}
    for label, path in [("release", args.aegis), ("dist", args.dist)]:
        if path and Path(path).exists():
            sizes[label] = Path(path).stat().st_size
    return {
        "cold_ms": statistics.median(cold) * 1000,
        "warm_ms": statistics.median(warm) * 1000,
        "idle_rss_after_cold_mib": statistics.median(idle_cold),
        "idle_rss_after_warm_mib": statistics.median(idle_warm),
        "binary_bytes": sizes,
    }


def machine():
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "rustc": subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip(),
        "wrk": wrk_version.strip(),
        "python": platform.python_version(),
    }


def markdown(results):
    lines = []
    m = results["machine"]
    lines.append(f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}, "
                 f"{m['rustc']}, {m['wrk']}. Medians of {results['runs']} runs of {results['seconds']} s each.")
    p = results["prepared"]
    lines.append("")
    lines.append(f"Data: {p['techniques_new']} techniques (ATT&CK v18.1 Enterprise), {p['tests']:,} tests, "
                 f"{p['evidence']:,} evidence rows, {p['audit']:,} audit rows; database "
                 f"{p['database_bytes'] / 1e6:.0f} MB, prepared in {p['catalogue_seconds'] + p['volume_seconds']:.1f} s.")
    http_results = results.get("http")
    if http_results:
        lines += ["", "| endpoint | conns | Aegis req/s | p50 ms | p99 ms | ceiling req/s | Aegis/ceiling | "
                  "peer req/s | peer p99 ms | Aegis/peer req/s | peer/Aegis p99 |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for name, endpoint in http_results["endpoints"].items():
            for connections, summary in endpoint["by_connections"].items():
                a = summary["aegis"]
                c = summary.get("ceiling")
                peer = summary.get("peer")
                cells = [endpoint["what"], str(connections), f"{a['rps']:,.0f}", f"{a['p50_ms']:.2f}",
                         f"{a['p99_ms']:.2f}"]
                cells += [f"{c['rps']:,.0f}", f"{a['rps'] / c['rps']:.0%}"] if c else ["–", "–"]
                if peer:
                    cells += [f"{peer['rps']:,.0f}", f"{peer['p99_ms']:.2f}", f"{a['rps'] / peer['rps']:.1f}×",
                              f"{peer['p99_ms'] / a['p99_ms']:.1f}×"]
                else:
                    cells += ["–"] * 4
                if a["non_2xx"]:
                    cells[2] += f" (+{a['non_2xx']:,} non-2xx)"
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines.append("Response sizes (bytes incl. headers): " + ", ".join(
            f"{name} {endpoint['by_connections'][CONNECTIONS[0]]['aegis']['bytes_per_request']:,.0f}"
            for name, endpoint in http_results["endpoints"].items()))
    e = results.get("evidence")
    if e:
        lines += ["", "| evidence, 1 GiB over loopback | MB/s | ratio |", "|---|---:|---:|",
                  f"| `sha256sum` of the file | {e['sha256sum_mb_s']:,.0f} | |",
                  f"| upload (`curl -F`, multipart, to stored blob + row) | {e['upload_mb_s']:,.0f} | "
                  f"{e['upload_vs_sha256sum']:.2f}× sha256sum |",
                  f"| `cat` of the file to /dev/null | {e['cat_mb_s']:,.0f} | |",
                  f"| download (signed link, `curl -o /dev/null`) | {e['download_mb_s']:,.0f} | "
                  f"{e['download_vs_cat']:.2f}× cat |",
                  "", f"Server RSS: {e['rss_before_mib']:.1f} MiB before (peak so far {e['hwm_before_mib']:.1f} MiB), "
                  f"peak after {e['hwm_after_mib']:.1f} MiB: growth {e['peak_growth_mib']:.1f} MiB; "
                  f"RSS after {e['rss_after_mib']:.1f} MiB."]
    s = results.get("startup")
    if s:
        sizes = ", ".join(f"{label} {size / 1e6:.1f} MB" for label, size in s["binary_bytes"].items())
        lines += ["", "| start-up | figure |", "|---|---:|",
                  f"| cold: empty data dir to first 200 (migrations, secret, admin, ATT&CK import) | {s['cold_ms']:.0f} ms |",
                  f"| warm: existing data dir to first 200 | {s['warm_ms']:.0f} ms |",
                  f"| idle RSS after a cold start | {s['idle_rss_after_cold_mib']:.1f} MiB |",
                  f"| idle RSS after a warm start | {s['idle_rss_after_warm_mib']:.1f} MiB |",
                  f"| binary size | {sizes} |"]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aegis", required=True, help="the release aegis binary")
    parser.add_argument("--dist", help="the dist-profile aegis binary (size only)")
    parser.add_argument("--prepare", required=True, help="the bench-prepare binary")
    parser.add_argument("--ceiling", required=True, help="the bench-ceiling binary")
    parser.add_argument("--peer-python", help="python with the peer's packages (omit to skip the peer)")
    parser.add_argument("--bundle", required=True, type=Path, help="the ATT&CK Enterprise bundle")
    parser.add_argument("--work", required=True, type=Path, help="scratch dir (needs ~4 GB free)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--volume", default="100000,10000,1000000", help="tests,evidence,audit")
    parser.add_argument("--phases", default="http,evidence,startup")
    args = parser.parse_args()

    phases = args.phases.split(",")
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)
    args.out.mkdir(parents=True, exist_ok=True)
    Server.log_dir = args.work
    results = {"machine": machine(), "runs": args.runs, "seconds": args.seconds}
    log("preparing the data dir")
    prepared = json.loads(subprocess.run(
        [args.prepare, str(args.work / "data"), str(args.bundle), *args.volume.split(",")],
        check=True, capture_output=True, text=True,
    ).stdout)
    results["prepared"] = prepared
    log(f"prepared: {prepared}")
    if "http" in phases:
        results["http"] = http_phase(args, args.work, prepared)
    if "evidence" in phases:
        results["evidence"] = evidence_phase(args, args.work)
    if "startup" in phases:
        results["startup"] = startup_phase(args, args.work)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    report = markdown(results)
    (args.out / "results.md").write_text(report)
    print(report)
    if not os.environ.get("BENCH_KEEP_WORK"):
        shutil.rmtree(args.work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
