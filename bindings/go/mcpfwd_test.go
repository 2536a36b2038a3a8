package mcpfwd_test

// End-to-end tests of the Go binding: a real proxy in this process, in front
// of tests/servers/fastmcp_server.py, with the MCP Python SDK client
// (tests/bindings/mcp_client.py) as a subprocess. Run from this directory:
//
//	go test ./...          (PKG_CONFIG_PATH must find mcpfwd.pc; see docs/bindings.md)
//
// Thread accounting: the test names the thread that calls Start ("mcpfwd-lib");
// threads the library creates inherit that name (Go makes its own threads from a
// clean template thread when the calling thread is locked, so they never do).

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	mcpfwd "github.com/mcpfwd/mcpfwd/bindings/go"
	"github.com/mcpfwd/mcpfwd/bindings/go/capi"
)

const libTag = "mcpfwd-lib"

var repoRoot = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}()

func python() string {
	if p := os.Getenv("PYTHON"); p != "" {
		return p
	}
	return "python3"
}

func serverCommand() []string {
	return []string{python(), filepath.Join(repoRoot, "tests", "servers", "fastmcp_server.py")}
}

// ------------------------------------------------------------------ /proc

func readComm(tid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/comm", tid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// threadsNamed lists this process's threads whose name is name.
func threadsNamed(name string) []int {
	entries, _ := os.ReadDir("/proc/self/task")
	var out []int
	for _, e := range entries {
		tid, err := strconv.Atoi(e.Name())
		if err == nil && readComm(tid) == name {
			out = append(out, tid)
		}
	}
	sort.Ints(out)
	return out
}

// children lists this process's child processes (running or zombie).
func children() []int {
	files, _ := filepath.Glob("/proc/self/task/*/children")
	seen := map[int]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(s); err == nil {
				seen[pid] = true
			}
		}
	}
	var out []int
	for pid := range seen {
		out = append(out, pid)
	}
	sort.Ints(out)
	return out
}

func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	rest := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(rest) > 0 && rest[0] != "Z" // a zombie is not reaped yet: count it as alive
}

func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startTagged calls p.Start on a thread named libTag, so the threads the
// library creates carry that name.
func startTagged(t *testing.T, p *mcpfwd.Proxy) error {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := syscall.Gettid()
	path := fmt.Sprintf("/proc/self/task/%d/comm", tid)
	old := readComm(tid)
	if err := os.WriteFile(path, []byte(libTag), 0); err != nil {
		t.Fatalf("cannot name the thread: %v", err)
	}
	defer func() {
		if err := os.WriteFile(path, []byte(old), 0); err != nil {
			t.Errorf("cannot restore the thread's name: %v", err)
		}
	}()
	return p.Start()
}

// --------------------------------------------------------------- the client

type client struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	done   chan error // the exit status, once stdout is at EOF
	reaped bool
	mu     sync.Mutex
	err    strings.Builder
}

func startClient(t *testing.T, url string) *client {
	t.Helper()
	c := &client{lines: make(chan string, 16)}
	c.cmd = exec.Command(python(), filepath.Join(repoRoot, "tests", "bindings", "mcp_client.py"), url)
	var err error
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	c.cmd.Stderr = writerFunc(func(b []byte) (int, error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.err.Write(b)
	})
	if err := c.cmd.Start(); err != nil {
		t.Fatalf("cannot start the MCP client: %v", err)
	}
	c.done = make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.lines <- sc.Text()
		}
		close(c.lines)
		c.done <- c.cmd.Wait()
	}()
	// Whatever happens to the test, the client is gone (killed and reaped) after it.
	t.Cleanup(func() {
		if !c.reaped {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	})
	return c
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func (c *client) stderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err.String()
}

