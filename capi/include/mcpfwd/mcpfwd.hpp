/*
 * mcpfwd.hpp — a header-only C++ layer over the C ABI of mcpfwd.h.
 *
 * Nothing here is part of the ABI: it is inline code compiled into the caller
 * (C++17), over the C functions only. It gives RAII handles and C++ errors:
 *
 *   mcpfwd::cxx::config cfg;                                  // mcpfwd_config_new
 *   cfg.set("listen", "127.0.0.1:0").set("max-sessions", "50");  // any option, by name
 *   cfg.set_upstream_command({"python3", "server.py"});
 *   mcpfwd::cxx::proxy p(cfg, std::make_unique<my_handler>(),
 *                        mcpfwd::cxx::want_events);          // mcpfwd_proxy_new_v2
 *   p.start();
 *   std::string url = p.url();                                // owned string, copied and freed
 *   // ~proxy: mcpfwd_proxy_free (stops, joins, then deletes the handler)
 *
 * Conventions:
 *  - A failing C call throws mcpfwd::cxx::error, carrying the status and the
 *    text of mcpfwd_last_error() read at once, on the failing thread. For
 *    callers that must not throw (a SWIG adapter, a C callback), capture()
 *    runs code and returns a result {status, message} instead.
 *  - config, proxy: move-only owners of the C handles; get() lends the handle
 *    to raw C functions. Strings the library hands out (owned) come back as
 *    std::string, released with mcpfwd_string_free.
 *  - Callbacks: a subclass of handler, owned by the proxy from its
 *    construction on (passed to the library as its user_data, deleted by the
 *    library's destructor callback after the last callback has returned). Its
 *    methods run on the proxy's I/O threads; an exception they throw is
 *    swallowed (it counts as "go on"): nothing crosses into C.
 *  - Thread safety is the C API's: one thread per handle, except proxy::stop
 *    (any thread, also a callback), stats_json, url, sessions_json,
 *    session_json, status_text and close_session (any thread).
 *
 * See docs/c-api.md ("The C++ layer").
 */
#ifndef MCPFWD_MCPFWD_HPP
#define MCPFWD_MCPFWD_HPP

#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mcpfwd/mcpfwd.h"

namespace mcpfwd::cxx {

// ------------------------------------------------------------------ errors

/** A failed call: the library's status and message. */
class error : public std::runtime_error {
 public:
  error(mcpfwd_status status, const std::string &message)
      : std::runtime_error(message.empty() ? std::string(mcpfwd_status_str(status)) : message),
        status_(status) {}
  /** The status (negative). */
  mcpfwd_status status() const noexcept { return status_; }

