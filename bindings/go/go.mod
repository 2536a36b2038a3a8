module github.com/mcpfwd/mcpfwd/bindings/go

go 1.19