// expect reads the client's next line, which must start with prefix.
func (c *client) expect(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case line, ok := <-c.lines:
		if !ok {
			t.Fatalf("MCP client ended before %q; stderr:\n%s", prefix, c.stderr())
		}
		if !strings.HasPrefix(line, prefix+" ") {
			t.Fatalf("MCP client said %q, expected %q...; stderr:\n%s", line, prefix, c.stderr())
		}
		return strings.TrimPrefix(line, prefix+" ")
	case <-time.After(30 * time.Second):
		t.Fatalf("MCP client: no %q line within 30 s; stderr:\n%s", prefix, c.stderr())
	}
	return ""
}

func (c *client) send(t *testing.T, command string) {
	t.Helper()
	if _, err := io.WriteString(c.stdin, command+"\n"); err != nil {
		t.Fatalf("MCP client: %v", err)
	}
}

// finish tells the client to leave and reaps it (killing it after 30 s).
func (c *client) finish(t *testing.T) {
	t.Helper()
	_ = c.stdin.Close()
	go func() { // drain what it still prints, so that it can reach EOF
		for range c.lines {
		}
	}()
	select {
	case err := <-c.done:
		c.reaped = true
		if err != nil {
			t.Errorf("MCP client failed: %v; stderr:\n%s", err, c.stderr())
		}
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		c.reaped = true
		t.Errorf("MCP client did not exit within 30 s; stderr:\n%s", c.stderr())
	}
}

func nextEvent(t *testing.T, events <-chan mcpfwd.Event, want mcpfwd.EventType) mcpfwd.Event {
	t.Helper()
	select {
	case ev := <-events:
		if ev.Type != want {
			t.Fatalf("event %v %q (%q), expected %v", ev.Type, ev.SessionID, ev.Detail, want)
		}
		return ev
	case <-time.After(30 * time.Second):
		t.Fatalf("no %v event within 30 s", want)
	}
	return mcpfwd.Event{}
}

// ------------------------------------------------------------------- tests

