// The C ABI over the C++ core. Every entry point catches everything: no C++
// exception crosses this boundary; failures become a status plus
// thread-local text for mcpfwd_last_error().
#include "mcpfwd/mcpfwd.h"

#include <chrono>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "base/errors.hpp"
#include "config/options.hpp"
#include "proxy.hpp"

struct mcpfwd_config {
  mcpfwd::proxy_config core;
  mcpfwd_log_cb log_cb = nullptr;
  mcpfwd_event_cb event_cb = nullptr;
  mcpfwd_message_cb message_cb = nullptr;
  void* user_data = nullptr;
  mcpfwd_free_cb user_free = nullptr;
};

// Runs the user_data destructor exactly once, when the proxy goes away.
struct user_data_holder {
  void* ptr = nullptr;
  mcpfwd_free_cb free_fn = nullptr;
  ~user_data_holder() {
    if (free_fn) free_fn(ptr);
  }
};

struct mcpfwd_proxy {
  std::shared_ptr<user_data_holder> ud;  // released after the core is gone
  std::unique_ptr<mcpfwd::proxy> core;
};

struct mcpfwd_event {
  mcpfwd_event_type type;
  const std::string* session_id;
  const std::string* detail;
};

struct mcpfwd_message {
  mcpfwd_direction dir;
  const std::string* session_id;
  std::string_view bytes;
};

