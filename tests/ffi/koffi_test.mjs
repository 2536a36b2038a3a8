// The C ABI from Node with no binding layer: koffi (tests/node/package.json) loads
// libmcpfwd.so.0 and declares the functions from their C prototypes.
//
//   MCPFWD_LIB=build/release/lib/libmcpfwd.so.0 node tests/ffi/koffi_test.mjs
//
// A proxy in this process, in front of tests/servers/fastmcp_server.py, with the MCP Python SDK
// client (tests/bindings/mcp_client.py) as a subprocess: the session appears in the list and in
// the events, is closed, the proxy stops; then no library thread and no child process is left,
// and the user_data destructor ran once, after the last callback.
//
// Threads: the library calls back on its own I/O threads; koffi hands each call to the JS main
// thread and makes the I/O thread wait for it. So the main thread must never sit in a
// synchronous call that waits for an I/O thread: mcpfwd_proxy_free (which joins them) runs with
// .async(). mcpfwd_proxy_start only spawns the threads and returns, and the others return at
// once, so they are plain synchronous calls.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const require = createRequire(path.join(root, 'tests', 'node', 'package.json'));
const koffi = require('koffi');

const PYTHON = process.env.PYTHON || 'python3';
const SERVER = [PYTHON, path.join(root, 'tests', 'servers', 'fastmcp_server.py')];
const CLIENT = path.join(root, 'tests', 'bindings', 'mcp_client.py');
const LIB_TAG = 'mcpfwd-lib';

const watchdog = setTimeout(() => {
  console.error('koffi test: still running after 90 s');
  process.exit(2);
}, 90_000);

// ------------------------------------------------------------------ the C API
const libPath = process.env.MCPFWD_LIB || path.join(root, 'build', 'release', 'lib', 'libmcpfwd.so.0');
const lib = koffi.load(libPath);
koffi.opaque('mcpfwd_config');
koffi.opaque('mcpfwd_proxy');
koffi.opaque('mcpfwd_event');
const EventCb = koffi.proto('int mcpfwd_event_cb(const mcpfwd_event *ev, void *user_data)');
const LogCb = koffi.proto(
  'void mcpfwd_log_cb(int level, const char *source, const void *text, size_t len, void *user_data)');
const FreeCb = koffi.proto('void mcpfwd_free_cb(void *user_data)');

const C = {
  last_error: lib.func('const char *mcpfwd_last_error(void)'),
  string_free: lib.func('void mcpfwd_string_free(void *s)'),
  version_string: lib.func('const char *mcpfwd_version_string(void)'),
  config_new: lib.func('int mcpfwd_config_new(_Out_ mcpfwd_config **out)'),
  config_free: lib.func('void mcpfwd_config_free(mcpfwd_config *cfg)'),
  set_listen: lib.func('int mcpfwd_config_set_listen(mcpfwd_config *cfg, const char *host, uint16_t port)'),
  set_stdio: lib.func('int mcpfwd_config_set_downstream_stdio(mcpfwd_config *cfg, int in_fd, int out_fd)'),
  set_upstream: lib.func(
    'int mcpfwd_config_set_upstream_command(mcpfwd_config *cfg, size_t argc, const char **argv)'),
  set_io_threads: lib.func('int mcpfwd_config_set_io_threads(mcpfwd_config *cfg, uint32_t n)'),
  set_event_cb: lib.func('int mcpfwd_config_set_event_cb(mcpfwd_config *cfg, mcpfwd_event_cb *cb)'),
  set_log_cb: lib.func('int mcpfwd_config_set_log_cb(mcpfwd_config *cfg, mcpfwd_log_cb *cb)'),
  set_user_data: lib.func(
    'int mcpfwd_config_set_user_data(mcpfwd_config *cfg, void *ud, mcpfwd_free_cb *free_fn)'),
  proxy_new: lib.func('int mcpfwd_proxy_new(_Out_ mcpfwd_proxy **out, const mcpfwd_config *cfg)'),
  proxy_start: lib.func('int mcpfwd_proxy_start(mcpfwd_proxy *p)'),
  proxy_stop: lib.func('int mcpfwd_proxy_stop(mcpfwd_proxy *p)'),
  proxy_free: lib.func('void mcpfwd_proxy_free(mcpfwd_proxy *p)'),
  proxy_url: lib.func('int mcpfwd_proxy_url(mcpfwd_proxy *p, _Out_ void **out)'),
  sessions_json: lib.func('int mcpfwd_proxy_sessions_json(mcpfwd_proxy *p, _Out_ void **out)'),
  close_session: lib.func('int mcpfwd_proxy_close_session(mcpfwd_proxy *p, const char *id)'),
  event_type: lib.func('int mcpfwd_event_get_type(const mcpfwd_event *ev)'),
  event_session_id: lib.func('const char *mcpfwd_event_session_id(const mcpfwd_event *ev)'),
  event_detail: lib.func('const void *mcpfwd_event_detail(const mcpfwd_event *ev, _Out_ size_t *len)'),
};
const EVENT_NAMES = { 1: 'SESSION_OPENED', 2: 'SESSION_CLOSED', 3: 'SESSION_REJECTED', 4: 'SESSION_READY' };

