"""A small MCP "notes" server, the upstream of the mcpfwd demo.

It keeps notes in memory for the life of the process and speaks MCP over
stdio (the official Python SDK's MCPServer, ``pip install mcp``).  Run it behind mcpfwd with

    mcpfwd --stdio -- python demo_server.py

or, with ``--http``, as a remote server: Streamable HTTP on 127.0.0.1 at a free
port, whose URL it prints as its first stdout line (then put mcpfwd in front of
it with ``mcpfwd --listen 127.0.0.1:0 --upstream URL``).

Tools      add_note(title, text), list_notes(), search_notes(query)
Resources  notes://all (every note), notes://{title} (one note)
Prompt     review_note(title): asks the model to review one note
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

mcp = MCPServer("demo-notes", instructions="A tiny notebook: add, list, search and read notes.")

notes: dict[str, str] = {
    "welcome": "This server is reached through mcpfwd, a Model Context Protocol proxy.",
    "groceries": "Milk, eggs, coffee.",
}


@mcp.tool()
def add_note(title: str, text: str) -> str:
    """Add a note (or replace the note with the same title)."""
    existed = title in notes
    notes[title] = text
    return f"{'Replaced' if existed else 'Added'} note '{title}' ({len(notes)} notes in total)."


@mcp.tool()
def list_notes() -> list[str]:
    """The titles of all notes, sorted."""
    return sorted(notes)


@mcp.tool()
def search_notes(query: str) -> list[str]:
    """Titles of the notes whose title or text contains `query` (case-insensitive)."""
    q = query.lower()
    return sorted(t for t, body in notes.items() if q in t.lower() or q in body.lower())


@mcp.resource("notes://all", mime_type="text/markdown")
def all_notes() -> str:
    """Every note as one Markdown document."""
    return "\n\n".join(f"## {t}\n{notes[t]}" for t in sorted(notes))


@mcp.resource("notes://{title}", mime_type="text/plain")
def one_note(title: str) -> str:
    """The text of one note."""
    if title not in notes:
        raise ValueError(f"no note titled {title!r}")
    return notes[title]


@mcp.prompt()
def review_note(title: str) -> str:
    """Ask for a friendly review of one note."""
    return (f"Here is my note '{title}':\n\n{notes.get(title, '(missing)')}\n\n"
            "Suggest one way to make it clearer.")


def serve_http() -> None:
    """Streamable HTTP at http://127.0.0.1:<free port>/mcp; the URL goes to stdout."""
    import socket
    import sys

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # connections made before uvicorn runs wait in the backlog
    config = uvicorn.Config(mcp.streamable_http_app(), log_level="warning")
    server = uvicorn.Server(config)
    print(f"http://127.0.0.1:{sock.getsockname()[1]}/mcp", flush=True)
    sys.stdout.close()
    server.run(sockets=[sock])


if __name__ == "__main__":
    import sys

    if "--http" in sys.argv[1:]:
        serve_http()
    else:
        mcp.run("stdio")