namespace {

thread_local std::string last_error;
// True while this thread runs a user callback: the functions a callback must
// not call then fail with MCPFWD_E_STATE instead of deadlocking.
thread_local bool in_callback = false;

struct callback_scope {
  bool outer = in_callback;  // callbacks may nest: restore, do not clear
  callback_scope() { in_callback = true; }
  ~callback_scope() { in_callback = outer; }
  callback_scope(const callback_scope&) = delete;
  callback_scope& operator=(const callback_scope&) = delete;
};

mcpfwd_status set_error(mcpfwd_status s, const std::string& text) {
  try {
    last_error = text;
  } catch (...) {
    last_error.clear();
  }
  return s;
}

mcpfwd_status ok() {
  last_error.clear();
  return MCPFWD_OK;
}

// Runs f, mapping every exception onto a status.
template <class F>
mcpfwd_status guarded(F&& f) noexcept {
  try {
    return f();
  } catch (const mcpfwd::api_error& e) {
    return set_error(static_cast<mcpfwd_status>(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return set_error(MCPFWD_E_NOMEM, "out of memory");
  } catch (const std::exception& e) {
    return set_error(MCPFWD_E_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return set_error(MCPFWD_E_INTERNAL, "internal error: unknown exception");
  }
}

#define MCPFWD_NOT_IN_CALLBACK()                                                  \
  if (in_callback)                                                                \
  return set_error(MCPFWD_E_STATE,                                                \
                   "only mcpfwd_event_*, mcpfwd_message_* and mcpfwd_proxy_stop " \
                   "may be called from inside a callback")

#define MCPFWD_REQUIRE(cond, text) \
  if (!(cond)) return set_error(MCPFWD_E_INVALID_ARG, text)

char* dup_string(const std::string& s) {
  auto* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

// Every setter goes through the options table: one parser, one set of checks.
mcpfwd_status set_named(mcpfwd_config* cfg, std::string_view name, const std::string& value) {
  return guarded([&] {
    mcpfwd::set_option(cfg->core, name, value);
    return ok();
  });
}

// NULL or "" for a text option: back to its default, as if never set.
mcpfwd_status set_or_reset(mcpfwd_config* cfg, std::string_view name, const char* value) {
  if (value != nullptr && value[0] != '\0') return set_named(cfg, name, value);
  return guarded([&] {
    mcpfwd::reset_option(cfg->core, name);
    return ok();
  });
}

// Static views of the options table for the C iterator.
struct option_record {
  const mcpfwd::option_spec* spec;
  std::string name, default_text, help, metavar, choices, cli;
};
const std::vector<mcpfwd_option>& option_records();

}  // namespace

struct mcpfwd_option {
  option_record r;
};

namespace {

const std::vector<mcpfwd_option>& option_records() {
  static const std::vector<mcpfwd_option> records = [] {
    std::vector<mcpfwd_option> v;
    const mcpfwd::proxy_config defaults;
    for (const auto& o : mcpfwd::options())
      v.push_back({{&o, std::string(o.name), o.get(defaults), std::string(o.help),
                    std::string(o.metavar), std::string(o.choices), std::string(o.cli)}});
    return v;
  }();
  return records;
}

}  // namespace

extern "C" {

const char* mcpfwd_status_str(mcpfwd_status s) {
  switch (s) {
    case MCPFWD_OK: return "ok";
    case MCPFWD_E_INVALID_ARG: return "invalid argument";
    case MCPFWD_E_NOMEM: return "out of memory";
    case MCPFWD_E_STATE: return "invalid state";
    case MCPFWD_E_IO: return "I/O error";
    case MCPFWD_E_TIMEOUT: return "timed out";
    case MCPFWD_E_CALLBACK: return "aborted by callback";
    case MCPFWD_E_NOT_FOUND: return "not found";
    case MCPFWD_E_INTERNAL: return "internal error";
  }
  return "unknown status";
}

const char* mcpfwd_last_error(void) {
  return last_error.c_str();
}

void mcpfwd_string_free(char* s) {
  std::free(s);
}

uint32_t mcpfwd_version(void) {
  return MCPFWD_VERSION_NUMBER;
}

const char* mcpfwd_version_string(void) {
  return MCPFWD_VERSION_STRING;
}

mcpfwd_status mcpfwd_config_new(mcpfwd_config** out) {
  if (out == nullptr) return set_error(MCPFWD_E_INVALID_ARG, "out is NULL");
  *out = nullptr;
  return guarded([&] {
    *out = std::make_unique<mcpfwd_config>().release();
    return ok();
  });
}

void mcpfwd_config_free(mcpfwd_config* cfg) {
  std::unique_ptr<mcpfwd_config> owned(cfg);
}

mcpfwd_status mcpfwd_config_set_downstream_stdio(mcpfwd_config* cfg, int in_fd, int out_fd) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  MCPFWD_REQUIRE(in_fd >= 0 && out_fd >= 0, "stdio descriptors must not be negative");
  cfg->core.stdio_in = in_fd;
  cfg->core.stdio_out = out_fd;
  return ok();
}

mcpfwd_status mcpfwd_config_set_upstream_command(mcpfwd_config* cfg, size_t argc,
                                                 const char* const* argv) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  MCPFWD_REQUIRE(argc >= 1 && argv != nullptr, "the upstream command needs at least argv[0]");
  for (size_t i = 0; i < argc; ++i)
    MCPFWD_REQUIRE(argv[i] != nullptr, "argv contains a NULL entry");
  MCPFWD_REQUIRE(argv[0][0] != '\0', "argv[0] is empty");
  return guarded([&] {
    std::vector<std::string> v(argv, argv + argc);
    cfg->core.upstream.argv = std::move(v);
    return ok();
  });
}

mcpfwd_status mcpfwd_config_set_max_message_bytes(mcpfwd_config* cfg, size_t bytes) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "max-message-bytes", std::to_string(bytes));
}

mcpfwd_status mcpfwd_config_set_shutdown_grace_ms(mcpfwd_config* cfg, uint32_t ms) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "shutdown-grace-ms", std::to_string(ms));
}

mcpfwd_status mcpfwd_config_set_log_level(mcpfwd_config* cfg, mcpfwd_log_level level) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  MCPFWD_REQUIRE(level >= MCPFWD_LOG_TRACE && level <= MCPFWD_LOG_OFF, "unknown log level");
  return set_named(cfg, "log-level", mcpfwd::to_string(static_cast<mcpfwd::log_level>(level)));
}

mcpfwd_status mcpfwd_config_set_log_cb(mcpfwd_config* cfg, mcpfwd_log_cb cb) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  cfg->log_cb = cb;
  return ok();
}

mcpfwd_status mcpfwd_config_set_event_cb(mcpfwd_config* cfg, mcpfwd_event_cb cb) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  cfg->event_cb = cb;
  return ok();
}

mcpfwd_status mcpfwd_config_set_message_cb(mcpfwd_config* cfg, mcpfwd_message_cb cb) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  cfg->message_cb = cb;
  return ok();
}

