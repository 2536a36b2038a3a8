module github.com/mcpfwd/mcpfwd/bindings

go 1.19
