package org.mcpfwd;

/**
 * Receives the proxy's log lines instead of standard error; same thread rules as {@link
 * ProxyListener}.
 */
@FunctionalInterface
public interface LogHandler {
  /**
   * @param level the line's level
   * @param source "mcpfwd" for the proxy's own lines, "server" for a line an upstream server
   *     wrote to its stderr
   * @param text the line, without its newline
   */
  void onLog(LogLevel level, String source, String text);
}
