// The hand-written C++ layer the SWIG bindings (Java, Go) wrap besides the raw
// C API: RAII handles for the config and the proxy, and a Listener class that
// SWIG turns into a director, so Java and Go code can receive callbacks.
//
// Conventions (docs/bindings.md):
//  - Nothing here throws (but the Config constructor, when memory runs out):
//    every call that can fail returns an
//    mcpfwd_swig_status and, on failure, leaves its text in
//    mcpfwd::swig::last_error() (thread-local, copied at the failing call, so
//    later successful mcpfwd_ calls cannot clear it). The SWIG typemaps turn
//    that pair into a Java exception or a Go error inside the same native call.
//  - Strings are UTF-8 std::string; results come back through std::string *out.
//  - The proxy owns its Listener from open() on and deletes it after the last
//    callback (the C library's user_data destructor).
#ifndef MCPFWD_SWIG_HPP
#define MCPFWD_SWIG_HPP

#include <mcpfwd/mcpfwd.h>

#include <atomic>
#include <new>
#include <string>
#include <vector>

/** Status of a call of this layer; on failure mcpfwd::swig::last_error() has the text. */
typedef mcpfwd_status mcpfwd_swig_status;

namespace mcpfwd {
namespace swig {

namespace detail {
inline std::string& error_text() {
  static thread_local std::string text;
  return text;
}
}  // namespace detail

/** The text of the last failing call of this layer on this thread ("" if none). */
inline const std::string& last_error() {
  return detail::error_text();
}

/** Static text for a status code (mcpfwd_status_str for an int). */
inline std::string status_string(int status) {
  return mcpfwd_status_str(static_cast<mcpfwd_status>(status));
}

namespace detail {
// Records a failure of the C call just made (its text, before anything else runs).
inline mcpfwd_swig_status fail(mcpfwd_status s) {
  try {
    error_text() = mcpfwd_last_error();
  } catch (...) {
  }
  return s;
}
inline mcpfwd_swig_status fail(mcpfwd_status s, const char* text) {
  try {
    error_text() = text;
  } catch (...) {
  }
  return s;
}
inline mcpfwd_swig_status check(mcpfwd_status s) {
  return s == MCPFWD_OK ? s : fail(s);
}

// An owned string of the C API, released with mcpfwd_string_free.
struct owned_string {
  char* p = nullptr;
  owned_string() = default;
  owned_string(const owned_string&) = delete;
  owned_string& operator=(const owned_string&) = delete;
  ~owned_string() { mcpfwd_string_free(p); }
};

// Calls fn(&char*) and hands the owned result to *out.
template <class F>
mcpfwd_swig_status string_call(std::string* out, F&& fn) {
  if (out == nullptr) return fail(MCPFWD_E_INVALID_ARG, "out is NULL");
  owned_string s;
  mcpfwd_status st = fn(&s.p);
  if (st != MCPFWD_OK) return fail(st);
  try {
    out->assign(s.p != nullptr ? s.p : "");
  } catch (...) {
    return fail(MCPFWD_E_NOMEM, "out of memory");
  }
  return MCPFWD_OK;
}
}  // namespace detail

/**
 * Receives a proxy's callbacks. Java and Go subclass it (a SWIG director).
 * Both methods run on a proxy I/O thread: they must not block, and may call
 * only Proxy::stop on the proxy (other calls fail with MCPFWD_E_STATE).
 */
class Listener {
 public:
  Listener() = default;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  virtual ~Listener() = default;
  /** A session event: eventType is an mcpfwd_event_type value. */
  virtual void onEvent(int eventType, const std::string& sessionId, const std::string& detail) {
    (void)eventType;
    (void)sessionId;
    (void)detail;
  }
  /** A log line: level is an mcpfwd_log_level value, source "mcpfwd" or "server". */
  virtual void onLog(int level, const std::string& source, const std::string& text) {
    (void)level;
    (void)source;
    (void)text;
  }
};

/** Which callbacks Proxy::open installs (bit flags). */
enum CallbackFlags { CALLBACK_EVENTS = 1, CALLBACK_LOG = 2 };

/** A configuration; the raw mcpfwd_config_set_* functions take handle(). */
class Config {
 public:
  /** Throws std::bad_alloc if the library cannot allocate one. */
  Config() {
    if (mcpfwd_config_new(&cfg_) != MCPFWD_OK) throw std::bad_alloc();
  }
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;
  ~Config() { mcpfwd_config_free(cfg_); }

