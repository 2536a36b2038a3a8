/*
 * mcpfwd — a forward proxy for the Model Context Protocol (MCP).
 *
 * This header is the library's only public interface and its stable C ABI.
 * It compiles as C99 and as C++.
 *
 * Conventions (see docs/c-api.md):
 *  - Functions that can fail return an mcpfwd_status: 0 is success, failures
 *    are negative. On failure mcpfwd_last_error() describes what went wrong.
 *  - Constructors write the new handle through their first parameter; on
 *    failure *out is set to NULL. Every _free function accepts NULL.
 *  - Strings passed in are UTF-8 and copied before the call returns.
 *    Strings handed out are one of: static (never freed), borrowed (valid
 *    until the next call on the same handle, or the end of a callback), or
 *    owned (released with mcpfwd_string_free, never with free()).
 *  - A handle is used by one thread at a time, except where a function's
 *    "Thread safety" line says otherwise.
 *  - No C++ exception ever crosses this boundary.
 */
#ifndef MCPFWD_MCPFWD_H
#define MCPFWD_MCPFWD_H

#include <stddef.h>
#include <stdint.h>

#include "mcpfwd/mcpfwd_version.h"

#if defined(MCPFWD_STATIC)
#define MCPFWD_API
#elif defined(_WIN32)
#if defined(MCPFWD_BUILDING)
#define MCPFWD_API __declspec(dllexport)
#else
#define MCPFWD_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define MCPFWD_API __attribute__((visibility("default")))
#else
#define MCPFWD_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status */

/** Status codes. Append-only: values are never changed or reused. */
typedef enum mcpfwd_status {
  MCPFWD_OK = 0,
  MCPFWD_E_INVALID_ARG = -1, /**< a parameter was NULL, empty or out of range */
  MCPFWD_E_NOMEM = -2,       /**< memory allocation failed */
  MCPFWD_E_STATE = -3,       /**< the call is not valid in the handle's state */
  MCPFWD_E_IO = -4,          /**< an operating-system call failed (spawn, pipe, socket) */
  MCPFWD_E_TIMEOUT = -5,     /**< a wait ran out of time */
  MCPFWD_E_CALLBACK = -6,    /**< a user callback asked to abort */
  MCPFWD_E_NOT_FOUND = -7,   /**< no such session (unknown id, or it has finished) */
  MCPFWD_E_INTERNAL = -99    /**< a bug: please report it with mcpfwd_last_error() */
} mcpfwd_status;

/**
 * Describe a status code.
 * @return static text, never NULL ("unknown status" for unknown values).
 * Thread safety: any thread.
 */
MCPFWD_API const char *mcpfwd_status_str(mcpfwd_status s);

/**
 * The message of the last failing mcpfwd_ call on this thread.
 * @return borrowed text, valid until the next mcpfwd_ call on this thread;
 *         "" when no call has failed. Never NULL.
 * Thread safety: thread-local; any thread.
 */
MCPFWD_API const char *mcpfwd_last_error(void);

/**
 * Release a string the library handed out as "owned".
 * Ownership: takes ownership of s. NULL is accepted.
 * Thread safety: any thread.
 */
MCPFWD_API void mcpfwd_string_free(char *s);

/* --------------------------------------------------------------- version */

/**
 * The runtime library version, encoded as MCPFWD_VERSION_NUMBER is:
 * (major << 16) | (minor << 8) | patch. Compare it with the macro to detect
 * a header/library mismatch.
 * Thread safety: any thread.
 */
MCPFWD_API uint32_t mcpfwd_version(void);

/** The runtime library version as "MAJOR.MINOR.PATCH". Static. Any thread. */
MCPFWD_API const char *mcpfwd_version_string(void);

/* --------------------------------------------------------------- logging */

/** Log levels, from most to least verbose. */
typedef enum mcpfwd_log_level {
  MCPFWD_LOG_TRACE = 0,
  MCPFWD_LOG_DEBUG = 1,
  MCPFWD_LOG_INFO = 2,
  MCPFWD_LOG_WARN = 3,
  MCPFWD_LOG_ERROR = 4,
  MCPFWD_LOG_OFF = 5
} mcpfwd_log_level;

