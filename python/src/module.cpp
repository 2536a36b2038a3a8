// mcpfwd._mcpfwd: a thin pybind11 module over the mcpfwd C ABI (mcpfwd/mcpfwd.h) only.
//
// The Pythonic API (mcpfwd.Proxy, mcpfwd.Status, the exception classes) lives in the Python
// package; this module exposes the C functions almost one to one:
//   version(), version_number(), status_str(), STATUS_*, LOG_*, EVENT_*, UPSTREAM_* and
//   direction constants, __version__, and _Proxy, a handle that owns one mcpfwd_proxy.
//
// Threading rules (docs/threading.md, STYLE.md section 3):
//  - Every call that can block or wait on the proxy's I/O threads (start, stop, wait,
//    stats_json, url, sessions_json, session_json, status_text, close_session, close) runs
//    with the GIL released; otherwise a callback waiting for the GIL on an I/O thread
//    deadlocks against it.
//  - mcpfwd_last_error() is read right after the failing call, still without the GIL, and
//    copied before the GIL is taken back.
//  - The trampolines (log, event, message) run on I/O threads: each takes the GIL, calls
//    Python, holds no C++ lock meanwhile, and never lets a Python or C++ exception cross into
//    C (Python errors go to sys.unraisablehook and count as "go on").
//  - The C ABI has one user_data per proxy for all its callbacks: a heap `callbacks` object
//    holding the three Python callables (each may be None). The library destroys it through
//    callbacks_free after the last callback, and that drops the references under the GIL.
//  - A C callback is registered only for a callable that is not None: the message hook is on
//    the forwarding path and costs nothing when unset.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mcpfwd/mcpfwd.h"

namespace py = pybind11;

namespace {

#if PY_VERSION_HEX >= 0x030D0000
bool py_finalizing() noexcept {
  return Py_IsFinalizing() != 0;
}
#else
bool py_finalizing() noexcept {
  return _Py_IsFinalizing() != 0;
}
#endif

// Nesting depth of callbacks on this thread, and the kind of the innermost one ("a log
// callback", ...). Inside a callback the C ABI allows only mcpfwd_proxy_stop, so the other
// methods refuse instead of deadlocking the I/O thread.
thread_local int tl_callback_depth = 0;
thread_local const char* tl_callback_kind = nullptr;

class callback_scope {
 public:
  explicit callback_scope(const char* kind) noexcept : outer_(tl_callback_kind) {
    ++tl_callback_depth;
    tl_callback_kind = kind;
  }
  ~callback_scope() {
    --tl_callback_depth;
    tl_callback_kind = outer_;
  }
  callback_scope(const callback_scope&) = delete;
  callback_scope& operator=(const callback_scope&) = delete;

