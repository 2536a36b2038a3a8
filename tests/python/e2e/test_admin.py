"""The admin listener (``mcpfwd --admin HOST:PORT``) and JSON log lines, end to end.

mcpfwd runs as the CLI with a real upstream (tests/servers/fastmcp_server.py); its clients
are the MCP Python SDK's (``Client(url, mode="legacy")``: session-era sessions) and raw HTTP
requests where a refusal is the point. ``/metrics`` is read with ``prometheus_client``'s own
parser, so the text is checked against the exposition format by an implementation of it, and
its values against the requests the test made.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from prometheus_client.parser import text_string_to_metric_families

from http_helpers import McpHttp, http_request, rpc, split_url, wait_until

HERE = Path(__file__).resolve().parent.parent  # tests/python
SERVER = [sys.executable, str(HERE.parent / "servers" / "fastmcp_server.py")]
ADMIN = ["--admin", "127.0.0.1:0"]

pytestmark = pytest.mark.timeout(120)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def admin_url(proxy) -> str:
    """The admin listener's URL: the second line mcpfwd prints on stdout."""
    line = proxy.read_line(10).decode().strip()
    assert line.startswith("http://127.0.0.1:"), line
    return line


def get(url: str, path: str, method: str = "GET", **headers: str):
    return http_request(url, method, headers=headers, path=path)


