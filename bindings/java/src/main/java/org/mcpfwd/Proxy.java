package org.mcpfwd;

import java.time.Duration;
import java.util.List;
import java.util.OptionalInt;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * An mcpfwd proxy running in this process, on its own I/O threads, in front of an upstream MCP
 * server (a command it spawns per session, or a remote server: {@code cfg.set("upstream",
 * url)}). Always close it (try-with-resources): there is no finalizer.
 *
 * <pre>{@code
 * try (Config cfg = new Config().setListen("127.0.0.1", 0).setUpstreamCommand("python3", "server.py");
 *      Proxy proxy = new Proxy(cfg, event -> System.out.println(event))) {
 *   proxy.start();
 *   System.out.println(proxy.url());   // MCP clients connect here, one server per session
 *   ...
 * }
 * }</pre>
 *
 * <p>Every method may be called from any thread; {@link #stop()} also from inside a listener.
 * Failures throw {@link McpfwdException} with the library's status and message.
 */
public final class Proxy implements AutoCloseable {
  static {
    NativeLoader.load();
  }

  private static final int CALLBACK_EVENTS = 1; // mcpfwd::swig::CALLBACK_EVENTS
  private static final int CALLBACK_LOG = 2; // mcpfwd::swig::CALLBACK_LOG
  private static final int CALLBACK_MESSAGES = 4; // mcpfwd::swig::CALLBACK_MESSAGES

  // Held shared by every call, exclusively by close(). Calls only ever try to take it, so a
  // listener calling stop() while close() joins the I/O threads cannot deadlock.
  private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
  private NativeProxy nat;

  /** A proxy without callbacks (logs go to standard error). */
  public Proxy(Config config) {
    this(config, null, null);
  }

  /** A proxy delivering session events to {@code listener} (may be null). */
  public Proxy(Config config, ProxyListener listener) {
    this(config, listener, null);
  }

  /**
   * A proxy delivering session events to {@code listener} and log lines to {@code log} instead of
   * standard error (either may be null). The config is copied.
   */
  public Proxy(Config config, ProxyListener listener, LogHandler log) {
    this(config, new Callbacks().observe(listener).onLog(log));
  }

  /**
   * A proxy with these callbacks (null: none): session events (an {@link EventHandler} may refuse
   * a session), log lines, and the message hook. The config is copied. Throws {@link
   * McpfwdException} ({@link Status#INVALID_ARG}) when the config lacks a downstream or an
   * upstream, or has an option set that does not apply to them, with the library's message.
   */
  public Proxy(Config config, Callbacks callbacks) {
    NativeConfig c = config.nativeConfig();
    Callbacks cb = callbacks != null ? callbacks : new Callbacks();
    int flags =
        (cb.events != null ? CALLBACK_EVENTS : 0)
            | (cb.log != null ? CALLBACK_LOG : 0)
            | (cb.messages != null ? CALLBACK_MESSAGES : 0);
    ListenerBridge bridge = flags == 0 ? null : new ListenerBridge(cb);
    NativeProxy n = new NativeProxy();
    try {
      // The C++ proxy owns the bridge from here on (also if this throws): it deletes it, and so
      // releases the Java object, after the last callback.
      n.open(c, bridge, flags);
    } catch (RuntimeException e) {
      n.delete();
      throw e;
    }
    nat = n;
  }

  private interface Call<T> {
    T run(NativeProxy n);
  }

  private <T> T call(Call<T> fn) {
    if (!lock.readLock().tryLock()) throw closed();
    try {
      if (nat == null) throw closed();
      return fn.run(nat);
    } finally {
      lock.readLock().unlock();
    }
  }

  private static McpfwdException closed() {
    return new McpfwdException(Status.STATE.code(), "proxy is closed");
  }

  /**
   * HTTP: bind and start accepting; stdio: spawn the server and start forwarding. Throws with
   * {@link Status#IO} if that fails, {@link Status#STATE} if already started.
   */
  public void start() {
    call(n -> {
      n.start();
      return null;
    });
  }

  /**
   * Begin a graceful shutdown and return at once (sessions close, servers get their stdin closed,
   * then SIGTERM and SIGKILL after the grace periods). Idempotent; any thread, also a listener.
   */
  public void stop() {
    if (!lock.readLock().tryLock()) return; // closing: it stops anyway
    try {
      if (nat != null) nat.stop();
    } finally {
      lock.readLock().unlock();
    }
  }

  /** Wait until the proxy has finished (an HTTP proxy: after stop) and return its exit code. */
  public int waitFor() {
    return call(
        n -> {
          n.waitFor(-1);
          return n.exitCode();
        });
  }

  /** Like {@link #waitFor()}, but empty if the proxy is still running after {@code timeout}. */
  public OptionalInt waitFor(Duration timeout) {
    long ms = Math.max(0, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
    return call(
        n -> {
          try {
            n.waitFor((int) ms);
          } catch (McpfwdException e) {
            if (e.status() == Status.TIMEOUT) return OptionalInt.empty();
            throw e;
          }
          return OptionalInt.of(n.exitCode());
        });
  }

  private String text(Call<Void> fn, String[] out) {
    call(fn);
    return out[0];
  }

  /** The endpoint of an HTTP proxy, e.g. "http://127.0.0.1:43123/mcp" ("" in stdio mode). */
  public String url() {
    String[] out = new String[1];
    return text(n -> { n.url(out); return null; }, out);
  }

  /** The session list as the C API hands it out (a JSON array; schema in docs/c-api.md). */
  public String sessionsJson() {
    String[] out = new String[1];
    return text(n -> { n.sessionsJson(out); return null; }, out);
  }

  /** One session as JSON; {@link Status#NOT_FOUND} if there is none with that id. */
  public String sessionJson(String id) {
    String[] out = new String[1];
    return text(n -> { n.sessionJson(id, out); return null; }, out);
  }

  /** The proxy's counters as JSON (schema in docs/c-api.md). */
  public String statsJson() {
    String[] out = new String[1];
    return text(n -> { n.statsJson(out); return null; }, out);
  }

  /** A human-readable table of the sessions (for people: the format may change). */
  public String statusText() {
    String[] out = new String[1];
    return text(n -> { n.statusText(out); return null; }, out);
  }

  /** The sessions of an HTTP proxy. */
  public List<Session> sessions() {
    return Session.listFromJson(sessionsJson());
  }

  /** One session; {@link Status#NOT_FOUND} if there is none with that id. */
  public Session session(String id) {
    return Session.fromJson(sessionJson(id));
  }

  /**
   * End one session: its requests in flight get a JSON-RPC error, its server is terminated, its
   * id answers 404 from now on. Returns at once; the SESSION_CLOSED event follows. {@link
   * Status#NOT_FOUND} if there is no such session.
   */
  public void closeSession(String id) {
    call(n -> {
      n.closeSession(id);
      return null;
    });
  }

  /** The C handle, for functions of {@link McpfwdNative} taking an {@code mcpfwd_proxy *}. */
  public SWIGTYPE_p_mcpfwd_proxy handle() {
    return call(NativeProxy::handle);
  }

  /**
   * Stop the proxy if it runs, wait for its sessions and server processes to finish, join its
   * threads and release it. Afterwards no callback runs. Idempotent. Not from inside a listener
   * (it would wait for the very thread running it): call {@link #stop()} there.
   */
  @Override
  public void close() {
    stop(); // lets a waitFor() in another thread return, so the lock below is granted
    lock.writeLock().lock();
    try {
      NativeProxy n = nat;
      nat = null;
      if (n != null) {
        n.close(); // mcpfwd_proxy_free: joins the I/O threads, then deletes the bridge
        n.delete();
      }
    } finally {
      lock.writeLock().unlock();
    }
  }
}
