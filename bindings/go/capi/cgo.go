// Package capi is the SWIG-generated Go binding of the mcpfwd C API
// (bindings/swig/mcpfwd.i); `go build` runs SWIG on capi.swigcxx. Use the
// package one level up (mcpfwd) in applications: it wraps this one.
//
// Every function that returns a status in C returns an error here (*Error,
// with the status and the library's message, read in the same native call).
// C functions the mcpfwd package does not wrap yet are reachable here, e.g.
// a new config setter: capi.Mcpfwd_config_set_xxx(cfg.Handle(), ...).
//
// Building needs SWIG 4 and the mcpfwd library: pkg-config must find
// mcpfwd.pc (an installed library, or the build tree's, see docs/bindings.md).
package capi

// #cgo CPPFLAGS: -I${SRCDIR}/../../swig
// #cgo CXXFLAGS: -fno-strict-aliasing
// #cgo pkg-config: mcpfwd
import "C"
