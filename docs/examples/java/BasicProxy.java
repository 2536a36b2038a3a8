// An mcpfwd proxy in a Java program: Streamable HTTP in front of the MCP server
// command given as arguments, one server process per session. It prints the URL
// and each session event, and stops when standard input ends.
//
//   java -cp mcpfwd.jar:. BasicProxy python3 server.py   (the jar carries its native libraries)
import java.io.InputStream;
import org.mcpfwd.Config;
import org.mcpfwd.McpfwdException;
import org.mcpfwd.Proxy;

public final class BasicProxy {
  public static void main(String[] args) throws Exception {
    try (Config cfg =
            new Config()
                .setListen("127.0.0.1", 0)
                .setUpstreamCommand(args)
                .set("max-sessions", "100"); // any option of the library, by name
        Proxy proxy =
            new Proxy(
                cfg,
                // runs on a proxy I/O thread: keep it short
                event -> System.out.println("event " + event.type() + " " + event.sessionId()))) {
      proxy.start();
      System.out.println("listening " + proxy.url());
      InputStream in = System.in;
      while (in.read() >= 0) {
        // serve until standard input ends
      }
      System.out.println("sessions at exit: " + proxy.sessions().size());
    } catch (McpfwdException e) {
      System.err.println("mcpfwd: " + e.status() + ": " + e.getMessage());
      System.exit(1);
    }
    System.out.println("closed");
  }
}