/**
 * Receives one log line (no trailing newline).
 * @param level    the line's level
 * @param source   static text: "mcpfwd" for the proxy's own lines, "server"
 *                 for a line the upstream server wrote to its stderr
 * @param text     the line, not NUL-terminated; borrowed for the call
 * @param len      its length in bytes
 * @param user_data the pointer given to mcpfwd_config_set_user_data
 * Thread safety: called on a proxy I/O thread; must not block; may call
 * mcpfwd_proxy_stop and nothing else of this library.
 */
typedef void (*mcpfwd_log_cb)(mcpfwd_log_level level, const char *source, const char *text,
                              size_t len, void *user_data);

/** Destructor for user_data, run exactly once after the last callback. */
typedef void (*mcpfwd_free_cb)(void *user_data);

/* ---------------------------------------------------------------- events */

/** What happened to a session. Append-only. */
typedef enum mcpfwd_event_type {
  MCPFWD_EVENT_SESSION_OPENED = 1,   /**< a session exists, its upstream is spawned */
  MCPFWD_EVENT_SESSION_CLOSED = 2,   /**< a session ended, its upstream is reaped; detail: why */
  MCPFWD_EVENT_SESSION_REJECTED = 3, /**< an initialize was refused (limit); detail: why */
  /** The upstream answered the session's initialize successfully: the session is usable.
   * Detail: the protocol version the server chose (e.g. "2025-06-18"). Comes between
   * OPENED and CLOSED, at most once per session (never if initialize failed). */
  MCPFWD_EVENT_SESSION_READY = 4
} mcpfwd_event_type;

/** One event; borrowed by the callback, valid only during the call. */
typedef struct mcpfwd_event mcpfwd_event;

/**
 * Receives session events.
 * @return 0 to go on; nonzero on MCPFWD_EVENT_SESSION_OPENED closes that
 *         session at once (its upstream is terminated; the client's
 *         initialize, or GET /sse, is answered 403). Ignored for other events.
 * Thread safety: called on a proxy I/O thread, never under a lock of the
 * library; one session's events are ordered (opened before closed); with
 * several I/O threads different sessions' events may overlap. Must not
 * block. Inside it only mcpfwd_event_*, mcpfwd_message_* and mcpfwd_proxy_stop may be called;
 * other proxy functions return MCPFWD_E_STATE.
 */
typedef int (*mcpfwd_event_cb)(const mcpfwd_event *ev, void *user_data);

/** The event's type. */
MCPFWD_API mcpfwd_event_type mcpfwd_event_get_type(const mcpfwd_event *ev);

/** The session id (borrowed, NUL-terminated; "stdio" in stdio mode, "" for a
 * rejection, which has no session). Never NULL. */
MCPFWD_API const char *mcpfwd_event_session_id(const mcpfwd_event *ev);

/** Human-readable detail (the close reason, the rejection cause; may be
 * empty). Borrowed, not NUL-terminated: its length goes to *len. */
MCPFWD_API const char *mcpfwd_event_detail(const mcpfwd_event *ev, size_t *len);

/* -------------------------------------------------------------- messages */

/** Which way a message goes. */
typedef enum mcpfwd_direction {
  MCPFWD_CLIENT_TO_SERVER = 1,
  MCPFWD_SERVER_TO_CLIENT = 2
} mcpfwd_direction;

/** One forwarded JSON-RPC message; borrowed, valid only during the callback. */
typedef struct mcpfwd_message mcpfwd_message;

/**
 * Sees each message a session forwards, before it is forwarded (a message
 * mcpfwd rejects as invalid is not shown).
 * @return 0 to go on; nonzero drops this message and closes its session.
 * Thread safety: called on the session's I/O thread, in order for one
 * session; it is on the forwarding path, so keep it short and never block.
 * Inside it only mcpfwd_message_*, mcpfwd_event_* and mcpfwd_proxy_stop may
 * be called.
 */
typedef int (*mcpfwd_message_cb)(const mcpfwd_message *m, void *user_data);

/** The message's direction. */
MCPFWD_API mcpfwd_direction mcpfwd_message_direction(const mcpfwd_message *m);

/** The session id (borrowed, NUL-terminated; "stdio" in stdio mode). */
MCPFWD_API const char *mcpfwd_message_session_id(const mcpfwd_message *m);

/** The message's bytes as received (no newline), not NUL-terminated; the
 * length goes to *len. Borrowed for the call. */
MCPFWD_API const char *mcpfwd_message_bytes(const mcpfwd_message *m, size_t *len);

