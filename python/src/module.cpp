// mcpfwd._mcpfwd: a thin pybind11 module over the mcpfwd C ABI, through the header-only C++
// layer of mcpfwd/mcpfwd.hpp (RAII handles, errors as mcpfwd::cxx::error).
//
// The Pythonic API (mcpfwd.Proxy, mcpfwd.Status, the exception classes) lives in the Python
// package; this module exposes the C functions almost one to one:
//   version(), version_number(), status_str(), STATUS_*, LOG_*, EVENT_*, UPSTREAM_*, OPTION_*,
//   MODE_* and direction constants, __version__, options() (the options table), _Config (a
//   config: every option by name, the server command, the stdio descriptors) and _Proxy, a
//   handle that owns one mcpfwd_proxy.
//
// Threading rules (docs/threading.md, STYLE.md section 3):
//  - Every call that can block or wait on the proxy's I/O threads (start, stop, wait,
//    stats_json, url, sessions_json, session_json, status_text, close_session, close) runs
//    with the GIL released; otherwise a callback waiting for the GIL on an I/O thread
//    deadlocks against it.
//  - mcpfwd_last_error() is read by the C++ layer right after the failing call, still without
//    the GIL, into the mcpfwd::cxx::error it throws; the error becomes a Python exception
//    (mcpfwd._errors.error_from_status) once the GIL is back.
//  - The handler's callbacks (log, event, message) run on I/O threads: each takes the GIL,
//    calls Python, holds no C++ lock meanwhile, and never lets a Python or C++ exception cross
//    into C (Python errors go to sys.unraisablehook and count as "go on").
//  - The proxy owns one handler (its user_data, given with the proxy: mcpfwd_proxy_new_v2)
//    holding the three Python callables (each may be None). The library deletes it after the
//    last callback, and its destructor drops the references under the GIL.
//  - A C callback is registered only for a callable that is not None: the message hook is on
//    the forwarding path and costs nothing when unset.

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "mcpfwd/mcpfwd.hpp"

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

// Set the mcpfwd exception for a failed call as the current Python error:
// mcpfwd._errors.error_from_status picks the subclass (InvalidArgumentError, IoError, ...).
// Requires the GIL.
void set_status_error(int status, const std::string& message) {
  py::object factory = py::module_::import("mcpfwd._errors").attr("error_from_status");
  py::object exc = factory(status, message);
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
}

[[noreturn]] void throw_status(int status, const std::string& message) {
  set_status_error(status, message);
  throw py::error_already_set();
}

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

// The proxy's handler: one reference to each Python callable (None when that callback is not
// registered), never modified after the proxy is made.
class py_handler final : public mcpfwd::cxx::handler {
 public:
  py_handler(py::object on_log, py::object on_event, py::object on_message)
      : on_log_(std::move(on_log)),
        on_event_(std::move(on_event)),
        on_message_(std::move(on_message)) {}

  // Which callbacks to register: those with a callable.
  unsigned wanted() const {
    return (on_log_.is_none() ? 0u : mcpfwd::cxx::want_log) |
           (on_event_.is_none() ? 0u : mcpfwd::cxx::want_events) |
           (on_message_.is_none() ? 0u : mcpfwd::cxx::want_messages);
  }

  // mcpfwd_proxy_free runs this on the thread that called close(), which released the GIL
  // (or, if making the proxy failed, on the constructor's thread, which holds it).
  ~py_handler() override {
    if (py_finalizing()) {
      // The interpreter is going away; dropping the references is no longer possible.
      on_log_.release();
      on_event_.release();
      on_message_.release();
      return;
    }
    try {
      py::gil_scoped_acquire gil;
      on_log_ = py::object();
      on_event_ = py::object();
      on_message_ = py::object();
    } catch (...) {
    }
  }

  void on_log(mcpfwd_log_level level, std::string_view source, std::string_view text) override {
    (void)run_hook(on_log_, "a log callback", [&] {
      // Server stderr need not be UTF-8: never fail on it.
      py::str line = decode_lenient(text.data(), text.size());
      py::str src{std::string(source)};
      return on_log_(static_cast<int>(level), src, line);
    });
  }

