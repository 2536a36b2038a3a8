"""mcpfwd to an https upstream: certificate verification, its failures, and SNI.

The upstream is the MCPServer test server over uvicorn with a certificate made
at test time (upstream_helpers.make_pki): signed by a throwaway CA, valid for
DNS:localhost and IP:127.0.0.1.  A second server presents a certificate from
the same CA for another name only; an unrelated CA stands for "wrong CA".
The server logs the SNI of every handshake (``SNI {"name": ...}``).
"""

from __future__ import annotations

import re
import socket
import ssl
from typing import Any

import httpx2
import pytest
from upstream_helpers import ClientCallbacks, init_error, run_async, sdk_session

pytestmark = pytest.mark.timeout(60)

CERT_ERROR_RX = re.compile(r"certificate|tls|ssl", re.I)
TIMEOUT_RX = re.compile(r"timed? ?out|timeout", re.I)


@pytest.fixture(scope="module")
def https_upstream(upstream_servers, pki):
    """The test server over https with a certificate for localhost and 127.0.0.1."""
    return upstream_servers.fastmcp("streamable-http", "--certfile", str(pki.cert_file),
                                    "--keyfile", str(pki.key_file))


@pytest.fixture(scope="module")
def other_name_upstream(upstream_servers, pki):
    """The test server over https with a certificate (from the same CA) for another host name."""
    return upstream_servers.fastmcp("streamable-http", "--certfile", str(pki.other_name_cert_file),
                                    "--keyfile", str(pki.other_name_key_file))


def echo_through(url: str, http_client: Any = None) -> str:
    """One SDK session: echo and a sampling round trip; return the echo text."""
    async def go() -> str:
        async with sdk_session("http", url, ClientCallbacks(), http_client=http_client) as conn:
            res = await conn.session.call_tool("sample", {"prompt": "over TLS"})
            assert res.content[0].text == "fake-model-1: echoed <over TLS>"
            return (await conn.session.call_tool("echo", {"text": "secure ✓"})).content[0].text

    return run_async(go, timeout=30)


def new_sni(srv: Any, before: int) -> list[str | None]:
    return srv.sni_names()[before:]


# --------------------------------------------------------------------------


def test_direct_https_baseline(https_upstream, pki):
    """The https upstream and the SNI log work with a plain SDK client (no mcpfwd)."""
    ctx = ssl.create_default_context(cafile=str(pki.ca_file))
    before = len(https_upstream.sni_names())
    client = httpx2.AsyncClient(verify=ctx, timeout=httpx2.Timeout(30, read=300))
    assert echo_through(https_upstream.url_with_host("localhost"), client) == "secure ✓"
    names = new_sni(https_upstream, before)
    assert names and set(names) == {"localhost"}, names


def test_ca_file_verifies_the_upstream(https_upstream, pki, listen_proxy):
    proxy = listen_proxy("--upstream", https_upstream.url, "--upstream-ca-file", str(pki.ca_file))
    assert echo_through(proxy.url) == "secure ✓"
    assert not re.search(r"(?i)insecure", proxy.stderr_text()), proxy.stderr_text()


@pytest.mark.parametrize("ca", ["wrong_ca_file", "system_store"])
def test_untrusted_certificate_is_a_jsonrpc_error(ca, https_upstream, pki, listen_proxy):
    """A certificate not signed by the trusted CAs (an unrelated --upstream-ca-file, or the
    system store, which does not hold the test CA): initialize gets a JSON-RPC error
    -32000 naming the certificate/TLS problem; mcpfwd stays up and answers the next
    client the same way, promptly."""
    args = ["--upstream", https_upstream.url]
    if ca == "wrong_ca_file":
        args += ["--upstream-ca-file", str(pki.wrong_ca_file)]
    proxy = listen_proxy(*args)
    for _ in range(2):
        err, took = init_error(proxy.url)
        assert err.error.code == -32000, err.error
        assert CERT_ERROR_RX.search(err.error.message), err.error.message
        assert took < 10, f"the TLS failure took {took:.1f}s to report"
        assert proxy.proc.poll() is None, "mcpfwd exited"


