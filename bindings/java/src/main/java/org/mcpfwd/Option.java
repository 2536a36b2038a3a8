package org.mcpfwd;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One option of the library's options table (docs/options.md lists them all), as {@link
 * Config#options()} reads it. Set any of them with {@link Config#set(String, String)}.
 *
 * @param name its name, also its CLI flag without "--" ("max-sessions")
 * @param type how its value (text) is parsed
 * @param defaultValue the library's default, as text ("" when it has none)
 * @param help one line saying what it does
 * @param metavar a placeholder for its value ("N", "MS", "HOST:PORT")
 * @param choices the accepted values of a {@link OptionType#CHOICE}; else empty
 * @param modes where it applies: bits {@link #MODE_STDIO}, {@link #MODE_HTTP}, {@link
 *     #MODE_COMMAND}, {@link #MODE_URL}
 * @param cliFlag its CLI flag ("--max-sessions"), or "" when the CLI takes it another way
 * @param min the smallest value of a number (milliseconds for a duration)
 * @param max the largest value of a number ({@link Long#MAX_VALUE}: no practical limit)
 */
public record Option(
    String name,
    OptionType type,
    String defaultValue,
    String help,
    String metavar,
    List<String> choices,
    int modes,
    String cliFlag,
    long min,
    long max) {
  /** Applies to one client on stdio ({@code MCPFWD_MODE_STDIO}). */
  public static final int MODE_STDIO = Mode.STDIO.swigValue();
  /** Applies to the HTTP listener ({@code MCPFWD_MODE_HTTP}). */
  public static final int MODE_HTTP = Mode.HTTP.swigValue();
  /** Applies to a spawned server command ({@code MCPFWD_MODE_COMMAND}). */
  public static final int MODE_COMMAND = Mode.COMMAND.swigValue();
  /** Applies to a remote server ({@code MCPFWD_MODE_URL}). */
  public static final int MODE_URL = Mode.URL.swigValue();

  public Option {
    choices = List.copyOf(choices);
  }

  /** Whether it applies where {@code mode} (one MODE_* bit) is used. */
  public boolean appliesTo(int mode) {
    return (modes & mode) != 0;
  }

  static List<Option> readTable() {
    NativeLoader.load();
    int n = McpfwdNative.optionCount();
    List<Option> out = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      NativeOption o = McpfwdNative.optionAt(i);
      String choices = o.choices();
      out.add(
          new Option(
              o.name(),
              OptionType.swigToEnum(o.optionType()),
              o.defaultValue(),
              o.help(),
              o.metavar(),
              choices.isEmpty() ? List.of() : Arrays.asList(choices.split("\\|")),
              o.modes(),
              o.cliFlag(),
              o.minValue(),
              o.maxValue()));
      o.delete();
    }
    return List.copyOf(out);
  }
}