 private:
  mcpfwd_status status_;
};

/** Throws error(s, mcpfwd_last_error()) unless s is MCPFWD_OK. Call it right after the C call
 * that returned s, on the same thread. */
inline void check(mcpfwd_status s) {
  if (s != MCPFWD_OK) throw error(s, mcpfwd_last_error());
}

/** The outcome of capture(): MCPFWD_OK and "", or a failure and its message. */
struct result {
  mcpfwd_status status = MCPFWD_OK;
  std::string message;
  explicit operator bool() const noexcept { return status == MCPFWD_OK; }
};

/**
 * The non-throwing variant of every call of this layer: runs f() and returns what it threw
 * as a result (error: its status and message; std::bad_alloc: MCPFWD_E_NOMEM; anything else:
 * MCPFWD_E_INTERNAL). Never throws.
 */
template <class F>
result capture(F &&f) noexcept {
  result r;
  try {
    std::forward<F>(f)();
    return r;
  } catch (const error &e) {
    r.status = e.status();
    try {
      r.message = e.what();
    } catch (...) {
    }
  } catch (const std::bad_alloc &) {
    r.status = MCPFWD_E_NOMEM;
  } catch (const std::exception &e) {
    r.status = MCPFWD_E_INTERNAL;
    try {
      r.message = std::string("internal error: ") + e.what();
    } catch (...) {
    }
  } catch (...) {
    r.status = MCPFWD_E_INTERNAL;
  }
  if (r.message.empty()) {
    try {
      r.message = mcpfwd_status_str(r.status);
    } catch (...) {
    }
  }
  return r;
}

namespace detail {
struct string_deleter {
  void operator()(char *s) const noexcept { mcpfwd_string_free(s); }
};
struct config_deleter {
  void operator()(mcpfwd_config *c) const noexcept { mcpfwd_config_free(c); }
};

// Runs fn(char** out), a C function handing out an owned string: its copy, the original freed.
template <class F>
std::string take_string(F &&fn) {
  char *out = nullptr;
  const mcpfwd_status s = std::forward<F>(fn)(&out);
  std::unique_ptr<char, string_deleter> owned(out);
  check(s);  // reads mcpfwd_last_error() before the string is freed
  return owned ? std::string(owned.get()) : std::string();
}

// C strings end at the first NUL: a value holding one would silently be cut short.
inline void no_nul(std::string_view text, const char *what) {
  if (text.find('\0') != std::string_view::npos)
    throw error(MCPFWD_E_INVALID_ARG, std::string(what) + " contains a NUL byte");
}
}  // namespace detail

// ----------------------------------------------------------------- options

/** One option of the table (mcpfwd_option_next): static, cheap to copy. */
class option {
 public:
  explicit option(const mcpfwd_option *o) noexcept : o_(o) {}

  /** The option with this name, if there is one. */
  static std::optional<option> find(std::string_view name) {
    if (name.find('\0') != std::string_view::npos) return std::nullopt;
    const mcpfwd_option *o = mcpfwd_option_find(std::string(name).c_str());
    if (o == nullptr) return std::nullopt;
    return option(o);
  }

  std::string_view name() const noexcept { return mcpfwd_option_name(o_); }
  mcpfwd_option_type type() const noexcept { return mcpfwd_option_get_type(o_); }
  /** Its default value as text ("" when it has none). */
  std::string_view default_value() const noexcept { return mcpfwd_option_default(o_); }
  std::string_view help() const noexcept { return mcpfwd_option_help(o_); }
  std::string_view metavar() const noexcept { return mcpfwd_option_metavar(o_); }
  /** For MCPFWD_OPTION_CHOICE: the accepted values, '|'-separated; else "". */
  std::string_view choices() const noexcept { return mcpfwd_option_choices(o_); }
  /** The accepted values of a choice, one string each (empty for other types). */
  std::vector<std::string> choice_list() const {
    std::vector<std::string> out;
    std::string_view rest = choices();
    while (!rest.empty()) {
      const auto bar = rest.find('|');
      out.emplace_back(rest.substr(0, bar));
      if (bar == std::string_view::npos) break;
      rest.remove_prefix(bar + 1);
    }
    return out;
  }
  /** The MCPFWD_MODE_* bits where it applies. */
  unsigned modes() const noexcept { return mcpfwd_option_modes(o_); }
  /** Its CLI flag ("--max-sessions"), or "" when the CLI takes it another way. */
  std::string_view cli_flag() const noexcept { return mcpfwd_option_cli_flag(o_); }
  std::uint64_t min() const noexcept { return mcpfwd_option_min(o_); }
  std::uint64_t max() const noexcept { return mcpfwd_option_max(o_); }
  const mcpfwd_option *get() const noexcept { return o_; }

 private:
  const mcpfwd_option *o_;
};

/** Every option, in the table's order. */
inline std::vector<option> options() {
  std::vector<option> out;
  for (const mcpfwd_option *o = mcpfwd_option_next(nullptr); o != nullptr;
       o = mcpfwd_option_next(o))
    out.emplace_back(o);
  return out;
}

// ------------------------------------------------------------------ config

/** An mcpfwd_config. A proxy copies it: it may go away (or be reused) right after. */
class config {
 public:
  /** A config with the defaults. Throws error if the library cannot make one. */
  config() {
    mcpfwd_config *c = nullptr;
    check(mcpfwd_config_new(&c));
    cfg_.reset(c);
  }

