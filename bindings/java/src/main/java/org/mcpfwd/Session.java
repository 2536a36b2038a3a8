package org.mcpfwd;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * One session of an HTTP proxy: the C API's session object (docs/c-api.md), decoded.
 *
 * @param id the session id (the Mcp-Session-Id the client uses)
 * @param state "starting", "ready", "draining" or "closed"
 * @param createdMs creation time, milliseconds since the Unix epoch
 * @param lastActivityMs last traffic, milliseconds since the Unix epoch
 * @param upstream the session's server process
 * @param clientToServer messages and bytes forwarded to the server
 * @param serverToClient messages and bytes forwarded to the client
 * @param inFlight requests not answered yet
 * @param openStreams SSE streams open
 * @param errors errors seen
 * @param dropped server messages lost because no stream was open and the buffer was full
 * @param upstreamExit how the server process ended, null while it runs
 */
public record Session(
    String id,
    String state,
    long createdMs,
    long lastActivityMs,
    Upstream upstream,
    Traffic clientToServer,
    Traffic serverToClient,
    long inFlight,
    long openStreams,
    long errors,
    long dropped,
    String upstreamExit) {

  /** A session's server process. */
  public record Upstream(String kind, long pid) {}

  /** Messages and bytes forwarded one way. */
  public record Traffic(long messages, long bytes) {}

  public Instant created() {
    return Instant.ofEpochMilli(createdMs);
  }

  public Instant lastActivity() {
    return Instant.ofEpochMilli(lastActivityMs);
  }

  static Session fromJson(String json) {
    return from(Json.object(Json.parse(json)));
  }

  static List<Session> listFromJson(String json) {
    List<Session> out = new ArrayList<>();
    for (Object o : Json.array(Json.parse(json))) out.add(from(Json.object(o)));
    return List.copyOf(out);
  }

  private static Session from(Map<String, Object> o) {
    Map<String, Object> up = Json.object(o.get("upstream"));
    return new Session(
        Json.string(o.get("id")),
        Json.string(o.get("state")),
        Json.number(o.get("created_ms")),
        Json.number(o.get("last_activity_ms")),
        new Upstream(Json.string(up.get("kind")), Json.number(up.get("pid"))),
        traffic(o.get("client_to_server")),
        traffic(o.get("server_to_client")),
        Json.number(o.get("in_flight")),
        Json.number(o.get("open_streams")),
        Json.number(o.get("errors")),
        Json.number(o.get("dropped")),
        o.get("upstream_exit") == null ? null : Json.string(o.get("upstream_exit")));
  }

  private static Traffic traffic(Object v) {
    Map<String, Object> t = Json.object(v);
    return new Traffic(Json.number(t.get("messages")), Json.number(t.get("bytes")));
  }
}