  // on_event(type, session_id, detail): False on a SESSION_OPENED closes that session.
  bool on_event(const mcpfwd::cxx::event& ev) override {
    return !run_hook(on_event_, "an event callback", [&] {
      return on_event_(static_cast<int>(ev.type),
                       decode_lenient(ev.session_id.data(), ev.session_id.size()),
                       decode_lenient(ev.detail.data(), ev.detail.size()));
    });
  }

  // on_message(direction, session_id, data): False drops the message and closes its session.
  // The bytes are copied: the message is borrowed for the call only.
  bool on_message(const mcpfwd::cxx::message& m) override {
    return !run_hook(on_message_, "a message callback", [&] {
      py::bytes copy(m.bytes.data(), m.bytes.size());
      return on_message_(static_cast<int>(m.direction),
                         decode_lenient(m.session_id.data(), m.session_id.size()), copy);
    });
  }

 private:
  py::object on_log_, on_event_, on_message_;
};

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

// ----------------------------------------------------------------------------------- config

// A config: every option of the table by name (the one path every keyword argument of
// mcpfwd.Proxy takes), plus the two settings that are not options. Its calls never block.
class py_config {
 public:
  void set(const std::string& name, const std::string& value) { cfg_.set(name, value); }
  void set_upstream_command(const std::vector<std::string>& argv) {
    cfg_.set_upstream_command(argv);
  }
  void set_downstream_stdio(int in_fd, int out_fd) { cfg_.set_downstream_stdio(in_fd, out_fd); }
  mcpfwd::cxx::config& get() { return cfg_; }

 private:
  mcpfwd::cxx::config cfg_;
};

// ------------------------------------------------------------------------------------ proxy

// The native handle plus what is needed to free it safely while other Python threads may be
// inside stop()/stats_json()/wait() on it with the GIL released. Shared with the thread that
// frees the proxy when close() is called from inside a callback.
struct handle_state {
  std::mutex mutex;
  std::condition_variable idle;
  mcpfwd::cxx::proxy proxy;  // empty once freed
  int users = 0;             // calls in progress on proxy
  bool exclusive = false;    // a start() or wait() is in progress (one thread per proxy)
  bool closing = false;      // close() began: no new calls
};

// Stop, wait until no call uses the handle any more, free it. Runs without the GIL.
void finish_close(const std::shared_ptr<handle_state>& st) {
  (void)mcpfwd::cxx::capture([&] { st->proxy.stop(); });  // lets a wait() elsewhere return
  {
    std::unique_lock<std::mutex> lock(st->mutex);
    st->idle.wait(lock, [&] { return st->users == 0; });
  }
  // No call uses it and none can start (closing). Taken out under the lock (closed() reads
  // it), freed outside it: a callback may call closed() while the I/O threads are joined.
  mcpfwd::cxx::proxy doomed;
  {
    std::lock_guard<std::mutex> lock(st->mutex);
    doomed = std::move(st->proxy);
  }
  doomed.reset();  // joins the I/O threads, then deletes the handler
}

class py_proxy {
 public:
  // Does not block and runs no callback: keeps the GIL. If it fails, no proxy exists and the
  // handler is deleted here (with the GIL held).
  py_proxy(py_config& config, const py::object& on_log, const py::object& on_event,
           const py::object& on_message)
      : state_(std::make_shared<handle_state>()) {
    auto handler = std::make_unique<py_handler>(optional_callable(on_log, "on_log"),
                                                optional_callable(on_event, "on_event"),
                                                optional_callable(on_message, "on_message"));
    const unsigned wanted = handler->wanted();
    state_->proxy =
        mcpfwd::cxx::proxy(config.get(), wanted != 0 ? std::move(handler) : nullptr, wanted);
  }

  py_proxy(const py_proxy&) = delete;
  py_proxy& operator=(const py_proxy&) = delete;

  ~py_proxy() {
    try {
      close();
    } catch (...) {
    }
  }

  // Returns the URL (read within the same call: a callback may close the proxy as soon as it
  // has started).
  std::string start() {
    use u(*this, "start", /*exclusive=*/true);
    py::gil_scoped_release nogil;
    u.proxy().start();
    return u.proxy().url();
  }