  /** The C handle, for the raw mcpfwd_config_* functions. Borrowed. */
  mcpfwd_config* handle() { return cfg_; }

  /**
   * The upstream server command; argv's entries are separated by NUL bytes
   * (C strings cannot contain one), so one string carries the whole vector.
   */
  mcpfwd_swig_status setUpstreamArgv(const std::string& nulSeparated) {
    std::vector<std::string> args;
    std::vector<const char*> argv;
    try {
      for (std::string::size_type start = 0; !nulSeparated.empty();) {
        std::string::size_type end = nulSeparated.find('\0', start);
        args.push_back(nulSeparated.substr(start, end - start));
        if (end == std::string::npos) break;
        start = end + 1;
      }
      for (const std::string& a : args) argv.push_back(a.c_str());
    } catch (...) {
      return detail::fail(MCPFWD_E_NOMEM, "out of memory");
    }
    // (an empty string is no argument at all: the library says what is wrong)
    return detail::check(mcpfwd_config_set_upstream_command(cfg_, argv.size(), argv.data()));
  }

 private:
  mcpfwd_config* cfg_ = nullptr;
};

/** A proxy: open(), start(), ..., close() (the destructor closes too). */
class Proxy {
 public:
  Proxy() = default;
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;
  ~Proxy() { close(); }

  /**
   * Create the proxy from cfg (copied). listener may be NULL; otherwise the
   * proxy owns it from this call on, whether it succeeds or not, and deletes
   * it after the last callback. flags: CALLBACK_EVENTS | CALLBACK_LOG.
   */
  mcpfwd_swig_status open(Config& cfg, Listener* listener, int flags) {
    if (p_.load() != nullptr) {
      delete listener;
      return detail::fail(MCPFWD_E_STATE, "proxy already opened");
    }
    mcpfwd_config* c = cfg.handle();
    bool events = listener != nullptr && (flags & CALLBACK_EVENTS) != 0;
    bool log = listener != nullptr && (flags & CALLBACK_LOG) != 0;
    mcpfwd_status st =
        mcpfwd_config_set_user_data(c, listener, listener ? &free_listener : nullptr);
    if (st == MCPFWD_OK) st = mcpfwd_config_set_event_cb(c, events ? &event_trampoline : nullptr);
    if (st == MCPFWD_OK) st = mcpfwd_config_set_log_cb(c, log ? &log_trampoline : nullptr);
    mcpfwd_proxy* p = nullptr;
    if (st == MCPFWD_OK) st = mcpfwd_proxy_new(&p, c);
    if (st != MCPFWD_OK) detail::fail(st);
    // The config must not keep the listener: the proxy (if any) owns it now.
    mcpfwd_config_set_user_data(c, nullptr, nullptr);
    mcpfwd_config_set_event_cb(c, nullptr);
    mcpfwd_config_set_log_cb(c, nullptr);
    if (st != MCPFWD_OK) {
      delete listener;  // mcpfwd_proxy_new failed: it is still ours
      return st;
    }
    p_.store(p);
    return MCPFWD_OK;
  }

  mcpfwd_swig_status start() {
    return with([](mcpfwd_proxy* p) { return detail::check(mcpfwd_proxy_start(p)); });
  }

  /** Begin a graceful shutdown; returns at once. Any thread, also in a callback. */
  mcpfwd_swig_status stop() {
    return with([](mcpfwd_proxy* p) { return detail::check(mcpfwd_proxy_stop(p)); });
  }

