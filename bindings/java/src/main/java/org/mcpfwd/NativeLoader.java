package org.mcpfwd;

/**
 * Loads the JNI library once: from the path in the system property {@code mcpfwd.jni} if set,
 * else {@code libmcpfwd_jni.so} from {@code java.library.path}. It finds {@code libmcpfwd.so.0}
 * next to itself (RUNPATH $ORIGIN) or through the usual library path.
 */
final class NativeLoader {
  private static boolean loaded;

  private NativeLoader() {}

  static synchronized void load() {
    if (loaded) return;
    String path = System.getProperty("mcpfwd.jni");
    if (path != null && !path.isEmpty()) {
      System.load(path);
    } else {
      System.loadLibrary("mcpfwd_jni");
    }
    loaded = true;
  }
}
