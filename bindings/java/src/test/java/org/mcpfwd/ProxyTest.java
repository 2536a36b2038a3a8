package org.mcpfwd;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;

/**
 * End-to-end tests of the Java binding: a real proxy in this JVM, in front of
 * tests/servers/fastmcp_server.py, with the MCP Python SDK client (tests/bindings/mcp_client.py)
 * as a subprocess. No test framework (nothing to download): {@code java ... org.mcpfwd.ProxyTest
 * REPO_ROOT} runs every test, prints one line each and exits 1 if any failed. A watchdog halts the
 * JVM after 100 s.
 *
 * <p>Thread accounting: the test names the thread that calls start() ("mcpfwd-lib"); the threads
 * the library creates inherit that name, and none may be left after close().
 */
public final class ProxyTest {
  private static final String LIB_TAG = "mcpfwd-lib";
  private static Path root;
  private static String python;

  public static void main(String[] args) throws Exception {
    root = Path.of(args.length > 0 ? args[0] : "../..").toAbsolutePath().normalize();
    python = System.getenv().getOrDefault("PYTHON", "python3");
    Thread watchdog =
        new Thread(
            () -> {
              try {
                Thread.sleep(100_000);
                System.err.println("ProxyTest: still running after 100 s, halting");
                Runtime.getRuntime().halt(3);
              } catch (InterruptedException e) {
                // finished in time
              }
            });
    watchdog.setDaemon(true);
    watchdog.start();

    List<String> failed = new ArrayList<>();
    run("session through the proxy: list, events, close, no leaks",
        ProxyTest::sessionThroughTheProxy, failed);
    run("bad upstream command is an McpfwdException(IO)", ProxyTest::badUpstreamCommand, failed);
    run("config errors are McpfwdExceptions", ProxyTest::configErrors, failed);
    run("unknown session is NOT_FOUND; calls after close are STATE", ProxyTest::notFoundAndClosed, failed);
    run("strings cross JNI as real UTF-8", ProxyTest::utf8RoundTrip, failed);
    run("every option of the table is settable by name; bad values are refused",
        ProxyTest::everyOptionIsSettableByName, failed);
    run("an option of another mode makes the Proxy constructor throw, naming it",
        ProxyTest::optionOfAnotherMode, failed);
    run("the event handler refuses a session; the message hook sees and drops messages",
        ProxyTest::refuseSessionAndMessageHook, failed);
    watchdog.interrupt();
    System.out.println(failed.isEmpty() ? "ALL PASSED" : "FAILED: " + failed);
    System.exit(failed.isEmpty() ? 0 : 1);
  }

  interface Test {
    void run() throws Exception;
  }

  private static void run(String name, Test t, List<String> failed) {
    long t0 = System.nanoTime();
    try {
      t.run();
      System.out.printf("ok   %s (%d ms)%n", name, (System.nanoTime() - t0) / 1_000_000);
    } catch (Throwable e) {
      failed.add(name);
      System.out.printf("FAIL %s%n", name);
      e.printStackTrace(System.out);
    }
  }

  // ------------------------------------------------------------------ checks

  static void check(boolean ok, String what) {
    if (!ok) throw new AssertionError(what);
  }