  /** Wait up to timeoutMs (negative: no limit); then exitCode() holds the code. */
  mcpfwd_swig_status wait(int timeoutMs) {
    return with([&](mcpfwd_proxy* p) {
      return detail::check(mcpfwd_proxy_wait(p, timeoutMs, &exit_code_));
    });
  }

  /** The exit code the last successful wait() reported. */
  int exitCode() const { return exit_code_; }

  mcpfwd_swig_status url(std::string* out) {
    return with([&](mcpfwd_proxy* p) {
      return detail::string_call(out, [&](char** s) { return mcpfwd_proxy_url(p, s); });
    });
  }

  mcpfwd_swig_status sessionsJson(std::string* out) {
    return with([&](mcpfwd_proxy* p) {
      return detail::string_call(out, [&](char** s) { return mcpfwd_proxy_sessions_json(p, s); });
    });
  }

  mcpfwd_swig_status sessionJson(const std::string& id, std::string* out) {
    return with([&](mcpfwd_proxy* p) {
      return detail::string_call(
          out, [&](char** s) { return mcpfwd_proxy_session_json(p, id.c_str(), s); });
    });
  }

  mcpfwd_swig_status statsJson(std::string* out) {
    return with([&](mcpfwd_proxy* p) {
      return detail::string_call(out, [&](char** s) { return mcpfwd_proxy_stats_json(p, s); });
    });
  }

  mcpfwd_swig_status statusText(std::string* out) {
    return with([&](mcpfwd_proxy* p) {
      return detail::string_call(out, [&](char** s) { return mcpfwd_proxy_status_text(p, s); });
    });
  }

  mcpfwd_swig_status closeSession(const std::string& id) {
    return with(
        [&](mcpfwd_proxy* p) { return detail::check(mcpfwd_proxy_close_session(p, id.c_str())); });
  }

  /**
   * Stop, wait, join the I/O threads, then delete the listener; idempotent.
   * From inside a callback it returns at once and a thread of the library
   * does that work (see mcpfwd_proxy_free).
   */
  void close() { mcpfwd_proxy_free(p_.exchange(nullptr)); }

  bool isOpen() const { return p_.load() != nullptr; }

  /** The C handle (NULL once closed). Borrowed. */
  mcpfwd_proxy* handle() { return p_.load(); }

 private:
  // Runs fn(handle) unless the proxy is closed (fn records its failures).
  template <class F>
  mcpfwd_swig_status with(F&& fn) {
    mcpfwd_proxy* p = p_.load();
    if (p == nullptr) return detail::fail(MCPFWD_E_STATE, "proxy is closed");
    return fn(p);
  }

  // The trampolines run on I/O threads: nothing may escape them (a Java
  // listener's exception arrives here as Swig::DirectorException).
  static int event_trampoline(const mcpfwd_event* ev, void* ud) noexcept {
    try {
      size_t n = 0;
      const char* d = mcpfwd_event_detail(ev, &n);
      static_cast<Listener*>(ud)->onEvent(static_cast<int>(mcpfwd_event_get_type(ev)),
                                          mcpfwd_event_session_id(ev), std::string(d, n));
    } catch (...) {
    }
    return 0;
  }

  static void log_trampoline(mcpfwd_log_level level, const char* source, const char* text,
                             size_t len, void* ud) noexcept {
    try {
      static_cast<Listener*>(ud)->onLog(static_cast<int>(level), source, std::string(text, len));
    } catch (...) {
    }
  }

  static void free_listener(void* ud) noexcept {
    try {
      delete static_cast<Listener*>(ud);
    } catch (...) {
    }
  }

  std::atomic<mcpfwd_proxy*> p_{nullptr};  // stop() may race close() (from a callback)
  int exit_code_ = 0;
};

}  // namespace swig
}  // namespace mcpfwd

#endif  // MCPFWD_SWIG_HPP