mcpfwd_direction mcpfwd_message_direction(const mcpfwd_message* m) {
  return m->dir;
}

const char* mcpfwd_message_session_id(const mcpfwd_message* m) {
  return m->session_id->c_str();
}

const char* mcpfwd_message_bytes(const mcpfwd_message* m, size_t* len) {
  if (len != nullptr) *len = m->bytes.size();
  return m->bytes.data();
}

mcpfwd_event_type mcpfwd_event_get_type(const mcpfwd_event* ev) {
  return ev->type;
}

const char* mcpfwd_event_session_id(const mcpfwd_event* ev) {
  return ev->session_id->c_str();
}

const char* mcpfwd_event_detail(const mcpfwd_event* ev, size_t* len) {
  if (len != nullptr) *len = ev->detail->size();
  return ev->detail->data();
}

mcpfwd_status mcpfwd_config_set_user_data(mcpfwd_config* cfg, void* user_data,
                                          mcpfwd_free_cb free_fn) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  cfg->user_data = user_data;
  cfg->user_free = free_fn;
  return ok();
}

mcpfwd_status mcpfwd_config_set_listen(mcpfwd_config* cfg, const char* host, uint16_t port) {
  MCPFWD_REQUIRE(cfg != nullptr && host != nullptr && host[0] != '\0', "cfg or host is NULL/empty");
  const std::string h = host;
  const bool v6 = h.find(':') != std::string::npos && h.front() != '[';
  return set_named(cfg, "listen", (v6 ? "[" + h + "]" : h) + ":" + std::to_string(port));
}

mcpfwd_status mcpfwd_config_set_max_sessions(mcpfwd_config* cfg, uint32_t n) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "max-sessions", std::to_string(n));
}

mcpfwd_status mcpfwd_config_set_idle_timeout_ms(mcpfwd_config* cfg, uint32_t ms) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "idle-timeout-ms", std::to_string(ms));
}

mcpfwd_status mcpfwd_config_set_request_timeout_ms(mcpfwd_config* cfg, uint32_t ms) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "request-timeout-ms", std::to_string(ms));
}

mcpfwd_status mcpfwd_config_set_drain_timeout_ms(mcpfwd_config* cfg, uint32_t ms) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "drain-timeout-ms", std::to_string(ms));
}

mcpfwd_status mcpfwd_config_add_allowed_origin(mcpfwd_config* cfg, const char* origin) {
  MCPFWD_REQUIRE(cfg != nullptr && origin != nullptr && origin[0] != '\0', "origin is NULL/empty");
  return set_named(cfg, "allow-origin", origin);
}

mcpfwd_status mcpfwd_config_set_auth_token(mcpfwd_config* cfg, const char* token) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_or_reset(cfg, "auth-token", token);
}

mcpfwd_status mcpfwd_config_set_io_threads(mcpfwd_config* cfg, uint32_t n) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "io-threads", std::to_string(n));
}

mcpfwd_status mcpfwd_config_set_upstream_env(mcpfwd_config* cfg, const char* name,
                                             const char* value) {
  MCPFWD_REQUIRE(cfg != nullptr && name != nullptr && name[0] != '\0', "cfg or name is NULL/empty");
  MCPFWD_REQUIRE(std::strchr(name, '=') == nullptr, "an environment variable name has no '='");
  if (value == nullptr) return set_named(cfg, "unset-env", name);
  return set_named(cfg, "env", std::string(name) + "=" + value);
}

mcpfwd_status mcpfwd_config_clear_upstream_env(mcpfwd_config* cfg) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "clear-env", "true");
}

mcpfwd_status mcpfwd_config_set_upstream_cwd(mcpfwd_config* cfg, const char* path) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_or_reset(cfg, "cwd", path);
}

mcpfwd_status mcpfwd_config_set_upstream_url(mcpfwd_config* cfg, const char* url) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_or_reset(cfg, "upstream", url);
}

