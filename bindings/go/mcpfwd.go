// Package mcpfwd runs an mcpfwd proxy (a forward proxy for the Model Context
// Protocol) inside a Go program. It is a thin layer over the mcpfwd C library
// (libmcpfwd.so.0) and its SWIG binding, package capi.
//
//	import mcpfwd "github.com/mcpfwd/mcpfwd/bindings/go"  // module github.com/mcpfwd/mcpfwd/bindings
//
//	cfg := mcpfwd.NewConfig()
//	defer cfg.Close()
//	cfg.SetListen("127.0.0.1", 0)
//	cfg.SetUpstreamCommand("python3", "server.py")
//	cfg.Set("max-connections", "512") // any option of the library, by name (Options lists them)
//	events := make(chan mcpfwd.Event, 64)
//	p, err := mcpfwd.NewProxy(cfg, mcpfwd.WithEvents(events))
//	if err != nil { ... }
//	defer p.Close()
//	err = p.Start()
//	url, err := p.URL() // MCP clients connect here; one server process per session
//
// The module is not on a module proxy: a program uses it with a replace
// directive to a checkout's bindings/ directory or to the copy cmake --install
// puts in <prefix>/share/mcpfwd/bindings (docs/bindings.md); cgo finds the
// library with pkg-config (mcpfwd.pc).
//
// Errors are *Error values carrying the library's status and message;
// errors.Is(err, mcpfwd.ErrNotFound) and friends test the status.
//
// Lifetime is explicit: Close a Config and a Proxy when done (no finalizers).
// After Proxy.Close returns, no callback runs and the proxy's threads and
// server processes are gone.
package mcpfwd

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpfwd/mcpfwd/bindings/go/capi"
)

// Error is a failed call: Status (a negative status code) and the library's
// message. Test a status with errors.Is(err, ErrNotFound) or errors.As.
type Error = capi.Error

// Status is one of the library's status codes (mcpfwd_status).
type Status int

// The status codes. Values are the C API's, never reused.
const (
	StatusOK         Status = 0
	StatusInvalidArg Status = -1
	StatusNoMem      Status = -2
	StatusState      Status = -3
	StatusIO         Status = -4
	StatusTimeout    Status = -5
	StatusCallback   Status = -6
	StatusNotFound   Status = -7
	StatusInternal   Status = -99
)

func (s Status) String() string { return capi.StatusString(int(s)) }

// Sentinels for errors.Is: an *Error matches the one with its status.
var (
	ErrInvalidArg = &Error{Status: int(StatusInvalidArg)}
	ErrNoMem      = &Error{Status: int(StatusNoMem)}
	ErrState      = &Error{Status: int(StatusState)}
	ErrIO         = &Error{Status: int(StatusIO)}
	ErrTimeout    = &Error{Status: int(StatusTimeout)}
	ErrCallback   = &Error{Status: int(StatusCallback)}
	ErrNotFound   = &Error{Status: int(StatusNotFound)}
	ErrInternal   = &Error{Status: int(StatusInternal)}
)

// LogLevel is a log line's level, from most to least verbose.
type LogLevel int

// The log levels (mcpfwd_log_level).
const (
	LogTrace LogLevel = 0
	LogDebug LogLevel = 1
	LogInfo  LogLevel = 2
	LogWarn  LogLevel = 3
	LogError LogLevel = 4
	LogOff   LogLevel = 5
)

func (l LogLevel) String() string {
	switch l {
	case LogTrace:
		return "trace"
	case LogDebug:
		return "debug"
	case LogInfo:
		return "info"
	case LogWarn:
		return "warn"
	case LogError:
		return "error"
	case LogOff:
		return "off"
	}
	return fmt.Sprintf("LogLevel(%d)", int(l))
}

// EventType says what happened to a session.
type EventType int

// The event types (mcpfwd_event_type).
const (
	SessionOpened   EventType = 1 // a session exists, its upstream server is spawned
	SessionClosed   EventType = 2 // a session ended, its upstream server is reaped; Detail says why
	SessionRejected EventType = 3 // an initialize was refused (limit); Detail says why
	SessionReady    EventType = 4 // the upstream answered initialize; Detail: the protocol version
)

