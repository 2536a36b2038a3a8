package org.mcpfwd;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * Loads the JNI library once, from the first of:
 *
 * <ol>
 *   <li>the path in the system property {@code mcpfwd.jni}, if set;
 *   <li>the jar itself: it carries {@code libmcpfwd_jni.so} and {@code libmcpfwd.so.0} for the
 *       platform it was built on, under {@code /org/mcpfwd/native/<os>-<arch>/} (e.g. {@code
 *       linux-amd64}); both are copied to a fresh temporary directory, loaded (the C library
 *       first, so the JNI library's dependency is the jar's own copy), and deleted at once (a
 *       loaded library stays mapped);
 *   <li>{@code libmcpfwd_jni.so} on {@code java.library.path}, which finds {@code
 *       libmcpfwd.so.0} next to itself (RUNPATH $ORIGIN) or through the usual library path.
 * </ol>
 *
 * So {@code java -cp mcpfwd.jar ...} works from any directory, with no {@code
 * -Djava.library.path}, on the platform the jar was built for.
 */
final class NativeLoader {
  /** Where the jar keeps its native libraries. */
  static final String RESOURCE_DIR = "/org/mcpfwd/native/";

  static final String JNI_LIBRARY = "libmcpfwd_jni.so";
  static final String C_LIBRARY = "libmcpfwd.so.0";

  private static boolean loaded;
  private static String source = "";

  private NativeLoader() {}

  static synchronized void load() {
    if (loaded) return;
    String path = System.getProperty("mcpfwd.jni");
    if (path != null && !path.isEmpty()) {
      System.load(path);
      source = "mcpfwd.jni: " + path;
    } else if (!loadFromJar()) {
      System.loadLibrary("mcpfwd_jni");
      source = "java.library.path";
    }
    loaded = true;
  }

  /** Where the JNI library came from: "jar: linux-amd64", "java.library.path", "mcpfwd.jni: ...". */
  static synchronized String source() {
    return source;
  }

  /** The platform key of this JVM: the os and the architecture, "linux-amd64". */
  static String platform() {
    String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).replace(" ", "");
    String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
    return os + "-" + arch;
  }

  private static boolean loadFromJar() {
    String dir = RESOURCE_DIR + platform() + "/";
    if (NativeLoader.class.getResource(dir + JNI_LIBRARY) == null) return false;
    Path tmp = null;
    try {
      tmp = Files.createTempDirectory("mcpfwd-jni-");
      Path c = extract(dir + C_LIBRARY, tmp.resolve(C_LIBRARY));
      Path jni = extract(dir + JNI_LIBRARY, tmp.resolve(JNI_LIBRARY));
      if (c != null) System.load(c.toString());
      System.load(jni.toString());
      source = "jar: " + platform();
      return true;
    } catch (IOException e) {
      throw new UnsatisfiedLinkError("mcpfwd: cannot unpack the JNI library from the jar: " + e);
    } finally {
      deleteQuietly(tmp);
    }
  }

  // Copies a resource to a file; null if the jar does not have it.
  private static Path extract(String resource, Path to) throws IOException {
    try (InputStream in = NativeLoader.class.getResourceAsStream(resource)) {
      if (in == null) return null;
      Files.copy(in, to, StandardCopyOption.REPLACE_EXISTING);
      return to;
    }
  }

  private static void deleteQuietly(Path dir) {
    if (dir == null) return;
    for (String name : new String[] {JNI_LIBRARY, C_LIBRARY}) {
      try {
        Files.deleteIfExists(dir.resolve(name));
      } catch (IOException e) {
        dir.resolve(name).toFile().deleteOnExit();
      }
    }
    try {
      Files.deleteIfExists(dir);
    } catch (IOException e) {
      dir.toFile().deleteOnExit();
    }
  }
}
