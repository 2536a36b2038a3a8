package org.mcpfwd;

import java.time.Duration;
import java.util.List;

/**
 * A proxy's configuration: typed setters over the C API's config object. {@link Proxy} copies it,
 * so close it whenever you like afterwards. One thread at a time. Setters return {@code this} and
 * throw {@link McpfwdException} (status {@link Status#INVALID_ARG}) on a bad value, with the
 * library's message.
 *
 * <p>A C setter this class does not wrap yet (added to the C API later) is reachable as a static
 * method of {@link McpfwdNative} under its C name, taking {@link #handle()}: {@code
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
