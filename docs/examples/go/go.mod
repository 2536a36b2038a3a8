module example.com/mcpfwd-example

go 1.19

require github.com/mcpfwd/mcpfwd/bindings v0.1.0

// The module is not on a module proxy: a checkout's bindings/ (as here), or the
// copy `cmake --install` puts in <prefix>/share/mcpfwd/bindings (docs/bindings.md).
replace github.com/mcpfwd/mcpfwd/bindings => ../../../bindings
