// An mcpfwd proxy in a Node program, through koffi alone (no binding): Streamable HTTP
// in front of the MCP server command given as arguments, one server process per
// session. It prints the URL and each session event, and stops when stdin ends.
//
//   npm install koffi
//   MCPFWD_LIB=/path/to/libmcpfwd.so.0 node basic_proxy.mjs python3 server.py
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
// koffi from this script's node_modules, else from the repository's tests/node
let koffi;
try {
  koffi = require('koffi');
} catch {
  koffi = createRequire(new URL('../../../tests/node/package.json', import.meta.url))('koffi');
}

const lib = koffi.load(process.env.MCPFWD_LIB || 'libmcpfwd.so.0');
koffi.opaque('mcpfwd_config');
koffi.opaque('mcpfwd_proxy');
koffi.opaque('mcpfwd_event');
const EventCb = koffi.proto('int mcpfwd_event_cb(const mcpfwd_event *ev, void *user_data)');
const api = {
  lastError: lib.func('const char *mcpfwd_last_error(void)'),
  stringFree: lib.func('void mcpfwd_string_free(void *s)'),
  configNew: lib.func('int mcpfwd_config_new(_Out_ mcpfwd_config **out)'),
  configFree: lib.func('void mcpfwd_config_free(mcpfwd_config *cfg)'),
  setListen: lib.func('int mcpfwd_config_set_listen(mcpfwd_config *cfg, const char *host, uint16_t port)'),
  setUpstream: lib.func(
    'int mcpfwd_config_set_upstream_command(mcpfwd_config *cfg, size_t argc, const char **argv)'),
  setEventCb: lib.func('int mcpfwd_config_set_event_cb(mcpfwd_config *cfg, mcpfwd_event_cb *cb)'),
  proxyNew: lib.func('int mcpfwd_proxy_new(_Out_ mcpfwd_proxy **out, const mcpfwd_config *cfg)'),
  proxyStart: lib.func('int mcpfwd_proxy_start(mcpfwd_proxy *p)'),
  proxyUrl: lib.func('int mcpfwd_proxy_url(mcpfwd_proxy *p, _Out_ void **out)'),
  proxyFree: lib.func('void mcpfwd_proxy_free(mcpfwd_proxy *p)'),
  eventType: lib.func('int mcpfwd_event_get_type(const mcpfwd_event *ev)'),
  eventSessionId: lib.func('const char *mcpfwd_event_session_id(const mcpfwd_event *ev)'),
};

function check(status, what) {
  if (status !== 0) throw new Error(`${what}: ${api.lastError()}`);
}

const names = { 1: 'SESSION_OPENED', 2: 'SESSION_CLOSED', 3: 'SESSION_REJECTED', 4: 'SESSION_READY' };
// Called on a proxy I/O thread; koffi runs it on this (the main) thread.
const onEvent = koffi.register((ev) => {
  console.log(`event ${names[api.eventType(ev)]} ${api.eventSessionId(ev)}`);
  return 0;
}, koffi.pointer(EventCb));

const upstream = process.argv.slice(2);
const cfg = [null];
check(api.configNew(cfg), 'config');
check(api.setListen(cfg[0], '127.0.0.1', 0), 'listen');
check(api.setUpstream(cfg[0], upstream.length, upstream), 'upstream');
check(api.setEventCb(cfg[0], onEvent), 'event callback');
const proxy = [null];
check(api.proxyNew(proxy, cfg[0]), 'proxy');
api.configFree(cfg[0]);
check(api.proxyStart(proxy[0]), 'start'); // returns once listening; never waits for a callback

const url = [null];
check(api.proxyUrl(proxy[0], url), 'url');
console.log(`listening ${koffi.decode(url[0], 'char', -1)}`);
api.stringFree(url[0]);

process.stdin.resume(); // serve until stdin ends
process.stdin.on('end', () => {
  // free joins the proxy's threads, which may wait for this thread to run a callback:
  // never call it synchronously here
  api.proxyFree.async(proxy[0], () => {
    koffi.unregister(onEvent);
    console.log('closed');
  });
});