func TestSessionThroughTheProxy(t *testing.T) {
	if kids := children(); len(kids) != 0 {
		t.Fatalf("the test process has children before the test: %v", kids)
	}
	if n := threadsNamed(libTag); len(n) != 0 {
		t.Fatalf("threads named %s before the test: %v", libTag, n)
	}

	cfg := mcpfwd.NewConfig()
	defer cfg.Close()
	must(t, cfg.SetListen("127.0.0.1", 0))
	must(t, cfg.SetUpstreamCommand(serverCommand()...))
	// A raw C setter through capi, as a setter the mcpfwd package lacks would be used.
	must(t, capi.Mcpfwd_config_set_io_threads(cfg.Handle(), 2))
	must(t, cfg.SetShutdownGrace(2*time.Second))

	events := make(chan mcpfwd.Event, 64)
	var logMu sync.Mutex
	logTids := map[int]bool{}
	var logLines []string
	p, err := mcpfwd.NewProxy(cfg,
		mcpfwd.WithEvents(events),
		mcpfwd.WithLog(func(level mcpfwd.LogLevel, source, text string) {
			logMu.Lock()
			defer logMu.Unlock()
			logTids[syscall.Gettid()] = true
			logLines = append(logLines, fmt.Sprintf("%v %s: %s", level, source, text))
		}))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Close() // the proxy has its own copy
	defer p.Close()

	if err := startTagged(t, p); err != nil {
		t.Fatalf("Start: %v", err)
	}
	libThreads := threadsNamed(libTag)
	if len(libThreads) < 2 {
		t.Fatalf("expected the 2 I/O threads named %s, found %v", libTag, libThreads)
	}
	url, err := p.URL()
	must(t, err)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || !strings.HasSuffix(url, "/mcp") {
		t.Fatalf("URL %q", url)
	}

	c := startClient(t, url)
	sid := c.expect(t, "session")
	if got := c.expect(t, "echo"); got != "héllo ✓ 🎉" {
		t.Fatalf("echo through the proxy returned %q", got)
	}

	opened := nextEvent(t, events, mcpfwd.SessionOpened)
	if opened.SessionID != sid {
		t.Fatalf("opened event for %q, the client has session %q", opened.SessionID, sid)
	}
	// ready: the upstream answered initialize; Detail is the protocol version it chose
	ready := nextEvent(t, events, mcpfwd.SessionReady)
	if ready.SessionID != sid || !regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`).MatchString(ready.Detail) {
		t.Fatalf("ready event %+v", ready)
	}
	sessions, err := p.Sessions()
	must(t, err)
	if len(sessions) != 1 || sessions[0].ID != sid {
		t.Fatalf("sessions %+v, expected one with id %s", sessions, sid)
	}
	s := sessions[0]
	if s.Upstream.PID <= 0 || s.ClientToServer.Messages < 2 || s.ServerToClient.Messages < 2 ||
		s.UpstreamExit != nil || s.Created().IsZero() {
		t.Fatalf("unexpected session %+v", s)
	}
	upstream := s.Upstream.PID
	if !alive(upstream) {
		t.Fatalf("upstream pid %d is not running", upstream)
	}
	one, err := p.Session(sid)
	must(t, err)
	if one.ID != sid || one.Upstream.PID != upstream {
		t.Fatalf("Session(%s) = %+v", sid, one)
	}

	must(t, p.CloseSession(sid))
	closed := nextEvent(t, events, mcpfwd.SessionClosed)
	if closed.SessionID != sid || closed.Detail == "" {
		t.Fatalf("closed event %+v", closed)
	}
	waitUntil(t, "the session's server to be reaped", 10*time.Second, func() bool { return !alive(upstream) })
	if _, err := p.Session(sid); !errors.Is(err, mcpfwd.ErrNotFound) {
		t.Fatalf("Session after close: %v, expected ErrNotFound", err)
	}
	// The client sees its session gone.
	c.send(t, "call")
	c.expect(t, "call-error")
	c.finish(t)

	must(t, p.Stop())
	code, err := p.Wait(20 * time.Second)
	must(t, err)
	if code != 0 {
		t.Fatalf("exit code %d", code)
	}
	must(t, p.Close())
	must(t, p.Close()) // idempotent

	if left := threadsNamed(libTag); len(left) != 0 {
		t.Fatalf("library threads left after Close: %v (were %v)", left, libThreads)
	}
	logMu.Lock()
	for tid := range logTids {
		found := false
		for _, lt := range libThreads {
			found = found || lt == tid
		}
		if !found {
			t.Errorf("a log callback ran on thread %d, not one of the library's %v", tid, libThreads)
		}
	}
	if len(logLines) == 0 {
		t.Errorf("no log line reached the handler")
	}
	logMu.Unlock()
	if kids := children(); len(kids) != 0 {
		t.Fatalf("child processes left: %v", kids)
	}
	if n := p.DroppedEvents(); n != 0 {
		t.Fatalf("%d events dropped", n)
	}
	if _, err := p.URL(); !errors.Is(err, mcpfwd.ErrState) {
		t.Fatalf("URL after Close: %v, expected ErrState", err)
	}
	select {
	case ev := <-events:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func TestBadUpstreamCommandIsAnError(t *testing.T) {
	r, w, err := os.Pipe()
	must(t, err)
	defer r.Close()
	defer w.Close()
	cfg := mcpfwd.NewConfig()
	defer cfg.Close()
	must(t, cfg.SetDownstreamStdio(int(r.Fd()), int(w.Fd())))
	const bad = "mcpfwd-no-such-command-for-tests"
	must(t, cfg.SetUpstreamCommand(bad, "--flag"))
	p, err := mcpfwd.NewProxy(cfg)
	must(t, err)
	defer p.Close()

	err = startTagged(t, p)
	if err == nil {
		t.Fatal("Start succeeded with a command that does not exist")
	}
	if !errors.Is(err, mcpfwd.ErrIO) {
		t.Fatalf("Start: %v, expected ErrIO", err)
	}
	var e *mcpfwd.Error
	if !errors.As(err, &e) || mcpfwd.Status(e.Status) != mcpfwd.StatusIO || !strings.Contains(e.Message, bad) {
		t.Fatalf("Start: %#v", err)
	}
	must(t, p.Close())
	if left := threadsNamed(libTag); len(left) != 0 {
		t.Fatalf("library threads left after Close: %v", left)
	}
	if kids := children(); len(kids) != 0 {
		t.Fatalf("child processes left: %v", kids)
	}
}

func TestConfigErrors(t *testing.T) {
	cfg := mcpfwd.NewConfig()
	err := cfg.SetMaxMessageBytes(10)
	if !errors.Is(err, mcpfwd.ErrInvalidArg) || !strings.Contains(err.Error(), "64") {
		t.Fatalf("SetMaxMessageBytes(10): %v", err)
	}
	if err := cfg.SetShutdownGrace(-time.Second); !errors.Is(err, mcpfwd.ErrInvalidArg) {
		t.Fatalf("SetShutdownGrace(-1s): %v", err)
	}
	if err := cfg.SetUpstreamCommand(); !errors.Is(err, mcpfwd.ErrInvalidArg) {
		t.Fatalf("SetUpstreamCommand(): %v", err)
	}
	// No upstream, no downstream: NewProxy says so.
	if _, err := mcpfwd.NewProxy(cfg); !errors.Is(err, mcpfwd.ErrInvalidArg) {
		t.Fatalf("NewProxy without upstream: %v", err)
	}
	cfg.Close()
	cfg.Close()
	if err := cfg.SetListen("127.0.0.1", 0); !errors.Is(err, mcpfwd.ErrState) {
		t.Fatalf("setter after Close: %v", err)
	}
	if _, err := mcpfwd.NewProxy(cfg); !errors.Is(err, mcpfwd.ErrState) {
		t.Fatalf("NewProxy from a closed config: %v", err)
	}
}

func TestCloseSessionOfAnUnknownIdIsNotFound(t *testing.T) {
	cfg := mcpfwd.NewConfig()
	defer cfg.Close()
	must(t, cfg.SetListen("127.0.0.1", 0))
	must(t, cfg.SetUpstreamCommand(serverCommand()...))
	must(t, cfg.SetIOThreads(1))
	p, err := mcpfwd.NewProxy(cfg)
	must(t, err)
	defer p.Close()
	must(t, startTagged(t, p))
	err = p.CloseSession("no-such-session")
	var e *mcpfwd.Error
	if !errors.As(err, &e) || mcpfwd.Status(e.Status) != mcpfwd.StatusNotFound || !strings.Contains(e.Message, "no-such-session") {
		t.Fatalf("CloseSession: %#v", err)
	}
	if err := p.Start(); !errors.Is(err, mcpfwd.ErrState) {
		t.Fatalf("second Start: %v", err)
	}
	list, err := p.Sessions()
	must(t, err)
	if len(list) != 0 {
		t.Fatalf("sessions %+v", list)
	}
	must(t, p.Close())
	if left := threadsNamed(libTag); len(left) != 0 {
		t.Fatalf("library threads left after Close: %v", left)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// ------------------------------------------------------- the options table

// goodValues are values to try for an option until the library accepts one
// (text options differ in form: NAME=VALUE, 'Name: value', ...).
func goodValues(o mcpfwd.OptionInfo) []string {
	switch o.Type {
	case mcpfwd.OptionFlag:
		return []string{"true"}
	case mcpfwd.OptionInteger, mcpfwd.OptionDurationMs, mcpfwd.OptionBytes:
		return []string{strconv.FormatInt(o.Min, 10)}
	case mcpfwd.OptionChoice:
		return []string{o.Choices[0]}
	case mcpfwd.OptionAddress:
		return []string{"127.0.0.1:0"}
	}
	return []string{"x", "NAME=value", "X-Name: value"}
}

// badValue is a value the option's type refuses.
func badValue(o mcpfwd.OptionInfo) string {
	switch o.Type {
	case mcpfwd.OptionFlag:
		return "maybe"
	case mcpfwd.OptionInteger, mcpfwd.OptionDurationMs, mcpfwd.OptionBytes:
		return "not-a-number"
	case mcpfwd.OptionChoice:
		return "no-such-choice"
	case mcpfwd.OptionAddress:
		return "no-port"
	}
	return "a\x00b" // a NUL byte: a C string would cut it short
}

func TestEveryOptionIsSettableByName(t *testing.T) {
	options := mcpfwd.Options()
	if len(options) < 30 {
		t.Fatalf("%d options: %+v", len(options), options)
	}
	seen := map[string]bool{}
	for _, o := range options {
		if seen[o.Name] || o.Help == "" || o.Min > o.Max ||
			o.Modes&(mcpfwd.ModeStdio|mcpfwd.ModeHTTP) == 0 ||
			o.Modes&(mcpfwd.ModeCommand|mcpfwd.ModeURL) == 0 {
			t.Errorf("option %+v", o)
		}
		seen[o.Name] = true
		cfg := mcpfwd.NewConfig()
		accepted := ""
		for _, v := range goodValues(o) {
			err := cfg.Set(o.Name, v)
			if err == nil {
				accepted = v
				break
			}
			if !errors.Is(err, mcpfwd.ErrInvalidArg) {
				t.Errorf("%s=%q: %v", o.Name, v, err)
			}
		}
		if accepted == "" {
			t.Errorf("no value accepted for %s, tried %q", o.Name, goodValues(o))
		}
		bad := badValue(o)
		if err := cfg.Set(o.Name, bad); !errors.Is(err, mcpfwd.ErrInvalidArg) ||
			!strings.Contains(err.Error(), "--"+o.Name) {
			t.Errorf("%s=%q: %v", o.Name, bad, err)
		}
		if o.Min > 0 {
			err := cfg.Set(o.Name, strconv.FormatInt(o.Min-1, 10))
			if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("must be at least %d", o.Min)) {
				t.Errorf("%s below its minimum: %v", o.Name, err)
			}
		}
		cfg.Close()
	}
	cfg := mcpfwd.NewConfig()
	defer cfg.Close()
	if err := cfg.Set("no-such-option", "1"); !errors.Is(err, mcpfwd.ErrInvalidArg) ||
		!strings.Contains(err.Error(), "unknown option") {
		t.Fatalf("unknown option: %v", err)
	}
}

func TestAnOptionOfAnotherModeIsRefusedByNewProxy(t *testing.T) {
	cfg := mcpfwd.NewConfig()
	defer cfg.Close()
	must(t, cfg.SetDownstreamStdio(0, 1))
	must(t, cfg.SetUpstreamCommand(serverCommand()...))
	must(t, cfg.Set("max-sessions", "5"))
	p, err := mcpfwd.NewProxy(cfg)
	if err == nil {
		p.Close()
		t.Fatal("NewProxy accepted an HTTP option in stdio mode")
	}
	if !errors.Is(err, mcpfwd.ErrInvalidArg) ||
		!strings.Contains(err.Error(), "--max-sessions applies only to HTTP mode") {
		t.Fatalf("NewProxy: %v", err)
	}
}

// ------------------------------------- refusing a session, the message hook

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":` +
	`{"protocolVersion":"2025-06-18","capabilities":{},` +
	`"clientInfo":{"name":"go-test","version":"0"}}}`

func post(t *testing.T, url, sid, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	must(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	}
	client := &http.Client{Timeout: 20 * time.Second}
	resp, err := client.Do(req)
	must(t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id")
}

func TestEventHandlerRefusesASessionAndTheMessageHookDropsAMessage(t *testing.T) {
	raw := []string{python(), filepath.Join(repoRoot, "tests", "servers", "raw_server.py")}
	cfg := mcpfwd.NewConfig()
	defer cfg.Close()
	must(t, cfg.Set("listen", "127.0.0.1:0"))
	must(t, cfg.SetUpstreamCommand(raw...))
	must(t, cfg.Set("io-threads", "1"))
	must(t, cfg.Set("shutdown-grace-ms", "500"))

	events := make(chan mcpfwd.Event, 64)
	var refused int32
	var mu sync.Mutex
	var messages []mcpfwd.Message
	p, err := mcpfwd.NewProxy(cfg,
		mcpfwd.WithEvents(events),
		mcpfwd.WithEventHandler(func(ev mcpfwd.Event) error {
			// refuse the first session only
			if ev.Type == mcpfwd.SessionOpened && atomic.CompareAndSwapInt32(&refused, 0, 1) {
				return mcpfwd.ErrRefused
			}
			return nil
		}),
		mcpfwd.WithMessages(func(m mcpfwd.Message) error {
			mu.Lock()
			messages = append(messages, m)
			mu.Unlock()
			if strings.Contains(string(m.Data), "raw/forbidden") {
				return mcpfwd.ErrRefused
			}
			return nil
		}))
	must(t, err)
	defer p.Close()
	must(t, p.Start())
	url, err := p.URL()
	must(t, err)

	// refused by the event handler: 403, and the session is closed at once
	if code, _ := post(t, url, "", initialize); code != 403 {
		t.Fatalf("refused initialize: HTTP %d", code)
	}
	opened := nextEvent(t, events, mcpfwd.SessionOpened)
	if closed := nextEvent(t, events, mcpfwd.SessionClosed); closed.SessionID != opened.SessionID {
		t.Fatalf("closed %+v after opened %+v", closed, opened)
	}

	// accepted: the message hook sees both ways
	code, sid := post(t, url, "", initialize)
	if code != 200 || sid == "" {
		t.Fatalf("initialize: HTTP %d, session %q", code, sid)
	}
	if ev := nextEvent(t, events, mcpfwd.SessionOpened); ev.SessionID != sid {
		t.Fatalf("opened %+v, the client has %s", ev, sid)
	}
	mu.Lock()
	sawRequest, sawAnswer := false, false
	for _, m := range messages {
		if m.SessionID != sid {
			t.Errorf("message of session %q: %s", m.SessionID, m.Data)
		}
		sawRequest = sawRequest || (m.Direction == mcpfwd.ClientToServer && strings.Contains(string(m.Data), `"initialize"`))
		sawAnswer = sawAnswer || (m.Direction == mcpfwd.ServerToClient && strings.Contains(string(m.Data), `"result"`))
	}
	mu.Unlock()
	if !sawRequest || !sawAnswer {
		t.Fatalf("the message hook saw %d messages: request %v, answer %v", len(messages), sawRequest, sawAnswer)
	}

	// the hook refuses: the message is dropped, the session closed
	if code, _ := post(t, url, sid, `{"jsonrpc":"2.0","id":50,"method":"raw/forbidden"}`); code != 404 {
		t.Fatalf("forbidden message: HTTP %d", code)
	}
	deadline := time.After(30 * time.Second)
	for closed := false; !closed; {
		select {
		case ev := <-events:
			if ev.Type != mcpfwd.SessionClosed {
				continue
			}
			if ev.SessionID != sid || ev.Detail != "session aborted by the message callback" {
				t.Fatalf("closed %+v", ev)
			}
			closed = true
		case <-deadline:
			t.Fatal("no closed event within 30 s")
		}
	}
	mu.Lock()
	for _, m := range messages {
		if m.Direction == mcpfwd.ServerToClient && strings.Contains(string(m.Data), `"id":50`) {
			t.Errorf("the dropped request was answered: %s", m.Data)
		}
	}
	mu.Unlock()
	must(t, p.Close())
	if kids := children(); len(kids) != 0 {
		t.Fatalf("child processes left: %v", kids)
	}
}
