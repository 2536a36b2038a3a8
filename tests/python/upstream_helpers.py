"""Helpers for the remote-upstream tests (``mcpfwd ... --upstream URL``).

``UpstreamServer``   an upstream MCP server process with its URL: the MCPServer
                     test server over HTTP (tests/servers/fastmcp_http_server.py,
                     with its ``ACCESS`` log parsed) or server-everything in
                     ``streamableHttp`` / ``sse`` mode (bound to 127.0.0.1 on an
                     ephemeral port by tests/servers/node_listen_localhost.cjs).
``ServerPool``       starts those on demand, shares identical ones within a
                     module, stops them all at teardown.
``make_pki``         a throwaway CA, a server certificate for localhost and
                     127.0.0.1, one for another name, and an unrelated CA.
``RawUpstream``      a hand-written Streamable HTTP MCP server (JSON answers) on
                     threads of the test process, recording every request
                     (headers included) and misbehaving on demand: HTTP 500 or
                     4xx, an answer that never comes or comes late, an expired
                     session (404), a port that refuses connections.
``TcpSampler``       samples /proc/net/tcp for the TCP connections made to a
                     port, independently of mcpfwd.
``sdk_session``      an MCP Python SDK client session over stdio, Streamable
                     HTTP or legacy SSE, with sampling and logging callbacks.
                     It is the SDK's ``ClientSession`` with its ``initialize``
                     handshake: the session era (what ``Client(mode="legacy")``
                     does), the one mcpfwd forwards.
``http_streams``     the SDK's Streamable HTTP client transport with the
                     session id the server assigned (``get_sid()``).
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, TypeVar

import anyio
import mcp.types as types
from mcp.shared.exceptions import MCPError
from conftest import EVERYTHING_JS, SERVERS_DIR, ProxyProcess, assert_no_sanitizer_report

HTTP_SERVER = SERVERS_DIR / "fastmcp_http_server.py"
NODE_PRELOAD = SERVERS_DIR / "node_listen_localhost.cjs"

SERVER_URL_RX = re.compile(r"^https?://127\.0\.0\.1:(\d+)/(mcp|sse)$")

T = TypeVar("T")


# --------------------------------------------------------------------------
# upstream server processes


class UpstreamServer(ProxyProcess):
    """An upstream server process (stdout/stderr read on threads) and its endpoint URL."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        super().__init__(argv, env=env)
        self.url = ""

    @property
    def port(self) -> int:
        port = urllib.parse.urlsplit(self.url).port
        assert port is not None, self.url
        return port

    def url_with_host(self, host: str) -> str:
        """The URL with another host name (e.g. ``localhost``), same port and path."""
        u = urllib.parse.urlsplit(self.url)
        return urllib.parse.urlunsplit((u.scheme, f"{host}:{u.port}", u.path, u.query, ""))

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; pipes closed, process reaped."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        self.cleanup()

    # ---- fastmcp_http_server.py's stderr records
    def _records(self, prefix: str) -> list[dict[str, Any]]:
        out = []
        for ln in self.stderr_lines():
            if ln.startswith(prefix + " "):
                out.append(json.loads(ln[len(prefix) + 1:]))
        return out

    def access_events(self) -> list[dict[str, Any]]:
        return self._records("ACCESS")

    def requests(self) -> list[dict[str, Any]]:
        """One dict per HTTP request: begin fields plus status/resp_sid/ctype/endpoint,
        rpc/rpc_id/tool (the POST body's), t_begin, t_start and t_end (None while not
        reached)."""
        by_rid: dict[int, dict[str, Any]] = {}
        for ev in self.access_events():
            r = by_rid.setdefault(ev["rid"], {"t_begin": None, "t_start": None, "t_end": None,
                                              "status": None, "resp_sid": None, "ctype": None,
                                              "endpoint": None, "rpc": None, "rpc_id": None,
                                              "tool": None})
            for k in ("rid", "method", "path", "query", "port", "sid"):
                r[k] = ev[k]
            if ev["ev"] == "begin":
                r["t_begin"] = ev["t"]
            elif ev["ev"] == "start":
                r["t_start"] = ev["t"]
                r["status"], r["resp_sid"], r["ctype"] = ev["status"], ev["resp_sid"], ev["ctype"]
            elif ev["ev"] == "end":
                r["t_end"] = ev["t"]
            elif ev["ev"] == "endpoint":
                r["endpoint"] = ev["endpoint"]
            elif ev["ev"] == "body":
                r["rpc"], r["rpc_id"], r["tool"] = ev["rpc"], ev["rpc_id"], ev["tool"]
        return [by_rid[k] for k in sorted(by_rid)]

    def wait_request(self, pred: Callable[[dict[str, Any]], bool], timeout: float = 10.0,
                     what: str = "a request") -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            for r in self.requests():
                if pred(r):
                    return r
            if time.monotonic() > deadline:
                raise AssertionError(f"upstream never saw {what} within {timeout}s; requests:\n"
                                     + "\n".join(map(str, self.requests()[-30:])))
            time.sleep(0.03)

    def sni_names(self) -> list[str | None]:
        return [r["name"] for r in self._records("SNI")]

    def sse_session_request(self, session_id: str) -> dict[str, Any]:
        """The GET /sse request of the legacy session ``session_id``."""
        return self.wait_request(lambda r: r["endpoint"] is not None
                                 and f"session_id={session_id}" in r["endpoint"],
                                 what=f"the SSE stream of session {session_id}")


