package org.mcpfwd;

/**
 * Receives a proxy's session events and may refuse a session: returning {@code false} for a
 * {@link EventType#SESSION_OPENED} event closes that session at once (its upstream is
 * terminated, its client's initialize is answered with HTTP 403); the return value of other
 * events is ignored. Same thread rules as {@link ProxyListener}; an exception it throws is
 * reported to the thread's uncaught-exception handler and counts as {@code true}.
 */
@FunctionalInterface
public interface EventHandler {
  boolean onEvent(Event event);
}
