package org.mcpfwd;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader for the documents the library hands out (session lists, stats): objects
 * become {@code Map<String,Object>}, arrays {@code List<Object>}, numbers {@code Long} or {@code
 * Double}, plus String, Boolean and null. Strict: trailing garbage or bad syntax throws.
 */
final class Json {
  private final String s;
  private int i;

  private Json(String s) {
    this.s = s;
  }

  static Object parse(String text) {
    Json p = new Json(text);
    p.ws();
    Object v = p.value();
    p.ws();
    if (p.i != p.s.length()) throw p.error("trailing characters");
    return v;
  }

  @SuppressWarnings("unchecked")
  static Map<String, Object> object(Object v) {
    if (!(v instanceof Map)) throw new McpfwdException(Status.INTERNAL.code(), "JSON: not an object");
    return (Map<String, Object>) v;
  }

  @SuppressWarnings("unchecked")
  static List<Object> array(Object v) {
    if (!(v instanceof List)) throw new McpfwdException(Status.INTERNAL.code(), "JSON: not an array");
    return (List<Object>) v;
  }

  static String string(Object v) {
    if (!(v instanceof String)) throw new McpfwdException(Status.INTERNAL.code(), "JSON: not a string");
    return (String) v;
  }

  static long number(Object v) {
    if (v instanceof Long) return (Long) v;
    if (v instanceof Double) return (long) (double) (Double) v;
    throw new McpfwdException(Status.INTERNAL.code(), "JSON: not a number");
  }

  private McpfwdException error(String what) {
    return new McpfwdException(Status.INTERNAL.code(), "JSON: " + what + " at offset " + i);
  }

  private void ws() {
    while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) i++;
  }

  private char peek() {
    if (i >= s.length()) throw error("unexpected end");
    return s.charAt(i);
  }

  private void expect(String word) {
    if (!s.startsWith(word, i)) throw error("expected " + word);
    i += word.length();
  }

  private Object value() {
    char c = peek();
    switch (c) {
      case '{':
        return obj();
      case '[':
        return arr();
      case '"':
        return str();
      case 't':
        expect("true");
        return Boolean.TRUE;
      case 'f':
        expect("false");
        return Boolean.FALSE;
      case 'n':
        expect("null");
        return null;
      default:
        return num();
    }
  }

  private Map<String, Object> obj() {
    Map<String, Object> m = new LinkedHashMap<>();
    i++;
    ws();
    if (peek() == '}') {
      i++;
      return m;
    }
    for (; ; ) {
      ws();
      if (peek() != '"') throw error("expected a key");
      String k = str();
      ws();
      if (peek() != ':') throw error("expected ':'");
      i++;
      ws();
      m.put(k, value());
      ws();
      char c = peek();
      i++;
      if (c == '}') return m;
      if (c != ',') throw error("expected ',' or '}'");
    }
  }

  private List<Object> arr() {
    List<Object> l = new ArrayList<>();
    i++;
    ws();
    if (peek() == ']') {
      i++;
      return l;
    }
    for (; ; ) {
      ws();
      l.add(value());
      ws();
      char c = peek();
      i++;
      if (c == ']') return l;
      if (c != ',') throw error("expected ',' or ']'");
    }
  }

  private String str() {
    StringBuilder b = new StringBuilder();
    i++; // opening quote
    for (; ; ) {
      char c = peek();
      i++;
      if (c == '"') return b.toString();
      if (c != '\\') {
        b.append(c);
        continue;
      }
      char e = peek();
      i++;
      switch (e) {
        case '"': b.append('"'); break;
        case '\\': b.append('\\'); break;
        case '/': b.append('/'); break;
        case 'b': b.append('\b'); break;
        case 'f': b.append('\f'); break;
        case 'n': b.append('\n'); break;
        case 'r': b.append('\r'); break;
        case 't': b.append('\t'); break;
        case 'u':
          if (i + 4 > s.length()) throw error("bad \\u escape");
          try {
            b.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
          } catch (NumberFormatException x) {
            throw error("bad \\u escape");
          }
          i += 4;
          break;
        default:
          throw error("bad escape");
      }
    }
  }

  private Object num() {
    int start = i;
    if (peek() == '-') i++;
    while (i < s.length() && "0123456789.eE+-".indexOf(s.charAt(i)) >= 0) i++;
    String t = s.substring(start, i);
    if (t.isEmpty() || t.equals("-")) throw error("unexpected character");
    try {
      if (t.indexOf('.') < 0 && t.indexOf('e') < 0 && t.indexOf('E') < 0) return Long.parseLong(t);
      return Double.parseDouble(t);
    } catch (NumberFormatException x) {
      throw error("bad number " + t);
    }
  }
}