func (t EventType) String() string {
	switch t {
	case SessionOpened:
		return "opened"
	case SessionClosed:
		return "closed"
	case SessionRejected:
		return "rejected"
	case SessionReady:
		return "ready"
	}
	return fmt.Sprintf("EventType(%d)", int(t))
}

// Event is one session event.
type Event struct {
	Type      EventType
	SessionID string // "" for a rejection (there is no session)
	Detail    string // the close reason or the rejection cause; may be ""
}

// Direction says which way a forwarded message goes.
type Direction int

// The directions (mcpfwd_direction).
const (
	ClientToServer Direction = 1
	ServerToClient Direction = 2
)

func (d Direction) String() string {
	switch d {
	case ClientToServer:
		return "client-to-server"
	case ServerToClient:
		return "server-to-client"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// Message is one JSON-RPC message a session forwards, shown to the message
// hook (WithMessages) before it goes on.
type Message struct {
	Direction Direction
	SessionID string // "stdio" in stdio mode
	Data      []byte // the message as received (one line of JSON, no newline)
}

// ErrRefused is a convenient error for an event handler (WithEventHandler) or
// a message hook (WithMessages) to return: any non-nil error refuses.
var ErrRefused = errors.New("mcpfwd: refused")

func errClosed(what string) error {
	return &Error{Status: int(StatusState), Message: what + " is closed"}
}

func errArg(format string, args ...interface{}) error {
	return &Error{Status: int(StatusInvalidArg), Message: fmt.Sprintf(format, args...)}
}

// ---------------------------------------------------------------- options

// OptionType is how an option's value (text) is parsed (mcpfwd_option_type).
type OptionType int

// The option types.
const (
	OptionFlag       OptionType = 1 // "true"/"false"
	OptionInteger    OptionType = 2 // a decimal number within [Min, Max]
	OptionDurationMs OptionType = 3 // milliseconds, a decimal number
	OptionBytes      OptionType = 4 // a byte count, a decimal number
	OptionString     OptionType = 5 // text
	OptionList       OptionType = 6 // text; each Set appends one entry
	OptionChoice     OptionType = 7 // one of Choices
	OptionAddress    OptionType = 8 // HOST:PORT, [IPv6]:PORT
)

func (t OptionType) String() string {
	names := map[OptionType]string{OptionFlag: "flag", OptionInteger: "integer",
		OptionDurationMs: "duration-ms", OptionBytes: "bytes", OptionString: "string",
		OptionList: "list", OptionChoice: "choice", OptionAddress: "address"}
	if n, ok := names[t]; ok {
		return n
	}
	return fmt.Sprintf("OptionType(%d)", int(t))
}

// Mode bits say where an option applies (MCPFWD_MODE_*): a downstream and an
// upstream kind. An option set for a proxy it does not apply to makes
// NewProxy fail, naming it.
type Mode uint

// The modes.
const (
	ModeStdio   Mode = 1 // one client on stdio
	ModeHTTP    Mode = 2 // the HTTP listener
	ModeCommand Mode = 4 // a spawned server command
	ModeURL     Mode = 8 // a remote server
)

// OptionInfo is one option of the library's table (docs/options.md lists
// them). (Option, the type of NewProxy's options, is another thing.)
type OptionInfo struct {
	Name     string // also the CLI flag without "--": "max-sessions"
	Type     OptionType
	Default  string   // the library's default as text ("" when it has none)
	Help     string   // one line
	Metavar  string   // "N", "MS", "HOST:PORT"
	Choices  []string // the accepted values of an OptionChoice
	Modes    Mode     // where it applies
	CLIFlag  string   // "--max-sessions", or "" when the CLI takes it another way
	Min, Max int64    // a number's bounds (math.MaxInt64: no practical limit)
}

// Options lists every option of the library, in the table's order. Set any of
// them with Config.Set.
func Options() []OptionInfo {
	n := capi.OptionCount()
	out := make([]OptionInfo, 0, n)
	for i := 0; i < n; i++ {
		o := capi.OptionAt(i)
		var choices []string
		if c := o.Choices(); c != "" {
			choices = strings.Split(c, "|")
		}
		out = append(out, OptionInfo{
			Name: o.Name(), Type: OptionType(o.OptionType()), Default: o.DefaultValue(),
			Help: o.Help(), Metavar: o.Metavar(), Choices: choices, Modes: Mode(o.Modes()),
			CLIFlag: o.CliFlag(), Min: o.MinValue(), Max: o.MaxValue(),
		})
		capi.DeleteOptionInfo(o)
	}
	return out
}

// ----------------------------------------------------------------- Config

// Config is a proxy's configuration. NewProxy copies it: close it whenever
// you like afterwards. One goroutine at a time.
//
// Every option of the library is reachable by name with Set; the typed
// setters are shortcuts for common ones.
type Config struct {
	c capi.Config
}

// NewConfig makes a configuration with the library's defaults.
func NewConfig() *Config {
	return &Config{c: capi.NewConfig()}
}

// Close releases the configuration; calling it again does nothing.
func (c *Config) Close() {
	if c.c != nil {
		capi.DeleteConfig(c.c)
		c.c = nil
	}
}

// Handle is the C handle, for C functions this package does not wrap yet:
// capi.Mcpfwd_config_set_xxx(cfg.Handle(), ...) (they return an error too).
// Nil once closed.
func (c *Config) Handle() capi.Mcpfwd_config {
	if c.c == nil {
		return nil
	}
	return c.c.Handle()
}

func (c *Config) call(fn func(h capi.Mcpfwd_config) error) error {
	if c.c == nil {
		return errClosed("config")
	}
	return fn(c.c.Handle())
}

// Set sets any option of the library's table by name ("max-sessions",
// "allow-host", ...; Options lists them), its value as text parsed by the
// option's type: a decimal number ("5000": milliseconds for a duration),
// "true"/"false" for a flag, one of its Choices, HOST:PORT for an address; a
// list option appends one entry per call. An unknown name or a bad value is an
// ErrInvalidArg whose message names the option ("--max-sessions must be at
// least 1").
func (c *Config) Set(name, value string) error {
	if c.c == nil {
		return errClosed("config")
	}
	return c.c.Set(name, value)
}

func millis(d time.Duration) (uint, error) {
	if d < 0 || d/time.Millisecond > math.MaxUint32 {
		return 0, errArg("duration %v out of range", d)
	}
	return uint(d / time.Millisecond), nil
}

// SetListen serves many clients over Streamable HTTP at http://host:port/mcp,
// each session with its own server process. Port 0 picks a free port (read
// Proxy.URL after Start). host is an IP address, e.g. "127.0.0.1".
func (c *Config) SetListen(host string, port uint16) error {
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_set_listen(h, host, port) })
}

