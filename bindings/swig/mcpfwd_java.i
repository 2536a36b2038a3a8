/*
 * Java specifics of the mcpfwd SWIG interface (included by mcpfwd.i).
 *
 * Generated classes, all in package org.mcpfwd:
 *   McpfwdNative     the raw C functions that are not replaced (config setters,
 *                    version), static, named as in C; they take Config.handle()
 *   NativeConfig, NativeProxy, NativeListener, NativeOption
 *                    package-private: the public Config, Proxy, Callbacks
 *                    and Option (hand-written, bindings/java) use them
 *   LogLevel, EventType, Direction, OptionType, Mode
 *                    the C enums as Java enums (prefixes stripped)
 * Strings cross as real UTF-8 (JNI's own conversions use "modified UTF-8",
 * which mangles characters outside the BMP).
 */

%include <enums.swg>
%javaconst(1);

/* Callbacks arrive on the library's I/O threads: attach them once, as daemon
   threads, and detach them when they end. (%begin: the director runtime that
   reads these comes before any %{ %} block.) */
%begin %{
#define SWIG_JAVA_ATTACH_CURRENT_THREAD_AS_DAEMON
#define SWIG_JAVA_DETACH_ON_THREAD_END
%}

/* The JNI library loads with the first use of any class. */
%pragma(java) jniclasscode=%{
  static {
    NativeLoader.load();
  }
%}

/* Lifetime is explicit (close()); no finalizers. */
%typemap(javafinalize) SWIGTYPE ""

/* ------------------------------------------------------------------- names */
%rename(NativeConfig) mcpfwd::swig::Config;
%rename(NativeProxy) mcpfwd::swig::Proxy;
%rename(NativeListener) mcpfwd::swig::Listener;
%rename(NativeOption) mcpfwd::swig::OptionInfo;
%rename(waitFor) mcpfwd::swig::Proxy::wait; /* not Object.wait */
%typemap(javaclassmodifiers) mcpfwd::swig::Config "class"
%typemap(javaclassmodifiers) mcpfwd::swig::Proxy "class"
%typemap(javaclassmodifiers) mcpfwd::swig::Listener "abstract class"
%typemap(javaclassmodifiers) mcpfwd::swig::OptionInfo "class"
%rename(LogLevel) mcpfwd_log_level;
%rename(EventType) mcpfwd_event_type;
%rename(Direction) mcpfwd_direction;
%rename(OptionType) mcpfwd_option_type;
%rename(Mode) mcpfwd_mode;
%rename("%(regex:/^MCPFWD_(LOG_|EVENT_|OPTION_|MODE_)?(.*)$/\\2/)s", %$isenumitem) "";
/* An enum added to the C header later gets a Java name too (mcpfwd_foo_bar -> McpfwdFooBar). */
%rename("%(camelcase)s", %$isenum) "";
%ignore mcpfwd::swig::CallbackFlags; /* Proxy.java names its three bits */

