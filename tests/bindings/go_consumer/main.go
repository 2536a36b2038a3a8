// A program outside the mcpfwd tree that uses the Go binding
// (tests/bindings/go_consumer/run.sh builds it against the installed module):
// it lists the options, sets each one by name, and runs a proxy in front of a
// remote upstream (never contacted: no client comes).
package main

import (
	"errors"
	"fmt"
	"os"

	mcpfwd "github.com/mcpfwd/mcpfwd/bindings/go"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
}

func run() error {
	options := mcpfwd.Options()
	if len(options) < 30 {
		return fmt.Errorf("%d options", len(options))
	}
	cfg := mcpfwd.NewConfig()
	defer cfg.Close()
	for _, set := range [][2]string{{"listen", "127.0.0.1:0"},
		{"upstream", "http://127.0.0.1:1/mcp"}, {"io-threads", "1"}, {"max-sessions", "8"}} {
		if err := cfg.Set(set[0], set[1]); err != nil {
			return err
		}
	}
	if err := cfg.Set("max-sessions", "0"); !errors.Is(err, mcpfwd.ErrInvalidArg) {
		return fmt.Errorf("max-sessions 0: %v", err)
	}
	p, err := mcpfwd.NewProxy(cfg)
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Start(); err != nil {
		return err
	}
	url, err := p.URL()
	if err != nil {
		return err
	}
	fmt.Printf("ok: %d options; proxy at %s\n", len(options), url)
	return p.Close()
}