 private:
  const char* outer_;
};

// Raise the mcpfwd exception for a failed call: mcpfwd._errors.error_from_status picks the
// subclass (InvalidArgumentError, IoError, ...). Requires the GIL.
[[noreturn]] void throw_status(int status, const std::string& message) {
  py::object factory = py::module_::import("mcpfwd._errors").attr("error_from_status");
  py::object exc = factory(status, message);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw py::error_already_set();
}

// The outcome of one C call, with mcpfwd_last_error() copied while still on the calling thread
// and before anything else could overwrite it.
struct call_result {
  mcpfwd_status status = MCPFWD_OK;
  std::string error;
};

call_result record(mcpfwd_status status) {
  call_result r;
  r.status = status;
  if (status != MCPFWD_OK) {
    r.error = mcpfwd_last_error();
  }
  return r;
}

void check(const call_result& r) {
  if (r.status != MCPFWD_OK) {
    throw_status(static_cast<int>(r.status), r.error);
  }
}

// For calls that do not block (config setters, proxy_new): keeps the GIL.
void check(mcpfwd_status status) {
  check(record(status));
}

// A string for the C ABI, which takes NUL-terminated text: an embedded NUL would silently cut
// it short (a different session id, a shorter token), so it is refused. Requires the GIL.
const char* c_text(const std::string& s, const char* what) {
  if (s.find('\0') != std::string::npos) {
    throw_status(MCPFWD_E_INVALID_ARG, std::string(what) + " must not contain a NUL character");
  }
  return s.c_str();
}

// Runs fn(char** out) (a C function handing out an owned string) and copies the string.
// Runs without the GIL; the caller checks the result with the GIL held.
template <class Fn>
call_result owned_string_call(Fn&& fn, std::string& text) {
  char* out = nullptr;
  call_result r = record(fn(&out));
  if (out != nullptr) {
    std::unique_ptr<char, decltype(&mcpfwd_string_free)> owned(out, &mcpfwd_string_free);
    if (r.status == MCPFWD_OK) {
      text = owned.get();
    }
  }
  return r;
}

// -------------------------------------------------------------------------------- callbacks

// user_data of a proxy with callbacks: one reference to each Python callable (None when that
// callback is not registered). Never modified after the proxy is made.
struct callbacks {
  py::object on_log = py::none();
  py::object on_event = py::none();
  py::object on_message = py::none();
};

// Text from the library that need not be UTF-8 (server stderr, close reasons quoting it):
// never fails on it. Requires the GIL.
py::str decode_lenient(const char* text, size_t len) {
  py::object s = py::reinterpret_steal<py::object>(
      PyUnicode_DecodeUTF8(text != nullptr ? text : "", static_cast<Py_ssize_t>(len), "replace"));
  if (!s) {
    throw py::error_already_set();
  }
  return py::reinterpret_borrow<py::str>(s);
}

// Takes the GIL and runs call() (which calls fn); true if it returned False. A Python error
// goes to sys.unraisablehook (with fn as the context) and counts as "go on". Never throws.
// fn is only read here without the GIL (no reference count changes).
template <class Call>
bool run_hook(const py::object& fn, const char* kind, Call&& call) noexcept {
  if (py_finalizing()) {
    return false;  // taking the GIL now would end this (non-Python) thread
  }
  bool said_false = false;
  try {
    py::gil_scoped_acquire gil;
    callback_scope scope(kind);
    try {
      py::object result = call();
      said_false = result.ptr() == Py_False;
    } catch (py::error_already_set& e) {
      e.discard_as_unraisable(fn);
    } catch (const std::exception& e) {
      // A C++ error while calling into Python (e.g. bad_alloc): report it the same way.
      PyErr_SetString(PyExc_RuntimeError, e.what());
      PyErr_WriteUnraisable(fn.ptr());
    }
  } catch (...) {
    // Nothing may cross into C.
  }
  return said_false;
}

extern "C" void log_trampoline(mcpfwd_log_level level, const char* source, const char* text,
                               size_t len, void* user_data) noexcept {
  auto* cbs = static_cast<callbacks*>(user_data);
  if (cbs == nullptr) {
    return;
  }
  (void)run_hook(cbs->on_log, "a log callback", [&] {
    // Server stderr need not be UTF-8: never fail on it.
    py::str line = decode_lenient(text, len);
    py::str src(source != nullptr ? source : "");
    return cbs->on_log(static_cast<int>(level), src, line);
  });
}

// on_event(type, session_id, detail): False on a SESSION_OPENED closes that session.
extern "C" int event_trampoline(const mcpfwd_event* ev, void* user_data) noexcept {
  auto* cbs = static_cast<callbacks*>(user_data);
  if (cbs == nullptr || ev == nullptr) {
    return 0;
  }
  const bool refuse = run_hook(cbs->on_event, "an event callback", [&] {
    size_t len = 0;
    const char* detail = mcpfwd_event_detail(ev, &len);
    const char* id = mcpfwd_event_session_id(ev);
    py::str sid = decode_lenient(id, id != nullptr ? std::strlen(id) : 0);
    return cbs->on_event(static_cast<int>(mcpfwd_event_get_type(ev)), sid,
                         decode_lenient(detail, len));
  });
  return refuse ? 1 : 0;
}

// on_message(direction, session_id, data): False drops the message and closes its session.
// The bytes are copied: the message is borrowed for the call only.
extern "C" int message_trampoline(const mcpfwd_message* m, void* user_data) noexcept {
  auto* cbs = static_cast<callbacks*>(user_data);
  if (cbs == nullptr || m == nullptr) {
    return 0;
  }
  const bool abort = run_hook(cbs->on_message, "a message callback", [&] {
    size_t len = 0;
    const char* data = mcpfwd_message_bytes(m, &len);
    const char* id = mcpfwd_message_session_id(m);
    py::str sid = decode_lenient(id, id != nullptr ? std::strlen(id) : 0);
    py::bytes copy(data != nullptr ? data : "", data != nullptr ? len : 0);
    return cbs->on_message(static_cast<int>(mcpfwd_message_direction(m)), sid, copy);
  });
  return abort ? 1 : 0;
}

extern "C" void callbacks_free(void* user_data) noexcept {
  auto* cbs = static_cast<callbacks*>(user_data);
  if (cbs == nullptr) {
    return;
  }
  try {
    if (py_finalizing()) {
      // The interpreter is going away; dropping the references is no longer possible.
      cbs->on_log.release();
      cbs->on_event.release();
      cbs->on_message.release();
      delete cbs;
      return;
    }
    // mcpfwd_proxy_free runs this on the thread that called close(), which released the GIL.
    py::gil_scoped_acquire gil;
    delete cbs;
  } catch (...) {
  }
}

// A Python callable for a C callback, or None. Requires the GIL.
py::object optional_callable(const py::object& fn, const char* name) {
  if (fn.is_none()) {
    return py::none();
  }
  if (PyCallable_Check(fn.ptr()) == 0) {
    throw py::type_error(std::string(name) + " must be callable or None");
  }
  return fn;
}

// ------------------------------------------------------------------------------------ proxy

// The native handle plus what is needed to free it safely while other Python threads may be
// inside stop()/stats_json()/wait() on it with the GIL released. Shared with the thread that
// frees the proxy when close() is called from inside a callback.
struct handle_state {
  std::mutex mutex;
  std::condition_variable idle;
  mcpfwd_proxy* proxy = nullptr;
  int users = 0;           // calls in progress on proxy
  bool exclusive = false;  // a start() or wait() is in progress (one thread per proxy)
  bool closing = false;    // close() began: no new calls
};

// Stop, wait until no call uses the handle any more, free it. Runs without the GIL.
void finish_close(const std::shared_ptr<handle_state>& st, mcpfwd_proxy* proxy) {
  (void)mcpfwd_proxy_stop(proxy);  // lets a wait() in another thread return
  {
    std::unique_lock<std::mutex> lock(st->mutex);
    st->idle.wait(lock, [&] { return st->users == 0; });
  }
  mcpfwd_proxy_free(proxy);  // joins the I/O threads, then runs callbacks_free
  std::lock_guard<std::mutex> lock(st->mutex);
  st->proxy = nullptr;
}

class py_proxy {
 public:
  py_proxy(
      const std::vector<std::string>& upstream, const std::optional<std::pair<int, int>>& stdio,
      const std::optional<std::pair<std::string, int>>& listen,
      const std::optional<std::uint64_t>& max_message_bytes,
      const std::optional<std::uint32_t>& shutdown_grace_ms, const std::optional<int>& log_level,
      const py::object& on_log, const std::optional<std::uint32_t>& max_sessions,
      const std::optional<std::uint32_t>& idle_timeout_ms,
      const std::optional<std::uint32_t>& request_timeout_ms,
      const std::optional<std::vector<std::string>>& allowed_origins,
      const std::optional<std::string>& auth_token, const std::optional<std::uint32_t>& io_threads,
      const py::object& on_event, const py::object& on_message,
      const std::optional<std::uint32_t>& drain_timeout_ms,
      const std::optional<std::string>& upstream_url, const std::optional<int>& upstream_transport,
      const std::optional<std::vector<std::pair<std::string, std::string>>>& upstream_headers,
      const std::optional<bool>& forward_authorization,
      const std::optional<std::string>& upstream_ca_file,
      const std::optional<bool>& upstream_insecure,
      const std::optional<std::uint32_t>& upstream_pool_max,
      const std::optional<std::uint32_t>& upstream_connect_timeout_ms,
      const std::optional<std::uint32_t>& upstream_timeout_ms,
      const std::optional<std::vector<std::pair<std::string, std::optional<std::string>>>>&
          upstream_env,
      const std::optional<bool>& upstream_clear_env, const std::optional<std::string>& upstream_cwd)
      : state_(std::make_shared<handle_state>()) {
    mcpfwd_config* raw = nullptr;
    check(mcpfwd_config_new(&raw));
    std::unique_ptr<mcpfwd_config, decltype(&mcpfwd_config_free)> cfg(raw, &mcpfwd_config_free);

    // A server command, or (with an empty command) a remote server's URL. Without either,
    // the empty command is passed on so that the library says what is missing; with both,
    // mcpfwd_proxy_new refuses the config.
    if (!upstream.empty() || !upstream_url) {
      std::vector<const char*> argv;
      argv.reserve(upstream.size());
      for (const std::string& arg : upstream) {
        argv.push_back(c_text(arg, "upstream arguments"));
      }
      check(mcpfwd_config_set_upstream_command(cfg.get(), argv.size(), argv.data()));
    }
    if (upstream_url) {
      check(mcpfwd_config_set_upstream_url(cfg.get(), c_text(*upstream_url, "upstream URL")));
    }
    if (upstream_clear_env && *upstream_clear_env) {
      check(mcpfwd_config_clear_upstream_env(cfg.get()));
    }
    if (upstream_env) {
      for (const auto& [name, value] : *upstream_env) {
        check(mcpfwd_config_set_upstream_env(
            cfg.get(), c_text(name, "upstream_env names"),
            value ? c_text(*value, "upstream_env values") : nullptr));
      }
    }
    if (upstream_cwd) {
      check(mcpfwd_config_set_upstream_cwd(cfg.get(), c_text(*upstream_cwd, "upstream_cwd")));
    }
    if (upstream_transport) {
      // Only values of the enum may be converted to it.
      if (*upstream_transport < MCPFWD_UPSTREAM_AUTO || *upstream_transport > MCPFWD_UPSTREAM_SSE) {
        throw_status(MCPFWD_E_INVALID_ARG,
                     "upstream_transport must be between UPSTREAM_AUTO and UPSTREAM_SSE, got " +
                         std::to_string(*upstream_transport));
      }
      check(mcpfwd_config_set_upstream_transport(
          cfg.get(), static_cast<mcpfwd_upstream_transport>(*upstream_transport)));
    }
    if (upstream_headers) {
      for (const auto& [name, value] : *upstream_headers) {
        check(mcpfwd_config_add_upstream_header(cfg.get(), c_text(name, "upstream header names"),
                                                c_text(value, "upstream header values")));
      }
    }
    if (forward_authorization) {
      check(mcpfwd_config_set_forward_authorization(cfg.get(), *forward_authorization ? 1 : 0));
    }
    if (upstream_ca_file) {
      check(mcpfwd_config_set_upstream_ca_file(cfg.get(),
                                               c_text(*upstream_ca_file, "upstream_ca_file")));
    }
    if (upstream_insecure) {
      check(mcpfwd_config_set_upstream_insecure(cfg.get(), *upstream_insecure ? 1 : 0));
    }
    if (upstream_pool_max) {
      check(mcpfwd_config_set_upstream_pool_max(cfg.get(), *upstream_pool_max));
    }
    if (upstream_connect_timeout_ms) {
      check(mcpfwd_config_set_upstream_connect_timeout_ms(cfg.get(), *upstream_connect_timeout_ms));
    }
    if (upstream_timeout_ms) {
      check(mcpfwd_config_set_upstream_timeout_ms(cfg.get(), *upstream_timeout_ms));
    }

    if (stdio) {
      check(mcpfwd_config_set_downstream_stdio(cfg.get(), stdio->first, stdio->second));
    }
    if (listen) {
      if (listen->second < 0 || listen->second > 65535) {
        throw_status(MCPFWD_E_INVALID_ARG, "listen port must be between 0 and 65535, got " +
                                               std::to_string(listen->second));
      }
      check(mcpfwd_config_set_listen(cfg.get(), c_text(listen->first, "listen host"),
                                     static_cast<std::uint16_t>(listen->second)));
    }
    if (max_sessions) {
      check(mcpfwd_config_set_max_sessions(cfg.get(), *max_sessions));
    }
    if (idle_timeout_ms) {
      check(mcpfwd_config_set_idle_timeout_ms(cfg.get(), *idle_timeout_ms));
    }
    if (request_timeout_ms) {
      check(mcpfwd_config_set_request_timeout_ms(cfg.get(), *request_timeout_ms));
    }
    if (allowed_origins) {
      for (const std::string& origin : *allowed_origins) {
        check(mcpfwd_config_add_allowed_origin(cfg.get(), c_text(origin, "allowed origins")));
      }
    }
    if (auth_token) {
      check(mcpfwd_config_set_auth_token(cfg.get(), c_text(*auth_token, "auth_token")));
    }
    if (io_threads) {
      check(mcpfwd_config_set_io_threads(cfg.get(), *io_threads));
    }
    if (drain_timeout_ms) {
      check(mcpfwd_config_set_drain_timeout_ms(cfg.get(), *drain_timeout_ms));
    }
    if (max_message_bytes) {
      if (*max_message_bytes > SIZE_MAX) {
        throw_status(MCPFWD_E_INVALID_ARG, "max_message_bytes is too large");
      }
      check(
          mcpfwd_config_set_max_message_bytes(cfg.get(), static_cast<size_t>(*max_message_bytes)));
    }
    if (shutdown_grace_ms) {
      check(mcpfwd_config_set_shutdown_grace_ms(cfg.get(), *shutdown_grace_ms));
    }
    if (log_level) {
      // Only values of the enum may be converted to it.
      if (*log_level < MCPFWD_LOG_TRACE || *log_level > MCPFWD_LOG_OFF) {
        throw_status(MCPFWD_E_INVALID_ARG, "log_level must be between LOG_TRACE and LOG_OFF, got " +
                                               std::to_string(*log_level));
      }
      check(mcpfwd_config_set_log_level(cfg.get(), static_cast<mcpfwd_log_level>(*log_level)));
    }

    // One user_data for all callbacks of the proxy (the C ABI has one per proxy); a C
    // callback only for a callable given, so an unset message hook costs nothing.
    std::unique_ptr<callbacks> cbs = std::make_unique<callbacks>();
    cbs->on_log = optional_callable(on_log, "on_log");
    cbs->on_event = optional_callable(on_event, "on_event");
    cbs->on_message = optional_callable(on_message, "on_message");
    if (!cbs->on_log.is_none()) {
      check(mcpfwd_config_set_log_cb(cfg.get(), &log_trampoline));
    }
    if (!cbs->on_event.is_none()) {
      check(mcpfwd_config_set_event_cb(cfg.get(), &event_trampoline));
    }
    if (!cbs->on_message.is_none()) {
      check(mcpfwd_config_set_message_cb(cfg.get(), &message_trampoline));
    }
    const bool any_callback =
        !cbs->on_log.is_none() || !cbs->on_event.is_none() || !cbs->on_message.is_none();
    if (any_callback) {
      check(mcpfwd_config_set_user_data(cfg.get(), cbs.get(), &callbacks_free));
    }

    mcpfwd_proxy* proxy = nullptr;
    // Does not block and runs no callback: keeps the GIL. On failure no proxy exists, so
    // nobody runs callbacks_free and `cbs` is deleted here (with the GIL held).
    check(mcpfwd_proxy_new(&proxy, cfg.get()));
    if (any_callback) {
      cbs.release();  // owned by the proxy now: mcpfwd_proxy_free runs callbacks_free
    }
    state_->proxy = proxy;
  }