def test_host_name_mismatch_is_rejected(other_name_upstream, pki, listen_proxy):
    """A certificate from the trusted CA, but for another name: rejected (the host name is
    checked, not only the chain)."""
    proxy = listen_proxy("--upstream", other_name_upstream.url,
                         "--upstream-ca-file", str(pki.ca_file))
    err, _ = init_error(proxy.url)
    assert err.error.code == -32000, err.error
    assert CERT_ERROR_RX.search(err.error.message), err.error.message


@pytest.mark.parametrize("which", ["untrusted_ca", "other_name"])
def test_insecure_skips_verification_and_warns(which, https_upstream, other_name_upstream,
                                               pki, listen_proxy):
    srv = https_upstream if which == "untrusted_ca" else other_name_upstream
    args = ["--upstream", srv.url, "--upstream-insecure"]
    if which == "untrusted_ca":
        args += ["--upstream-ca-file", str(pki.wrong_ca_file)]
    proxy = listen_proxy(*args)
    # the warning is there from the start, before any client came
    warning = proxy.wait_stderr(r"(?i)insecure|verification", timeout=5)
    assert warning.startswith("mcpfwd: "), warning
    assert echo_through(proxy.url) == "secure ✓"


def test_sni_names_the_upstream_host(https_upstream, pki, listen_proxy):
    """Upstream URL https://localhost:P/mcp: the TLS ClientHello carries SNI 'localhost'."""
    before = len(https_upstream.sni_names())
    proxy = listen_proxy("--upstream", https_upstream.url_with_host("localhost"),
                         "--upstream-ca-file", str(pki.ca_file))
    assert echo_through(proxy.url) == "secure ✓"
    names = new_sni(https_upstream, before)
    assert names, "the upstream saw no TLS handshake"
    assert set(names) == {"localhost"}, f"SNI sent by mcpfwd: {names}"


def test_no_sni_for_an_ip_address(https_upstream, pki, listen_proxy):
    """Upstream URL https://127.0.0.1:P/mcp: no SNI at all (RFC 6066 section 3: literal
    IP addresses are not permitted in HostName), and the IP SAN still verifies."""
    before = len(https_upstream.sni_names())
    proxy = listen_proxy("--upstream", https_upstream.url, "--upstream-ca-file", str(pki.ca_file))
    assert echo_through(proxy.url) == "secure ✓"
    names = new_sni(https_upstream, before)
    assert names and set(names) == {None}, f"SNI sent by mcpfwd for an IP address: {names}"


def test_tls_handshake_timeout(listen_proxy, pki):
    """A peer that accepts TCP but never speaks TLS: --upstream-connect-timeout-ms bounds
    connect + handshake, and the error says it timed out."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes connects; nobody ever answers
    try:
        port = silent.getsockname()[1]
        proxy = listen_proxy("--upstream", f"https://127.0.0.1:{port}/mcp",
                             "--upstream-ca-file", str(pki.ca_file),
                             "--upstream-connect-timeout-ms", "500")
        err, took = init_error(proxy.url)
        assert err.error.code == -32000, err.error
        assert TIMEOUT_RX.search(err.error.message), err.error.message
        assert 0.4 <= took < 5, f"took {took:.2f}s with a 500 ms connect timeout"
    finally:
        silent.close()


def test_tls_to_a_plain_http_port_fails_cleanly(upstream_servers, listen_proxy, pki):
    """https:// to a plain-HTTP server: a TLS error for the request, not a hang."""
    plain = upstream_servers.fastmcp("streamable-http")
    url = plain.url.replace("http://", "https://", 1)
    proxy = listen_proxy("--upstream", url, "--upstream-ca-file", str(pki.ca_file))
    err, took = init_error(proxy.url)
    assert err.error.code == -32000, err.error
    assert CERT_ERROR_RX.search(err.error.message), err.error.message
    assert took < 10