/* ---------------------------------------------------------------- config */

/** Proxy configuration: an opaque object set through typed setters. */
typedef struct mcpfwd_config mcpfwd_config;

/**
 * Create a configuration with the defaults (see docs/c-api.md).
 * @param out receives the new config; NULL on failure.
 * Ownership: release with mcpfwd_config_free.
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_new(mcpfwd_config **out);

/** Release a configuration. NULL is accepted. Thread safety: one thread. */
MCPFWD_API void mcpfwd_config_free(mcpfwd_config *cfg);

/**
 * Serve one MCP client over a pair of file descriptors carrying
 * newline-delimited JSON-RPC (the stdio transport). The proxy dup()s both
 * descriptors when it starts; the caller keeps ownership of in_fd/out_fd.
 * The CLI's --stdio mode passes 0 and 1.
 * @return MCPFWD_E_INVALID_ARG if a descriptor is negative.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_downstream_stdio(mcpfwd_config *cfg, int in_fd,
                                                            int out_fd);

/**
 * The upstream MCP server to spawn: argv[0] is looked up in PATH, no shell
 * is involved. Replaces any earlier upstream command.
 * @param argc number of entries in argv, at least 1
 * @param argv argument strings; copied
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_command(mcpfwd_config *cfg, size_t argc,
                                                            const char *const *argv);

/**
 * Set (value non-NULL) or remove (value NULL) one variable in the
 * environment of the spawned server, which is otherwise the proxy's own
 * (or empty, see mcpfwd_config_clear_upstream_env). Calls apply in order.
 * The server's command is still looked up in the proxy's PATH.
 * @param name non-empty, without '='; copied. @param value copied.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_env(mcpfwd_config *cfg, const char *name,
                                                        const char *value);

/** Start the spawned server's environment empty instead of from the proxy's
 * (the variables set with mcpfwd_config_set_upstream_env are still applied).
 * Thread safety: one thread per config. */
MCPFWD_API mcpfwd_status mcpfwd_config_clear_upstream_env(mcpfwd_config *cfg);

/**
 * The working directory of the spawned server (NULL or "": the proxy's). It
 * must exist when the proxy is created (MCPFWD_E_INVALID_ARG otherwise). A
 * command given as a relative path ("./server") is found from there.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_cwd(mcpfwd_config *cfg, const char *path);

/* ----------------------------------------------------------- remote upstream
 * Instead of a server command, an upstream MCP server reached over HTTP:
 * each downstream session gets its own session on it. Set either a command
 * or a URL, not both. */

/** How a remote upstream is spoken to. */
typedef enum mcpfwd_upstream_transport {
  /** POST initialize; HTTP 400, 404 or 405 means a legacy HTTP+SSE server. */
  MCPFWD_UPSTREAM_AUTO = 0,
  /** Streamable HTTP (protocol 2025-03-26 and later). */
  MCPFWD_UPSTREAM_STREAMABLE_HTTP = 1,
  /** Legacy HTTP+SSE (2024-11-05): GET the URL for the event stream. */
  MCPFWD_UPSTREAM_SSE = 2
} mcpfwd_upstream_transport;

/**
 * The upstream is the MCP server at this http:// or https:// URL (its MCP
 * endpoint, e.g. "https://host/mcp", or the SSE endpoint of a legacy
 * server, e.g. "http://host/sse"). Credentials in the URL are refused: use
 * mcpfwd_config_add_upstream_header. NULL or "" clears it.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_url(mcpfwd_config *cfg, const char *url);

/** The transport of a remote upstream (default MCPFWD_UPSTREAM_AUTO). One thread per config. */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_transport(mcpfwd_config *cfg,
                                                              mcpfwd_upstream_transport t);