  py_proxy(const py_proxy&) = delete;
  py_proxy& operator=(const py_proxy&) = delete;

  ~py_proxy() {
    try {
      close();
    } catch (...) {
    }
  }

  void start() {
    use u(*this, "start", /*exclusive=*/true);
    call_result r;
    {
      py::gil_scoped_release nogil;
      r = record(mcpfwd_proxy_start(u.proxy()));
    }
    check(r);
  }

  // Idempotent; a no-op on a closed proxy. Allowed from any thread and from a callback.
  void stop() {
    if (closed()) {
      return;
    }
    use u(*this, "stop", /*exclusive=*/false, /*allowed_in_callback=*/true);
    call_result r;
    {
      py::gil_scoped_release nogil;
      r = record(mcpfwd_proxy_stop(u.proxy()));
    }
    check(r);
  }

  // Returns the exit code, or None if the proxy still runs after timeout_ms (negative: no
  // limit). Waits in short slices so that signal handlers (Ctrl-C) run in between.
  std::optional<int> wait(int timeout_ms) {
    using clock = std::chrono::steady_clock;
    constexpr int slice_ms = 100;
    use u(*this, "wait", /*exclusive=*/true);
    const auto deadline = clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
    for (;;) {
      int slice = slice_ms;
      if (timeout_ms >= 0) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now()).count();
        slice = static_cast<int>(std::clamp<long long>(left, 0, slice_ms));
      }
      int exit_code = 0;
      call_result r;
      {
        py::gil_scoped_release nogil;
        const mcpfwd_status s = mcpfwd_proxy_wait(u.proxy(), slice, &exit_code);
        r = s == MCPFWD_E_TIMEOUT ? call_result{s, {}} : record(s);
      }
      if (r.status == MCPFWD_OK) {
        return exit_code;
      }
      if (r.status != MCPFWD_E_TIMEOUT) {
        check(r);
      }
      if (timeout_ms >= 0 && clock::now() >= deadline) {
        return std::nullopt;
      }
      if (PyErr_CheckSignals() != 0) {
        throw py::error_already_set();
      }
    }
  }

  std::string stats_json() {
    use u(*this, "stats_json", /*exclusive=*/false);
    call_result r;
    std::string json;
    {
      py::gil_scoped_release nogil;
      r = owned_string_call([&](char** out) { return mcpfwd_proxy_stats_json(u.proxy(), out); },
                            json);
    }
    check(r);
    return json;
  }

  // The endpoint URL of an HTTP proxy ("" in stdio mode and before start).
  std::string url() {
    use u(*this, "url", /*exclusive=*/false);
    call_result r;
    std::string text;
    {
      py::gil_scoped_release nogil;
      r = owned_string_call([&](char** out) { return mcpfwd_proxy_url(u.proxy(), out); }, text);
    }
    check(r);
    return text;
  }

  std::string sessions_json() {
    use u(*this, "sessions_json", /*exclusive=*/false);
    call_result r;
    std::string json;
    {
      py::gil_scoped_release nogil;
      r = owned_string_call([&](char** out) { return mcpfwd_proxy_sessions_json(u.proxy(), out); },
                            json);
    }
    check(r);
    return json;
  }

  // NotFoundError when there is no session with that id.
  std::string session_json(const std::string& id) {
    const char* cid = c_text(id, "session id");
    use u(*this, "session_json", /*exclusive=*/false);
    call_result r;
    std::string json;
    {
      py::gil_scoped_release nogil;
      r = owned_string_call(
          [&](char** out) { return mcpfwd_proxy_session_json(u.proxy(), cid, out); }, json);
    }
    check(r);
    return json;
  }

  // The human-readable session table (format not stable).
  std::string status_text() {
    use u(*this, "status_text", /*exclusive=*/false);
    call_result r;
    std::string text;
    {
      py::gil_scoped_release nogil;
      r = owned_string_call([&](char** out) { return mcpfwd_proxy_status_text(u.proxy(), out); },
                            text);
    }
    check(r);
    return text;
  }

  // NotFoundError when there is no session with that id. Returns at once.
  void close_session(const std::string& id) {
    const char* cid = c_text(id, "session id");
    use u(*this, "close_session", /*exclusive=*/false);
    call_result r;
    {
      py::gil_scoped_release nogil;
      r = record(mcpfwd_proxy_close_session(u.proxy(), cid));
    }
    check(r);
  }

  // Stop, join and free the proxy; idempotent. Waits for calls in progress in other threads
  // (a wait() there returns once the proxy has stopped).
  void close() {
    std::shared_ptr<handle_state> st = state_;
    mcpfwd_proxy* proxy = nullptr;
    {
      std::lock_guard<std::mutex> lock(st->mutex);
      if (st->closing || st->proxy == nullptr) {
        return;
      }
      st->closing = true;
      proxy = st->proxy;
    }
    if (tl_callback_depth > 0) {
      // Inside a callback (for instance the last reference to the proxy was dropped
      // there): mcpfwd_proxy_free would join the very thread we are on. Stop now, free on
      // a helper thread once the callback has returned.
      (void)mcpfwd_proxy_stop(proxy);
      std::thread([st, proxy] { finish_close(st, proxy); }).detach();
      return;
    }
    py::gil_scoped_release nogil;
    finish_close(st, proxy);
  }

  bool closed() {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->closing || state_->proxy == nullptr;
  }

 private:
  // Registers a call in progress on the handle (GIL held on entry and exit).
  class use {
   public:
    use(py_proxy& self, const char* what, bool exclusive, bool allowed_in_callback = false)
        : st_(self.state_.get()), exclusive_(exclusive) {
      if (tl_callback_depth > 0 && !allowed_in_callback) {
        throw_status(MCPFWD_E_STATE,
                     std::string(what) + "() cannot be called from inside " +
                         (tl_callback_kind != nullptr ? tl_callback_kind : "a callback"));
      }
      const char* refused = nullptr;
      {
        // No Python (and so no exception) while the mutex is held: pybind11's lock order.
        std::lock_guard<std::mutex> lock(st_->mutex);
        if (st_->closing || st_->proxy == nullptr) {
          refused = "() on a closed proxy";
        } else if (exclusive_ && st_->exclusive) {
          refused = "() while start() or wait() runs in another thread";
        } else {
          st_->exclusive = st_->exclusive || exclusive_;
          proxy_ = st_->proxy;
          ++st_->users;
        }
      }
      if (refused != nullptr) {
        throw_status(MCPFWD_E_STATE, std::string(what) + refused);
      }
    }
    use(const use&) = delete;
    use& operator=(const use&) = delete;
    ~use() {
      std::lock_guard<std::mutex> lock(st_->mutex);
      if (exclusive_) {
        st_->exclusive = false;
      }
      if (--st_->users == 0) {
        st_->idle.notify_all();
      }
    }
    mcpfwd_proxy* proxy() const { return proxy_; }

   private:
    handle_state* st_;
    bool exclusive_;
    mcpfwd_proxy* proxy_ = nullptr;
  };

  std::shared_ptr<handle_state> state_;
};

}  // namespace