def start_fastmcp_http(transport: str = "streamable-http", *options: str,
                       timeout: float = 30.0) -> UpstreamServer:
    """tests/servers/fastmcp_http_server.py --transport TRANSPORT OPTIONS, URL read from stdout."""
    srv = UpstreamServer([sys.executable, str(HTTP_SERVER), "--transport", transport, *options])
    try:
        line = srv.read_line(timeout).decode("utf-8", "replace").strip()
        assert SERVER_URL_RX.match(line), f"fastmcp_http_server printed {line!r}; stderr:\n" \
                                          f"{srv.stderr_tail()}"
        srv.url = line
    except BaseException:
        srv.cleanup()
        raise
    return srv


def start_everything(mode: str, timeout: float = 30.0) -> UpstreamServer:
    """server-everything in ``streamableHttp`` or ``sse`` mode on 127.0.0.1:<ephemeral>."""
    assert mode in ("streamableHttp", "sse"), mode
    node = shutil.which("node")
    assert node is not None, "node is not on PATH (needed for server-everything)"
    assert EVERYTHING_JS.is_file(), f"{EVERYTHING_JS} missing: run `npm ci` in tests/node"
    env = dict(os.environ, PORT="0")
    srv = UpstreamServer([node, "--require", str(NODE_PRELOAD), str(EVERYTHING_JS), mode], env=env)
    try:
        line = srv.wait_stderr(r"^mcpfwd-test: listening 127\.0\.0\.1 \d+$", timeout)
        port = int(line.split()[-1])
        srv.url = f"http://127.0.0.1:{port}/" + ("mcp" if mode == "streamableHttp" else "sse")
    except BaseException:
        srv.cleanup()
        raise
    return srv


