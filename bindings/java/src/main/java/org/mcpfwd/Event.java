package org.mcpfwd;

/**
 * One session event.
 *
 * @param type what happened
 * @param sessionId the session's id ("" for a rejection, which has no session)
 * @param detail the close reason or the rejection cause (may be "")
 */
public record Event(EventType type, String sessionId, String detail) {}
