package org.mcpfwd;

/**
 * One JSON-RPC message a session forwards, shown to a {@link MessageHandler} before it goes on.
 *
 * @param direction which way it goes
 * @param sessionId its session's id ("stdio" in stdio mode)
 * @param json the message as received (one line of JSON, without the newline), decoded as UTF-8
 */
public record Message(Direction direction, String sessionId, String json) {}
