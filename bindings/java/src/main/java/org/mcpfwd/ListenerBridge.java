package org.mcpfwd;

/**
 * The director the C++ layer calls: forwards to the caller's listener and log handler. Nothing
 * thrown here may reach JNI (it would become a C++ exception on a library thread).
 */
final class ListenerBridge extends NativeListener {
  private final ProxyListener listener;
  private final LogHandler log;

  ListenerBridge(ProxyListener listener, LogHandler log) {
    this.listener = listener;
    this.log = log;
  }

  @Override
  public void onEvent(int eventType, String sessionId, String detail) {
    try {
      EventType type;
      try {
        type = EventType.swigToEnum(eventType);
      } catch (IllegalArgumentException unknown) {
        return; // a type added to the library after this binding was built
      }
      listener.onEvent(new Event(type, sessionId, detail));
    } catch (Throwable t) {
      report(t);
    }
  }

  @Override
  public void onLog(int level, String source, String text) {
    try {
      LogLevel l;
      try {
        l = LogLevel.swigToEnum(level);
      } catch (IllegalArgumentException unknown) {
        l = LogLevel.INFO;
      }
      log.onLog(l, source, text);
    } catch (Throwable t) {
      report(t);
    }
  }

  private static void report(Throwable t) {
    try {
      Thread th = Thread.currentThread();
      th.getUncaughtExceptionHandler().uncaughtException(th, t);
    } catch (Throwable ignored) {
      // nothing may escape
    }
  }
}