mcpfwd_status mcpfwd_config_set_upstream_transport(mcpfwd_config* cfg,
                                                   mcpfwd_upstream_transport t) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  MCPFWD_REQUIRE(
      t == MCPFWD_UPSTREAM_AUTO || t == MCPFWD_UPSTREAM_STREAMABLE_HTTP || t == MCPFWD_UPSTREAM_SSE,
      "unknown upstream transport");
  return set_named(cfg, "upstream-transport",
                   mcpfwd::to_string(static_cast<mcpfwd::upstream_transport>(t)));
}

mcpfwd_status mcpfwd_config_add_upstream_header(mcpfwd_config* cfg, const char* name,
                                                const char* value) {
  MCPFWD_REQUIRE(cfg != nullptr && name != nullptr && name[0] != '\0' && value != nullptr,
                 "cfg, name or value is NULL/empty");
  MCPFWD_REQUIRE(std::strchr(name, ':') == nullptr, "a header name has no ':'");
  return set_named(cfg, "upstream-header", std::string(name) + ": " + value);
}

mcpfwd_status mcpfwd_config_set_forward_authorization(mcpfwd_config* cfg, int on) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "forward-authorization", on != 0 ? "true" : "false");
}

mcpfwd_status mcpfwd_config_set_upstream_ca_file(mcpfwd_config* cfg, const char* path) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_or_reset(cfg, "upstream-ca-file", path);
}

mcpfwd_status mcpfwd_config_set_upstream_insecure(mcpfwd_config* cfg, int on) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "upstream-insecure", on != 0 ? "true" : "false");
}

mcpfwd_status mcpfwd_config_set_upstream_pool_max(mcpfwd_config* cfg, uint32_t n) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "upstream-pool-max", std::to_string(n));
}

mcpfwd_status mcpfwd_config_set_upstream_connect_timeout_ms(mcpfwd_config* cfg, uint32_t ms) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "upstream-connect-timeout-ms", std::to_string(ms));
}

mcpfwd_status mcpfwd_config_set_upstream_timeout_ms(mcpfwd_config* cfg, uint32_t ms) {
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return set_named(cfg, "upstream-timeout-ms", std::to_string(ms));
}

mcpfwd_status mcpfwd_config_set(mcpfwd_config* cfg, const char* name, const char* value) {
  MCPFWD_REQUIRE(cfg != nullptr && name != nullptr && value != nullptr,
                 "cfg, name or value is NULL");
  return set_named(cfg, name, value);
}

const mcpfwd_option* mcpfwd_option_next(const mcpfwd_option* prev) {
  const auto& all = option_records();
  if (all.empty()) return nullptr;
  if (prev == nullptr) return all.data();
  const auto i = static_cast<std::size_t>(prev - all.data()) + 1;
  return i < all.size() ? all.data() + i : nullptr;
}

const mcpfwd_option* mcpfwd_option_find(const char* name) {
  if (name == nullptr) return nullptr;
  for (const auto& o : option_records())
    if (o.r.name == name) return &o;
  return nullptr;
}

const char* mcpfwd_option_name(const mcpfwd_option* o) {
  return o->r.name.c_str();
}
mcpfwd_option_type mcpfwd_option_get_type(const mcpfwd_option* o) {
  return static_cast<mcpfwd_option_type>(o->r.spec->type);
}
const char* mcpfwd_option_default(const mcpfwd_option* o) {
  return o->r.default_text.c_str();
}
const char* mcpfwd_option_help(const mcpfwd_option* o) {
  return o->r.help.c_str();
}
const char* mcpfwd_option_metavar(const mcpfwd_option* o) {
  return o->r.metavar.c_str();
}
const char* mcpfwd_option_choices(const mcpfwd_option* o) {
  return o->r.choices.c_str();
}
unsigned mcpfwd_option_modes(const mcpfwd_option* o) {
  return o->r.spec->modes;
}
const char* mcpfwd_option_cli_flag(const mcpfwd_option* o) {
  return o->r.cli.c_str();
}
uint64_t mcpfwd_option_min(const mcpfwd_option* o) {
  return o->r.spec->min;
}
uint64_t mcpfwd_option_max(const mcpfwd_option* o) {
  return o->r.spec->max;
}

