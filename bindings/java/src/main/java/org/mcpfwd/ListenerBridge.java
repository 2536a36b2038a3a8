package org.mcpfwd;

/**
 * The director the C++ layer calls: forwards to the caller's handlers. Nothing thrown here may
 * reach JNI (it would become a C++ exception on a library thread): a handler's exception goes to
 * the thread's uncaught-exception handler and counts as "go on".
 */
final class ListenerBridge extends NativeListener {
  private final EventHandler events;
  private final LogHandler log;
  private final MessageHandler messages;

  ListenerBridge(Callbacks cb) {
    this.events = cb.events;
    this.log = cb.log;
    this.messages = cb.messages;
  }

  @Override
  public boolean onEvent(int eventType, String sessionId, String detail) {
    try {
      EventType type;
      try {
        type = EventType.swigToEnum(eventType);
      } catch (IllegalArgumentException unknown) {
        return true; // a type added to the library after this binding was built
      }
      return events == null || events.onEvent(new Event(type, sessionId, detail));
    } catch (Throwable t) {
      report(t);
      return true;
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
      if (log != null) log.onLog(l, source, text);
    } catch (Throwable t) {
      report(t);
    }
  }

  @Override
  public boolean onMessage(int direction, String sessionId, String data) {
    try {
      Direction d;
      try {
        d = Direction.swigToEnum(direction);
      } catch (IllegalArgumentException unknown) {
        return true; // a direction added to the library after this binding was built
      }
      return messages == null || messages.onMessage(new Message(d, sessionId, data));
    } catch (Throwable t) {
      report(t);
      return true;
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