class ServerPool:
    """Upstream servers started on demand; identical requests share one server."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, ...], UpstreamServer] = {}
        self._all: list[UpstreamServer] = []

    def fastmcp(self, transport: str = "streamable-http", *options: str,
                fresh: bool = False) -> UpstreamServer:
        key = ("fastmcp", transport, *options)
        if not fresh and key in self._cache and self._cache[key].proc.poll() is None:
            return self._cache[key]
        srv = start_fastmcp_http(transport, *options)
        self._all.append(srv)
        if not fresh:
            self._cache[key] = srv
        return srv

    def everything(self, mode: str, fresh: bool = False) -> UpstreamServer:
        key = ("everything", mode)
        if not fresh and key in self._cache and self._cache[key].proc.poll() is None:
            return self._cache[key]
        srv = start_everything(mode)
        self._all.append(srv)
        if not fresh:
            self._cache[key] = srv
        return srv

    def close(self) -> None:
        for srv in self._all:
            srv.stop()


# --------------------------------------------------------------------------
# certificates


@dataclass
class Pki:
    ca_file: Path               # the CA that signed cert_file and other_name_cert_file
    cert_file: Path             # server certificate for DNS:localhost and IP:127.0.0.1
    key_file: Path
    other_name_cert_file: Path  # signed by ca_file, valid for DNS:other-name.invalid only
    other_name_key_file: Path
    wrong_ca_file: Path         # an unrelated CA (signed none of the above)


def make_pki(directory: Path) -> Pki:
    """Generate the certificates of ``Pki`` in ``directory`` (P-256 keys, valid 1 day)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    not_before, not_after = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mcpfwd tests"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))

    def make_ca(cn: str, path: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(name(cn))
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=True,
                                             crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(ski, critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
                               critical=False)
                .sign(key, hashes.SHA256()))
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert, key

    def make_leaf(ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey,
                  sans: list[x509.GeneralName], cert_path: Path, key_path: Path) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        ca_ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        cert = (x509.CertificateBuilder().subject_name(name("mcpfwd test upstream"))
                .issuer_name(ca.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(not_before).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False,
                                             key_agreement=True, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        write_key(key, key_path)

    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(ca_file=directory / "ca.pem", cert_file=directory / "server.pem",
              key_file=directory / "server.key", other_name_cert_file=directory / "other.pem",
              other_name_key_file=directory / "other.key", wrong_ca_file=directory / "wrong-ca.pem")
    ca, ca_key = make_ca("mcpfwd test CA", pki.ca_file)
    make_ca("an unrelated CA", pki.wrong_ca_file)
    make_leaf(ca, ca_key, [x509.DNSName("localhost"),
                           x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
              pki.cert_file, pki.key_file)
    make_leaf(ca, ca_key, [x509.DNSName("other-name.invalid")],
              pki.other_name_cert_file, pki.other_name_key_file)
    return pki


# --------------------------------------------------------------------------
# a raw, recording, misbehaving upstream


@dataclass
class RawRequest:
    method: str
    path: str
    query: str
    headers: list[tuple[str, str]]
    body: bytes
    port: int  # the client's TCP source port: one per connection
    t: float

    def headers_named(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def header(self, name: str) -> str | None:
        vals = self.headers_named(name)
        return vals[0] if vals else None

    @property
    def sid(self) -> str | None:
        return self.header("Mcp-Session-Id")

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    @property
    def rpc_method(self) -> str | None:
        msg = self.json
        return msg.get("method") if isinstance(msg, dict) else None

    @property
    def tool(self) -> str | None:
        msg = self.json
        if isinstance(msg, dict) and msg.get("method") == "tools/call":
            return (msg.get("params") or {}).get("name")
        return None

    def __repr__(self) -> str:
        return (f"<{self.method} {self.path}{'?' + self.query if self.query else ''} "
                f"port={self.port} headers={self.headers!r} body={self.body[:200]!r}>")


RAW_TOOLS = [
    {"name": "echo", "description": "returns 'echo:<text>'",
     "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}},
    {"name": "whoami", "description": "returns this upstream session's id",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "status", "description": "answers the POST with HTTP <code> and a text/plain <body>",
     "inputSchema": {"type": "object", "properties": {"code": {"type": "integer"},
                                                      "body": {"type": "string"}}}},
    {"name": "hang", "description": "never answers",
     "inputSchema": {"type": "object", "properties": {}}},
    {"name": "late", "description": "answers 'late:<text>' after <seconds>",
     "inputSchema": {"type": "object", "properties": {"seconds": {"type": "number"},
                                                      "text": {"type": "string"}}}},
]


class _RawTcpServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    owner: RawUpstream


class _RawHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real upstream
    server: _RawTcpServer
    timeout = 120  # an idle keep-alive connection is not held forever

    def setup(self) -> None:
        super().setup()
        # like uvicorn and Node: no Nagle delay between the header and body writes
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base class name
        pass

    def do_POST(self) -> None:
        self.server.owner._dispatch(self)

    do_GET = do_POST
    do_DELETE = do_POST
    do_PUT = do_POST


class RawUpstream:
    """A minimal Streamable HTTP MCP server answering every POST with application/json.

    Sessions: ``initialize`` creates one (``Mcp-Session-Id`` = 32 hex digits);
    other POSTs need a live session id (else 400 without one, 404 for an
    unknown, expired or deleted one); notifications and responses get 202;
    GET gets ``get_status`` (default 405: no server stream); DELETE of a live
    session gets 200.  Tools: see ``RAW_TOOLS``.  Every request is recorded in
    ``requests`` before it is answered.
    """

    PROTOCOLS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")

    def __init__(self, get_status: int = 405, port: int = 0) -> None:
        self.get_status = get_status
        self.port = port
        self.requests: list[RawRequest] = []
        self.sessions: dict[str, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._server: _RawTcpServer | None = None
        self._thread: threading.Thread | None = None
        self.start_listening()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    # ---- lifecycle
    def start_listening(self) -> None:
        """Listen (again) on ``self.port`` (0 the first time: ephemeral)."""
        assert self._server is None
        srv = _RawTcpServer(("127.0.0.1", self.port), _RawHandler)
        srv.owner = self
        self.port = srv.server_address[1]
        self._server = srv
        self._thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def stop_listening(self, drop_connections: bool = True) -> None:
        """Close the listening socket (the port then refuses connections) and, by
        default, every open connection."""
        srv, self._server = self._server, None
        if srv is not None:
            srv.shutdown()
            srv.server_close()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if drop_connections:
            with self._cond:
                conns = list(self._conns)
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self._stopping.set()  # wakes up hanging / late handlers
        self.stop_listening()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._cond:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    # ---- test controls and queries
    def expire(self, sid: str) -> None:
        """From now on, requests of session ``sid`` get 404 (the session expired)."""
        with self._cond:
            self.sessions[sid]["expired"] = True

    def session_ids(self) -> list[str]:
        with self._cond:
            return list(self.sessions)

    def recorded(self) -> list[RawRequest]:
        with self._cond:
            return list(self.requests)

    def wait_for(self, pred: Callable[[RawRequest], bool], timeout: float = 10.0,
                 what: str = "a request") -> RawRequest:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for r in self.requests:
                    if pred(r):
                        return r
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"the raw upstream never received {what} within "
                                         f"{timeout}s; it received:\n"
                                         + "\n".join(map(repr, self.requests[-20:])))
                self._cond.wait(remaining)

    def wait_delete(self, sid: str, timeout: float = 10.0) -> RawRequest:
        return self.wait_for(lambda r: r.method == "DELETE" and r.sid == sid, timeout,
                             f"DELETE of upstream session {sid}")

    # ---- serving
    def _dispatch(self, h: _RawHandler) -> None:
        body = self._read_body(h)
        u = urllib.parse.urlsplit(h.path)
        req = RawRequest(h.command, u.path, u.query, list(h.headers.items()), body,
                         h.client_address[1], time.monotonic())
        with self._cond:
            self.requests.append(req)
            self._cond.notify_all()
        reply = self._reply(req)
        if reply is None:  # never answer; give up when the test ends
            self._stopping.wait(60)
            h.close_connection = True
            return
        delay, status, headers, payload = reply
        if delay:
            self._stopping.wait(delay)
        try:
            h.send_response(status)
            for k, v in headers:
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            h.wfile.flush()
        except OSError:
            h.close_connection = True

    @staticmethod
    def _read_body(h: _RawHandler) -> bytes:
        if "chunked" in (h.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(h.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(h.rfile.read(size))
                h.rfile.readline()
        n = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(n) if n else b""

    @staticmethod
    def _json(status: int, obj: Any, extra: list[tuple[str, str]] | None = None,
              delay: float = 0.0) -> tuple[float, int, list[tuple[str, str]], bytes]:
        return (delay, status, [("Content-Type", "application/json"), *(extra or [])],
                json.dumps(obj).encode("utf-8"))

    @staticmethod
    def _text(status: int, text: str) -> tuple[float, int, list[tuple[str, str]], bytes]:
        return (0.0, status, [("Content-Type", "text/plain")], text.encode("utf-8"))

    def _reply(self, req: RawRequest) -> tuple[float, int, list[tuple[str, str]], bytes] | None:
        if req.method == "GET":
            if self.get_status == 405:
                return (0.0, 405, [("Allow", "POST, DELETE")], b"")
            return self._text(self.get_status, "no GET stream here")
        if req.method == "DELETE":
            with self._cond:
                s = self.sessions.get(req.sid or "")
                if s is None or s["deleted"]:
                    return self._text(404, "unknown session")
                s["deleted"] = True
            return (0.0, 200, [], b"")
        if req.method != "POST":
            return (0.0, 405, [("Allow", "GET, POST, DELETE")], b"")
        msg = req.json
        if not isinstance(msg, dict):
            return self._text(400, "expected one JSON-RPC message")
        if msg.get("method") == "initialize":
            sid = uuid.uuid4().hex
            asked = (msg.get("params") or {}).get("protocolVersion")
            version = asked if asked in self.PROTOCOLS else "2025-06-18"
            with self._cond:
                self.sessions[sid] = {"expired": False, "deleted": False, "protocol": version}
            return self._json(200, {"jsonrpc": "2.0", "id": msg.get("id"), "result": {
                "protocolVersion": version, "capabilities": {"tools": {}},
                "serverInfo": {"name": "raw-upstream", "version": "0"}}},
                [("Mcp-Session-Id", sid)])
        if req.sid is None:
            return self._text(400, "Mcp-Session-Id required")
        with self._cond:
            s = self.sessions.get(req.sid)
            if s is None or s["expired"] or s["deleted"]:
                return self._text(404, "session not found")
        if "method" not in msg or "id" not in msg:
            return (0.0, 202, [], b"")  # a notification or a response
        mid, method = msg["id"], msg["method"]
        params = msg.get("params") or {}

        def result(text: str, delay: float = 0.0) -> Any:
            return self._json(200, {"jsonrpc": "2.0", "id": mid, "result": {
                "content": [{"type": "text", "text": text}], "isError": False}}, delay=delay)

        if method == "ping":
            return self._json(200, {"jsonrpc": "2.0", "id": mid, "result": {}})
        if method == "tools/list":
            return self._json(200, {"jsonrpc": "2.0", "id": mid, "result": {"tools": RAW_TOOLS}})
        if method == "tools/call":
            name, args = params.get("name"), params.get("arguments") or {}
            if name == "echo":
                return result(f"echo:{args.get('text', '')}")
            if name == "whoami":
                return result(req.sid)
            if name == "status":
                return self._text(int(args["code"]), str(args.get("body", "")))
            if name == "hang":
                return None
            if name == "late":
                return result(f"late:{args.get('text', '')}", delay=float(args["seconds"]))
            return self._json(200, {"jsonrpc": "2.0", "id": mid,
                                    "error": {"code": -32602, "message": f"unknown tool {name}"}})
        return self._json(200, {"jsonrpc": "2.0", "id": mid,
                                "error": {"code": -32601, "message": f"no method {method}"}})


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# --------------------------------------------------------------------------
# counting TCP connections from outside mcpfwd


def established_peers(port: int) -> frozenset[int]:
    """Client ports of the ESTABLISHED TCP connections accepted on 127.0.0.1:``port``."""
    local = f"0100007F:{port:04X}"
    peers = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) > 3 and parts[1] == local and parts[3] == "01":
                peers.add(int(parts[2].split(":")[1], 16))
    return frozenset(peers)


class TcpSampler:
    """Samples ``established_peers(port)`` every ``interval`` seconds on a thread."""

    def __init__(self, port: int, interval: float = 0.01) -> None:
        self.port = port
        self.interval = interval
        self.samples: list[frozenset[int]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(established_peers(self.port))
            self._stop.wait(self.interval)

    def __enter__(self) -> TcpSampler:
        self._t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._t.join(5)


# --------------------------------------------------------------------------
# the official SDK as the downstream client


class ClientCallbacks:
    """Sampling and logging callbacks of one client, recording what they saw."""

    def __init__(self, model: str = "fake-model-1") -> None:
        self.model = model
        self.sampling: list[dict[str, Any]] = []
        self.logs: list[dict[str, Any]] = []

    async def on_sampling(self, context: Any, params: types.CreateMessageRequestParams
                          ) -> types.CreateMessageResult:
        self.sampling.append(params.model_dump())
        first = params.messages[0].content
        text = first.text if isinstance(first, types.TextContent) else "?"
        return types.CreateMessageResult(role="assistant", model=self.model,
                                         content=types.TextContent(type="text",
                                                                   text=f"echoed <{text}>"),
                                         stop_reason="endTurn")

    async def on_log(self, params: types.LoggingMessageNotificationParams) -> None:
        self.logs.append(params.model_dump())


class ClientConn:
    """An open SDK session: ``session``, ``init`` (its InitializeResult), ``sid()`` (HTTP: the session id the server
    gave this client; None otherwise) and ``stderr()`` (stdio: the server's stderr)."""

    def __init__(self, session: Any, init: Any, get_sid: Callable[[], str | None] | None,
                 errlog: Any | None) -> None:
        self.session = session
        self.init = init  # the InitializeResult
        self._get_sid = get_sid
        self._errlog = errlog

    def sid(self) -> str | None:
        return self._get_sid() if self._get_sid else None

    def stderr(self) -> str:
        if self._errlog is None:
            return ""
        self._errlog.flush()
        self._errlog.seek(0)
        text = self._errlog.read()
        self._errlog.seek(0, os.SEEK_END)
        return text


@asynccontextmanager
async def http_streams(url: str, *, http_client: Any = None, headers: dict[str, str] | None = None
                       ) -> AsyncIterator[tuple[Any, Any, Callable[[], str | None]]]:
    """The SDK's Streamable HTTP client transport: (read, write, get_sid), where ``get_sid()``
    is the Mcp-Session-Id the server gave the initialize (None before it).

    SDK 2.x's ``streamable_http_client`` yields the two streams only, so the id is read the
    way its transport reads it, off the response to the one request sent without a session
    id, by an httpx2 response hook on the client (``http_client``, which the caller keeps
    open, else a new one with ``headers``).
    """
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    sid: list[str] = []

    async def on_response(response: Any) -> None:
        given = response.headers.get("mcp-session-id")
        if given and "mcp-session-id" not in response.request.headers:
            sid[:] = [given]

    async with AsyncExitStack() as stack:
        client = http_client
        if client is None:
            client = await stack.enter_async_context(create_mcp_http_client(headers=headers))
        client.event_hooks["response"].append(on_response)
        read, write = await stack.enter_async_context(
            streamable_http_client(url, http_client=client))
        yield read, write, lambda: sid[0] if sid else None


@asynccontextmanager
async def sdk_session(kind: str, target: str | list[str], cb: ClientCallbacks | None = None, *,
                      headers: dict[str, str] | None = None, http_client: Any = None,
                      env: dict[str, str] | None = None, read_timeout: float = 20.0,
                      initialize: bool = True) -> AsyncIterator[ClientConn]:
    """An SDK ClientSession, initialized unless ``initialize`` is False (then
    ``conn.init`` is None and the test calls ``conn.session.initialize()``).
    ``initialize()`` is the session-era handshake (2.x ``Client(mode="legacy")``).

    kind ``stdio``: ``target`` is the command to launch; ``http``: the Streamable
    HTTP URL (``http_client`` or ``headers`` customize the httpx2 client);
    ``sse``: the legacy SSE URL.  Sampling is advertised (``cb.on_sampling``).
    """
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.sse import sse_client
    from mcp.client.stdio import stdio_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    cb = cb or ClientCallbacks()
    kw: dict[str, Any] = dict(sampling_callback=cb.on_sampling, logging_callback=cb.on_log,
                              read_timeout_seconds=read_timeout)
    if kind == "stdio":
        assert isinstance(target, list)
        with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
            # the whole environment (the SDK passes only a few variables by default), so
            # that e.g. LD_LIBRARY_PATH or sanitizer options reach mcpfwd
            params = StdioServerParameters(command=target[0], args=target[1:],
                                           env=dict(os.environ) if env is None else env)
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, **kw) as session:
                    init = await session.initialize() if initialize else None
                    yield ClientConn(session, init, None, errlog)
            # the command has exited: its stderr holds any report a runtime wrote there
            errlog.seek(0)
            assert_no_sanitizer_report(errlog.read(), target[0])
    elif kind == "http":
        assert isinstance(target, str)
        client = http_client if http_client is not None else create_mcp_http_client(headers=headers)
        async with client:
            async with http_streams(target, http_client=client) as (read, write, get_sid):
                async with ClientSession(read, write, **kw) as session:
                    init = await session.initialize() if initialize else None
                    yield ClientConn(session, init, get_sid, None)
    elif kind == "sse":
        assert isinstance(target, str)
        async with sse_client(target, headers=headers, sse_read_timeout=60) as (read, write):
            async with ClientSession(read, write, **kw) as session:
                init = await session.initialize() if initialize else None
                yield ClientConn(session, init, None, None)
    else:
        raise AssertionError(f"unknown client kind {kind!r}")


def run_async(fn: Callable[[], Awaitable[T]], timeout: float = 60.0) -> T:
    """Run ``fn()`` in a fresh event loop, failing after ``timeout`` seconds."""
    out: list[T] = []

    async def main() -> None:
        with anyio.fail_after(timeout):
            out.append(await fn())

    anyio.run(main)
    return out[0]


def init_error(url: str) -> tuple[MCPError, float]:
    """The SDK client's initialize through mcpfwd must fail with a JSON-RPC error:
    (the MCPError, seconds taken)."""
    caught: list[MCPError] = []

    async def go() -> None:
        async with sdk_session("http", url, initialize=False, read_timeout=20) as conn:
            try:
                await conn.session.initialize()
            except MCPError as e:
                caught.append(e)
            else:
                raise AssertionError("initialize succeeded through mcpfwd")

    t0 = time.monotonic()
    run_async(go, timeout=30)
    return caught[0], time.monotonic() - t0


# --------------------------------------------------------------------------
# mcpfwd --listen teardown (the same checks as conftest's http_proxy)


def stop_listen_proxies(started: list[Any]) -> list[str]:
    """SIGTERM each HttpProxy, require exit 0, no child left and no sanitizer report in
    stderr (the reports written to files fail the test through conftest's sanitizer_logs)."""
    problems = []
    for p in started:
        try:
            if p.proc.poll() is None:
                rc = p.stop(20)
                if rc != 0:
                    problems.append(f"mcpfwd exited with status {rc} after SIGTERM "
                                    f"(expected 0); stderr tail:\n{p.stderr_tail()}")
            p.assert_children_gone(10)
        except AssertionError as e:
            problems.append(str(e))
        finally:
            p.cleanup()
        reports = p.sanitizer_reports()
        if reports:
            problems.append("sanitizer report in mcpfwd's stderr:\n" + "\n".join(reports))
    return problems
