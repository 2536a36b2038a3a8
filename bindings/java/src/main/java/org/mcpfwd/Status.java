package org.mcpfwd;

/** The library's status codes ({@code mcpfwd_status}); values never change. */
public enum Status {
  OK(0),
  INVALID_ARG(-1),
  NOMEM(-2),
  STATE(-3),
  IO(-4),
  TIMEOUT(-5),
  CALLBACK(-6),
  NOT_FOUND(-7),
  INTERNAL(-99),
  /** A code added to the C library after this binding was built. */
  UNKNOWN(Integer.MIN_VALUE);

  private final int code;

  Status(int code) {
    this.code = code;
  }

  /** The C value. */
  public int code() {
    return code;
  }

  /** The status with this C value, or UNKNOWN. */
  public static Status of(int code) {
    for (Status s : values()) {
      if (s.code == code) return s;
    }
    return UNKNOWN;
  }
}