function check(ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`);
}

// A status call: throws with the library's message (read right away, on this thread).
function ok(status, what) {
  if (status !== 0) throw new Error(`${what}: status ${status}: ${C.last_error()}`);
}

// An owned string out of the library: decoded, then released with mcpfwd_string_free.
function owned(fn, ...args) {
  const out = [null];
  ok(fn(...args, out), fn.name);
  try {
    return koffi.decode(out[0], 'char', -1);
  } finally {
    C.string_free(out[0]);
  }
}

// -------------------------------------------------------------------- /proc
function threadsNamed(name) {
  return fs.readdirSync('/proc/self/task').filter((tid) => {
    try {
      return fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim() === name;
    } catch {
      return false;
    }
  });
}

function children() {
  const kids = new Set();
  for (const tid of fs.readdirSync('/proc/self/task')) {
    try {
      for (const pid of fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').split(/\s+/)) {
        if (pid) kids.add(Number(pid));
      }
    } catch {
      // the thread ended meanwhile
    }
  }
  return [...kids];
}

function alive(pid) {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// promise, or `fallback` after ms (the timer is cleared either way, so that no pending timer
// keeps the process alive at the end)
function within(promise, ms, fallback) {
  let timer;
  const late = new Promise((r) => { timer = setTimeout(() => r(fallback), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function waitUntil(what, ms, cond) {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// The library's threads inherit the name of the thread that starts them: name the main thread
// for the (synchronous) start call. fs.writeFileSync runs on the calling thread.
function startTagged(proxy) {
  const comm = '/proc/thread-self/comm';
  const old = fs.readFileSync(comm, 'utf8').trim();
  fs.writeFileSync(comm, LIB_TAG);
  try {
    return C.proxy_start(proxy);
  } finally {
    fs.writeFileSync(comm, old);
  }
}

// ------------------------------------------------------------------- the client
function startClient(url) {
  const child = spawn(PYTHON, [CLIENT, url], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const lines = [];
  const waiters = [];
  readline.createInterface({ input: child.stdout }).on('line', (l) => {
    const w = waiters.shift();
    if (w) w(l); else lines.push(l);
  });
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    exited,
    stderr: () => stderr,
    async expect(prefix) {
      const line = lines.length ? lines.shift()
        : await within(new Promise((r) => waiters.push(r)), 30_000, null);
      check(line !== null, `client: no '${prefix}' line within 30 s; stderr:\n${stderr}`);
      check(line.startsWith(prefix + ' '), `client said '${line}', expected '${prefix} ...'; stderr:\n${stderr}`);
      return line.slice(prefix.length + 1);
    },
    send(cmd) { child.stdin.write(cmd + '\n'); },
  };
}

// ------------------------------------------------------------------- the tests
async function sessionThroughTheProxy() {
  check(children().length === 0, `children before the test: ${children()}`);
  check(threadsNamed(LIB_TAG).length === 0, 'library threads before the test');

  const events = [];
  const eventWaiters = [];
  const logLines = [];
  let freed = 0;
  let callbacksAfterFree = 0;
  const onEvent = koffi.register((ev, _ud) => {
    if (freed) callbacksAfterFree++;
    const len = [0];
    const d = C.event_detail(ev, len);
    const e = {
      type: EVENT_NAMES[C.event_type(ev)],
      id: C.event_session_id(ev),
      detail: len[0] ? koffi.decode(d, 'char', len[0]) : '',
    };
    events.push(e);
    eventWaiters.splice(0).forEach((w) => w());
    return 0;
  }, koffi.pointer(EventCb));
  const onLog = koffi.register((level, source, text, len, _ud) => {
    if (freed) callbacksAfterFree++;
    logLines.push(`${level} ${source}: ${len ? koffi.decode(text, 'char', len) : ''}`);
  }, koffi.pointer(LogCb));
  const onFree = koffi.register((_ud) => { freed++; }, koffi.pointer(FreeCb));

  async function nextEvent(type) {
    const deadline = Date.now() + 30_000;
    while (!events.length) {
      check(Date.now() < deadline, `no ${type} event within 30 s`);
      await within(new Promise((r) => eventWaiters.push(r)), 200, null);
    }
    const e = events.shift();
    check(e.type === type, `event ${JSON.stringify(e)}, expected ${type}`);
    return e;
  }

  const cfgOut = [null];
  ok(C.config_new(cfgOut), 'config_new');
  const cfg = cfgOut[0];
  ok(C.set_listen(cfg, '127.0.0.1', 0), 'set_listen');
  ok(C.set_upstream(cfg, SERVER.length, SERVER), 'set_upstream');
  ok(C.set_io_threads(cfg, 2), 'set_io_threads');
  ok(C.set_event_cb(cfg, onEvent), 'set_event_cb');
  ok(C.set_log_cb(cfg, onLog), 'set_log_cb');
  ok(C.set_user_data(cfg, null, onFree), 'set_user_data');
  const proxyOut = [null];
  ok(C.proxy_new(proxyOut, cfg), 'proxy_new');
  C.config_free(cfg);
  const proxy = proxyOut[0];

  ok(startTagged(proxy), 'proxy_start');
  const libThreads = threadsNamed(LIB_TAG);
  check(libThreads.length === 2, `the 2 I/O threads named ${LIB_TAG}: ${libThreads}`);
  const url = owned(C.proxy_url, proxy);
  check(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/.test(url), `url ${url}`);

  const client = startClient(url);
  try {
    const sid = await client.expect('session');
    const echoed = await client.expect('echo');
    check(echoed === 'héllo ✓ 🎉', `echo through the proxy: ${echoed}`);

    const opened = await nextEvent('SESSION_OPENED');
    check(opened.id === sid, `opened ${opened.id}, the client has ${sid}`);
    const ready = await nextEvent('SESSION_READY'); // detail: the protocol version the server chose
    check(ready.id === sid && ready.detail.length > 0, `ready ${JSON.stringify(ready)}`);
    const sessions = JSON.parse(owned(C.sessions_json, proxy));
    check(sessions.length === 1 && sessions[0].id === sid, `sessions ${JSON.stringify(sessions)}`);
    const upstream = sessions[0].upstream.pid;
    check(upstream > 0 && alive(upstream), `upstream pid ${upstream}`);
    check(children().includes(upstream), 'the session server is a child of this process');

    ok(C.close_session(proxy, sid), 'close_session');
    const closed = await nextEvent('SESSION_CLOSED');
    check(closed.id === sid && closed.detail.length > 0, `closed ${JSON.stringify(closed)}`);
    await waitUntil('the session server to be reaped', 10_000, () => !alive(upstream));
    check(C.close_session(proxy, sid) === -7, 'closing it again is MCPFWD_E_NOT_FOUND');

    client.send('call');
    await client.expect('call-error');
    client.child.stdin.end();
    const code = await within(client.exited, 30_000, 'timeout');
    check(code === 0, `client exit ${code}; stderr:\n${client.stderr()}`);
  } finally {
    if (client.child.exitCode === null) {
      client.child.kill('SIGKILL');
      await client.exited;
    }
  }

  ok(C.proxy_stop(proxy), 'proxy_stop');
  // free joins the I/O threads, which may be waiting for this thread to run a callback: async.
  await new Promise((resolve, reject) =>
    C.proxy_free.async(proxy, (err) => (err ? reject(err) : resolve())));
  check(freed === 1, `user_data destructor ran ${freed} times`);
  check(callbacksAfterFree === 0, `${callbacksAfterFree} callbacks after the destructor`);
  koffi.unregister(onEvent);
  koffi.unregister(onLog);
  koffi.unregister(onFree);

  check(threadsNamed(LIB_TAG).length === 0, `library threads left: ${threadsNamed(LIB_TAG)}`);
  check(children().length === 0, `child processes left: ${children()}`);
  check(logLines.some((l) => l.includes('listening on')), 'the log callback saw "listening on"');
  check(events.length === 0, `unexpected events ${JSON.stringify(events)}`);
}

async function badUpstreamCommand() {
  const bad = 'mcpfwd-no-such-command-for-tests';
  const [r, w] = [fs.openSync('/dev/null', 'r'), fs.openSync('/dev/null', 'w')];
  const cfgOut = [null];
  ok(C.config_new(cfgOut), 'config_new');
  const cfg = cfgOut[0];
  ok(C.set_stdio(cfg, r, w), 'set_stdio');
  ok(C.set_upstream(cfg, 1, [bad]), 'set_upstream');
  const proxyOut = [null];
  ok(C.proxy_new(proxyOut, cfg), 'proxy_new');
  C.config_free(cfg);
  const status = startTagged(proxyOut[0]);
  const message = C.last_error();
  check(status === -4, `start status ${status}, expected MCPFWD_E_IO (-4)`);
  check(message.includes(bad), `last_error: ${message}`);
  await new Promise((resolve) => C.proxy_free.async(proxyOut[0], () => resolve()));
  fs.closeSync(r);
  fs.closeSync(w);
  check(threadsNamed(LIB_TAG).length === 0, 'library threads left');
  check(children().length === 0, `child processes left: ${children()}`);
}

let failed = 0;
for (const [name, fn] of [
  ['session through the proxy: list, events, close, no leaks', sessionThroughTheProxy],
  ['bad upstream command fails start with MCPFWD_E_IO', badUpstreamCommand],
]) {
  const t0 = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n${e.stack}`);
  }
}
console.log(`koffi ${koffi.version}, libmcpfwd ${C.version_string()}: ${failed ? 'FAILED' : 'ALL PASSED'}`);
clearTimeout(watchdog);
process.exitCode = failed ? 1 : 0;