  /** The handle, for the raw mcpfwd_config_* functions (borrowed). */
  mcpfwd_config *get() const noexcept { return cfg_.get(); }

  /**
   * Any option of the table by name, its value as text (mcpfwd_config_set): "5000" for a
   * duration, "true" for a flag, one entry of a list per call. Throws error
   * (MCPFWD_E_INVALID_ARG) naming the option for an unknown name or a bad value, also for a
   * value holding a NUL byte (C strings would cut it short).
   */
  config &set(std::string_view name, std::string_view value) {
    detail::no_nul(name, "an option name");
    detail::no_nul(value, ("--" + std::string(name)).c_str());
    check(mcpfwd_config_set(cfg_.get(), std::string(name).c_str(), std::string(value).c_str()));
    return *this;
  }

  /** The upstream server command (mcpfwd_config_set_upstream_command): argv[0] is looked up
   * in PATH, no shell is involved. */
  config &set_upstream_command(const std::vector<std::string> &argv) {
    std::vector<const char *> args;
    args.reserve(argv.size());
    for (const std::string &a : argv) {
      detail::no_nul(a, "an upstream argument");
      args.push_back(a.c_str());
    }
    check(mcpfwd_config_set_upstream_command(cfg_.get(), args.size(), args.data()));
    return *this;
  }

  /** Serve one client over these descriptors (mcpfwd_config_set_downstream_stdio). */
  config &set_downstream_stdio(int in_fd, int out_fd) {
    check(mcpfwd_config_set_downstream_stdio(cfg_.get(), in_fd, out_fd));
    return *this;
  }

 private:
  std::unique_ptr<mcpfwd_config, detail::config_deleter> cfg_;
};

// --------------------------------------------------------------- callbacks

/** A session event, borrowed for the duration of the callback. */
struct event {
  mcpfwd_event_type type;
  std::string_view session_id;  // "stdio" in stdio mode, "" for a rejection
  std::string_view detail;      // the close reason, the rejection cause, the protocol version
};

/** A forwarded JSON-RPC message, borrowed for the duration of the callback. */
struct message {
  mcpfwd_direction direction;
  std::string_view session_id;
  std::string_view bytes;  // as received, without the newline
};

/**
 * Receives a proxy's callbacks: subclass it and override what you need. Only the callbacks
 * named in the proxy's `callbacks` bits are registered (the message hook is on the forwarding
 * path: it costs nothing unless asked for). Each runs on a proxy I/O thread, must not block,
 * and may call only proxy::stop on the proxy. An exception counts as "go on".
 */
class handler {
 public:
  handler() = default;
  handler(const handler &) = delete;
  handler &operator=(const handler &) = delete;
  virtual ~handler() = default;

  /** A log line (instead of standard error): source is "mcpfwd" or "server". */
  virtual void on_log(mcpfwd_log_level level, std::string_view source, std::string_view text) {
    (void)level;
    (void)source;
    (void)text;
  }
  /** A session event. false on MCPFWD_EVENT_SESSION_OPENED refuses that session (closed at
   * once, its client answered 403); ignored for other events. */
  virtual bool on_event(const event &ev) {
    (void)ev;
    return true;
  }
  /** A message about to be forwarded. false drops it and closes its session. */
  virtual bool on_message(const message &m) {
    (void)m;
    return true;
  }
};

/** Bits of proxy's `callbacks`: which handler methods are registered. */
inline constexpr unsigned want_log = 1, want_events = 2, want_messages = 4;

// ------------------------------------------------------------------- proxy

/** An mcpfwd_proxy. The destructor (and reset) stops it, joins its threads and frees it. */
class proxy {
 public:
  /** An empty proxy (get() is NULL), to be assigned later. */
  proxy() noexcept = default;