  // Idempotent; a no-op on a closed proxy. Allowed from any thread and from a callback.
  void stop() {
    if (closed()) {
      return;
    }
    use u(*this, "stop", /*exclusive=*/false, /*allowed_in_callback=*/true);
    py::gil_scoped_release nogil;
    u.proxy().stop();
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
      std::optional<int> code;
      {
        py::gil_scoped_release nogil;
        code = u.proxy().wait(slice);
      }
      if (code) {
        return code;
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
    return text_call("stats_json", [](const mcpfwd::cxx::proxy& p) { return p.stats_json(); });
  }

  // The endpoint URL of an HTTP proxy ("" in stdio mode and before start).
  std::string url() {
    return text_call("url", [](const mcpfwd::cxx::proxy& p) { return p.url(); });
  }

  std::string sessions_json() {
    return text_call("sessions_json",
                     [](const mcpfwd::cxx::proxy& p) { return p.sessions_json(); });
  }

  // NotFoundError when there is no session with that id.
  std::string session_json(const std::string& id) {
    return text_call("session_json",
                     [&](const mcpfwd::cxx::proxy& p) { return p.session_json(id); });
  }

  // The human-readable session table (format not stable).
  std::string status_text() {
    return text_call("status_text", [](const mcpfwd::cxx::proxy& p) { return p.status_text(); });
  }

  // The Prometheus text exposition (format 0.0.4) of the proxy's metrics.
  std::string metrics_text() {
    return text_call("metrics_text", [](const mcpfwd::cxx::proxy& p) { return p.metrics_text(); });
  }

  // The admin listener's base URL ("" without one, and before start).
  std::string admin_url() {
    return text_call("admin_url", [](const mcpfwd::cxx::proxy& p) { return p.admin_url(); });
  }

  // NotFoundError when there is no session with that id. Returns at once.
  // Re-read the config file (mcpfwd_proxy_reload).
  void reload() {
    use u(*this, "reload", /*exclusive=*/false);
    py::gil_scoped_release nogil;
    u.proxy().reload();
  }

  void close_session(const std::string& id) {
    use u(*this, "close_session", /*exclusive=*/false);
    py::gil_scoped_release nogil;
    u.proxy().close_session(id);
  }

  // Stop, join and free the proxy; idempotent. Waits for calls in progress in other threads
  // (a wait() there returns once the proxy has stopped).
  void close() {
    std::shared_ptr<handle_state> st = state_;
    {
      std::lock_guard<std::mutex> lock(st->mutex);
      if (st->closing || !st->proxy) {
        return;
      }
      st->closing = true;
    }
    if (tl_callback_depth > 0) {
      // Inside a callback (for instance the last reference to the proxy was dropped
      // there): mcpfwd_proxy_free would join the very thread we are on. Stop now, free on
      // a helper thread once the callback has returned.
      (void)mcpfwd::cxx::capture([&] { st->proxy.stop(); });
      std::thread([st] { finish_close(st); }).detach();
      return;
    }
    py::gil_scoped_release nogil;
    finish_close(st);
  }

  bool closed() {
    std::lock_guard<std::mutex> lock(state_->mutex);
    return state_->closing || !state_->proxy;
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
        if (st_->closing || !st_->proxy) {
          refused = "() on a closed proxy";
        } else if (exclusive_ && st_->exclusive) {
          refused = "() while start() or wait() runs in another thread";
        } else {
          st_->exclusive = st_->exclusive || exclusive_;
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
    // Not freed while this call is registered (close() waits for users == 0).
    mcpfwd::cxx::proxy& proxy() const { return st_->proxy; }

   private:
    handle_state* st_;
    bool exclusive_;
  };

  // A call handing out text, made without the GIL.
  template <class F>
  std::string text_call(const char* what, F&& fn) {
    use u(*this, what, /*exclusive=*/false);
    py::gil_scoped_release nogil;
    return fn(u.proxy());
  }

  std::shared_ptr<handle_state> state_;
};

// The options table, for mcpfwd.options() and the keyword arguments of mcpfwd.Proxy.
py::list option_list() {
  py::list out;
  for (const mcpfwd::cxx::option& o : mcpfwd::cxx::options()) {
    py::dict d;
    d["name"] = std::string(o.name());
    d["type"] = static_cast<int>(o.type());
    d["default"] = std::string(o.default_value());
    d["help"] = std::string(o.help());
    d["metavar"] = std::string(o.metavar());
    d["choices"] = o.choice_list();
    d["modes"] = o.modes();
    d["cli_flag"] = std::string(o.cli_flag());
    d["min"] = o.min();
    d["max"] = o.max();
    out.append(std::move(d));
  }
  return out;
}

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

  m.attr("OPTION_FLAG") = static_cast<int>(MCPFWD_OPTION_FLAG);
  m.attr("OPTION_INTEGER") = static_cast<int>(MCPFWD_OPTION_INTEGER);
  m.attr("OPTION_DURATION_MS") = static_cast<int>(MCPFWD_OPTION_DURATION_MS);
  m.attr("OPTION_BYTES") = static_cast<int>(MCPFWD_OPTION_BYTES);
  m.attr("OPTION_STRING") = static_cast<int>(MCPFWD_OPTION_STRING);
  m.attr("OPTION_LIST") = static_cast<int>(MCPFWD_OPTION_LIST);
  m.attr("OPTION_CHOICE") = static_cast<int>(MCPFWD_OPTION_CHOICE);
  m.attr("OPTION_ADDRESS") = static_cast<int>(MCPFWD_OPTION_ADDRESS);

  m.attr("MODE_STDIO") = static_cast<int>(MCPFWD_MODE_STDIO);
  m.attr("MODE_HTTP") = static_cast<int>(MCPFWD_MODE_HTTP);
  m.attr("MODE_COMMAND") = static_cast<int>(MCPFWD_MODE_COMMAND);
  m.attr("MODE_URL") = static_cast<int>(MCPFWD_MODE_URL);

  // A failed call of the C++ layer: the exception class of its status, with its message.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) {
        std::rethrow_exception(p);
      }
    } catch (const mcpfwd::cxx::error& e) {
      set_status_error(static_cast<int>(e.status()), e.what());
    }
  });

  m.def("options", &option_list,
        "The options table: one dict per option (name, type, default, help, metavar, choices, "
        "modes, cli_flag, min, max), in the table's order.");

  py::class_<py_config>(m, "_Config", "One mcpfwd_config. Use mcpfwd.Proxy instead.")
      .def(py::init<>())
      .def("set", &py_config::set, py::arg("name"), py::arg("value"),
           "Set an option of the table by name, its value as text (mcpfwd_config_set).")
      .def("set_upstream_command", &py_config::set_upstream_command, py::arg("argv"),
           "The server command to spawn.")
      .def("set_downstream_stdio", &py_config::set_downstream_stdio, py::arg("in_fd"),
           py::arg("out_fd"), "Serve one client over these descriptors.");

  py::class_<py_proxy>(m, "_Proxy", "One mcpfwd_proxy handle. Use mcpfwd.Proxy instead.")
      .def(py::init<py_config&, const py::object&, const py::object&, const py::object&>(),
           py::kw_only(), py::arg("config"), py::arg("on_log") = py::none(),
           py::arg("on_event") = py::none(), py::arg("on_message") = py::none())
      .def("start", &py_proxy::start,
           "Start forwarding (stdio mode with a server command: spawn it first); the URL.")
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
      .def("metrics_text", &py_proxy::metrics_text,
           "The metrics in the Prometheus text exposition format 0.0.4.")
      .def("admin_url", &py_proxy::admin_url, "The admin listener's base URL (\"\" without one).")
      .def("reload", &py_proxy::reload,
           "Re-read the config file: new sessions use it, open ones keep theirs.")
      .def("close_session", &py_proxy::close_session, py::arg("id"),
           "Close one session; NotFoundError if there is no such session.")
      .def("close", &py_proxy::close, "Stop, join and free the proxy. Idempotent.")
      .def_property_readonly("closed", &py_proxy::closed);
}
