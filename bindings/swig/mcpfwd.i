/*
 * The SWIG interface of mcpfwd: one file for every target language (Java and
 * Go today); the language-specific typemaps are in mcpfwd_java.i and
 * mcpfwd_go.i. See docs/bindings.md.
 *
 * What it wraps:
 *  - the adapter of mcpfwd_swig.hpp over the C++ layer of <mcpfwd/mcpfwd.hpp>
 *    (Config with the generic setter, Proxy, the options table as OptionInfo,
 *    and the Listener director that carries callbacks into Java and Go);
 *  - the C header itself, %include-d whole, so every function added to the C
 *    ABI later (a new config setter, say) is wrapped without touching this
 *    file. Only the functions the C++ layer replaces are %ignore-d.
 *
 * Error convention: every function returning mcpfwd_status (raw C) or
 * mcpfwd_swig_status (C++ layer) returns nothing in Java and throws
 * org.mcpfwd.McpfwdException on failure; in Go it returns an error. The text
 * is read inside the same native call that failed.
 */
#if defined(SWIGJAVA)
%module(directors="1") McpfwdNative
#else
%module(directors="1") capi
#endif

%{
#include "mcpfwd/mcpfwd.h"
#include "mcpfwd_swig.hpp"
%}

%include <stdint.i>
%include <std_string.i>

/* ------------------------------------------------ replaced by the C++ layer */
/* Handles: Config and Proxy own them (new/free). */
%ignore mcpfwd_config_new;
%ignore mcpfwd_config_free;
%ignore mcpfwd_proxy_new;
%ignore mcpfwd_proxy_new_v2;
%ignore mcpfwd_proxy_free;
%ignore mcpfwd_proxy_start;
%ignore mcpfwd_proxy_stop;
%ignore mcpfwd_proxy_wait;
%ignore mcpfwd_proxy_url;
%ignore mcpfwd_proxy_sessions_json;
%ignore mcpfwd_proxy_session_json;
%ignore mcpfwd_proxy_stats_json;
%ignore mcpfwd_proxy_status_text;
%ignore mcpfwd_proxy_metrics_text;
/* Not wrapped yet: the config file reload (docs/configuration.md). */
%ignore mcpfwd_proxy_reload;
%ignore mcpfwd_proxy_admin_url;
%ignore mcpfwd_proxy_close_session;
/* argc/argv: Config.setUpstreamArgv. */
%ignore mcpfwd_config_set_upstream_command;
/* C function pointers and user_data: the Listener director replaces them. */
%ignore mcpfwd_config_set_user_data;
%ignore mcpfwd_config_set_event_cb;
%ignore mcpfwd_config_set_log_cb;
%ignore mcpfwd_config_set_message_cb;
%ignore mcpfwd_log_cb;
%ignore mcpfwd_free_cb;
%ignore mcpfwd_event_cb;
%ignore mcpfwd_message_cb;
/* Borrowed records that live only inside a callback. */
%ignore mcpfwd_event;
%ignore mcpfwd_event_get_type;
%ignore mcpfwd_event_session_id;
%ignore mcpfwd_event_detail;
%ignore mcpfwd_message;
%ignore mcpfwd_message_direction;
%ignore mcpfwd_message_session_id;
%ignore mcpfwd_message_bytes;
/* Owned strings never reach the target language (copied, then freed). */
%ignore mcpfwd_string_free;
/* Takes a status as an argument: statusString(int) instead, so that
   mcpfwd_status only ever appears as a return type (see the typemaps). */
%ignore mcpfwd_status_str;
/* The enum itself: a status return is an exception (Java) or an error (Go),
   and each binding names the codes in its own Status type. */
%ignore mcpfwd_status;
/* Thread-local text of the last failure: read by the typemaps already, in the
   same native call; a later call from Java or Go may run on another thread. */
%ignore mcpfwd_last_error;
%ignore mcpfwd::swig::last_error;
/* The options table: OptionInfo, optionCount() and optionAt(i) instead of the raw
   iterator (its uint64_t bounds would be BigIntegers in Java). */
%ignore mcpfwd_option;
%ignore mcpfwd_option_next;
%ignore mcpfwd_option_find;
%ignore mcpfwd_option_name;
%ignore mcpfwd_option_get_type;
%ignore mcpfwd_option_default;
%ignore mcpfwd_option_help;
%ignore mcpfwd_option_metavar;
%ignore mcpfwd_option_choices;
%ignore mcpfwd_option_modes;
%ignore mcpfwd_option_cli_flag;
%ignore mcpfwd_option_min;
%ignore mcpfwd_option_max;
/* The generic setter: Config.set checks for NUL bytes (a C string would be cut short). */
%ignore mcpfwd_config_set;
/* C++ internals. */
%ignore mcpfwd::swig::detail;
%ignore mcpfwd::swig::Config::get;
%ignore mcpfwd::swig::OptionInfo::OptionInfo(const mcpfwd_option *);
%ignore mcpfwd::swig::Listener::Listener(const Listener&);
%ignore mcpfwd::swig::Config::Config(const Config&);
%ignore mcpfwd::swig::Proxy::Proxy(const Proxy&);
%ignore operator=;

/* --------------------------------------------------------------- callbacks */
%feature("director") mcpfwd::swig::Listener;

/* ------------------------------------------------------------ per language */
#if defined(SWIGJAVA)
%include "mcpfwd_java.i"
#elif defined(SWIGGO)
%include "mcpfwd_go.i"
#endif

/* The C header, whole (MCPFWD_API expands to nothing for SWIG). */
#define MCPFWD_API
%include "mcpfwd/mcpfwd_version.h"
%include "mcpfwd/mcpfwd.h"

/* The C++ layer. */
%rename(statusString) mcpfwd::swig::status_string;
%include "mcpfwd_swig.hpp"
