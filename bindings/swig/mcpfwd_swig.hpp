// The adapter the SWIG bindings (Java, Go) wrap besides the raw C API: a thin
// layer over the C++ RAII layer of <mcpfwd/mcpfwd.hpp> (mcpfwd::cxx) in the
// shape SWIG wraps without typemaps of its own: status returns, std::string,
// and a Listener class that SWIG turns into a director, so Java and Go code
// can receive callbacks.
//
// Conventions (docs/bindings.md):
//  - Nothing here throws (but the Config constructor, when memory runs out):
//    every call that can fail returns an mcpfwd_swig_status and, on failure,
//    leaves its text in mcpfwd::swig::last_error() (thread-local, copied at
//    the failing call, so later successful mcpfwd_ calls cannot clear it). The
//    SWIG typemaps turn that pair into a Java exception or a Go error inside
//    the same native call. (mcpfwd::cxx::capture is the non-throwing variant
//    of the C++ layer this uses.)
//  - Strings are UTF-8 std::string; results come back through std::string *out.
//  - The proxy owns its Listener from open() on and deletes it after the last
//    callback (the C++ layer's handler, the library's user_data).
#ifndef MCPFWD_SWIG_HPP
#define MCPFWD_SWIG_HPP

#include <mcpfwd/mcpfwd.hpp>

#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

// Runs f() (calls of the C++ layer); a failure's status is returned, its text kept for
// last_error().
template <class F>
mcpfwd_swig_status guard(F&& f) noexcept {
  cxx::result r = cxx::capture(std::forward<F>(f));
  if (!r) {
    try {
      error_text() = std::move(r.message);
    } catch (...) {
    }
  }
  return r.status;
}