// SetDownstreamStdio serves one client over two file descriptors carrying
// newline-delimited JSON-RPC. They are dup()ed at Start; the caller keeps its own.
func (c *Config) SetDownstreamStdio(inFD, outFD int) error {
	return c.call(func(h capi.Mcpfwd_config) error {
		return capi.Mcpfwd_config_set_downstream_stdio(h, inFD, outFD)
	})
}

// SetUpstreamCommand sets the MCP server to spawn: argv[0] is looked up in
// PATH, no shell is involved.
func (c *Config) SetUpstreamCommand(argv ...string) error {
	for _, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return errArg("upstream argument %q contains a NUL byte", a)
		}
	}
	if c.c == nil {
		return errClosed("config")
	}
	// One string crosses into C++, the arguments separated by NUL bytes.
	return c.c.SetUpstreamArgv(strings.Join(argv, "\x00"))
}

// SetMaxMessageBytes sets the largest JSON-RPC message accepted either way
// (default 4 MiB, at least 64).
func (c *Config) SetMaxMessageBytes(n int64) error {
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_set_max_message_bytes(h, n) })
}

// SetShutdownGrace sets how long shutdown waits at each step (default 2 s).
func (c *Config) SetShutdownGrace(d time.Duration) error {
	ms, err := millis(d)
	if err != nil {
		return err
	}
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_set_shutdown_grace_ms(h, ms) })
}