def scrape(admin: str, **headers: str) -> tuple[Samples, dict[str, str]]:
    """Every sample of /metrics by (name, labels), and each family's type."""
    r = get(admin, "/metrics", **headers)
    assert r.status == 200, r
    assert r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8", r
    samples: Samples = {}
    types: dict[str, str] = {}
    for fam in text_string_to_metric_families(r.body.decode("utf-8")):
        types[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in samples, f"duplicate sample {key}"
            samples[key] = s.value
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    assert key in samples, f"no sample {name}{labels}"
    return samples[key]


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def sdk_session(url: str, calls: int) -> None:
    """One session-era session: tools/list, `calls` tools/call, one request the server
    answers with a JSON-RPC error (prompts/get of an unknown prompt)."""
    async with Client(url, mode="legacy") as c:
        await c.list_tools()
        for i in range(calls):
            r = await c.call_tool("echo", {"text": f"hi {i}"})
            assert r.content[0].text == f"hi {i}"
        with pytest.raises(MCPError):
            await c.get_prompt("no-such-prompt", {})


# ------------------------------------------------------------------ /metrics


def test_metrics_count_what_real_clients_did(http_proxy):
    proxy = http_proxy(SERVER, *ADMIN)
    admin = admin_url(proxy)
    host, port, _ = split_url(proxy.url)

    anyio.run(sdk_session, proxy.url, 3)
    anyio.run(sdk_session, proxy.url, 2)
    # Refusals, each with its reason: a foreign Origin, an unknown session id.
    r = http_request(proxy.url, "POST", {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                     headers={"Origin": "http://evil.example", "Accept": "application/json"})
    assert r.status == 403
    r = http_request(proxy.url, "POST", {"jsonrpc": "2.0", "id": 1, "method": "ping"},
                     headers={"Mcp-Session-Id": "0" * 32,
                              "Accept": "application/json, text/event-stream"})
    assert r.status == 404

    # Both clients ended their sessions with DELETE; their servers exit.
    def ended() -> bool:
        s, _ = scrape(admin)
        return total(s, "mcpfwd_upstream_exits_total") == 2
    wait_until(ended, 15, what="both upstreams to have exited")
    s, types = scrape(admin)

    assert types["mcpfwd_requests"] == "counter"
    assert types["mcpfwd_request_duration_seconds"] == "histogram"
    assert types["mcpfwd_sessions"] == "gauge"
    assert value(s, "mcpfwd_sessions_opened_total", kind="streamable_http") == 2
    assert value(s, "mcpfwd_sessions_closed_total", reason="client_delete") == 2
    assert total(s, "mcpfwd_sessions_closed_total") == 2
    assert total(s, "mcpfwd_sessions") == 0
    assert value(s, "mcpfwd_upstream_spawns_total") == 2
    assert value(s, "mcpfwd_upstream_spawn_failures_total") == 0

    # Requests by method and outcome: exactly what the two clients sent.
    assert value(s, "mcpfwd_requests_total", method="initialize", outcome="ok") == 2
    assert value(s, "mcpfwd_requests_total", method="tools/list", outcome="ok") == 2
    assert value(s, "mcpfwd_requests_total", method="tools/call", outcome="ok") == 5
    assert value(s, "mcpfwd_requests_total", method="prompts/get", outcome="error") == 2
    assert total(s, "mcpfwd_requests_total") == 11
    assert total(s, "mcpfwd_requests_total", outcome="ok") == 9

    # The histograms: cumulative buckets, +Inf == _count == the requests of that method.
    for method, n in (("initialize", 2), ("tools/list", 2), ("tools/call", 5),
                      ("prompts/get", 2), ("ping", 0), ("other", 0)):
        buckets = sorted(((float(dict(ls)["le"]), v) for (name, ls), v in s.items()
                          if name == "mcpfwd_request_duration_seconds_bucket"
                          and dict(ls)["method"] == method), key=lambda b: b[0])
        assert len(buckets) == 16 and buckets[-1][0] == float("inf"), buckets
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), (method, buckets)
        assert counts[-1] == n
        assert value(s, "mcpfwd_request_duration_seconds_count", method=method) == n
        assert total(s, "mcpfwd_requests_total", method=method) == n
        sum_s = value(s, "mcpfwd_request_duration_seconds_sum", method=method)
        assert (sum_s > 0) == (n > 0) and sum_s < 60

    # The rejections, by the router's reasons (every reason present, zero or not).
    assert value(s, "mcpfwd_http_rejections_total", reason="origin") == 1
    assert value(s, "mcpfwd_http_rejections_total", reason="unknown_session") == 1
    assert value(s, "mcpfwd_http_rejections_total", reason="limit") == 0
    assert total(s, "mcpfwd_http_rejections_total") == 2

    # Messages and bytes each way: at least every request and its answer.
    assert value(s, "mcpfwd_messages_total", direction="client_to_server") >= 11
    assert value(s, "mcpfwd_messages_total", direction="server_to_client") >= 11
    assert value(s, "mcpfwd_message_bytes_total", direction="client_to_server") > 1000
    assert value(s, "mcpfwd_message_bytes_total", direction="server_to_client") > 1000
    assert value(s, "mcpfwd_dropped_messages_total") == 0
    assert value(s, "mcpfwd_log_lines_dropped_total") == 0
    assert value(s, "mcpfwd_build_info", version=value_label(s, "mcpfwd_build_info")) == 1

    # Bounded cardinality: no session id, no tool argument in any label.
    for (name, labels) in s:
        for k, v in labels:
            assert len(v) < 40 and "hi " not in v and k in {
                "state", "kind", "reason", "method", "outcome", "le", "direction", "status",
                "origin", "version"}, (name, k, v)


def test_metrics_of_a_remote_upstream_and_its_pool(fresh_upstreams, listen_proxy):
    srv = fresh_upstreams.fastmcp("streamable-http")
    proxy = listen_proxy("--upstream", srv.url, "--upstream-pool-max", "4", *ADMIN)
    admin = admin_url(proxy)
    anyio.run(sdk_session, proxy.url, 2)
    origin = f"http://127.0.0.1:{srv.port}"

    def ended() -> bool:
        s, _ = scrape(admin)
        return value(s, "mcpfwd_upstream_exits_total", status="remote") == 1
    wait_until(ended, 15, what="the remote session's end")
    s, types = scrape(admin)
    assert types["mcpfwd_upstream_pool_connections_created"] == "counter"
    assert types["mcpfwd_upstream_pool_connections"] == "gauge"
    created = value(s, "mcpfwd_upstream_pool_connections_created_total", origin=origin)
    reused = value(s, "mcpfwd_upstream_pool_connections_reused_total", origin=origin)
    # initialize, notifications/initialized, tools/list, 2 tools/call, prompts/get, DELETE:
    # each took a pooled connection, new or reused.
    assert 1 <= created <= 4 and created + reused >= 7, (created, reused)
    assert value(s, "mcpfwd_upstream_pool_max_connections", origin=origin) == 4
    assert value(s, "mcpfwd_upstream_pool_waiting", origin=origin) == 0
    assert value(s, "mcpfwd_upstream_spawns_total") == 0  # nothing spawned for a URL
    # The session's GET stream had its own connection, counted when opened (a counter:
    # the session has ended, its connection with it).
    assert types["mcpfwd_upstream_stream_connections"] == "counter"
    assert value(s, "mcpfwd_upstream_stream_connections_total") >= 1
    assert value(s, "mcpfwd_requests_total", method="tools/call", outcome="ok") == 2
    assert value(s, "mcpfwd_requests_total", method="prompts/get", outcome="error") == 1


def value_label(samples: Samples, name: str) -> str:
    (labels,) = [ls for (n, ls) in samples if n == name]
    return dict(labels)["version"]


def test_sessions_gauge_and_kill(http_proxy):
    proxy = http_proxy(SERVER, *ADMIN)
    admin = admin_url(proxy)
    a, b = McpHttp(proxy.url), McpHttp(proxy.url)
    a.initialize()
    b.initialize()
    s, _ = scrape(admin)
    assert value(s, "mcpfwd_sessions", state="ready", kind="streamable_http") == 2

    listed = get(admin, "/sessions")
    assert listed.status == 200 and listed.content_type == "application/json"
    assert {x["id"] for x in listed.json()} == {a.sid, b.sid}
    one = get(admin, f"/sessions/{a.sid}")
    assert one.status == 200 and one.json()["id"] == a.sid and one.json()["state"] == "ready"

    r = get(admin, f"/sessions/{a.sid}", "DELETE")
    assert r.status == 200, r
    # Its id stops routing at once; its client gets 404 (and would re-initialize).
    assert a.post(rpc("tools/list", None, 5)).status == 404
    assert "result" in b.call("tools/list")
    wait_until(lambda: get(admin, f"/sessions/{a.sid}").status == 404, 10,
               what="the killed session to leave the list")
    assert [x["id"] for x in get(admin, "/sessions").json()] == [b.sid]
    s, _ = scrape(admin)
    assert value(s, "mcpfwd_sessions_closed_total", reason="operator") == 1
    assert value(s, "mcpfwd_sessions", state="ready", kind="streamable_http") == 1

    for path, method in ((f"/sessions/{'f' * 32}", "DELETE"), (f"/sessions/{'f' * 32}", "GET"),
                         ("/sessions/x/y", "GET"), ("/nothing", "GET")):
        assert get(admin, path, method).status == 404, (path, method)
    r = get(admin, "/metrics", "POST")
    assert r.status == 405 and r.header("Allow") == "GET"
    assert get(admin, "/sessions", "DELETE").status == 405


# ---------------------------------------------------------------- /readyz


def test_readyz_at_the_session_limit(http_proxy):
    proxy = http_proxy(SERVER, *ADMIN, "--max-sessions", "1")
    admin = admin_url(proxy)
    assert get(admin, "/readyz").status == 200
    c = McpHttp(proxy.url)
    c.initialize()
    r = get(admin, "/readyz")
    assert r.status == 503 and b"session limit of 1" in r.body, r
    assert get(admin, "/healthz").status == 200
    # The limit is real: a second client is refused, and counted with its reason.
    refused = McpHttp(proxy.url).initialize(check=False)
    assert refused.status == 503
    s, _ = scrape(admin)
    assert value(s, "mcpfwd_http_rejections_total", reason="limit") == 1
    assert value(s, "mcpfwd_session_limit") == 1
    c.delete()
    wait_until(lambda: get(admin, "/readyz").status == 200, 10, what="readyz 200 again")


def test_readyz_503_while_draining_a_request_in_flight(http_proxy):
    proxy = http_proxy(SERVER, *ADMIN, "--drain-timeout-ms", "10000")
    admin = admin_url(proxy)

    # A raw client: an SDK client's own connections (its GET stream, its DELETE) would
    # meet the closed listener during the drain and fail its call as a whole.
    client = McpHttp(proxy.url)
    client.initialize()

    def slow_call() -> str:
        resp = client.call("tools/call", {"name": "progress",
                                          "arguments": {"steps": 4, "delay": 0.5}}, timeout=30)
        return resp["result"]["content"][0]["text"]

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(slow_call)
        wait_until(lambda: value(scrape(admin)[0], "mcpfwd_requests_in_flight") == 1, 15,
                   what="the tool call to be in flight")
        assert get(admin, "/readyz").status == 200
        proxy.proc.send_signal(signal.SIGTERM)
        wait_until(lambda: get(admin, "/readyz").status == 503, 5, what="readyz 503")
        r = get(admin, "/readyz")
        assert r.status == 503 and r.body == b"not ready: draining\n", r
        assert get(admin, "/healthz").status == 200
        s, _ = scrape(admin)
        assert value(s, "mcpfwd_draining") == 1
        assert value(s, "mcpfwd_requests_in_flight") == 1  # still: it has not finished
        # The MCP listener takes no new connection meanwhile; the request in flight finishes.
        with pytest.raises(ConnectionRefusedError):
            McpHttp(proxy.url).initialize(check=False)
        assert "4" in fut.result(30)
    assert proxy.proc.wait(20) == 0


# ------------------------------------------------------- token, Host, Origin


def test_admin_token(http_proxy):
    env = dict(os.environ, MCPFWD_T_ADMIN="adm1n-secret")
    proxy = http_proxy(SERVER, *ADMIN, "--admin-token-env", "MCPFWD_T_ADMIN", env=env)
    admin = admin_url(proxy)
    for path in ("/metrics", "/sessions", f"/sessions/{'a' * 32}"):
        r = get(admin, path)
        assert r.status == 401 and r.header("WWW-Authenticate") == "Bearer", (path, r)
        assert get(admin, path, Authorization="Bearer wrong").status == 401
        assert get(admin, path, Authorization="Basic adm1n-secret").status == 401
    assert get(admin, "/metrics", Authorization="Bearer adm1n-secret").status == 200
    assert get(admin, "/sessions", Authorization="bearer adm1n-secret").status == 200
    # The probes stay open: orchestrators call them without secrets.
    assert get(admin, "/healthz").status == 200 and get(admin, "/readyz").status == 200
    # The admin token is not the main listener's: the MCP endpoint needs none here.
    assert McpHttp(proxy.url).initialize(check=False).status == 200


def test_host_and_origin_checks_on_the_admin_port(http_proxy):
    proxy = http_proxy(SERVER, *ADMIN)
    admin = admin_url(proxy)
    _, aport, _ = split_url(admin + "/")
    _, mport, _ = split_url(proxy.url)
    assert get(admin, "/healthz", Host=f"localhost:{aport}").status == 200
    for host in ("evil.example", f"evil.example:{aport}", f"127.0.0.1:{mport}"):
        r = get(admin, "/healthz", Host=host)
        assert r.status == 421, (host, r)
        assert get(admin, "/metrics", Host=host).status == 421
    r = get(admin, "/sessions", Origin="http://evil.example")
    assert r.status == 403, r
    assert get(admin, "/sessions", Origin=f"http://localhost:{aport}").status == 200


def test_admin_needs_http_mode_and_admin_token_needs_admin(mcpfwd_bin, tmp_path):
    import subprocess
    r = subprocess.run([mcpfwd_bin, "--stdio", "--admin", "127.0.0.1:0", "--", "true"],
                       capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "--admin applies only to HTTP mode" in r.stderr, r.stderr
    r = subprocess.run([mcpfwd_bin, "--listen", "127.0.0.1:0", "--admin-token-env", "T", "--",
                        "true"], capture_output=True, text=True, timeout=10,
                       stdin=subprocess.DEVNULL, env=dict(os.environ, T="x"))
    assert r.returncode == 2 and "--admin-token needs --admin" in r.stderr, r.stderr


# ------------------------------------------------------------------ JSON logs


def json_lines(proxy) -> list[dict[str, Any]]:
    out = []
    for line in proxy.stderr_lines():
        obj = json.loads(line)  # every line, the server's included, is one JSON object
        assert isinstance(obj, dict), line
        assert {"time", "level", "source", "msg"} <= obj.keys(), obj
        assert obj["time"].endswith("Z") and obj["level"] in {"trace", "debug", "info", "warn",
                                                             "error"}
        out.append(obj)
    return out


def test_log_format_json(http_proxy):
    proxy = http_proxy(SERVER, *ADMIN, "--log-format", "json", "--log-level", "debug")
    admin = admin_url(proxy)

    async def one() -> None:
        async with Client(proxy.url, mode="legacy") as c:
            await c.call_tool("stderr_spam", {"lines": 3})
    anyio.run(one)
    wait_until(lambda: any(o.get("event") == "session_closed" for o in json_lines(proxy)), 10,
               what="the session_closed line")
    proxy.proc.send_signal(signal.SIGUSR1)
    wait_until(lambda: any(o.get("event") == "status" for o in json_lines(proxy)), 10,
               what="the status line")
    logs = json_lines(proxy)
    events = {o.get("event"): o for o in logs if "event" in o}
    assert events["listening"]["fields"]["url"] == proxy.url
    assert events["admin_listening"]["fields"]["url"] == admin
    opened, closed = events["session_opened"], events["session_closed"]
    sid = opened["session"]
    assert len(sid) == 32 and opened["fields"] == {"kind": "streamable_http"}
    assert closed["session"] == sid and closed["fields"]["reason"] == "client_delete"
    assert closed["fields"]["session"]["id"] == sid
    assert closed["fields"]["session"]["client_to_server"]["messages"] >= 3
    # The server's stderr lines name their session too.
    server = [o for o in logs if o["source"] == "server"]
    assert server and all(o.get("session") == sid for o in server), server
    assert isinstance(events["status"]["fields"]["sessions"], list)


# ------------------------------------------------------- the Python package


@pytest.mark.inprocess
def test_python_proxy_metrics_and_admin_url():
    import mcpfwd
    with mcpfwd.Proxy(upstream=SERVER, listen=("127.0.0.1", 0), admin=("127.0.0.1", 0),
                      log_format="json", log_level="warn") as p:
        anyio.run(sdk_session, p.url, 1)
        assert p.admin_url.startswith("http://127.0.0.1:") and p.admin_url != p.url
        families = {f.name: f for f in text_string_to_metric_families(p.metrics())}
        ok = {s.labels["method"]: s.value for s in families["mcpfwd_requests"].samples
              if s.name == "mcpfwd_requests_total" and s.labels["outcome"] == "ok"}
        assert ok["initialize"] == 1 and ok["tools/call"] == 1 and ok["tools/list"] == 1
        # The admin listener serves the same families.
        served, _ = scrape(p.admin_url)
        assert {n for n, _ in served} >= {s.name for f in families.values() for s in f.samples}
    with pytest.raises(TypeError):
        mcpfwd.Proxy(upstream=SERVER, listen=("127.0.0.1", 0), admin=9464)
    with pytest.raises(mcpfwd.InvalidArgumentError, match="admin"):
        mcpfwd.Proxy(upstream=SERVER, stdio=(0, 1), admin=("127.0.0.1", 0))