mcpfwd_status mcpfwd_proxy_url(mcpfwd_proxy* p, char** out) {
  MCPFWD_NOT_IN_CALLBACK();
  if (out != nullptr) *out = nullptr;
  MCPFWD_REQUIRE(p != nullptr && out != nullptr, "proxy or out is NULL");
  return guarded([&] {
    *out = dup_string(p->core->url());
    return ok();
  });
}

mcpfwd_status mcpfwd_proxy_sessions_json(mcpfwd_proxy* p, char** out) {
  MCPFWD_NOT_IN_CALLBACK();
  if (out != nullptr) *out = nullptr;
  MCPFWD_REQUIRE(p != nullptr && out != nullptr, "proxy or out is NULL");
  return guarded([&] {
    *out = dup_string(p->core->sessions_json());
    return ok();
  });
}

mcpfwd_status mcpfwd_proxy_session_json(mcpfwd_proxy* p, const char* id, char** out) {
  MCPFWD_NOT_IN_CALLBACK();
  if (out != nullptr) *out = nullptr;
  MCPFWD_REQUIRE(p != nullptr && out != nullptr && id != nullptr, "proxy, id or out is NULL");
  return guarded([&] {
    std::string s = p->core->session_json(id);
    if (s.empty()) return set_error(MCPFWD_E_NOT_FOUND, std::string("no session ") + id);
    *out = dup_string(s);
    return ok();
  });
}

mcpfwd_status mcpfwd_proxy_status_text(mcpfwd_proxy* p, char** out) {
  MCPFWD_NOT_IN_CALLBACK();
  if (out != nullptr) *out = nullptr;
  MCPFWD_REQUIRE(p != nullptr && out != nullptr, "proxy or out is NULL");
  return guarded([&] {
    *out = dup_string(p->core->status_text());
    return ok();
  });
}

mcpfwd_status mcpfwd_proxy_reload(mcpfwd_proxy* p) {
  MCPFWD_NOT_IN_CALLBACK();
  MCPFWD_REQUIRE(p != nullptr, "proxy is NULL");
  return guarded([&] {
    p->core->reload();
    return ok();
  });
}

mcpfwd_status mcpfwd_proxy_metrics_text(mcpfwd_proxy* p, char** out) {
  MCPFWD_NOT_IN_CALLBACK();
  if (out != nullptr) *out = nullptr;
  MCPFWD_REQUIRE(p != nullptr && out != nullptr, "proxy or out is NULL");
  return guarded([&] {
    *out = dup_string(p->core->metrics_text());
    return ok();
  });
}

mcpfwd_status mcpfwd_proxy_admin_url(mcpfwd_proxy* p, char** out) {
  MCPFWD_NOT_IN_CALLBACK();
  if (out != nullptr) *out = nullptr;
  MCPFWD_REQUIRE(p != nullptr && out != nullptr, "proxy or out is NULL");
  return guarded([&] {
    *out = dup_string(p->core->admin_url());
    return ok();
  });
}

mcpfwd_status mcpfwd_proxy_close_session(mcpfwd_proxy* p, const char* id) {
  MCPFWD_NOT_IN_CALLBACK();
  MCPFWD_REQUIRE(p != nullptr && id != nullptr, "proxy or id is NULL");
  return guarded([&] {
    if (!p->core->close_session(id))
      return set_error(MCPFWD_E_NOT_FOUND, std::string("no session ") + id);
    return ok();
  });
}

