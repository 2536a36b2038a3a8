// An mcpfwd proxy in a Go program: Streamable HTTP in front of the MCP server
// command given as arguments, one server process per session. It prints the
// URL and each session event, and stops when standard input ends.
//
//	go build -o basic_proxy . && ./basic_proxy python3 server.py
package main

import (
	"fmt"
	"io"
	"os"

	mcpfwd "github.com/mcpfwd/mcpfwd/bindings/go"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("closed")
}

func run(upstream []string) error {
	cfg := mcpfwd.NewConfig()
	defer cfg.Close()
	if err := cfg.SetListen("127.0.0.1", 0); err != nil {
		return err
	}
	if err := cfg.SetUpstreamCommand(upstream...); err != nil {
		return err
	}
	if err := cfg.Set("max-sessions", "100"); err != nil { // any option, by name
		return err
	}
	events := make(chan mcpfwd.Event, 128) // never blocks the proxy: give it room
	proxy, err := mcpfwd.NewProxy(cfg, mcpfwd.WithEvents(events))
	if err != nil {
		return err
	}
	defer proxy.Close()
	if err := proxy.Start(); err != nil {
		return err
	}
	url, err := proxy.URL()
	if err != nil {
		return err
	}
	fmt.Println("listening", url)

	done := make(chan struct{})
	go func() { // serve until standard input ends
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(done)
	}()
	names := map[mcpfwd.EventType]string{
		mcpfwd.SessionOpened:   "SESSION_OPENED",
		mcpfwd.SessionClosed:   "SESSION_CLOSED",
		mcpfwd.SessionRejected: "SESSION_REJECTED",
		mcpfwd.SessionReady:    "SESSION_READY",
	}
	for {
		select {
		case ev := <-events:
			fmt.Println("event", names[ev.Type], ev.SessionID, ev.Detail)
		case <-done:
			sessions, err := proxy.Sessions()
			if err != nil {
				return err
			}
			fmt.Println("sessions at exit:", len(sessions))
			return proxy.Close()
		}
	}
}