// SetLogLevel sets the lowest level logged (default LogInfo).
func (c *Config) SetLogLevel(l LogLevel) error {
	return c.call(func(h capi.Mcpfwd_config) error {
		return capi.Mcpfwd_config_set_log_level(h, capi.Mcpfwd_log_level(l))
	})
}

// SetMaxSessions caps concurrent HTTP sessions (default 1000).
func (c *Config) SetMaxSessions(n uint32) error {
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_set_max_sessions(h, uint(n)) })
}

// SetIdleTimeout closes HTTP sessions idle this long (default 30 min).
func (c *Config) SetIdleTimeout(d time.Duration) error {
	ms, err := millis(d)
	if err != nil {
		return err
	}
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_set_idle_timeout_ms(h, ms) })
}

// SetRequestTimeout answers a request upstream has not answered in d with a
// JSON-RPC error (default 0: no limit).
func (c *Config) SetRequestTimeout(d time.Duration) error {
	ms, err := millis(d)
	if err != nil {
		return err
	}
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_set_request_timeout_ms(h, ms) })
}

// SetDrainTimeout lets requests in flight finish for up to d at shutdown (default 5 s).
func (c *Config) SetDrainTimeout(d time.Duration) error {
	ms, err := millis(d)
	if err != nil {
		return err
	}
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_set_drain_timeout_ms(h, ms) })
}

// AddAllowedOrigin allows an Origin header value (exact, or "*").
func (c *Config) AddAllowedOrigin(origin string) error {
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_add_allowed_origin(h, origin) })
}

// SetAuthToken requires "Authorization: Bearer <token>" ("" for none).
func (c *Config) SetAuthToken(token string) error {
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_set_auth_token(h, token) })
}

// SetIOThreads sets the I/O threads of an HTTP proxy (default 0: one per core).
func (c *Config) SetIOThreads(n uint32) error {
	return c.call(func(h capi.Mcpfwd_config) error { return capi.Mcpfwd_config_set_io_threads(h, uint(n)) })
}

// ----------------------------------------------------------------- Proxy

// Option configures the callbacks of NewProxy (WithEvents, WithEventHandler,
// WithLog, WithMessages).
type Option func(*listener)

// WithEvents makes the proxy send each session event to ch, in order per
// session. Like signal.Notify it never blocks: give ch enough buffer; an
// event that finds ch full is dropped and counted (Proxy.DroppedEvents). The
// channel is the caller's (never closed here); nothing is sent to it once
// Proxy.Close has returned.
func WithEvents(ch chan<- Event) Option {
	return func(l *listener) { l.events = ch }
}

// WithLog sends the proxy's log lines to fn instead of standard error. fn
// runs on a proxy I/O thread: it must not block, and may call Proxy.Stop and
// nothing else of the proxy. source is "mcpfwd", or "server" for a line the
// upstream server wrote to its stderr.
func WithLog(fn func(level LogLevel, source, text string)) Option {
	return func(l *listener) { l.log = fn }
}

// WithEventHandler calls fn with each session event, synchronously, on a
// proxy I/O thread (before the event is sent to a WithEvents channel, if
// any). A non-nil error for a SessionOpened event refuses that session: it is
// closed at once (its client's initialize is answered with HTTP 403); the
// result for other events is ignored. fn must not block, and may call
// Proxy.Stop and nothing else of the proxy. A panic counts as nil.
func WithEventHandler(fn func(Event) error) Option {
	return func(l *listener) { l.onEvent = fn }
}