/**
 * Send this header on every request to the remote upstream (repeatable;
 * e.g. "Authorization", "Bearer ..."). Host, Content-Length,
 * Transfer-Encoding, Connection, Mcp-Session-Id, MCP-Protocol-Version and
 * Last-Event-ID are mcpfwd's own and are refused when the proxy is created.
 * Strings are copied. Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_add_upstream_header(mcpfwd_config *cfg, const char *name,
                                                           const char *value);

/**
 * Forward each downstream client's own Authorization header to the remote
 * upstream (default 0: never; the MCP specification forbids token
 * passthrough, this is for test harnesses and trusted setups). A header set
 * with mcpfwd_config_add_upstream_header takes precedence.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_forward_authorization(mcpfwd_config *cfg, int on);

/**
 * Verify the upstream's TLS certificate against this PEM file of CA
 * certificates instead of the system store (NULL or "": the system store).
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_ca_file(mcpfwd_config *cfg, const char *path);

/**
 * Do not verify the upstream's TLS certificate (default 0). Logs a warning
 * at start: anyone on the path can then read and alter the traffic.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_insecure(mcpfwd_config *cfg, int on);

/**
 * Most keep-alive connections per upstream origin that carry POSTs and
 * DELETEs (default 128, at least 2); more exchanges wait in a queue. Requests
 * hold at most n - 1 of them: the last is kept for the client's answers to
 * server requests (sampling), which a request in flight may be waiting for.
 * A session's long-lived GET stream uses a connection of its own.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_pool_max(mcpfwd_config *cfg, uint32_t n);

/** Time allowed for the TCP connect plus TLS handshake to the upstream (default 10000 ms). */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_connect_timeout_ms(mcpfwd_config *cfg,
                                                                       uint32_t ms);

/**
 * Time allowed for the upstream to start answering a request, queueing for
 * a pooled connection included (default 120000 ms). A streamed answer may
 * then take as long as it takes (see mcpfwd_config_set_request_timeout_ms).
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_upstream_timeout_ms(mcpfwd_config *cfg, uint32_t ms);

/**
 * Largest JSON-RPC message accepted in either direction, in bytes
 * (default 4 MiB, at least 64). A longer client line is answered with a
 * JSON-RPC -32600 error and discarded without being buffered whole; a longer
 * server line is logged and discarded.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_max_message_bytes(mcpfwd_config *cfg, size_t bytes);

/**
 * How long shutdown waits at each step (default 2000 ms): after closing the
 * server's stdin it waits this long for it to exit, then sends SIGTERM to its
 * process group, waits this long again, then sends SIGKILL. When the server
 * exits, the rest of its process group gets SIGTERM, and SIGKILL this long
 * after (at once when the proxy finishes).
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_shutdown_grace_ms(mcpfwd_config *cfg, uint32_t ms);

/** Lowest level that is logged (default MCPFWD_LOG_INFO). One thread per config. */
MCPFWD_API mcpfwd_status mcpfwd_config_set_log_level(mcpfwd_config *cfg, mcpfwd_log_level level);

/**
 * Send log lines to cb instead of standard error. NULL restores the default
 * (standard error; never standard output), written by a thread of the
 * proxy's own through a queue of at most 1 MiB: lines that do not fit are
 * dropped and counted ("log_lines_dropped" in the stats JSON).
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_log_cb(mcpfwd_config *cfg, mcpfwd_log_cb cb);

/**
 * Deliver session events to cb (NULL: none).
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_event_cb(mcpfwd_config *cfg, mcpfwd_event_cb cb);

/**
 * Show every forwarded message to cb (NULL: none). Costs nothing when unset.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_message_cb(mcpfwd_config *cfg, mcpfwd_message_cb cb);

/**
 * The pointer passed to every callback, and its destructor. Each proxy made
 * from this config runs free_fn(user_data) exactly once, in mcpfwd_proxy_free
 * after the last callback has returned (free_fn may be NULL).
 * Ownership: user_data passes to a proxy only when mcpfwd_proxy_new succeeds;
 * if it fails, the caller still owns it. A config with a free_fn should make
 * one proxy: two proxies from it would both run free_fn on the same pointer.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_user_data(mcpfwd_config *cfg, void *user_data,
                                                     mcpfwd_free_cb free_fn);

/**
 * Serve many MCP clients over Streamable HTTP at http://host:port/mcp, each
 * session with its own spawned upstream server (instead of stdio). Port 0
 * picks a free port; read the URL with mcpfwd_proxy_url after start.
 * @param host an IP address to bind, e.g. "127.0.0.1" (the safe default)
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set_listen(mcpfwd_config *cfg, const char *host,
                                                  uint16_t port);

/** Most sessions at once (default 1000); beyond it initialize gets 503. */
MCPFWD_API mcpfwd_status mcpfwd_config_set_max_sessions(mcpfwd_config *cfg, uint32_t n);

/** Close sessions idle this long (default 1800000 ms), never one with a stream open or a
 * request in flight. */
