package org.mcpfwd;

/**
 * Receives a proxy's session events. It runs on one of the proxy's own I/O threads (attached to
 * the JVM as a daemon thread): it must return quickly and never block; from inside it only {@link
 * Proxy#stop()} may be called on the proxy (other calls throw {@link McpfwdException} with {@link
 * Status#STATE}). One session's events arrive in order (opened before closed). An exception it
 * throws is reported to the thread's uncaught-exception handler and otherwise ignored.
 */
@FunctionalInterface
public interface ProxyListener {
  void onEvent(Event event);
}