// WithMessages installs the message hook: fn sees every JSON-RPC message a
// session forwards, either way, before it is forwarded; a non-nil error drops
// the message and closes its session. It runs on the forwarding path of a
// proxy I/O thread, once per message, with a cgo crossing each time: keep it
// short, never block; Data is fn's own copy. A panic counts as nil. Without
// it nothing is spent on messages.
func WithMessages(fn func(Message) error) Option {
	return func(l *listener) { l.onMessage = fn }
}

// listener is the Go side of the Listener director: the library calls it on
// its own I/O threads (cgo callbacks from non-Go threads). No panic may
// unwind into the library's thread: each method recovers.
type listener struct {
	events    chan<- Event
	onEvent   func(Event) error
	log       func(LogLevel, string, string)
	onMessage func(Message) error
	dropped   uint64 // atomic
}

func recovered(what string) {
	if r := recover(); r != nil {
		fmt.Fprintf(os.Stderr, "mcpfwd: panic in the %s: %v\n", what, r)
	}
}

func (l *listener) OnEvent(eventType int, sessionID string, detail string) (goOn bool) {
	goOn = true
	ev := Event{Type: EventType(eventType), SessionID: sessionID, Detail: detail}
	if l.onEvent != nil {
		func() {
			defer recovered("event handler")
			goOn = l.onEvent(ev) == nil
		}()
	}
	if l.events != nil {
		select {
		case l.events <- ev:
		default:
			atomic.AddUint64(&l.dropped, 1)
		}
	}
	return goOn
}

func (l *listener) OnLog(level int, source string, text string) {
	defer recovered("log handler")
	l.log(LogLevel(level), source, text)
}

func (l *listener) OnMessage(direction int, sessionID string, data string) (goOn bool) {
	goOn = true
	defer recovered("message hook")
	goOn = l.onMessage(Message{Direction: Direction(direction), SessionID: sessionID,
		Data: []byte(data)}) == nil
	return goOn
}

// Proxy is a running (or runnable) proxy. Its methods may be called from any
// goroutine; Stop also from inside a callback.
type Proxy struct {
	mu        sync.RWMutex // held shared by calls, exclusively by Close
	p         capi.Proxy
	l         *listener
	closeOnce sync.Once
}

// NewProxy makes a proxy from cfg (copied: close cfg whenever you like).
// The proxy does nothing until Start.
//
// It fails with ErrInvalidArg when cfg lacks a downstream or an upstream, or
// has an option set that does not apply to them, with the library's message.
func NewProxy(cfg *Config, opts ...Option) (*Proxy, error) {
	if cfg == nil || cfg.c == nil {
		return nil, errClosed("config")
	}
	l := &listener{}
	for _, o := range opts {
		o(l)
	}
	flags := 0
	if l.events != nil || l.onEvent != nil {
		flags |= int(capi.CALLBACK_EVENTS)
	}
	if l.log != nil {
		flags |= int(capi.CALLBACK_LOG)
	}
	if l.onMessage != nil {
		flags |= int(capi.CALLBACK_MESSAGES)
	}
	p := capi.NewProxy()
	var d capi.Listener
	if flags != 0 {
		// Owned by the C++ proxy from Open on: deleted after the last callback.
		d = capi.NewDirectorListener(l)
	}
	if err := p.Open(cfg.c, d, flags); err != nil {
		capi.DeleteProxy(p)
		return nil, err
	}
	return &Proxy{p: p, l: l}, nil
}

// call runs fn unless the proxy is closed or closing (it never waits for
// Close, so a log handler calling Stop cannot deadlock against it).
func (p *Proxy) call(fn func(capi.Proxy) error) error {
	if !p.mu.TryRLock() {
		return errClosed("proxy")
	}
	defer p.mu.RUnlock()
	if p.p == nil {
		return errClosed("proxy")
	}
	return fn(p.p)
}

// Start binds the listen address (HTTP) or spawns the server (stdio) and
// starts forwarding on the proxy's own threads. ErrIO if that fails.
func (p *Proxy) Start() error {
	return p.call(func(c capi.Proxy) error { return c.Start() })
}

// Stop begins a graceful shutdown and returns at once. Idempotent.
func (p *Proxy) Stop() error {
	return p.call(func(c capi.Proxy) error { return c.Stop() })
}