  static void waitUntil(String what, Duration timeout, BooleanSupplier cond) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (!cond.getAsBoolean()) {
      if (System.nanoTime() > deadline) throw new AssertionError("timed out waiting for " + what);
      Thread.sleep(20);
    }
  }

  static <T extends Throwable> T expectThrows(Class<T> type, Test t) throws Exception {
    try {
      t.run();
    } catch (Throwable e) {
      if (type.isInstance(e)) return type.cast(e);
      throw new AssertionError("expected " + type.getSimpleName() + ", got " + e, e);
    }
    throw new AssertionError("expected " + type.getSimpleName() + ", nothing was thrown");
  }

  // ------------------------------------------------------------------- /proc

  static String comm(String tid) {
    try {
      return Files.readString(Path.of("/proc/self/task", tid, "comm")).strip();
    } catch (IOException e) {
      return "";
    }
  }

  /** This process's threads named {@code name} (kernel thread ids). */
  static Set<String> threadsNamed(String name) throws IOException {
    Set<String> out = new TreeSet<>();
    try (Stream<Path> s = Files.list(Path.of("/proc/self/task"))) {
      s.forEach(
          p -> {
            String tid = p.getFileName().toString();
            if (comm(tid).equals(name)) out.add(tid);
          });
    }
    return out;
  }

  /** The kernel id of the calling thread. */
  static String tid() throws IOException {
    return Files.readSymbolicLink(Path.of("/proc/thread-self")).getFileName().toString();
  }

  /** Calls start() on a thread named LIB_TAG: the library's threads inherit the name. */
  static void startTagged(Proxy proxy) throws IOException {
    Path comm = Path.of("/proc/thread-self/comm");
    String old = Files.readString(comm).strip();
    Files.writeString(comm, LIB_TAG);
    try {
      proxy.start();
    } finally {
      Files.writeString(comm, old);
    }
  }

  /** Running (or zombie: not reaped yet) process? */
  static boolean alive(long pid) {
    try {
      String s = Files.readString(Path.of("/proc/" + pid + "/stat"));
      String[] rest = s.substring(s.lastIndexOf(')') + 2).split(" ");
      return !rest[0].equals("Z");
    } catch (IOException e) {
      return false;
    }
  }

  static List<Long> children() {
    List<Long> out = new ArrayList<>();
    ProcessHandle.current().children().forEach(p -> out.add(p.pid()));
    Collections.sort(out);
    return out;
  }

  static List<String> serverCommand() {
    return List.of(python, root.resolve("tests/servers/fastmcp_server.py").toString());
  }

  // ------------------------------------------------------------------ client

  /** tests/bindings/mcp_client.py: the MCP Python SDK client, as a subprocess. */
  static final class Client implements AutoCloseable {
    final Process process;
    final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    final StringBuffer stderr = new StringBuffer();
    final Writer stdin;

    Client(String url) throws IOException {
      process =
          new ProcessBuilder(python, root.resolve("tests/bindings/mcp_client.py").toString(), url)
              .start();
      stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
      pump(new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8)), true);
      pump(new BufferedReader(
          new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8)), false);
    }

    private void pump(BufferedReader r, boolean out) {
      Thread t =
          new Thread(
              () -> {
                try {
                  for (String l; (l = r.readLine()) != null; ) {
                    if (out) lines.add(l);
                    else stderr.append(l).append('\n');
                  }
                } catch (IOException e) {
                  // the process is gone
                }
              });
      t.setDaemon(true);
      t.start();
    }

    String expect(String prefix) throws InterruptedException {
      String l = lines.poll(30, TimeUnit.SECONDS);
      check(l != null, "MCP client: no '" + prefix + "' line within 30 s; stderr:\n" + stderr);
      check(l.startsWith(prefix + " "),
          "MCP client said '" + l + "', expected '" + prefix + " ...'; stderr:\n" + stderr);
      return l.substring(prefix.length() + 1);
    }

    void send(String command) throws IOException {
      stdin.write(command + "\n");
      stdin.flush();
    }

    /** Tell it to leave and reap it; its exit status. */
    int finish() throws Exception {
      stdin.close();
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        throw new AssertionError("MCP client did not exit within 30 s; stderr:\n" + stderr);
      }
      return process.exitValue();
    }

    @Override
    public void close() {
      if (!process.isAlive()) return;
      try {
        process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  // ------------------------------------------------------------------- tests

  static void sessionThroughTheProxy() throws Exception {
    check(children().isEmpty(), "children before the test: " + children());
    check(threadsNamed(LIB_TAG).isEmpty(), "threads named " + LIB_TAG + " before the test");

    BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    Set<Thread> callbackThreads = ConcurrentHashMap.newKeySet();
    Set<String> callbackTids = ConcurrentHashMap.newKeySet();
    List<String> logLines = Collections.synchronizedList(new ArrayList<>());
    Set<String> libThreads;
    String sid;
    long upstream;
    try (Config cfg =
        new Config()
            .setListen("127.0.0.1", 0)
            .setUpstreamCommand(serverCommand())
            .setShutdownGrace(Duration.ofSeconds(2))) {
      // A raw C setter, the way one that Config lacks (added to the C API later) is called.
      McpfwdNative.mcpfwd_config_set_io_threads(cfg.handle(), 2);
      try (Proxy proxy =
          new Proxy(
              cfg,
              event -> {
                callbackThreads.add(Thread.currentThread());
                try {
                  callbackTids.add(tid());
                } catch (IOException e) {
                  throw new RuntimeException(e);
                }
                events.add(event);
              },
              (level, source, text) -> {
                callbackThreads.add(Thread.currentThread());
                logLines.add(level + " " + source + ": " + text);
              })) {
        startTagged(proxy);
        libThreads = threadsNamed(LIB_TAG);
        check(libThreads.size() == 2, "the 2 I/O threads named " + LIB_TAG + ": " + libThreads);
        String url = proxy.url();
        check(url.startsWith("http://127.0.0.1:") && url.endsWith("/mcp"), "url " + url);

        try (Client client = new Client(url)) {
          sid = client.expect("session");
          String echoed = client.expect("echo");
          check(echoed.equals("héllo ✓ 🎉"), "echo through the proxy: " + echoed);

          Event opened = events.poll(30, TimeUnit.SECONDS);
          check(opened != null, "no event within 30 s");
          check(opened.type() == EventType.SESSION_OPENED, "first event " + opened);
          check(opened.sessionId().equals(sid), "opened " + opened.sessionId() + ", client has " + sid);
          // ready: the upstream answered initialize; detail: the protocol version it chose
          Event ready = events.poll(30, TimeUnit.SECONDS);
          check(ready != null, "no ready event within 30 s");
          check(ready.type() == EventType.SESSION_READY && ready.sessionId().equals(sid)
                  && ready.detail().matches("\\d{4}-\\d{2}-\\d{2}"), "ready event " + ready);

          List<Session> sessions = proxy.sessions();
          check(sessions.size() == 1 && sessions.get(0).id().equals(sid), "sessions " + sessions);
          Session s = sessions.get(0);
          check(s.upstream().pid() > 0 && s.clientToServer().messages() >= 2
                  && s.serverToClient().messages() >= 2 && s.upstreamExit() == null
                  && s.created().toEpochMilli() > 0, "session " + s);
          upstream = s.upstream().pid();
          check(alive(upstream), "upstream " + upstream + " not running");
          check(proxy.session(sid).upstream().pid() == upstream, "session(" + sid + ")");
          check(proxy.sessionsJson().contains(sid), "sessionsJson");

          proxy.closeSession(sid);
          Event closed = events.poll(30, TimeUnit.SECONDS);
          check(closed != null, "no closed event within 30 s");
          check(closed.type() == EventType.SESSION_CLOSED && closed.sessionId().equals(sid)
                  && !closed.detail().isEmpty(), "closed event " + closed);
          final long up = upstream;
          waitUntil("the session's server to be reaped", Duration.ofSeconds(10), () -> !alive(up));
          McpfwdException nf = expectThrows(McpfwdException.class, () -> proxy.session(sid));
          check(nf.status() == Status.NOT_FOUND, "session after close: " + nf);
          // The client sees its session gone.
          client.send("call");
          client.expect("call-error");
          check(client.finish() == 0, "MCP client failed; stderr:\n" + client.stderr);
        }
        proxy.stop();
        check(proxy.waitFor(Duration.ofSeconds(20)).equals(OptionalInt.of(0)), "exit code");
      }
    }
    // try-with-resources closed the proxy (and the config).
    Set<String> left = threadsNamed(LIB_TAG);
    check(left.isEmpty(), "library threads left after close: " + left + " (were " + libThreads + ")");
    check(libThreads.containsAll(callbackTids),
        "callbacks ran on " + callbackTids + ", not all library threads " + libThreads);
    check(!callbackThreads.isEmpty(), "no callback thread seen");
    // Each I/O thread is attached to the JVM once (SWIG_JAVA_DETACH_ON_THREAD_END), not once per
    // callback: at most one Thread object per library thread, however many callbacks ran.
    check(callbackThreads.size() <= libThreads.size(),
        callbackThreads.size() + " Java threads for " + libThreads.size() + " library threads");
    for (Thread t : callbackThreads) {
      check(!t.isAlive(), "the JVM still has the attached callback thread " + t);
      check(t.isDaemon(), "callback thread attached as non-daemon: " + t);
    }
    check(!logLines.isEmpty(), "no log line reached the handler");
    check(children().isEmpty(), "child processes left: " + children());
    check(events.isEmpty(), "unexpected events " + events);
  }

  static void badUpstreamCommand() throws Exception {
    String bad = "mcpfwd-no-such-command-for-tests";
    // stdio mode spawns at start; fds 0 and 1 are dup()ed only (nothing is read or written:
    // the spawn fails first)
    try (Config cfg = new Config().setDownstreamStdio(0, 1).setUpstreamCommand(bad, "--flag");
        Proxy proxy = new Proxy(cfg, e -> {})) {
      McpfwdException e = expectThrows(McpfwdException.class, () -> startTagged(proxy));
      check(e.status() == Status.IO && e.code() == -4, "status " + e);
      check(e.getMessage().contains(bad), "message " + e.getMessage());
    }
    Set<String> left = threadsNamed(LIB_TAG);
    check(left.isEmpty(), "library threads left after close: " + left);
    check(children().isEmpty(), "child processes left: " + children());
  }

  static void configErrors() throws Exception {
    Config cfg = new Config();
    try {
      McpfwdException e = expectThrows(McpfwdException.class, () -> cfg.setMaxMessageBytes(10));
      check(e.status() == Status.INVALID_ARG && e.getMessage().contains("64"), "setMaxMessageBytes: " + e);
      e = expectThrows(McpfwdException.class, () -> cfg.setShutdownGrace(Duration.ofSeconds(-1)));
      check(e.status() == Status.INVALID_ARG, "negative grace: " + e);
      e = expectThrows(McpfwdException.class, () -> cfg.setUpstreamCommand());
      check(e.status() == Status.INVALID_ARG, "empty command: " + e);
      // Neither upstream nor downstream: the Proxy constructor says so.
      e = expectThrows(McpfwdException.class, () -> new Proxy(cfg, ev -> {}).close());
      check(e.status() == Status.INVALID_ARG && !e.getMessage().isEmpty(), "new Proxy: " + e);
    } finally {
      cfg.close();
    }
    cfg.close(); // idempotent
    McpfwdException e = expectThrows(McpfwdException.class, () -> cfg.setListen("127.0.0.1", 0));
    check(e.status() == Status.STATE, "setter after close: " + e);
  }

  static void notFoundAndClosed() throws Exception {
    // A handler that throws: the exception goes to the thread's uncaught-exception handler and
    // the proxy goes on (an exception must never unwind into the library's thread).
    List<Throwable> uncaught = Collections.synchronizedList(new ArrayList<>());
    Thread.UncaughtExceptionHandler before = Thread.getDefaultUncaughtExceptionHandler();
    Thread.setDefaultUncaughtExceptionHandler((t, e) -> uncaught.add(e));
    Proxy proxy;
    try (Config cfg =
        new Config()
            .setListen("127.0.0.1", 0)
            .setUpstreamCommand(serverCommand())
            .setIoThreads(1)) {
      proxy =
          new Proxy(
              cfg,
              null,
              (level, source, text) -> {
                throw new IllegalStateException("thrown by the log handler: " + text);
              });
    }
    try {
      startTagged(proxy);
      waitUntil("the handler's exception", Duration.ofSeconds(10), () -> !uncaught.isEmpty());
      check(uncaught.get(0) instanceof IllegalStateException, "uncaught " + uncaught);
      check(threadsNamed(LIB_TAG).size() == 1, "io_threads 1: " + threadsNamed(LIB_TAG));
      McpfwdException e = expectThrows(McpfwdException.class, () -> proxy.closeSession("no-such-session"));
      check(e.status() == Status.NOT_FOUND && e.getMessage().contains("no-such-session"),
          "closeSession: " + e);
      e = expectThrows(McpfwdException.class, proxy::start);
      check(e.status() == Status.STATE, "second start: " + e);
      check(proxy.sessions().isEmpty(), "sessions " + proxy.sessions());
      check(proxy.statsJson().startsWith("{"), "statsJson");
    } finally {
      proxy.close();
      Thread.setDefaultUncaughtExceptionHandler(before);
    }
    proxy.close(); // idempotent
    McpfwdException e = expectThrows(McpfwdException.class, proxy::url);
    check(e.status() == Status.STATE, "url after close: " + e);
    check(threadsNamed(LIB_TAG).isEmpty(), "library threads left after close");
  }

  static void utf8RoundTrip() throws Exception {
    // A character outside the BMP, through JNI and back: the error message quotes the argument.
    String odd = "mcpfwd-no-such-🎉-command";
    try (Config cfg = new Config().setDownstreamStdio(0, 1).setUpstreamCommand(odd);
        Proxy proxy = new Proxy(cfg)) {
      McpfwdException e = expectThrows(McpfwdException.class, proxy::start);
      check(e.getMessage().contains(odd), "message " + e.getMessage());
    }
    check(McpfwdNative.mcpfwd_version_string().equals(McpfwdNative.MCPFWD_VERSION_STRING), "version");
  }

  // ------------------------------------------------------------- the options table

  /** Values to try for an option until the library accepts one (text options differ in form). */
  static List<String> goodValues(Option o) {
    switch (o.type()) {
      case FLAG:
        return List.of("true");
      case INTEGER:
      case DURATION_MS:
      case BYTES:
        return List.of(Long.toString(o.min()));
      case CHOICE:
        return List.of(o.choices().get(0));
      case ADDRESS:
        return List.of("127.0.0.1:0");
      default:
        return List.of("x", "NAME=value", "X-Name: value");
    }
  }

  /** A value the option's type refuses. */
  static String badValue(Option o) {
    switch (o.type()) {
      case FLAG:
        return "maybe";
      case INTEGER:
      case DURATION_MS:
      case BYTES:
        return "not-a-number";
      case CHOICE:
        return "no-such-choice";
      case ADDRESS:
        return "no-port";
      default:
        return "a\0b"; // a NUL byte: a C string would cut it short
    }
  }

  static void everyOptionIsSettableByName() throws Exception {
    List<Option> options = Config.options();
    check(options.size() >= 30, "options: " + options);
    Set<String> names = new TreeSet<>();
    for (Option o : options) {
      check(names.add(o.name()), "duplicate option " + o.name());
      check(!o.help().isEmpty() && o.min() <= o.max(), "option " + o);
      check(o.appliesTo(Option.MODE_STDIO) || o.appliesTo(Option.MODE_HTTP), "downstream " + o);
      check(o.appliesTo(Option.MODE_COMMAND) || o.appliesTo(Option.MODE_URL), "upstream " + o);
      try (Config cfg = new Config()) {
        String accepted = null;
        for (String v : goodValues(o)) {
          try {
            cfg.set(o.name(), v);
            accepted = v;
            break;
          } catch (McpfwdException e) {
            check(e.status() == Status.INVALID_ARG, o.name() + "=" + v + ": " + e);
          }
        }
        check(accepted != null, "no value accepted for " + o.name() + ", tried " + goodValues(o));
        String bad = badValue(o);
        McpfwdException e = expectThrows(McpfwdException.class, () -> cfg.set(o.name(), bad));
        check(e.status() == Status.INVALID_ARG && e.getMessage().contains("--" + o.name()),
            o.name() + "=" + bad + ": " + e);
        if (o.min() > 0) {
          String below = Long.toString(o.min() - 1);
          e = expectThrows(McpfwdException.class, () -> cfg.set(o.name(), below));
          check(e.getMessage().contains("must be at least " + o.min()), o.name() + ": " + e);
        }
      }
    }
    try (Config cfg = new Config()) {
      McpfwdException e = expectThrows(McpfwdException.class, () -> cfg.set("no-such-option", "1"));
      check(e.status() == Status.INVALID_ARG && e.getMessage().contains("unknown option"), "" + e);
    }
  }

  static void optionOfAnotherMode() throws Exception {
    try (Config cfg =
        new Config()
            .setDownstreamStdio(0, 1)
            .setUpstreamCommand(serverCommand())
            .set("max-sessions", "5")) {
      McpfwdException e = expectThrows(McpfwdException.class, () -> new Proxy(cfg).close());
      check(e.status() == Status.INVALID_ARG
              && e.getMessage().contains("--max-sessions applies only to HTTP mode"),
          "new Proxy: " + e);
    }
    try (Config cfg =
        new Config()
            .setListen("127.0.0.1", 0)
            .setUpstreamCommand(serverCommand())
            .set("upstream-pool-max", "4")) {
      McpfwdException e = expectThrows(McpfwdException.class, () -> new Proxy(cfg).close());
      check(e.getMessage().contains("--upstream-pool-max"), "new Proxy: " + e);
    }
  }

  // --------------------------------------------------- refusing a session, message hook

  static final String INITIALIZE =
      "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
          + "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},"
          + "\"clientInfo\":{\"name\":\"java-test\",\"version\":\"0\"}}}";

  static HttpResponse<String> post(HttpClient http, String url, String sid, String body)
      throws Exception {
    HttpRequest.Builder b =
        HttpRequest.newBuilder(URI.create(url))
            .timeout(Duration.ofSeconds(20))
            .header("Content-Type", "application/json")
            .header("Accept", "application/json, text/event-stream")
            .POST(HttpRequest.BodyPublishers.ofString(body));
    if (sid != null) b.header("Mcp-Session-Id", sid).header("MCP-Protocol-Version", "2025-06-18");
    return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
  }

  static Event nextEvent(BlockingQueue<Event> events, EventType type) throws Exception {
    Event e = events.poll(30, TimeUnit.SECONDS);
    check(e != null && e.type() == type, "expected " + type + ", got " + e);
    return e;
  }

  static void refuseSessionAndMessageHook() throws Exception {
    List<String> raw = List.of(python, root.resolve("tests/servers/raw_server.py").toString());
    BlockingQueue<Event> events = new LinkedBlockingQueue<>();
    List<Message> messages = Collections.synchronizedList(new ArrayList<>());
    AtomicBoolean refuseNext = new AtomicBoolean(true);
    Callbacks cb =
        new Callbacks()
            .onEvent(
                event -> {
                  events.add(event);
                  // refuse the first session only
                  return !(event.type() == EventType.SESSION_OPENED && refuseNext.getAndSet(false));
                })
            .onMessage(
                message -> {
                  messages.add(message);
                  return !message.json().contains("raw/forbidden");
                });
    HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    try (Config cfg =
            new Config()
                .set("listen", "127.0.0.1:0")
                .setUpstreamCommand(raw)
                .set("io-threads", "1")
                .set("shutdown-grace-ms", "500");
        Proxy proxy = new Proxy(cfg, cb)) {
      proxy.start();
      String url = proxy.url();

      // refused by the event handler: 403, and the session is closed at once
      HttpResponse<String> r = post(http, url, null, INITIALIZE);
      check(r.statusCode() == 403, "refused initialize: " + r.statusCode() + " " + r.body());
      Event opened = nextEvent(events, EventType.SESSION_OPENED);
      Event closed = nextEvent(events, EventType.SESSION_CLOSED);
      check(closed.sessionId().equals(opened.sessionId()), "closed " + closed);
      check(proxy.sessions().isEmpty(), "sessions after the refusal " + proxy.sessions());

      // accepted: the message hook sees both ways
      r = post(http, url, null, INITIALIZE);
      check(r.statusCode() == 200, "initialize: " + r.statusCode() + " " + r.body());
      String sid = r.headers().firstValue("Mcp-Session-Id").orElse("");
      check(nextEvent(events, EventType.SESSION_OPENED).sessionId().equals(sid), "opened");
      boolean sawRequest = false, sawAnswer = false;
      synchronized (messages) {
        for (Message m : messages) {
          check(m.sessionId().equals(sid), "message of session " + m.sessionId());
          sawRequest |= m.direction() == Direction.CLIENT_TO_SERVER && m.json().contains("\"initialize\"");
          sawAnswer |= m.direction() == Direction.SERVER_TO_CLIENT && m.json().contains("\"result\"");
        }
      }
      check(sawRequest && sawAnswer, "message hook saw " + messages);

      // the hook returns false: the message is dropped, the session closed
      r = post(http, url, sid, "{\"jsonrpc\":\"2.0\",\"id\":50,\"method\":\"raw/forbidden\"}");
      check(r.statusCode() == 404, "forbidden: " + r.statusCode() + " " + r.body());
      Event end = events.poll(30, TimeUnit.SECONDS);
      while (end != null && end.type() != EventType.SESSION_CLOSED) end = events.poll(30, TimeUnit.SECONDS);
      check(end != null && end.sessionId().equals(sid)
              && end.detail().equals("session aborted by the message callback"), "closed " + end);
      synchronized (messages) {
        for (Message m : messages) {
          check(!(m.direction() == Direction.SERVER_TO_CLIENT && m.json().contains("\"id\":50")),
              "the dropped request was answered: " + m);
        }
      }
    }
    check(children().isEmpty(), "child processes left: " + children());
  }
}
