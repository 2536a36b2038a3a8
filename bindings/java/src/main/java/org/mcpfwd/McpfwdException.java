package org.mcpfwd;

/**
 * A failed mcpfwd call: the library's status code and its message (read in the same native call
 * that failed). Unchecked, like {@link IllegalStateException}: branch on {@link #status()}, not on
 * the text.
 */
public class McpfwdException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final int code;

  /** Thrown by the JNI layer (see bindings/swig/mcpfwd_java.i). */
  public McpfwdException(int code, String message) {
    super(message == null || message.isEmpty() ? McpfwdNative.statusString(code) : message);
    this.code = code;
  }

  /** The status, or {@link Status#UNKNOWN} for a code this binding does not know. */
  public Status status() {
    return Status.of(code);
  }

  /** The raw status code (negative). */
  public int code() {
    return code;
  }

  @Override
  public String toString() {
    return "McpfwdException[" + status() + " (" + code + ")]: " + getMessage();
  }
}