// Wait blocks until the proxy has finished (an HTTP proxy: after Stop) and
// returns its exit code; timeout < 0 waits without limit. ErrTimeout if it
// is still running then.
func (p *Proxy) Wait(timeout time.Duration) (int, error) {
	ms := -1
	if timeout >= 0 {
		ms = int(timeout / time.Millisecond)
		if timeout > time.Duration(math.MaxInt32)*time.Millisecond {
			ms = math.MaxInt32
		}
	}
	code := 0
	err := p.call(func(c capi.Proxy) error {
		if err := c.Wait(ms); err != nil {
			return err
		}
		code = c.ExitCode()
		return nil
	})
	return code, err
}

func (p *Proxy) text(fn func(capi.Proxy, *string) error) (string, error) {
	var s string
	err := p.call(func(c capi.Proxy) error { return fn(c, &s) })
	return s, err
}

// URL is the endpoint of an HTTP proxy, e.g. "http://127.0.0.1:43123/mcp"
// ("" in stdio mode).
func (p *Proxy) URL() (string, error) {
	return p.text(func(c capi.Proxy, s *string) error { return c.Url(s) })
}

// SessionsJSON is the session list as the C API hands it out (a JSON array).
func (p *Proxy) SessionsJSON() (string, error) {
	return p.text(func(c capi.Proxy, s *string) error { return c.SessionsJson(s) })
}

// SessionJSON is one session as JSON; ErrNotFound if there is none with that id.
func (p *Proxy) SessionJSON(id string) (string, error) {
	return p.text(func(c capi.Proxy, s *string) error { return c.SessionJson(id, s) })
}

// StatsJSON is the proxy's counters as JSON (schema in docs/c-api.md).
func (p *Proxy) StatsJSON() (string, error) {
	return p.text(func(c capi.Proxy, s *string) error { return c.StatsJson(s) })
}

// StatusText is the human-readable session table (format not stable).
func (p *Proxy) StatusText() (string, error) {
	return p.text(func(c capi.Proxy, s *string) error { return c.StatusText(s) })
}

// Sessions lists the sessions of an HTTP proxy.
func (p *Proxy) Sessions() ([]Session, error) {
	s, err := p.SessionsJSON()
	if err != nil {
		return nil, err
	}
	return parseSessions(s)
}

// Session describes one session; ErrNotFound if there is none with that id.
func (p *Proxy) Session(id string) (Session, error) {
	s, err := p.SessionJSON(id)
	if err != nil {
		return Session{}, err
	}
	return parseSession(s)
}

// CloseSession ends one session: its requests in flight get a JSON-RPC error,
// its server is terminated, its id answers 404 from now on. Returns at once;
// the SessionClosed event follows. ErrNotFound if there is no such session.
func (p *Proxy) CloseSession(id string) error {
	return p.call(func(c capi.Proxy) error { return c.CloseSession(id) })
}

// DroppedEvents counts events that found the WithEvents channel full.
func (p *Proxy) DroppedEvents() uint64 {
	return atomic.LoadUint64(&p.l.dropped)
}

// Handle is the C handle, for C functions this package does not wrap yet
// (nil once closed).
func (p *Proxy) Handle() capi.Mcpfwd_proxy {
	if !p.mu.TryRLock() {
		return nil
	}
	defer p.mu.RUnlock()
	if p.p == nil {
		return nil
	}
	return p.p.Handle()
}

// Close stops the proxy if it runs, waits for its sessions and server
// processes to finish, joins its threads and releases it. Afterwards no
// callback runs. Calling it again does nothing. Not from a log handler.
func (p *Proxy) Close() error {
	p.closeOnce.Do(func() {
		_ = p.Stop() // lets a concurrent Wait return, so the lock below is granted
		p.mu.Lock()
		defer p.mu.Unlock()
		p.p.Close() // joins the I/O threads, then deletes the listener director
		capi.DeleteProxy(p.p)
		p.p = nil
	})
	return nil
}