/* ------------------------------------------------------------ UTF-8 <-> Java */
%{
#include <string.h>

/* UTF-8 (possibly invalid: each bad byte becomes U+FFFD) to a Java String. */
static jstring mcpfwd_java_from_utf8(JNIEnv *jenv, const char *s, size_t n) {
  std::vector<jchar> u;
  u.reserve(n);
  const unsigned char *p = (const unsigned char *)s, *e = p + n;
  while (p < e) {
    unsigned c = *p, need = 0, cp = 0;
    if (c < 0x80) { u.push_back((jchar)c); ++p; continue; }
    else if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
    else { u.push_back(0xFFFD); ++p; continue; }
    if ((size_t)(e - p) <= need) { u.push_back(0xFFFD); ++p; continue; }
    bool good = true;
    for (unsigned i = 1; i <= need; ++i) {
      if ((p[i] & 0xC0) != 0x80) { good = false; break; }
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (good && ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
                 (need == 3 && (cp < 0x10000 || cp > 0x10FFFF))))
      good = false;
    if (!good) { u.push_back(0xFFFD); ++p; continue; }
    if (cp >= 0x10000) {
      cp -= 0x10000;
      u.push_back((jchar)(0xD800 + (cp >> 10)));
      u.push_back((jchar)(0xDC00 + (cp & 0x3FF)));
    } else {
      u.push_back((jchar)cp);
    }
    p += need + 1;
  }
  return jenv->NewString(u.empty() ? NULL : u.data(), (jsize)u.size());
}

/* A Java String to UTF-8 (a lone surrogate becomes U+FFFD). false: exception pending. */
static bool mcpfwd_java_to_utf8(JNIEnv *jenv, jstring js, std::string *out) {
  jsize n = jenv->GetStringLength(js);
  const jchar *u = jenv->GetStringChars(js, NULL);
  if (!u) return false;
  out->clear();
  out->reserve((size_t)n);
  for (jsize i = 0; i < n; ++i) {
    unsigned cp = u[i];
    if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n && u[i + 1] >= 0xDC00 && u[i + 1] <= 0xDFFF) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (u[i + 1] - 0xDC00);
      ++i;
    } else if (cp >= 0xD800 && cp <= 0xDFFF) {
      cp = 0xFFFD;
    }
    if (cp < 0x80) {
      out->push_back((char)cp);
    } else if (cp < 0x800) {
      out->push_back((char)(0xC0 | (cp >> 6)));
      out->push_back((char)(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back((char)(0xE0 | (cp >> 12)));
      out->push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back((char)(0x80 | (cp & 0x3F)));
    } else {
      out->push_back((char)(0xF0 | (cp >> 18)));
      out->push_back((char)(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back((char)(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back((char)(0x80 | (cp & 0x3F)));
    }
  }
  jenv->ReleaseStringChars(js, u);
  return true;
}

/* Throw org.mcpfwd.McpfwdException(status, message). */
static void mcpfwd_java_throw(JNIEnv *jenv, int status, const char *message) {
  if (jenv->ExceptionCheck()) return;
  jclass cls = jenv->FindClass("org/mcpfwd/McpfwdException");
  if (!cls) return; /* NoClassDefFoundError is pending */
  jmethodID ctor = jenv->GetMethodID(cls, "<init>", "(ILjava/lang/String;)V");
  jstring text = mcpfwd_java_from_utf8(jenv, message, strlen(message));
  if (ctor && text) {
    jobject ex = jenv->NewObject(cls, ctor, (jint)status, text);
    if (ex) jenv->Throw((jthrowable)ex);
  }
  jenv->DeleteLocalRef(cls);
}
%}

/* Strings in: const char * and const std::string &, as UTF-8. */
%typemap(in) const char * (std::string temp) %{
  $1 = 0;
  if ($input) {
    if (!mcpfwd_java_to_utf8(jenv, $input, &temp)) return $null;
    $1 = ($1_ltype)temp.c_str();
  }
%}
%typemap(freearg) const char * ""
%typemap(in) const std::string & (std::string temp) %{
  if (!$input) {
    SWIG_JavaThrowException(jenv, SWIG_JavaNullPointerException, "null String");
    return $null;
  }
  if (!mcpfwd_java_to_utf8(jenv, $input, &temp)) return $null;
  $1 = &temp;
%}
/* Strings out. */
%typemap(out) const char * %{
  if ($1) $result = mcpfwd_java_from_utf8(jenv, $1, strlen($1));
%}
%typemap(out) std::string %{
  $result = mcpfwd_java_from_utf8(jenv, $1.data(), $1.size());
%}
%typemap(directorin, descriptor="Ljava/lang/String;") const std::string & %{
  $input = mcpfwd_java_from_utf8(jenv, $1.data(), $1.size());
  Swig::LocalRefGuard $1_refguard(jenv, $input);
%}

/* Results through std::string *out (C++ layer) and char **out (any raw C
   function handing out an owned string): a String[1] the result lands in. */
%typemap(jni) std::string *out, char **out "jobjectArray"
%typemap(jtype) std::string *out, char **out "String[]"
%typemap(jstype) std::string *out, char **out "String[]"
%typemap(javain) std::string *out, char **out "$javainput"
%typemap(in) std::string *out (std::string temp) %{
  if (!$input || jenv->GetArrayLength($input) < 1) {
    SWIG_JavaThrowException(jenv, SWIG_JavaIllegalArgumentException, "out must be a String[1]");
    return $null;
  }
  $1 = &temp;
%}
%typemap(argout) std::string *out %{
  {
    jstring s = mcpfwd_java_from_utf8(jenv, temp$argnum.data(), temp$argnum.size());
    if (s) {
      jenv->SetObjectArrayElement($input, 0, s);
      jenv->DeleteLocalRef(s);
    }
  }
%}
%typemap(in) char **out (char *temp = 0) %{
  if (!$input || jenv->GetArrayLength($input) < 1) {
    SWIG_JavaThrowException(jenv, SWIG_JavaIllegalArgumentException, "out must be a String[1]");
    return $null;
  }
  $1 = &temp;
%}
%typemap(argout) char **out %{
  if (temp$argnum) {
    jstring s = mcpfwd_java_from_utf8(jenv, temp$argnum, strlen(temp$argnum));
    mcpfwd_string_free(temp$argnum);
    temp$argnum = 0;
    if (s) {
      jenv->SetObjectArrayElement($input, 0, s);
      jenv->DeleteLocalRef(s);
    }
  }
%}
%typemap(freearg) char **out %{ mcpfwd_string_free(temp$argnum); %}

/* ------------------------------------------------------------------ errors */
/* A status return becomes void, and a failure an McpfwdException thrown in the
   same JNI call (mcpfwd_last_error() is thread-local: read it now). */
%typemap(jni) mcpfwd_status, mcpfwd_swig_status "jint"
%typemap(jtype) mcpfwd_status, mcpfwd_swig_status "int"
%typemap(jstype) mcpfwd_status, mcpfwd_swig_status "void"
%typemap(javaout) mcpfwd_status, mcpfwd_swig_status { $jnicall; }
%typemap(out) mcpfwd_status %{
  $result = (jint)$1;
  if ($1 != MCPFWD_OK) {
    mcpfwd_java_throw(jenv, (int)$1, mcpfwd_last_error());
    return $null;
  }
%}
%typemap(out) mcpfwd_swig_status %{
  $result = (jint)$1;
  if ($1 != MCPFWD_OK) {
    mcpfwd_java_throw(jenv, (int)$1, mcpfwd::swig::last_error().c_str());
    return $null;
  }
%}

%exception mcpfwd::swig::Config::Config %{
  try {
    $action
  } catch (const std::bad_alloc &) {
    SWIG_JavaThrowException(jenv, SWIG_JavaOutOfMemoryError, "mcpfwd_config_new failed");
    return $null;
  }
%}

/* ---------------------------------------------------------------- listener */
/* Proxy.open takes ownership of the listener: the Java object stays reachable
   (a strong global reference held by the C++ director) until the library has
   run its last callback and deleted the director. */
%typemap(javain, pre="    if ($javainput != null) $javainput.swigReleaseOwnership();")
    mcpfwd::swig::Listener *listener "NativeListener.getCPtr($javainput)"