MCPFWD_API mcpfwd_status mcpfwd_config_set_idle_timeout_ms(mcpfwd_config *cfg, uint32_t ms);

/** Answer a request with a JSON-RPC error if upstream has not answered it within ms
 * (default 0: no limit). */
MCPFWD_API mcpfwd_status mcpfwd_config_set_request_timeout_ms(mcpfwd_config *cfg, uint32_t ms);

/** At shutdown, let requests in flight finish for up to ms (default 5000); what is
 * left then is answered with a JSON-RPC error. New requests get 503 meanwhile. */
MCPFWD_API mcpfwd_status mcpfwd_config_set_drain_timeout_ms(mcpfwd_config *cfg, uint32_t ms);

/** Allow this Origin (exact match, "*" for any). Without any, only http(s) origins on
 * localhost, 127.0.0.1 and [::1] are allowed. Requests without Origin are allowed. */
MCPFWD_API mcpfwd_status mcpfwd_config_add_allowed_origin(mcpfwd_config *cfg, const char *origin);

/** Require "Authorization: Bearer <token>" on every HTTP request (NULL or "": none). The
 * token is never passed to the upstream, and a spawned server's environment never has an
 * entry whose value is the token (it is left out, even if the caller's environment or
 * mcpfwd_config_set_upstream_env put it there). */
MCPFWD_API mcpfwd_status mcpfwd_config_set_auth_token(mcpfwd_config *cfg, const char *token);

/** I/O threads of an HTTP proxy (default 0: one per core). */
MCPFWD_API mcpfwd_status mcpfwd_config_set_io_threads(mcpfwd_config *cfg, uint32_t n);

/* ------------------------------------------------------- options by name
 * Every option of mcpfwd, typed setter or not, is also reachable by its name
 * (the CLI flag without "--": "max-sessions", "allow-host", ...) with its value
 * as text, and the table of options can be walked (as libcurl's
 * curl_easy_option_next and DuckDB's duckdb_get_config_flag). A binding that
 * goes through these gets every option, new ones included, with no code of its
 * own. docs/options.md lists them all. */

/** The type of an option's value, which decides how its text is parsed. Append-only. */
typedef enum mcpfwd_option_type {
  MCPFWD_OPTION_FLAG = 1,        /**< "true"/"false" (also 1/0, on/off, yes/no; "" is true) */
  MCPFWD_OPTION_INTEGER = 2,     /**< a decimal number within the option's bounds */
  MCPFWD_OPTION_DURATION_MS = 3, /**< milliseconds, a decimal number */
  MCPFWD_OPTION_BYTES = 4,       /**< a byte count, a decimal number */
  MCPFWD_OPTION_STRING = 5,      /**< text */
  MCPFWD_OPTION_LIST = 6,        /**< text; each set appends one entry (repeatable) */
  MCPFWD_OPTION_CHOICE = 7,      /**< one of mcpfwd_option_choices(), '|'-separated */
  MCPFWD_OPTION_ADDRESS = 8      /**< HOST:PORT, [IPv6]:PORT */
} mcpfwd_option_type;

/** Where an option applies (bits of mcpfwd_option_modes()). An option set for a
 * configuration it does not apply to makes mcpfwd_proxy_new fail. Append-only. */
typedef enum mcpfwd_mode {
  MCPFWD_MODE_STDIO = 1,   /**< downstream: one client on stdio */
  MCPFWD_MODE_HTTP = 2,    /**< downstream: the HTTP listener */
  MCPFWD_MODE_COMMAND = 4, /**< upstream: a spawned server command */
  MCPFWD_MODE_URL = 8      /**< upstream: a remote server */
} mcpfwd_mode;

/** One option of the table: static, never freed. */
typedef struct mcpfwd_option mcpfwd_option;

/** The option after `prev` (the first one when prev is NULL), or NULL after the
 * last. Thread safety: any thread. */
