"""The conformance fixture server: what `@modelcontextprotocol/conformance` calls on a server.

The runner's server scenarios call fixture tools, prompts and resources by name
(``test_simple_text``, ``test_input_required_result_elicitation``, ``test://static-text``, ...)
and say in each scenario's description what they must answer. This server implements those
descriptions with the MCP Python SDK (``mcp`` 2.3.0, ``MCPServer``); it is written from the
descriptions, not from the runner's own reference fixture. The SDK serves both eras: the
stateless one (2026-07-28: per-request ``_meta``, ``server/discover``, multi-round-trip
``input_required`` results, ``subscriptions/listen``) and the session era (``initialize``,
server-to-client sampling and elicitation requests, ``resources/subscribe``).

Run it over stdio (the default; what mcpfwd spawns)::

    python fixture_server.py

or over its own Streamable HTTP endpoint (to be tested directly)::

    python fixture_server.py --http [--port N]

In HTTP mode the first line on stdout is the endpoint URL (``http://127.0.0.1:PORT/mcp``);
port 0 (the default) binds a free port.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import socket
import struct
import sys
import wave
import zlib
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import UserMessage
from mcp.server.mcpserver.tools.base import Tool
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.shared.exceptions import MCPError
from mcp_types import (
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    AudioContent,
    CallToolResult,
    Completion,
    CreateMessageRequest,
    CreateMessageRequestParams,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequiredResult,
    JSONRPCMessage,
    ListRootsRequest,
    PromptReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import Field

# ------------------------------------------------------------------ media


def _png_1x1_red() -> bytes:
    """A 1x1 red PNG, built here (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 8-bit RGB
    idat = zlib.compress(b"\x00\xff\x00\x00")  # filter byte, then one red pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _wav_silence() -> bytes:
    """A tenth of a second of 8 kHz mono 16-bit silence."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 800)
    return buf.getvalue()


PNG = _png_1x1_red()
PNG_B64 = base64.b64encode(PNG).decode()
WAV_B64 = base64.b64encode(_wav_silence()).decode()

# ------------------------------------------------------------------ helpers


def text(t: str) -> TextContent:
    return TextContent(type="text", text=t)


def elicit(message: str, properties: dict[str, Any], required: list[str]) -> ElicitRequest:
    schema = {"type": "object", "properties": properties, "required": required}
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=schema))


def sample(prompt: str, max_tokens: int) -> CreateMessageRequest:
    return CreateMessageRequest(params=CreateMessageRequestParams(
        messages=[SamplingMessage(role="user", content=text(prompt))], max_tokens=max_tokens))


def accepted(ctx: Context, key: str) -> dict[str, Any] | None:
    """The content of an accepted elicitation answer under `key`, else None."""
    answer = (ctx.input_responses or {}).get(key)
    if isinstance(answer, ElicitResult) and answer.action == "accept":
        return dict(answer.content or {})
    return None


def answered(ctx: Context, key: str) -> bool:
    return key in (ctx.input_responses or {})


def missing_capability(name: str) -> MCPError:
    return MCPError(code=MISSING_REQUIRED_CLIENT_CAPABILITY,
                    message=f"this tool needs the client capability {name!r}",
                    data={"requiredCapabilities": {name: {}}})


# The JSON Schema 2020-12 input schema the json-schema-2020-12 scenario lists (its description
# gives the schema; SEP-1613 and SEP-2106 keywords must survive tools/list unchanged).
JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"$anchor": "addressDef", "type": "object",
                          "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"},
                   "contactMethod": {"type": "string", "enum": ["phone", "email"]},
                   "phone": {"type": "string"}, "email": {"type": "string"}},
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


def json_schema_2020_12_tool(name: str = "", email: str = "", phone: str = "") -> str:
    """Tool with JSON Schema 2020-12 features"""
    return f"contact {name or '?'}"


def _schema_tool() -> Tool:
    tool = Tool.from_function(json_schema_2020_12_tool)
    tool.parameters = JSON_SCHEMA_2020_12  # what tools/list shows; arguments stay optional strings
    return tool


server = MCPServer("mcpfwd-conformance-fixture", version="1.0.0", tools=[_schema_tool()])

# ------------------------------------------------------------------ tools: content


@server.tool(description="Returns a simple text response")
def test_simple_text() -> CallToolResult:
    return CallToolResult(content=[text("This is a simple text response for testing.")])


@server.tool(description="Returns a 1x1 red PNG image")
def test_image_content() -> CallToolResult:
    return CallToolResult(content=[ImageContent(type="image", data=PNG_B64, mime_type="image/png")])


@server.tool(description="Returns a short WAV clip")
def test_audio_content() -> CallToolResult:
    return CallToolResult(content=[AudioContent(type="audio", data=WAV_B64, mime_type="audio/wav")])


@server.tool(description="Returns an embedded text resource")
def test_embedded_resource() -> CallToolResult:
    res = TextResourceContents(uri="test://embedded-resource", mime_type="text/plain",
                               text="This is an embedded resource content.")
    return CallToolResult(content=[EmbeddedResource(type="resource", resource=res)])


@server.tool(description="Returns text, an image and an embedded resource")
def test_multiple_content_types() -> CallToolResult:
    res = TextResourceContents(uri="test://mixed-content-resource", mime_type="application/json",
                               text=json.dumps({"test": "data", "value": 123}, separators=(",", ":")))
    return CallToolResult(content=[
        text("Multiple content types test:"),
        ImageContent(type="image", data=PNG_B64, mime_type="image/png"),
        EmbeddedResource(type="resource", resource=res),
    ])


@server.tool(description="Always fails: the result is a tool error")
def test_error_handling() -> CallToolResult:
    return CallToolResult(is_error=True,
                          content=[text("This tool intentionally returns an error for testing")])


@server.tool(description="Reports progress 0, 50 and 100 of 100 about 50 ms apart")
async def test_tool_with_progress(ctx: Context) -> str:
    for step in (0, 50, 100):
        if step:
            await anyio.sleep(0.05)
        await ctx.report_progress(step, 100)
    return "Progress test completed"


async def _three_log_lines(ctx: Context) -> None:
    await ctx.info("Tool execution started")
    await anyio.sleep(0.05)
    await ctx.info("Tool processing data")
    await anyio.sleep(0.05)
    await ctx.info("Tool execution completed")


@server.tool(description="Logs three info lines about 50 ms apart (session era)")
async def test_tool_with_logging(ctx: Context) -> str:
    await _three_log_lines(ctx)
    return "Logging test completed"


@server.tool(description="Logs three info lines; a 2026-07-28 request gets them only with _meta logLevel")
async def test_logging_tool(ctx: Context) -> str:
    await _three_log_lines(ctx)
    return "Logging tool completed"


@server.tool(description="Echoes its region argument, which clients mirror in Mcp-Param-Region")
def test_header_param(
    region: Annotated[str, Field(description="mirrored in the Mcp-Param-Region header",
                                 json_schema_extra={"x-mcp-header": "Region"})],
) -> str:
    return f"region={region}"


# ------------------------------------------------------------------ tools: session era (server→client)


@server.tool(description="Asks the client's LLM (sampling/createMessage) and returns its answer")
async def test_sampling(prompt: str, ctx: Context) -> str:
    result = await ctx.session.create_message([SamplingMessage(role="user", content=text(prompt))],
                                              max_tokens=100, related_request_id=ctx.request_id)
    content = result.content
    answer = content.text if isinstance(content, TextContent) else str(content)
    return f"LLM response: {answer}"


ELICITATION_SCHEMA = {"type": "object", "required": ["username", "email"], "properties": {
    "username": {"type": "string", "description": "User's response"},
    "email": {"type": "string", "description": "User's email address"}}}
SEP1034_SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string", "default": "John Doe"},
    "age": {"type": "integer", "default": 30},
    "score": {"type": "number", "default": 95.5},
    "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
    "verified": {"type": "boolean", "default": True}}}
_OPTS = ["option1", "option2", "option3"]
SEP1330_SCHEMA = {"type": "object", "properties": {
    "untitledSingle": {"type": "string", "enum": _OPTS},
    "titledSingle": {"type": "string", "oneOf": [
        {"const": "value1", "title": "First Option"}, {"const": "value2", "title": "Second Option"},
        {"const": "value3", "title": "Third Option"}]},
    "legacyEnum": {"type": "string", "enum": ["opt1", "opt2", "opt3"],
                   "enumNames": ["Option One", "Option Two", "Option Three"]},
    "untitledMulti": {"type": "array", "items": {"type": "string", "enum": _OPTS}},
    "titledMulti": {"type": "array", "items": {"anyOf": [
        {"const": "value1", "title": "First Choice"}, {"const": "value2", "title": "Second Choice"},
        {"const": "value3", "title": "Third Choice"}]}}}}


@server.tool(description="Asks the user (elicitation/create) for a username and an email")
async def test_elicitation(message: str, ctx: Context) -> str:
    result = await ctx.session.elicit_form(message, ELICITATION_SCHEMA,
                                           related_request_id=ctx.request_id)
    return f"User response: action={result.action}, content={json.dumps(result.content)}"


@server.tool(description="Elicits a form whose fields carry default values (SEP-1034)")
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    result = await ctx.session.elicit_form("Please review the defaults", SEP1034_SCHEMA,
                                           related_request_id=ctx.request_id)
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"


@server.tool(description="Elicits a form with the five enum variants (SEP-1330)")
async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    result = await ctx.session.elicit_form("Pick some options", SEP1330_SCHEMA,
                                           related_request_id=ctx.request_id)
    return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"


@server.tool(description="Closes its SSE stream mid-call; the answer comes after a Last-Event-ID resume")
async def test_reconnection(ctx: Context) -> str:
    await anyio.sleep(0.1)
    await ctx.close_sse_stream()  # a no-op without an event store (stdio, JSON answers)
    await anyio.sleep(0.3)
    return "Reconnection test completed"


# ------------------------------------------------------------------ tools: stateless-era diagnostics


@server.tool(description="Needs the client's sampling capability: -32021 when it is not declared")
def test_missing_capability(ctx: Context) -> str:
    caps = ctx.client_capabilities
    if caps is None or caps.sampling is None:
        raise missing_capability("sampling")
    return "sampling capability declared"


@server.tool(description="Asks for input through an input_required result, never a server request")
async def test_streaming_elicitation(ctx: Context) -> Any:
    caps = ctx.client_capabilities
    if caps is None or caps.elicitation is None:
        raise missing_capability("elicitation")
    await ctx.report_progress(1, 2, "asking")
    content = accepted(ctx, "answer")
    if content is None:
        return InputRequiredResult(input_requests={"answer": elicit(
            "Anything to add?", {"answer": {"type": "string"}}, ["answer"])})
    return f"Thanks: {content.get('answer')}"


_added = {"tool": 0, "prompt": 0}


@server.tool(description="Adds a tool and tells listen streams that the tool list changed")
async def test_trigger_tool_change(ctx: Context) -> str:
    _added["tool"] += 1
    name = f"test_dynamic_tool_{_added['tool']}"
    server.add_tool(lambda: "dynamic", name=name, description="Added by test_trigger_tool_change")
    await ctx.notify_tools_changed()
    return f"added tool {name}"


@server.tool(description="Adds a prompt and tells listen streams that the prompt list changed")
async def test_trigger_prompt_change(ctx: Context) -> str:
    from mcp.server.mcpserver.prompts.base import Prompt

    _added["prompt"] += 1
    name = f"test_dynamic_prompt_{_added['prompt']}"
    server.add_prompt(Prompt.from_function(lambda: "dynamic", name=name,
                                           description="Added by test_trigger_prompt_change"))
    await ctx.notify_prompts_changed()
    return f"added prompt {name}"


# ------------------------------------------------------------------ tools: multi-round trips (SEP-2322)


@server.tool(description="Asks for the user's name (input_required), then greets")
def test_input_required_result_elicitation(ctx: Context) -> Any:
    content = accepted(ctx, "user_name")
    if content is None or not isinstance(content.get("name"), str):
        return InputRequiredResult(input_requests={"user_name": elicit(
            "What is your name?", {"name": {"type": "string"}}, ["name"])})
    return CallToolResult(content=[text(f"Hello, {content['name']}!")])


@server.tool(description="Asks the client's LLM (input_required), then returns its answer")
def test_input_required_result_sampling(ctx: Context) -> Any:
    answer = (ctx.input_responses or {}).get("capital_question")
    if answer is None or isinstance(answer, ElicitResult) or not hasattr(answer, "content"):
        return InputRequiredResult(input_requests={
            "capital_question": sample("What is the capital of France?", 100)})
    content = answer.content
    said = content.text if isinstance(content, TextContent) else str(content)
    return CallToolResult(content=[text(f"Sampling response: {said}")])


@server.tool(description="Asks for the client's roots (input_required), then lists them")
def test_input_required_result_list_roots(ctx: Context) -> Any:
    answer = (ctx.input_responses or {}).get("client_roots")
    roots = getattr(answer, "roots", None)
    if roots is None:
        return InputRequiredResult(input_requests={
            "client_roots": ListRootsRequest(params=None)})
    return CallToolResult(content=[text("Roots: " + ", ".join(str(r.uri) for r in roots))])


REQUEST_STATE = "conformance-state-v1"


@server.tool(description="Round-trips a requestState; the final answer says state-ok")
def test_input_required_result_request_state(ctx: Context) -> Any:
    if ctx.request_state != REQUEST_STATE or accepted(ctx, "confirm") is None:
        return InputRequiredResult(
            input_requests={"confirm": elicit("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])},
            request_state=REQUEST_STATE)
    return CallToolResult(content=[text("state-ok: the request state came back intact")])


@server.tool(description="Asks for three inputs at once (elicitation, sampling, roots)")
def test_input_required_result_multiple_inputs(ctx: Context) -> Any:
    keys = ("user_name", "greeting", "client_roots")
    if ctx.request_state != "multiple" or not all(answered(ctx, k) for k in keys):
        return InputRequiredResult(input_requests={
            "user_name": elicit("What is your name?", {"name": {"type": "string"}}, ["name"]),
            "greeting": sample("Generate a greeting", 50),
            "client_roots": ListRootsRequest(params=None),
        }, request_state="multiple")
    name = (accepted(ctx, "user_name") or {}).get("name", "?")
    return CallToolResult(content=[text(f"Got all three inputs for {name}")])


@server.tool(description="Two rounds of questions with a requestState that changes between them")
def test_input_required_result_multi_round(ctx: Context) -> Any:
    state = ctx.request_state or ""
    if state.startswith("round-2:"):
        color = (accepted(ctx, "step2") or {}).get("color")
        if color is not None:
            name = state.removeprefix("round-2:")
            return CallToolResult(content=[text(f"{name} likes {color}")])
    elif state == "round-1":
        name = (accepted(ctx, "step1") or {}).get("name")
        if name is not None:
            return InputRequiredResult(input_requests={"step2": elicit(
                "Step 2: What is your favorite color?", {"color": {"type": "string"}}, ["color"])},
                request_state=f"round-2:{name}")
    return InputRequiredResult(input_requests={"step1": elicit(
        "Step 1: What is your name?", {"name": {"type": "string"}}, ["name"])}, request_state="round-1")


@server.tool(description="Returns a sealed requestState; a tampered one is rejected")
def test_input_required_result_tampered_state(ctx: Context) -> Any:
    # The SDK seals every requestState (RequestStateBoundary): a modified token is answered
    # with -32602 before this body runs.
    if ctx.request_state == "untampered" and accepted(ctx, "confirm") is not None:
        return CallToolResult(content=[text("state verified")])
    return InputRequiredResult(
        input_requests={"confirm": elicit("Please confirm", {"ok": {"type": "boolean"}}, ["ok"])},
        request_state="untampered")


@server.tool(description="Asks only for the inputs the client declared capabilities for")
def test_input_required_result_capabilities(ctx: Context) -> Any:
    caps = ctx.client_capabilities
    wanted: dict[str, Any] = {}
    if caps is not None and caps.elicitation is not None and not answered(ctx, "user_name"):
        wanted["user_name"] = elicit("What is your name?", {"name": {"type": "string"}}, ["name"])
    if caps is not None and caps.sampling is not None and not answered(ctx, "greeting"):
        wanted["greeting"] = sample("Generate a greeting", 50)
    if caps is not None and caps.roots is not None and not answered(ctx, "client_roots"):
        wanted["client_roots"] = ListRootsRequest(params=None)
    if wanted:
        return InputRequiredResult(input_requests=wanted)
    return CallToolResult(content=[text("nothing more to ask")])


# ------------------------------------------------------------------ resources


@server.resource("test://static-text", name="static-text", mime_type="text/plain",
                 description="A static text resource")
def static_text() -> str:
    return "This is the content of the static text resource."


@server.resource("test://static-binary", name="static-binary", mime_type="image/png",
                 description="A static binary resource (a 1x1 PNG)")
def static_binary() -> bytes:
    return PNG


@server.resource("test://watched-resource", name="watched-resource", mime_type="text/plain",
                 description="A resource clients may subscribe to")
def watched_resource() -> str:
    return "watched content"


@server.resource("test://template/{id}/data", name="template-data", mime_type="application/json",
                 description="A resource template: the id is substituted")
def template_data(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"},
                      separators=(",", ":"))


# ------------------------------------------------------------------ prompts


@server.prompt(description="A prompt without arguments")
def test_simple_prompt() -> list[UserMessage]:
    return [UserMessage("This is a simple prompt for testing.")]


@server.prompt(description="A prompt with two required arguments")
def test_prompt_with_arguments(
    arg1: Annotated[str, Field(description="First test argument")],
    arg2: Annotated[str, Field(description="Second test argument")],
) -> list[UserMessage]:
    return [UserMessage(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]


@server.prompt(description="A prompt that embeds the resource it is given")
def test_prompt_with_embedded_resource(
    resourceUri: Annotated[str, Field(description="URI of the resource to embed")],
) -> list[UserMessage]:
    res = TextResourceContents(uri=resourceUri, mime_type="text/plain",
                               text="Embedded resource content for testing.")
    return [UserMessage(EmbeddedResource(type="resource", resource=res)),
            UserMessage("Please process the embedded resource above.")]


@server.prompt(description="A prompt with an image")
def test_prompt_with_image() -> list[UserMessage]:
    return [UserMessage(ImageContent(type="image", data=PNG_B64, mime_type="image/png")),
            UserMessage("Please analyze the image above.")]


@server.prompt(description="A prompt that first asks for context (input_required)")
def test_input_required_result_prompt(ctx: Context) -> Any:
    content = accepted(ctx, "user_context")
    if content is None:
        return InputRequiredResult(input_requests={"user_context": elicit(
            "What context should the prompt use?", {"context": {"type": "string"}}, ["context"])})
    return [UserMessage(f"Use this context: {content.get('context')}")]


# ------------------------------------------------------------------ completion


@server.completion()
async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
    if isinstance(ref, PromptReference) and ref.name == "test_prompt_with_arguments":
        words = ["paris", "park", "party", "test", "testing"]
        values = [w for w in words if w.startswith(argument.value)]
        return Completion(values=values, total=len(values), has_more=False)
    return Completion(values=[], total=0, has_more=False)


# ------------------------------------------------------------------ session-era methods the SDK
# leaves to the application (the 2026-07-28 wire removed them; the SDK's per-version gate answers
# -32601 there whatever is registered). MCPServer has no decorator for them, so they go on its
# low-level server, as the SDK's docs say (mcp.server.extension.MethodBinding).

_subscribed: set[str] = set()
_log_level = {"level": "debug"}


async def _subscribe(ctx: Any, params: SubscribeRequestParams) -> EmptyResult:
    _subscribed.add(str(params.uri))
    return EmptyResult()


async def _unsubscribe(ctx: Any, params: UnsubscribeRequestParams) -> EmptyResult:
    _subscribed.discard(str(params.uri))
    return EmptyResult()


async def _set_level(ctx: Any, params: SetLevelRequestParams) -> EmptyResult:
    _log_level["level"] = params.level
    return EmptyResult()


_low = server._lowlevel_server  # noqa: SLF001 - no public accessor in mcp 2.3.0
_low.add_request_handler("resources/subscribe", SubscribeRequestParams, _subscribe)
_low.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, _unsubscribe)
_low.add_request_handler("logging/setLevel", SetLevelRequestParams, _set_level)


# ------------------------------------------------------------------ modern-only mode
# `--modern-only` serves the stateless era alone, as a server built only for 2026-07-28 does:
# `initialize` is refused with -32022 naming 2026-07-28. The session-era tools that ask the
# client through server-to-client requests (which the stateless era does not have) ask through
# `input_required` results instead, with the same names and the same answers, so that a
# session-era client in front of mcpfwd's bridge sees what it sees against the dual-era fixture.


def _answer_text(answer: Any) -> str:
    content = getattr(answer, "content", None)
    return content.text if isinstance(content, TextContent) else str(content)


def _mrtr_sampling(prompt: str, ctx: Context) -> Any:
    answer = (ctx.input_responses or {}).get("llm")
    if answer is None or not hasattr(answer, "content") or isinstance(answer, ElicitResult):
        return InputRequiredResult(input_requests={"llm": sample(prompt, 100)})
    return f"LLM response: {_answer_text(answer)}"


def _mrtr_elicit(key: str, message: str, schema: dict[str, Any], ctx: Context,
                 done: str) -> Any:
    answer = (ctx.input_responses or {}).get(key)
    if not isinstance(answer, ElicitResult):
        return InputRequiredResult(input_requests={key: ElicitRequest(params=ElicitRequestFormParams(
            message=message, requested_schema=schema))})
    return f"{done}: action={answer.action}, content={json.dumps(answer.content)}"


def _modern_only_tools() -> None:
    """Replaces the session-era tools that make server-to-client requests."""

    def test_sampling(prompt: str, ctx: Context) -> Any:
        return _mrtr_sampling(prompt, ctx)

    def test_elicitation(message: str, ctx: Context) -> Any:
        return _mrtr_elicit("form", message, ELICITATION_SCHEMA, ctx, "User response")

    def test_elicitation_sep1034_defaults(ctx: Context) -> Any:
        return _mrtr_elicit("form", "Please review the defaults", SEP1034_SCHEMA, ctx,
                            "Elicitation completed")

    def test_elicitation_sep1330_enums(ctx: Context) -> Any:
        return _mrtr_elicit("form", "Pick some options", SEP1330_SCHEMA, ctx,
                            "Elicitation completed")

    descriptions = {t.name: t.description for t in server._tool_manager.list_tools()}  # noqa: SLF001
    for fn in (test_sampling, test_elicitation, test_elicitation_sep1034_defaults,
               test_elicitation_sep1330_enums):
        server.remove_tool(fn.__name__)
        server.add_tool(fn, name=fn.__name__, description=descriptions[fn.__name__])


async def _serve_modern_only_stdio() -> None:
    from mcp.server.runner import _serve_modern_stream  # noqa: PLC2701 - no public entry
    from mcp.server.stdio import stdio_server

    low = server._lowlevel_server  # noqa: SLF001
    async with stdio_server() as (read_stream, write_stream), low.lifespan(low) as state:
        try:
            await _serve_modern_stream(low, read_stream, write_stream, lifespan_state=state,
                                       raise_exceptions=False)
        finally:
            await write_stream.aclose()


# ------------------------------------------------------------------ main


class MemoryEventStore(EventStore):
    """Keeps every SSE event of this process so a client can resume with Last-Event-ID."""

    def __init__(self) -> None:
        self._events: list[tuple[str, str, JSONRPCMessage | None]] = []  # (event id, stream, msg)

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        event_id = str(len(self._events) + 1)
        self._events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        if not last_event_id.isdigit() or not 0 < int(last_event_id) <= len(self._events):
            return None
        stream = self._events[int(last_event_id) - 1][1]
        for event_id, sid, message in self._events[int(last_event_id):]:
            if sid == stream and message is not None:
                await send_callback(EventMessage(message, event_id))
        return stream


async def _serve_http(port: int) -> None:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)  # before the URL is printed: a client may connect at once
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    app = server.streamable_http_app(host="127.0.0.1", event_store=MemoryEventStore(),
                                     retry_interval=200)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(url, flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--http", action="store_true", help="serve Streamable HTTP instead of stdio")
    ap.add_argument("--port", type=int, default=0, help="HTTP port (0: a free one)")
    ap.add_argument("--modern-only", action="store_true",
                    help="stdio: serve the stateless era only (initialize refused with -32022)")
    args = ap.parse_args()
    if args.modern_only:
        _modern_only_tools()
        anyio.run(_serve_modern_only_stdio)
    elif args.http:
        anyio.run(_serve_http, args.port)
    else:
        server.run()


if __name__ == "__main__":
    sys.exit(main())
