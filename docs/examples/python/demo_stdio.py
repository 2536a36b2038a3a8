"""mcpfwd demo: a real MCP client talks to demo_server.py through mcpfwd --stdio.

    python docs/examples/python/demo_stdio.py

The mcpfwd binary is $MCPFWD_BIN, else `mcpfwd` on PATH, else the repository's
build/dev/bin/mcpfwd.  The client (the official MCP Python SDK's ``Client``) launches

    mcpfwd --stdio --log-level info -- python demo_server.py

exactly as an MCP host would launch any stdio server, runs a short session
and prints what happened, then the traffic counts from mcpfwd's closing
`session stats:` log line.  Exits 0 on success.

The client opens the session with the ``initialize`` handshake (``mode="legacy"``),
the protocol era whose sessions mcpfwd tracks.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent, TextResourceContents

HERE = Path(__file__).resolve().parent
STATS_PREFIX = "mcpfwd: info: session stats: "


def find_mcpfwd() -> str:
    env = os.environ.get("MCPFWD_BIN")
    if env:
        return env
    on_path = shutil.which("mcpfwd")
    if on_path:
        return on_path
    built = HERE.parents[2] / "build" / "dev" / "bin" / "mcpfwd"
    if built.is_file():
        return str(built)
    sys.exit("demo_stdio: mcpfwd not found: set MCPFWD_BIN or put mcpfwd on PATH")


def show(label: str, text: str) -> None:
    print(f"  {label:<14} {text}")


def content_text(result: CallToolResult) -> str:
    return " ".join(c.text if isinstance(c, TextContent) else f"<{c.type}>" for c in result.content)


async def session(params: StdioServerParameters, errlog: TextIO) -> None:
    # Client(params) would launch the command as well; stdio_client also keeps mcpfwd's stderr
    async with Client(stdio_client(params, errlog=errlog), mode="legacy") as s:
        name = s.server_info.name if s.server_info else "?"
        print(f"connected to '{name}' (MCP {s.protocol_version}) through mcpfwd")

        print("\ntools/list")
        for tool in (await s.list_tools()).tools:
            show(tool.name, tool.description or "")

        print("\ntools/call")
        calls = [("add_note", {"title": "mcpfwd", "text": "Forwards MCP stdio byte for byte."}),
                 ("list_notes", {}),
                 ("search_notes", {"query": "MCP"})]
        for tool_name, args in calls:
            result = await s.call_tool(tool_name, args)
            if result.is_error:
                raise RuntimeError(f"{tool_name} failed: {content_text(result)}")
            shown = content_text(result)
            if result.structured_content is not None:  # MCPServer wraps plain returns as {"result": ...}
                shown = json.dumps(result.structured_content.get("result", result.structured_content),
                                   ensure_ascii=False)
            show(tool_name, f"{json.dumps(args, ensure_ascii=False)} -> {shown}")

        print("\nresources")
        for res in (await s.list_resources()).resources:
            show("listed", f"{res.uri} ({res.mime_type})")
        for tmpl in (await s.list_resource_templates()).resource_templates:
            show("template", tmpl.uri_template)
        note = await s.read_resource("notes://mcpfwd")
        body = note.contents[0]
        text = body.text if isinstance(body, TextResourceContents) else "<binary>"
        show("read", f"notes://mcpfwd -> {text!r}")

        print("\nprompts")
        for prompt in (await s.list_prompts()).prompts:
            show("listed", f"{prompt.name}({', '.join(a.name for a in prompt.arguments or [])})")
        got = await s.get_prompt("review_note", {"title": "mcpfwd"})
        first = got.messages[0]
        said = first.content.text if isinstance(first.content, TextContent) else "<non-text>"
        show("get", f"review_note -> {first.role}: {said.splitlines()[0]}")


def main() -> int:
    mcpfwd = find_mcpfwd()
    params = StdioServerParameters(
        command=mcpfwd,
        args=["--stdio", "--log-level", "info", "--", sys.executable, str(HERE / "demo_server.py")],
        env=dict(os.environ),  # the SDK passes only a few variables by default
    )
    print(f"$ {mcpfwd} {' '.join(params.args)}\n")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
        anyio.run(session, params, errlog)
        errlog.seek(0)
        log = errlog.read()

    stats_lines = [ln for ln in log.splitlines() if ln.startswith(STATS_PREFIX)]
    if len(stats_lines) != 1:
        print("\nno session stats line in mcpfwd's stderr:\n" + log, file=sys.stderr)
        return 1
    stats = json.loads(stats_lines[0][len(STATS_PREFIX):])
    c2s, s2c = stats["client_to_server"], stats["server_to_client"]
    print("\nmcpfwd session stats")
    show("client->server", f"{c2s['messages']} messages, {c2s['bytes']} bytes")
    show("server->client", f"{s2c['messages']} messages, {s2c['bytes']} bytes")
    show("errors", ", ".join(f"{k}={v}" for k, v in stats["error_counts"].items()))
    show("upstream", f"pid {stats['upstream_pid']}, exit code {stats['exit_code']}, state {stats['state']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