MCPFWD_API const mcpfwd_option *mcpfwd_option_next(const mcpfwd_option *prev);
/** The option with this name, or NULL. Any thread. */
MCPFWD_API const mcpfwd_option *mcpfwd_option_find(const char *name);
/** Its name: "max-sessions". Static text. */
MCPFWD_API const char *mcpfwd_option_name(const mcpfwd_option *opt);
/** The type of its value. */
MCPFWD_API mcpfwd_option_type mcpfwd_option_get_type(const mcpfwd_option *opt);
/** Its default value as text ("" when it has none). Static text. */
MCPFWD_API const char *mcpfwd_option_default(const mcpfwd_option *opt);
/** One line of help. Static text. */
MCPFWD_API const char *mcpfwd_option_help(const mcpfwd_option *opt);
/** A placeholder for its value in help text ("N", "MS", "HOST:PORT"). Static text. */
MCPFWD_API const char *mcpfwd_option_metavar(const mcpfwd_option *opt);
/** For MCPFWD_OPTION_CHOICE: the accepted values, '|'-separated; else "". Static text. */
MCPFWD_API const char *mcpfwd_option_choices(const mcpfwd_option *opt);
/** The MCPFWD_MODE_* bits where it applies. */
MCPFWD_API unsigned mcpfwd_option_modes(const mcpfwd_option *opt);
/** Its CLI flag ("--max-sessions"), or "" when the CLI takes it another way
 * ("auth-token": --auth-token-env VAR). Static text. */
MCPFWD_API const char *mcpfwd_option_cli_flag(const mcpfwd_option *opt);
/** For numeric types: the smallest and largest accepted value. */
MCPFWD_API uint64_t mcpfwd_option_min(const mcpfwd_option *opt);
MCPFWD_API uint64_t mcpfwd_option_max(const mcpfwd_option *opt);

/**
 * Set an option by name, its value given as text and parsed by its type
 * ("5000" for a duration, "true" for a flag, "127.0.0.1:0" for listen; a list
 * option appends one entry per call). Same checks as the typed setters.
 * @return MCPFWD_E_INVALID_ARG for an unknown name or a bad value, with the
 *         reason in mcpfwd_last_error(); MCPFWD_E_NOT_FOUND is never returned.
 * Thread safety: one thread per config.
 */
MCPFWD_API mcpfwd_status mcpfwd_config_set(mcpfwd_config *cfg, const char *name, const char *value);

/* ----------------------------------------------------------------- proxy */

/** A running (or runnable) proxy. */
typedef struct mcpfwd_proxy mcpfwd_proxy;