namespace {

// The proxy of both constructors; `out` and `cfg` are checked by the caller.
mcpfwd_status make_proxy(mcpfwd_proxy** out, const mcpfwd_config* cfg, void* ud,
                         mcpfwd_free_cb free_fn) {
  return guarded([&] {
    auto p = std::make_unique<mcpfwd_proxy>();
    mcpfwd::proxy_config core = cfg->core;
    if (cfg->log_cb != nullptr) {
      mcpfwd_log_cb cb = cfg->log_cb;
      void* data = ud;
      core.log_sink = [cb, data](mcpfwd::log_level l, const char* source, std::string_view text) {
        callback_scope scope;
        cb(static_cast<mcpfwd_log_level>(l), source, text.data(), text.size(), data);
      };
    }
    if (cfg->event_cb != nullptr) {
      mcpfwd_event_cb cb = cfg->event_cb;
      void* data = ud;
      core.on_event = [cb, data](mcpfwd::event_kind k, const std::string& id,
                                 const std::string& detail) {
        const mcpfwd_event ev{static_cast<mcpfwd_event_type>(k), &id, &detail};
        callback_scope scope;
        return cb(&ev, data) == 0;
      };
    }
    if (cfg->message_cb != nullptr) {
      mcpfwd_message_cb cb = cfg->message_cb;
      void* data = ud;
      core.on_message = [cb, data](mcpfwd::direction d, const std::string& id,
                                   std::string_view raw) {
        const mcpfwd_message m{static_cast<mcpfwd_direction>(d), &id, raw};
        callback_scope scope;
        return cb(&m, data) == 0;
      };
    }
    p->core = std::make_unique<mcpfwd::proxy>(std::move(core));
    // Only now, when nothing can fail any more, does the proxy own user_data.
    p->ud = std::make_shared<user_data_holder>();
    p->ud->ptr = ud;
    p->ud->free_fn = free_fn;
    *out = p.release();
    return ok();
  });
}

}  // namespace

mcpfwd_status mcpfwd_proxy_new(mcpfwd_proxy** out, const mcpfwd_config* cfg) {
  if (out == nullptr) return set_error(MCPFWD_E_INVALID_ARG, "out is NULL");
  *out = nullptr;
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return make_proxy(out, cfg, cfg->user_data, cfg->user_free);
}

mcpfwd_status mcpfwd_proxy_new_v2(mcpfwd_proxy** out, const mcpfwd_config* cfg, void* user_data,
                                  mcpfwd_free_cb free_fn) {
  if (out == nullptr) return set_error(MCPFWD_E_INVALID_ARG, "out is NULL");
  *out = nullptr;
  MCPFWD_REQUIRE(cfg != nullptr, "cfg is NULL");
  return make_proxy(out, cfg, user_data, free_fn);
}

mcpfwd_status mcpfwd_proxy_start(mcpfwd_proxy* p) {
  MCPFWD_NOT_IN_CALLBACK();
  MCPFWD_REQUIRE(p != nullptr, "proxy is NULL");
  return guarded([&] {
    p->core->start();
    return ok();
  });
}

mcpfwd_status mcpfwd_proxy_stop(mcpfwd_proxy* p) {
  MCPFWD_REQUIRE(p != nullptr, "proxy is NULL");
  p->core->stop();
  return ok();
}

mcpfwd_status mcpfwd_proxy_wait(mcpfwd_proxy* p, int timeout_ms, int* exit_code) {
  MCPFWD_NOT_IN_CALLBACK();
  MCPFWD_REQUIRE(p != nullptr, "proxy is NULL");
  return guarded([&] {
    std::optional<std::chrono::milliseconds> t;
    if (timeout_ms >= 0) t = std::chrono::milliseconds(timeout_ms);
    auto r = p->core->wait(t);
    if (!r) return set_error(MCPFWD_E_TIMEOUT, "proxy still running");
    if (exit_code != nullptr) *exit_code = *r;
    return ok();
  });
}

mcpfwd_status mcpfwd_proxy_stats_json(mcpfwd_proxy* p, char** out) {
  MCPFWD_NOT_IN_CALLBACK();
  if (out != nullptr) *out = nullptr;
  MCPFWD_REQUIRE(p != nullptr && out != nullptr, "proxy or out is NULL");
  return guarded([&] {
    *out = dup_string(p->core->stats_json());
    return ok();
  });
}

void mcpfwd_proxy_free(mcpfwd_proxy* p) {
  if (p == nullptr) return;
  if (in_callback) {
    // Joining here would join the thread running this very callback: hand
    // the free to a thread of its own, which stops, joins and frees.
    try {
      std::thread([p] { mcpfwd_proxy_free(p); }).detach();
    } catch (...) {
      set_error(MCPFWD_E_NOMEM, "mcpfwd_proxy_free from a callback: cannot start a thread");
    }
    return;
  }
  try {
    p->core.reset();  // stops, waits, joins: no callback runs after this
  } catch (...) {
  }
  std::unique_ptr<mcpfwd_proxy> owned(p);  // then the user_data destructor
}

}  // extern "C"