PYBIND11_MODULE(_mcpfwd, m) {
  m.doc() = "Low-level binding of the mcpfwd C API. Use the mcpfwd package instead.";

  // The module was compiled against one header; refuse a library of another major version.
  const std::uint32_t runtime = mcpfwd_version();
  if ((runtime >> 16) != MCPFWD_VERSION_MAJOR) {
    throw py::import_error(std::string("mcpfwd: module built for libmcpfwd ") +
                           MCPFWD_VERSION_STRING + " but loaded " + mcpfwd_version_string());
  }

  m.attr("__version__") = MCPFWD_VERSION_STRING;

  m.def(
      "version", [] { return std::string(mcpfwd_version_string()); },
      "The runtime library version, \"MAJOR.MINOR.PATCH\".");
  m.def(
      "version_number", [] { return mcpfwd_version(); },
      "The runtime library version as (major << 16) | (minor << 8) | patch.");
  m.def(
      "status_str",
      [](int status) {
        // Only values within the enum's range may be converted to it; anything else is
        // unknown anyway.
        if (status < -128 || status > 127) {
          status = 1;
        }
        return std::string(mcpfwd_status_str(static_cast<mcpfwd_status>(status)));
      },
      py::arg("status"), "Describe a status code (static text).");

  m.attr("STATUS_OK") = static_cast<int>(MCPFWD_OK);
  m.attr("STATUS_INVALID_ARG") = static_cast<int>(MCPFWD_E_INVALID_ARG);
  m.attr("STATUS_NOMEM") = static_cast<int>(MCPFWD_E_NOMEM);
  m.attr("STATUS_STATE") = static_cast<int>(MCPFWD_E_STATE);
  m.attr("STATUS_IO") = static_cast<int>(MCPFWD_E_IO);
  m.attr("STATUS_TIMEOUT") = static_cast<int>(MCPFWD_E_TIMEOUT);
  m.attr("STATUS_CALLBACK") = static_cast<int>(MCPFWD_E_CALLBACK);
  m.attr("STATUS_NOT_FOUND") = static_cast<int>(MCPFWD_E_NOT_FOUND);
  m.attr("STATUS_INTERNAL") = static_cast<int>(MCPFWD_E_INTERNAL);

  m.attr("LOG_TRACE") = static_cast<int>(MCPFWD_LOG_TRACE);
  m.attr("LOG_DEBUG") = static_cast<int>(MCPFWD_LOG_DEBUG);
  m.attr("LOG_INFO") = static_cast<int>(MCPFWD_LOG_INFO);
  m.attr("LOG_WARN") = static_cast<int>(MCPFWD_LOG_WARN);
  m.attr("LOG_ERROR") = static_cast<int>(MCPFWD_LOG_ERROR);
  m.attr("LOG_OFF") = static_cast<int>(MCPFWD_LOG_OFF);

  m.attr("EVENT_SESSION_OPENED") = static_cast<int>(MCPFWD_EVENT_SESSION_OPENED);
  m.attr("EVENT_SESSION_CLOSED") = static_cast<int>(MCPFWD_EVENT_SESSION_CLOSED);
  m.attr("EVENT_SESSION_REJECTED") = static_cast<int>(MCPFWD_EVENT_SESSION_REJECTED);
  m.attr("EVENT_SESSION_READY") = static_cast<int>(MCPFWD_EVENT_SESSION_READY);

  m.attr("CLIENT_TO_SERVER") = static_cast<int>(MCPFWD_CLIENT_TO_SERVER);
  m.attr("SERVER_TO_CLIENT") = static_cast<int>(MCPFWD_SERVER_TO_CLIENT);

  m.attr("UPSTREAM_AUTO") = static_cast<int>(MCPFWD_UPSTREAM_AUTO);
  m.attr("UPSTREAM_STREAMABLE_HTTP") = static_cast<int>(MCPFWD_UPSTREAM_STREAMABLE_HTTP);
  m.attr("UPSTREAM_SSE") = static_cast<int>(MCPFWD_UPSTREAM_SSE);

  py::class_<py_proxy>(m, "_Proxy", "One mcpfwd_proxy handle. Use mcpfwd.Proxy instead.")
      .def(
          py::init<
              const std::vector<std::string>&, const std::optional<std::pair<int, int>>&,
              const std::optional<std::pair<std::string, int>>&,
              const std::optional<std::uint64_t>&, const std::optional<std::uint32_t>&,
              const std::optional<int>&, const py::object&, const std::optional<std::uint32_t>&,
              const std::optional<std::uint32_t>&, const std::optional<std::uint32_t>&,
              const std::optional<std::vector<std::string>>&, const std::optional<std::string>&,
              const std::optional<std::uint32_t>&, const py::object&, const py::object&,
              const std::optional<std::uint32_t>&, const std::optional<std::string>&,
              const std::optional<int>&,
              const std::optional<std::vector<std::pair<std::string, std::string>>>&,
              const std::optional<bool>&, const std::optional<std::string>&,
              const std::optional<bool>&, const std::optional<std::uint32_t>&,
              const std::optional<std::uint32_t>&, const std::optional<std::uint32_t>&,
              const std::optional<std::vector<std::pair<std::string, std::optional<std::string>>>>&,
              const std::optional<bool>&, const std::optional<std::string>&>(),
          py::kw_only(), py::arg("upstream"), py::arg("stdio") = py::none(),
          py::arg("listen") = py::none(), py::arg("max_message_bytes") = py::none(),
          py::arg("shutdown_grace_ms") = py::none(), py::arg("log_level") = py::none(),
          py::arg("on_log") = py::none(), py::arg("max_sessions") = py::none(),
          py::arg("idle_timeout_ms") = py::none(), py::arg("request_timeout_ms") = py::none(),
          py::arg("allowed_origins") = py::none(), py::arg("auth_token") = py::none(),
          py::arg("io_threads") = py::none(), py::arg("on_event") = py::none(),
          py::arg("on_message") = py::none(), py::arg("drain_timeout_ms") = py::none(),
          py::arg("upstream_url") = py::none(), py::arg("upstream_transport") = py::none(),
          py::arg("upstream_headers") = py::none(), py::arg("forward_authorization") = py::none(),
          py::arg("upstream_ca_file") = py::none(), py::arg("upstream_insecure") = py::none(),
          py::arg("upstream_pool_max") = py::none(),
          py::arg("upstream_connect_timeout_ms") = py::none(),
          py::arg("upstream_timeout_ms") = py::none(), py::arg("upstream_env") = py::none(),
          py::arg("upstream_clear_env") = py::none(), py::arg("upstream_cwd") = py::none())
      .def("start", &py_proxy::start,
           "Start forwarding (stdio mode with a server command: spawn it first).")
      .def("stop", &py_proxy::stop, "Ask the proxy to shut down; returns at once. Idempotent.")
      .def("wait", &py_proxy::wait, py::arg("timeout_ms") = -1,
           "Wait for the proxy to finish: its exit code, or None on timeout.")
      .def("stats_json", &py_proxy::stats_json, "Counters as a JSON object.")
      .def("url", &py_proxy::url, "The endpoint URL of an HTTP proxy (\"\" in stdio mode).")
      .def("sessions_json", &py_proxy::sessions_json,
           "The sessions of an HTTP proxy as a JSON array.")
      .def("session_json", &py_proxy::session_json, py::arg("id"),
           "One session as a JSON object; NotFoundError if there is no such session.")
      .def("status_text", &py_proxy::status_text,
           "The human-readable table of the proxy's sessions (format not stable).")
      .def("close_session", &py_proxy::close_session, py::arg("id"),
           "Close one session; NotFoundError if there is no such session.")
      .def("close", &py_proxy::close, "Stop, join and free the proxy. Idempotent.")
      .def_property_readonly("closed", &py_proxy::closed);
}