  /**
   * A proxy made from cfg (copied: cfg may go away afterwards). With a handler, the methods
   * named in `callbacks` (want_log | want_events | want_messages) are registered; the proxy
   * owns the handler from here on, also when this throws (it is then deleted before the
   * exception leaves). The callbacks are given to the library with the proxy
   * (mcpfwd_proxy_new_v2): cfg keeps none of them, so one config can make several proxies.
   */
  explicit proxy(config &cfg, std::unique_ptr<handler> h = nullptr, unsigned callbacks = 0) {
    mcpfwd_config *c = cfg.get();
    const bool log = h && (callbacks & want_log) != 0;
    const bool events = h && (callbacks & want_events) != 0;
    const bool messages = h && (callbacks & want_messages) != 0;
    const bool any = log || events || messages;
    mcpfwd_status s = mcpfwd_config_set_log_cb(c, log ? &log_trampoline : nullptr);
    if (s == MCPFWD_OK) s = mcpfwd_config_set_event_cb(c, events ? &event_trampoline : nullptr);
    if (s == MCPFWD_OK)
      s = mcpfwd_config_set_message_cb(c, messages ? &message_trampoline : nullptr);
    mcpfwd_proxy *p = nullptr;
    if (s == MCPFWD_OK)
      s = mcpfwd_proxy_new_v2(&p, c, any ? h.get() : nullptr, any ? &free_handler : nullptr);
    std::optional<error> failed;
    if (s != MCPFWD_OK) failed.emplace(s, mcpfwd_last_error());  // before the next C call
    // The trampolines stay out of the config (another proxy made from it has its own).
    (void)mcpfwd_config_set_log_cb(c, nullptr);
    (void)mcpfwd_config_set_event_cb(c, nullptr);
    (void)mcpfwd_config_set_message_cb(c, nullptr);
    if (failed) throw *failed;   // h is still ours: deleted as it goes out of scope
    if (any) (void)h.release();  // the library's free_handler deletes it
    p_ = p;
  }