/**
 * Create a proxy from a configuration. The config is copied: free it
 * whenever you like afterwards.
 * @param out receives the new proxy; NULL on failure.
 * @return MCPFWD_E_INVALID_ARG when the config lacks a downstream or an
 *         upstream, with the reason in mcpfwd_last_error().
 * Ownership: release with mcpfwd_proxy_free.
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_new(mcpfwd_proxy **out, const mcpfwd_config *cfg);

/**
 * As mcpfwd_proxy_new, with the pointer passed to every callback given here
 * rather than by the config, so that two proxies made from one config each
 * own their own (mcpfwd_config_set_user_data is ignored by this call).
 * free_fn(user_data) runs exactly once, in mcpfwd_proxy_free after the last
 * callback has returned (free_fn may be NULL).
 * Ownership: user_data passes to the proxy only when this call succeeds; if
 * it fails, the caller still owns it (free_fn is not called).
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_new_v2(mcpfwd_proxy **out, const mcpfwd_config *cfg,
                                             void *user_data, mcpfwd_free_cb free_fn);

/**
 * Start the proxy: spawn the upstream server and begin forwarding on the
 * proxy's own I/O thread. Returns once the server process exists.
 * @return MCPFWD_E_IO if the server could not be spawned (e.g. command not
 *         found); MCPFWD_E_STATE if already started.
 * Thread safety: one thread per proxy.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_start(mcpfwd_proxy *p);

/**
 * Ask the proxy to shut down gracefully and return at once (it only posts a
 * request to the I/O thread and never waits for it): the server's
 * stdin is closed, then SIGTERM and SIGKILL follow after the grace periods;
 * requests still in flight are answered with a JSON-RPC error. Idempotent.
 * Thread safety: any thread, including from inside a callback.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_stop(mcpfwd_proxy *p);

/**
 * Wait until the proxy has finished: the client reached end of input or
 * stop was called, and the server process has exited and been reaped.
 * @param timeout_ms  how long to wait; negative waits without limit
 * @param exit_code   if not NULL, receives the status the proxy ends with:
 *                    0 when the client ended the session (EOF or stop); when
 *                    the server exited first, its exit code (1 if that was
 *                    0), or 128 + signal number if a signal killed it.
 * @return MCPFWD_E_TIMEOUT if still running; MCPFWD_E_STATE if never started.
 * Thread safety: one thread per proxy; must not be called from a callback.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_wait(mcpfwd_proxy *p, int timeout_ms, int *exit_code);

/**
 * Counters as a JSON object (schema in docs/c-api.md): messages and bytes
 * each way, errors by kind, requests in flight, the upstream pid and state.
 * @param out receives an owned string; release it with mcpfwd_string_free.
 * Thread safety: any thread; does not wait for the I/O thread (counters are
 * atomics read in place, so values taken mid-message may differ by one).
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_stats_json(mcpfwd_proxy *p, char **out);

/**
 * The endpoint URL of an HTTP proxy ("http://127.0.0.1:43123/mcp").
 * @param out receives an owned string ("" in stdio mode); mcpfwd_string_free.
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_url(mcpfwd_proxy *p, char **out);

/**
 * The sessions of an HTTP proxy as a JSON array of session objects:
 * {"id","state","created_ms","last_activity_ms","upstream":{"kind","pid"},
 *  "client_to_server":{"messages","bytes"},"server_to_client":{...},
 *  "in_flight","open_streams","errors","dropped","upstream_exit"}.
 * @param out receives an owned string; release with mcpfwd_string_free.
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_sessions_json(mcpfwd_proxy *p, char **out);

/**
 * One session as a JSON object (schema as above).
 * @return MCPFWD_E_NOT_FOUND if there is no session with that id.
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_session_json(mcpfwd_proxy *p, const char *id, char **out);

/**
 * A human-readable table of the proxy and its sessions, one line per session
 * (what the CLI prints on SIGUSR1). For people: the format may change; parse
 * mcpfwd_proxy_sessions_json instead.
 * @param out receives an owned string; release with mcpfwd_string_free.
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_status_text(mcpfwd_proxy *p, char **out);

/**
 * The proxy's metrics in the Prometheus text exposition format, version 0.0.4
 * (what the admin listener serves at /metrics; every metric, its type and
 * labels are listed in docs/operations.md). Works without an admin listener,
 * in either mode (stdio mode has only the proxy-wide counters).
 * @param out receives an owned string; release with mcpfwd_string_free.
 * Thread safety: any thread; counters are atomics read in place.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_metrics_text(mcpfwd_proxy *p, char **out);

/**
 * Reads the config file (option "config", docs/configuration.md) again, as
 * the CLI does on SIGHUP: sessions opened from now on use the new
 * configuration (its default upstream, its named servers and their options);
 * sessions already open keep theirs until they end; a server no longer in
 * the file takes no new session (404). Proxy-wide options (the listener,
 * logs, admin) keep their values until a restart.
 * @return MCPFWD_E_INVALID_ARG if the file is bad (mcpfwd_last_error() names
 *         the file, the line or key, and the problem; the running
 *         configuration stays), MCPFWD_E_STATE without a config file or
 *         before the proxy serves HTTP. Either outcome is logged and counted
 *         (metric mcpfwd_config_reloads_total).
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_reload(mcpfwd_proxy *p);

/**
 * The base URL of the admin listener ("http://127.0.0.1:9464", with the port
 * actually bound), or "" when the proxy has none (option "admin") or has not
 * started. Its paths: /metrics, /healthz, /readyz, /sessions, /sessions/ID.
 * @param out receives an owned string; release with mcpfwd_string_free.
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_admin_url(mcpfwd_proxy *p, char **out);

/**
 * Close one session: its in-flight requests get a JSON-RPC error, its upstream
 * is terminated, and its id answers 404 from now on. Returns at once.
 * @return MCPFWD_E_NOT_FOUND if there is no session with that id.
 * Thread safety: any thread.
 */
MCPFWD_API mcpfwd_status mcpfwd_proxy_close_session(mcpfwd_proxy *p, const char *id);

/**
 * Stop the proxy if it runs, wait for it to finish, join its threads, then
 * run the user_data destructor. No callback runs after this returns.
 * Called from inside a callback it returns at once and the same work is
 * done on a thread of its own (joining here would join the thread running
 * that callback); the user_data destructor then runs on that thread.
 * NULL is accepted.
 * Thread safety: one thread per proxy (the handle must not be used again,
 * from any thread, once free was called); may be called from a callback.
 */
MCPFWD_API void mcpfwd_proxy_free(mcpfwd_proxy *p);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MCPFWD_MCPFWD_H */
