package org.mcpfwd;

/**
 * The callbacks of a {@link Proxy}, each optional:
 *
 * <pre>{@code
 * Callbacks cb = new Callbacks()
 *     .onEvent(event -> !isBlocked(event))          // false on SESSION_OPENED refuses it
 *     .onLog((level, source, text) -> log(text))    // instead of standard error
 *     .onMessage(message -> audit(message));        // false drops it, closes its session
 * try (Proxy proxy = new Proxy(config, cb)) { ... }
 * }</pre>
 *
 * Only the callbacks set are registered with the library. All run on the proxy's own I/O
 * threads (see {@link ProxyListener}). Not thread-safe; the proxy reads it once.
 */
public final class Callbacks {
  EventHandler events;
  LogHandler log;
  MessageHandler messages;

  /** Session events; the handler's {@code false} on SESSION_OPENED refuses that session. */
  public Callbacks onEvent(EventHandler handler) {
    this.events = handler;
    return this;
  }

  /** Session events to observe only (never refuses a session); replaces {@link #onEvent}. */
  public Callbacks observe(ProxyListener listener) {
    this.events =
        listener == null
            ? null
            : event -> {
              listener.onEvent(event);
              return true;
            };
    return this;
  }

  /** Log lines, instead of standard error. */
  public Callbacks onLog(LogHandler handler) {
    this.log = handler;
    return this;
  }

  /** Every forwarded message (the message hook); {@code false} drops it, closes its session. */
  public Callbacks onMessage(MessageHandler handler) {
    this.messages = handler;
    return this;
  }
}