// As guard, for a call handing out text: *out receives it.
template <class F>
mcpfwd_swig_status text(std::string* out, F&& f) noexcept {
  return guard([&] {
    if (out == nullptr) throw cxx::error(MCPFWD_E_INVALID_ARG, "out is NULL");
    *out = f();
  });
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

/**
 * Receives a proxy's callbacks. Java and Go subclass it (a SWIG director).
 * Every method runs on a proxy I/O thread: it must not block, and may call
 * only Proxy::stop on the proxy (other calls fail with MCPFWD_E_STATE).
 */
class Listener {
 public:
  Listener() = default;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  virtual ~Listener() = default;
  /** A session event: eventType is an mcpfwd_event_type value. false on
   * MCPFWD_EVENT_SESSION_OPENED refuses that session (ignored for other events). */
  virtual bool onEvent(int eventType, const std::string& sessionId, const std::string& detail) {
    (void)eventType;
    (void)sessionId;
    (void)detail;
    return true;
  }
  /** A log line: level is an mcpfwd_log_level value, source "mcpfwd" or "server". */
  virtual void onLog(int level, const std::string& source, const std::string& text) {
    (void)level;
    (void)source;
    (void)text;
  }
  /** A message about to be forwarded (direction: an mcpfwd_direction value; data: its
   * bytes). false drops it and closes its session. */
  virtual bool onMessage(int direction, const std::string& sessionId, const std::string& data) {
    (void)direction;
    (void)sessionId;
    (void)data;
    return true;
  }
};

/** Which callbacks Proxy::open installs (bit flags). */
enum CallbackFlags { CALLBACK_EVENTS = 1, CALLBACK_LOG = 2, CALLBACK_MESSAGES = 4 };

/** One option of the table (mcpfwd_option_*). Numbers above 2^63 - 1 read as 2^63 - 1. */
class OptionInfo {
 public:
  OptionInfo() = default;
  explicit OptionInfo(const mcpfwd_option* o) : o_(o) {}
  std::string name() const { return str(o_.name()); }
  /** An mcpfwd_option_type value. */
  int optionType() const { return static_cast<int>(o_.type()); }
  std::string defaultValue() const { return str(o_.default_value()); }
  std::string help() const { return str(o_.help()); }
  std::string metavar() const { return str(o_.metavar()); }
  /** For a choice: the accepted values, '|'-separated; else "". */
  std::string choices() const { return str(o_.choices()); }
  /** The MCPFWD_MODE_* bits where it applies. */
  int modes() const { return static_cast<int>(o_.modes()); }
  std::string cliFlag() const { return str(o_.cli_flag()); }
  long long minValue() const { return clamp(o_.min()); }
  long long maxValue() const { return clamp(o_.max()); }

 private:
  static std::string str(std::string_view v) { return std::string(v); }
  static long long clamp(std::uint64_t v) {
    constexpr auto top = static_cast<std::uint64_t>(std::numeric_limits<long long>::max());
    return static_cast<long long>(v > top ? top : v);
  }
  cxx::option o_{mcpfwd_option_next(nullptr)};
};

/** How many options the table has. */
inline int optionCount() {
  int n = 0;
  for (const mcpfwd_option* o = mcpfwd_option_next(nullptr); o != nullptr;
       o = mcpfwd_option_next(o))
    ++n;
  return n;
}

/** The option at index (0 <= index < optionCount(), in the table's order); the first one
 * for an index out of range. */
inline OptionInfo optionAt(int index) {
  const mcpfwd_option* o = mcpfwd_option_next(nullptr);
  for (int i = 0; i < index && o != nullptr; ++i) o = mcpfwd_option_next(o);
  return OptionInfo(o != nullptr ? o : mcpfwd_option_next(nullptr));
}

/** A configuration; the raw mcpfwd_config_set_* functions take handle(). */
class Config {
 public:
  /** Throws std::bad_alloc if the library cannot allocate one. */
  Config() : cfg_(make()) {}
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  /** The C handle, for the raw mcpfwd_config_* functions. Borrowed. */
  mcpfwd_config* handle() { return cfg_.get(); }

  /** Any option of the table by name, its value as text (mcpfwd_config_set). */
  mcpfwd_swig_status set(const std::string& name, const std::string& value) {
    return detail::guard([&] { cfg_.set(name, value); });
  }

  /**
   * The upstream server command; argv's entries are separated by NUL bytes
   * (C strings cannot contain one), so one string carries the whole vector.
   */
  mcpfwd_swig_status setUpstreamArgv(const std::string& nulSeparated) {
    return detail::guard([&] {
      std::vector<std::string> args;
      for (std::string::size_type start = 0; !nulSeparated.empty();) {
        const std::string::size_type end = nulSeparated.find('\0', start);
        args.push_back(nulSeparated.substr(start, end - start));
        if (end == std::string::npos) break;
        start = end + 1;
      }
      // (an empty string is no argument at all: the library says what is wrong)
      cfg_.set_upstream_command(args);
    });
  }

  cxx::config& get() { return cfg_; }

 private:
  static cxx::config make() {
    try {
      return cxx::config();
    } catch (const cxx::error&) {
      throw std::bad_alloc();
    }
  }
  cxx::config cfg_;
};

#ifndef SWIG  // (SWIG would not know its base class)
namespace detail {
// The C++ layer's handler over a Listener (a director: Java or Go code). What a director
// throws (a Java exception arrives as Swig::DirectorException) is swallowed by the C++
// layer's trampolines: it counts as "go on".
class listener_handler final : public cxx::handler {
 public:
  explicit listener_handler(std::unique_ptr<Listener> l) : l_(std::move(l)) {}
  void on_log(mcpfwd_log_level level, std::string_view source, std::string_view text) override {
    l_->onLog(static_cast<int>(level), std::string(source), std::string(text));
  }
  bool on_event(const cxx::event& ev) override {
    return l_->onEvent(static_cast<int>(ev.type), std::string(ev.session_id),
                       std::string(ev.detail));
  }
  bool on_message(const cxx::message& m) override {
    return l_->onMessage(static_cast<int>(m.direction), std::string(m.session_id),
                         std::string(m.bytes));
  }

 private:
  std::unique_ptr<Listener> l_;
};
}  // namespace detail
#endif

/**
 * A proxy: open(), start(), ..., close() (the destructor closes too). The
 * Java and Go classes over it serialize close() against every other call.
 */
class Proxy {
 public:
  Proxy() = default;
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;
  ~Proxy() { close(); }

  /**
   * Create the proxy from cfg (copied). listener may be NULL; otherwise the
   * proxy owns it from this call on, whether it succeeds or not, and deletes
   * it after the last callback. flags: CALLBACK_EVENTS | CALLBACK_LOG |
   * CALLBACK_MESSAGES.
   */
  mcpfwd_swig_status open(Config& cfg, Listener* listener, int flags) {
    std::unique_ptr<Listener> owned(listener);
    return detail::guard([&] {
      if (p_) throw cxx::error(MCPFWD_E_STATE, "proxy already opened");
      std::unique_ptr<cxx::handler> h;
      if (owned) h = std::make_unique<detail::listener_handler>(std::move(owned));
      const unsigned wanted = ((flags & CALLBACK_EVENTS) != 0 ? cxx::want_events : 0u) |
                              ((flags & CALLBACK_LOG) != 0 ? cxx::want_log : 0u) |
                              ((flags & CALLBACK_MESSAGES) != 0 ? cxx::want_messages : 0u);
      p_ = cxx::proxy(cfg.get(), std::move(h), wanted);
    });
  }

  mcpfwd_swig_status start() {
    return detail::guard([&] { p_.start(); });
  }

  /** Begin a graceful shutdown; returns at once. Any thread, also in a callback. */
  mcpfwd_swig_status stop() {
    return detail::guard([&] { p_.stop(); });
  }

  /** Wait up to timeoutMs (negative: no limit); then exitCode() holds the code.
   * MCPFWD_E_TIMEOUT if the proxy still runs then. */
  mcpfwd_swig_status wait(int timeoutMs) {
    return detail::guard([&] {
      const std::optional<int> code = p_.wait(timeoutMs);
      if (!code) throw cxx::error(MCPFWD_E_TIMEOUT, "proxy still running");
      exit_code_ = *code;
    });
  }

  /** The exit code the last successful wait() reported. */
  int exitCode() const { return exit_code_; }

  mcpfwd_swig_status url(std::string* out) {
    return detail::text(out, [&] { return p_.url(); });
  }
  mcpfwd_swig_status sessionsJson(std::string* out) {
    return detail::text(out, [&] { return p_.sessions_json(); });
  }
  mcpfwd_swig_status sessionJson(const std::string& id, std::string* out) {
    return detail::text(out, [&] { return p_.session_json(id); });
  }
  mcpfwd_swig_status statsJson(std::string* out) {
    return detail::text(out, [&] { return p_.stats_json(); });
  }
  mcpfwd_swig_status statusText(std::string* out) {
    return detail::text(out, [&] { return p_.status_text(); });
  }
  mcpfwd_swig_status metricsText(std::string* out) {
    return detail::text(out, [&] { return p_.metrics_text(); });
  }
  mcpfwd_swig_status adminUrl(std::string* out) {
    return detail::text(out, [&] { return p_.admin_url(); });
  }
  mcpfwd_swig_status closeSession(const std::string& id) {
    return detail::guard([&] { p_.close_session(id); });
  }

  /**
   * Stop, wait, join the I/O threads, then delete the listener; idempotent.
   * From inside a callback it returns at once and a thread of the library
   * does that work (see mcpfwd_proxy_free).
   */
  void close() { p_.reset(); }

  bool isOpen() const { return static_cast<bool>(p_); }

  /** The C handle (NULL once closed). Borrowed. */
  mcpfwd_proxy* handle() { return p_.get(); }

 private:
  cxx::proxy p_;
  int exit_code_ = 0;
};

}  // namespace swig
}  // namespace mcpfwd

#endif  // MCPFWD_SWIG_HPP
