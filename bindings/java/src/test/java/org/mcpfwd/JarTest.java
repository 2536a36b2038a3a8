package org.mcpfwd;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The jar on its own: run from a directory of its own with no {@code -Djava.library.path} and no
 * {@code LD_LIBRARY_PATH} (the {@code java_jar_from_elsewhere} test), it loads the JNI library
 * and the C library it carries, and a proxy works. {@code java -cp mcpfwd.jar:classes
 * org.mcpfwd.JarTest BUILD_DIR}: exits 1 on a failure.
 */
public final class JarTest {
  public static void main(String[] args) throws Exception {
    String buildDir = args.length > 0 ? args[0] : "";
    check(System.getProperty("mcpfwd.jni") == null, "mcpfwd.jni is set");
    check(!System.getProperty("java.library.path").contains(buildDir) || buildDir.isEmpty(),
        "java.library.path names the build: " + System.getProperty("java.library.path"));

    List<Option> options = Config.options(); // loads the native library
    check(NativeLoader.source().equals("jar: " + NativeLoader.platform()),
        "loaded from " + NativeLoader.source());
    // Both libraries are the jar's copies, unpacked to a temporary directory (already deleted).
    String maps = Files.readString(Path.of("/proc/self/maps"));
    for (String lib : new String[] {"libmcpfwd_jni.so", "libmcpfwd.so.0"}) {
      boolean fromJar = false;
      for (String line : maps.split("\n")) {
        if (!line.contains("/" + lib)) continue;
        check(line.contains("/mcpfwd-jni-"), lib + " mapped from elsewhere: " + line);
        fromJar = true;
      }
      check(fromJar, lib + " is not mapped");
    }
    check(options.size() >= 30, "options: " + options.size());

    try (Config cfg =
            new Config()
                .set("listen", "127.0.0.1:0")
                .set("upstream", "http://127.0.0.1:1/mcp")
                .set("io-threads", "1");
        Proxy proxy = new Proxy(cfg)) {
      proxy.start();
      check(proxy.url().startsWith("http://127.0.0.1:"), "url " + proxy.url());
    }
    System.out.println("ok: the jar loaded its own libraries (" + NativeLoader.source() + ")");
  }

  static void check(boolean ok, String what) {
    if (!ok) {
      System.out.println("FAIL: " + what);
      System.exit(1);
    }
  }
}
