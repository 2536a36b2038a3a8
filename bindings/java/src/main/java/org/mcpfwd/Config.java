package org.mcpfwd;

import java.time.Duration;
import java.util.List;

/**
 * A proxy's configuration over the C API's config object. {@link Proxy} copies it, so close it
 * whenever you like afterwards. One thread at a time. Setters return {@code this} and throw
 * {@link McpfwdException} (status {@link Status#INVALID_ARG}) on a bad value, with the library's
 * message, which names the option.
 *
 * <p>Every option of the library is reachable by name with {@link #set(String, String)}, its
 * value as text ({@code cfg.set("max-connections", "512")}); {@link #options()} lists them all
 * (docs/options.md). An option set for a mode it does not apply to (an HTTP option with stdio, a
 * remote-upstream option with a server command) makes {@link Proxy}'s constructor throw, naming
 * it. The typed setters below are shortcuts for the common ones.
 *
 * <p>A raw C function taking the config is reachable as a static method of {@link McpfwdNative}
 * under its C name, taking {@link #handle()}: {@code
 * McpfwdNative.mcpfwd_config_set_xxx(config.handle(), ...)}; it throws the same way.
 */
public final class Config implements AutoCloseable {
  static {
    NativeLoader.load();
  }

  private NativeConfig nat = new NativeConfig();

  /** The C handle, for the raw functions of {@link McpfwdNative}. */
  public SWIGTYPE_p_mcpfwd_config handle() {
    return open().handle();
  }

  NativeConfig nativeConfig() {
    return open();
  }

  private NativeConfig open() {
    NativeConfig n = nat;
    if (n == null) throw new McpfwdException(Status.STATE.code(), "config is closed");
    return n;
  }

  private static long millis(Duration d) {
    if (d == null) throw new NullPointerException("duration");
    if (d.isNegative() || d.toMillis() > 0xFFFFFFFFL) {
      throw new McpfwdException(Status.INVALID_ARG.code(), "duration " + d + " out of range");
    }
    return d.toMillis();
  }

  /**
   * Any option of the library's table by name ("max-sessions", "allow-host", ...), its value as
   * text, parsed by the option's type: a decimal number ("5000": milliseconds for a duration,
   * "1048576" for bytes), "true"/"false" for a flag, one of its {@link Option#choices()}, {@code
   * HOST:PORT} for an address; a list option ("allow-host") appends one entry per call. Throws
   * {@link McpfwdException} ({@link Status#INVALID_ARG}) for an unknown name or a bad value, with
   * the library's message (e.g. "--max-sessions must be at least 1").
   */
  public Config set(String name, String value) {
    if (name == null || value == null) throw new NullPointerException("name and value");
    open().set(name, value);
    return this;
  }

  /** Every option of the library, in the table's order (docs/options.md lists them). */
  public static List<Option> options() {
    return Option.readTable();
  }

  /**
   * Serve many clients over Streamable HTTP at http://host:port/mcp, each session with its own
   * server process. Port 0 picks a free port (read {@link Proxy#url()} after start).
   */
  public Config setListen(String host, int port) {
    McpfwdNative.mcpfwd_config_set_listen(handle(), host, port);
    return this;
  }

  /**
   * Serve one client over two file descriptors carrying newline-delimited JSON-RPC; they are
   * dup()ed at start, the caller keeps its own.
   */
  public Config setDownstreamStdio(int inFd, int outFd) {
    McpfwdNative.mcpfwd_config_set_downstream_stdio(handle(), inFd, outFd);
    return this;
  }

  /** The MCP server to spawn: argv[0] is looked up in PATH, no shell is involved. */
  public Config setUpstreamCommand(String... argv) {
    return setUpstreamCommand(List.of(argv));
  }

  /** The MCP server to spawn: argv[0] is looked up in PATH, no shell is involved. */
  public Config setUpstreamCommand(List<String> argv) {
    for (String a : argv) {
      if (a.indexOf('\0') >= 0) {
        throw new McpfwdException(Status.INVALID_ARG.code(), "upstream argument contains NUL");
      }
    }
    // One string crosses JNI: the arguments separated by NUL characters.
    open().setUpstreamArgv(String.join("\0", argv));
    return this;
  }

  /** Largest JSON-RPC message accepted either way (default 4 MiB, at least 64). */
  public Config setMaxMessageBytes(long bytes) {
    McpfwdNative.mcpfwd_config_set_max_message_bytes(handle(), bytes);
    return this;
  }

  /** How long shutdown waits at each step (default 2 s). */
  public Config setShutdownGrace(Duration grace) {
    McpfwdNative.mcpfwd_config_set_shutdown_grace_ms(handle(), millis(grace));
    return this;
  }

  /** Lowest level logged (default INFO). */
  public Config setLogLevel(LogLevel level) {
    McpfwdNative.mcpfwd_config_set_log_level(handle(), level);
    return this;
  }

  /** Most HTTP sessions at once (default 1000). */
  public Config setMaxSessions(long n) {
    McpfwdNative.mcpfwd_config_set_max_sessions(handle(), n);
    return this;
  }

  /** Close HTTP sessions idle this long (default 30 min). */
  public Config setIdleTimeout(Duration idle) {
    McpfwdNative.mcpfwd_config_set_idle_timeout_ms(handle(), millis(idle));
    return this;
  }

  /** Answer a request upstream has not answered in time with an error (default 0: none). */
  public Config setRequestTimeout(Duration timeout) {
    McpfwdNative.mcpfwd_config_set_request_timeout_ms(handle(), millis(timeout));
    return this;
  }

  /** At shutdown, let requests in flight finish for up to this long (default 5 s). */
  public Config setDrainTimeout(Duration drain) {
    McpfwdNative.mcpfwd_config_set_drain_timeout_ms(handle(), millis(drain));
    return this;
  }

  /** Allow this Origin (exact, or "*"); default: localhost origins only. */
  public Config addAllowedOrigin(String origin) {
    McpfwdNative.mcpfwd_config_add_allowed_origin(handle(), origin);
    return this;
  }

  /** Require "Authorization: Bearer token" on every HTTP request (null or "": none). */
  public Config setAuthToken(String token) {
    McpfwdNative.mcpfwd_config_set_auth_token(handle(), token);
    return this;
  }

  /** I/O threads of an HTTP proxy (default 0: one per core). */
  public Config setIoThreads(int n) {
    McpfwdNative.mcpfwd_config_set_io_threads(handle(), n);
    return this;
  }

  /** Release the configuration; idempotent. */
  @Override
  public synchronized void close() {
    NativeConfig n = nat;
    nat = null;
    if (n != null) n.delete();
  }
}
