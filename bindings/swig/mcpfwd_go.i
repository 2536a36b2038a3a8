/*
 * Go specifics of the mcpfwd SWIG interface (included by mcpfwd.i).
 *
 * `go build` runs SWIG itself on bindings/go/capi/capi.swigcxx, which
 * %includes mcpfwd.i: the generated package is
 * github.com/mcpfwd/mcpfwd/bindings/go/capi. The hand-written package one
 * level up (mcpfwd) is what applications use; capi is its engine, and the way
 * to reach a C function the mcpfwd package does not wrap yet (a new config
 * setter): capi.Mcpfwd_config_set_xxx(cfg.Handle(), ...) returns an error.
 */

%insert(go_wrapper) %{

// Error is a failed mcpfwd call: the status code (a negative mcpfwd_status
// value) and the library's message, read in the same native call.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "mcpfwd: " + StatusString(e.Status)
	}
	return "mcpfwd: " + e.Message
}

// Is reports whether target is an *Error with the same status, so that
// errors.Is(err, mcpfwd.ErrNotFound) tests the status.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Status == e.Status
}

// statusError decodes "" (success) or "<status>:<message>".
func statusError(s string) error {
	if s == "" {
		return nil
	}
	// (no imports here: go build resolves a package's imports before it
	// runs SWIG, so the generated file may only use what the package uses)
	n, i, neg := 0, 0, false
	if i < len(s) && s[i] == '-' {
		neg, i = true, i+1
	}
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		n = n*10 + int(s[i]-'0')
	}
	if neg {
		n = -n
	}
	if i < len(s) && s[i] == ':' {
		i++
	}
	return &Error{Status: n, Message: s[i:]}
}
%}

%{
#include <string>
static std::string mcpfwd_go_status(int status, const char *text) {
  std::string s = std::to_string(status);
  s += ':';
  s += text;
  return s;
}
%}

/* A status return becomes an error, built from the text read in the same
   native call (a goroutine may move to another thread between two calls). */
%typemap(gotype) mcpfwd_status, mcpfwd_swig_status "error"
%typemap(imtype) mcpfwd_status, mcpfwd_swig_status "string"
%typemap(out, fragment="AllocateString") mcpfwd_status %{
  if ($1 == MCPFWD_OK) {
    $result = Swig_AllocateString("", 0);
  } else {
    std::string text = mcpfwd_go_status((int)$1, mcpfwd_last_error());
    $result = Swig_AllocateString(text.data(), text.size());
  }
%}
%typemap(out, fragment="AllocateString") mcpfwd_swig_status %{
  if ($1 == MCPFWD_OK) {
    $result = Swig_AllocateString("", 0);
  } else {
    std::string text = mcpfwd_go_status((int)$1, mcpfwd::swig::last_error().c_str());
    $result = Swig_AllocateString(text.data(), text.size());
  }
%}
%typemap(goout, fragment="CopyString") mcpfwd_status, mcpfwd_swig_status %{
  $result = statusError(swigCopyString($1))
%}

/* An owned string handed out by a raw C function (char **out): *string. */
%typemap(gotype) char **out "*string"
%typemap(in) char **out (char *temp = 0) %{
  (void)$input;
  $1 = &temp;
%}
%typemap(argout, fragment="AllocateString") char **out %{
  if (temp$argnum) {
    *$input = Swig_AllocateString(temp$argnum, strlen(temp$argnum));
    mcpfwd_string_free(temp$argnum);
    temp$argnum = 0;
  }
%}
%typemap(goargout, fragment="CopyString") char **out %{
  if $input != nil {
    *$1 = swigCopyString(*$input)
  }
%}
%typemap(freearg) char **out %{ mcpfwd_string_free(temp$argnum); %}

%exception mcpfwd::swig::Config::Config %{
  try {
    $action
  } catch (const std::bad_alloc &) {
    _swig_gopanic("mcpfwd: out of memory (mcpfwd_config_new)");
  }
%}
