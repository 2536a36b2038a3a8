// The TypeScript SDK 1.x client (session era only) over Streamable HTTP, driven against a URL:
// node bridge_legacy_client.mjs URL. Used by tests/python/e2e/test_bridge_legacy_client.py
// to check mcpfwd's bridge to a stateless-era-only server. Prints one JSON object of what it
// saw; exits 1 on a failure.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  ToolListChangedNotificationSchema,
} from "@modelcontextprotocol/sdk/types.js";

const url = process.argv[2];
const out = { sampling: [], elicitation: [], roots_asked: 0, logs: [], notes: [] };
const client = new Client(
  { name: "ts-sdk-legacy-client", version: "1.0.0" },
  { capabilities: { sampling: {}, elicitation: {}, roots: { listChanged: true } } },
);
client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
  out.sampling.push(req.params.messages[0].content.text);
  return { role: "assistant", model: "fake", content: { type: "text", text: "Paris" } };
});
client.setRequestHandler(ElicitRequestSchema, async (req) => {
  out.elicitation.push(req.params.message);
  return { action: "accept", content: req.params.message === "Colour?" ? { color: "red" } : { name: "Tess" } };
});
client.setRequestHandler(ListRootsRequestSchema, async () => {
  out.roots_asked += 1;
  return { roots: [{ uri: "file:///tmp/ts-root" }] };
});
client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
  out.logs.push([n.params.level, n.params.data]);
});
client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
  out.notes.push(`updated ${n.params.uri}`);
});
client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
  out.notes.push("tools changed");
});

const text = (r) => r.content[0].text;

try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  out.version = client.getServerVersion();
  out.capabilities = client.getServerCapabilities();
  await client.ping();
  out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
  out.echo = text(await client.callTool({ name: "echo", arguments: { text: "ts" } }));
  out.ask_llm = text(await client.callTool({ name: "ask_llm", arguments: { question: "Capital?" } }));
  out.ask_name = text(await client.callTool({ name: "ask_name", arguments: {} }));
  out.two_rounds = text(await client.callTool({ name: "two_rounds", arguments: {} }));
  out.roots = text(await client.callTool({ name: "list_roots", arguments: {} }));
  out.progress_notes = [];
  out.progress = text(await client.callTool({ name: "progress", arguments: { steps: 2 } }, undefined, {
    onprogress: (p) => out.progress_notes.push([p.progress, p.total]),
  }));
  await client.setLoggingLevel("warning");
  await client.callTool({ name: "chatty", arguments: {} });
  await client.subscribeResource({ uri: "test://counter" });
  await client.callTool({ name: "touch", arguments: {} });
  await client.callTool({ name: "add_tool", arguments: { name: "ts_late_tool" } });
  for (let i = 0; i < 200 && out.notes.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
  out.notes.sort();
  out.read = (await client.readResource({ uri: "test://counter" })).contents[0].text;
  out.prompt = (await client.getPrompt({ name: "greet", arguments: { name: "Ts" } })).messages[0].content.text;
  out.complete = (await client.complete({
    ref: { type: "ref/prompt", name: "greet" }, argument: { name: "name", value: "b" },
  })).completion.values;
  await client.close();
  console.log(JSON.stringify(out));
} catch (e) {
  console.error(`failed: ${e?.stack ?? e}`);
  console.log(JSON.stringify(out));
  process.exit(1);
}