  proxy(const proxy &) = delete;
  proxy &operator=(const proxy &) = delete;
  proxy(proxy &&o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  proxy &operator=(proxy &&o) noexcept {
    if (this != &o) {
      reset();
      p_ = std::exchange(o.p_, nullptr);
    }
    return *this;
  }
  ~proxy() { reset(); }

  /** Start forwarding (mcpfwd_proxy_start). error(MCPFWD_E_IO) if the server cannot be
   * spawned or the address bound; MCPFWD_E_STATE if already started. */
  void start() { check(mcpfwd_proxy_start(p_)); }
  /** Begin a graceful shutdown and return at once. Any thread, also a callback. */
  void stop() { check(mcpfwd_proxy_stop(p_)); }
  /** Wait up to timeout_ms (negative: no limit): the exit code, or nullopt if the proxy still
   * runs then. Not from a callback. */
  std::optional<int> wait(int timeout_ms = -1) {
    int code = 0;
    const mcpfwd_status s = mcpfwd_proxy_wait(p_, timeout_ms, &code);
    if (s == MCPFWD_E_TIMEOUT) return std::nullopt;
    check(s);
    return code;
  }
  /** The counters as JSON (docs/c-api.md). */
  std::string stats_json() const {
    return detail::take_string([&](char **out) { return mcpfwd_proxy_stats_json(p_, out); });
  }
  /** The endpoint of an HTTP proxy ("" in stdio mode). */
  std::string url() const {
    return detail::take_string([&](char **out) { return mcpfwd_proxy_url(p_, out); });
  }
  /** The sessions as a JSON array. */
  std::string sessions_json() const {
    return detail::take_string([&](char **out) { return mcpfwd_proxy_sessions_json(p_, out); });
  }
  /** One session as a JSON object; error(MCPFWD_E_NOT_FOUND) if there is none with that id. */
  std::string session_json(std::string_view id) const {
    const std::string sid = session_id(id);
    return detail::take_string(
        [&](char **out) { return mcpfwd_proxy_session_json(p_, sid.c_str(), out); });
  }
  /** The human-readable session table (format not stable). */
  std::string status_text() const {
    return detail::take_string([&](char **out) { return mcpfwd_proxy_status_text(p_, out); });
  }
  /** The metrics in the Prometheus text format 0.0.4 (docs/operations.md). */
  std::string metrics_text() const {
    return detail::take_string([&](char **out) { return mcpfwd_proxy_metrics_text(p_, out); });
  }
  /** Re-read the config file (mcpfwd_proxy_reload); error() when it is bad. */
  void reload() { check(mcpfwd_proxy_reload(p_)); }
  /** The admin listener's base URL ("" without one). */
  std::string admin_url() const {
    return detail::take_string([&](char **out) { return mcpfwd_proxy_admin_url(p_, out); });
  }
  /** End one session; error(MCPFWD_E_NOT_FOUND) if there is none with that id. */
  void close_session(std::string_view id) {
    check(mcpfwd_proxy_close_session(p_, session_id(id).c_str()));
  }

  /** Stop, wait, join the threads, free (then the handler is deleted); empty afterwards.
   * From inside a callback it returns at once and a thread of the library does the work. */
  void reset() noexcept { mcpfwd_proxy_free(std::exchange(p_, nullptr)); }

  /** The handle, for raw mcpfwd_proxy_* functions (borrowed; NULL when empty). */
  mcpfwd_proxy *get() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  // No session id has a NUL byte: one with a NUL is not found (rather than cut short).
  static std::string session_id(std::string_view id) {
    if (id.find('\0') != std::string_view::npos)
      throw error(MCPFWD_E_NOT_FOUND, "no session with that id");
    return std::string(id);
  }

  // The C callbacks: nothing may escape them.
  static void log_trampoline(mcpfwd_log_level level, const char *source, const char *text,
                             size_t len, void *ud) noexcept {
    try {
      if (ud != nullptr)
        static_cast<handler *>(ud)->on_log(level, source != nullptr ? source : "",
                                           std::string_view(text, text != nullptr ? len : 0));
    } catch (...) {
    }
  }
  static int event_trampoline(const mcpfwd_event *ev, void *ud) noexcept {
    try {
      if (ud == nullptr || ev == nullptr) return 0;
      size_t len = 0;
      const char *detail = mcpfwd_event_detail(ev, &len);
      const event e{mcpfwd_event_get_type(ev), mcpfwd_event_session_id(ev),
                    std::string_view(detail, detail != nullptr ? len : 0)};
      return static_cast<handler *>(ud)->on_event(e) ? 0 : 1;
    } catch (...) {
      return 0;
    }
  }
  static int message_trampoline(const mcpfwd_message *m, void *ud) noexcept {
    try {
      if (ud == nullptr || m == nullptr) return 0;
      size_t len = 0;
      const char *bytes = mcpfwd_message_bytes(m, &len);
      const message msg{mcpfwd_message_direction(m), mcpfwd_message_session_id(m),
                        std::string_view(bytes, bytes != nullptr ? len : 0)};
      return static_cast<handler *>(ud)->on_message(msg) ? 0 : 1;
    } catch (...) {
      return 0;
    }
  }
  static void free_handler(void *ud) noexcept {
    try {
      std::unique_ptr<handler>(static_cast<handler *>(ud)).reset();  // the proxy's, given back
    } catch (...) {
    }
  }

  mcpfwd_proxy *p_ = nullptr;
};

}  // namespace mcpfwd::cxx

#endif /* MCPFWD_MCPFWD_HPP */
