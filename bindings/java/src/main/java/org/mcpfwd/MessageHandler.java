package org.mcpfwd;

/**
 * Sees every JSON-RPC message a session forwards, either way, before it is forwarded (the
 * message hook). Returning {@code false} drops the message and closes its session. It runs on
 * the forwarding path of a proxy I/O thread, once per message, with the JNI crossing that
 * costs: keep it short, never block; from inside it only {@link Proxy#stop()} may be called. An
 * exception it throws is reported to the thread's uncaught-exception handler and counts as
 * {@code true}. Without a message handler nothing is spent on messages.
 */
@FunctionalInterface
public interface MessageHandler {
  boolean onMessage(Message message);
}
