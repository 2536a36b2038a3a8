module example.com/mcpfwd-example

go 1.19

require github.com/mcpfwd/mcpfwd/bindings/go v0.0.0

// Built from this repository's checkout (see docs/bindings.md).
replace github.com/mcpfwd/mcpfwd/bindings/go => ../../../bindings/go
