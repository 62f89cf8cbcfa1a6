#include "config/dotenv.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "util/text.h"

namespace turso_sync {

namespace {

// Configuration files are small; anything larger is a mistake (a database given as --env-file, say).
constexpr size_t kMaxConfigFileBytes = 4 * 1024 * 1024;

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool is_valid_key(std::string_view key) {
  if (key.empty()) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(key[0])) return false;
  for (char c : key) {
    if (!alpha(c) && !(c >= '0' && c <= '9') && c != '.') return false;
  }
  return true;
}

// Line endings normalised to \n, byte order mark removed, so the parser sees one kind of text.
std::string normalize(std::string_view text) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r' && i + 1 < text.size() && text[i + 1] == '\n') continue;
    out.push_back(text[i]);
  }
  return out;
}

class DotenvParser {
 public:
  DotenvParser(std::string text, const std::string& origin) : m_text(std::move(text)), m_origin(origin) {}

  Result<std::map<std::string, std::string>> run() {
    std::map<std::string, std::string> values;
    while (m_pos < m_text.size()) {
      TS_TRY_STATUS(parse_line(values));
    }
    return values;
  }

 private:
  Error error_at(int line, const std::string& problem) const {
    return Error(ErrorKind::config, fmt::format("{}:{}: {}", m_origin, line, problem));
  }

  size_t end_of_line(size_t from) const {
    size_t eol = m_text.find('\n', from);
    return eol == std::string::npos ? m_text.size() : eol;
  }

  // Moves past the end of the current line (the '\n' at `eol`, if any).
  void next_line(size_t eol) {
    m_pos = eol + 1;
    ++m_line;
  }

  Status parse_line(std::map<std::string, std::string>& values) {
    size_t eol = end_of_line(m_pos);
    size_t p = m_pos;
    while (p < eol && is_blank(m_text[p])) ++p;
    if (p == eol || m_text[p] == '#') {
      next_line(eol);
      return ok_status();
    }
    std::string_view rest(m_text.data() + p, eol - p);
    if (rest.starts_with("export") && rest.size() > 6 && is_blank(rest[6])) {
      p += 6;
      while (p < eol && is_blank(m_text[p])) ++p;
    }
    size_t eq = m_text.find('=', p);
    if (eq == std::string::npos || eq >= eol) {
      return error_at(m_line, "expected KEY=VALUE, found no '='");
    }
    std::string key = trim(std::string_view(m_text.data() + p, eq - p));
    if (!is_valid_key(key)) {
      // The name is not echoed: a pasted secret may sit before a stray '='.
      return error_at(
          m_line,
          "invalid variable name before '=' (letters, digits, '_' and '.'; not starting with a digit)");
    }
    size_t v = eq + 1;
    while (v < eol && is_blank(m_text[v])) ++v;
    std::string value;
    if (v < eol && (m_text[v] == '\'' || m_text[v] == '"')) {
      TS_TRY_STATUS(m_text[v] == '\'' ? parse_single_quoted(v, value) : parse_double_quoted(v, value));
    } else {
      // Unquoted: up to the end of the line or a '#' that follows whitespace.
      std::string_view raw(m_text.data() + eq + 1, eol - eq - 1);
      for (size_t i = 1; i < raw.size(); ++i) {
        if (raw[i] == '#' && is_blank(raw[i - 1])) {
          raw = raw.substr(0, i);
          break;
        }
      }
      value = trim(raw);
      next_line(eol);
    }
    values[key] = std::move(value);
    return ok_status();
  }

  // `quote` is the index of the opening quote. Consumes through the end of the line holding the closing
  // quote.
  Status parse_single_quoted(size_t quote, std::string& value) {
    int start_line = m_line;
    size_t close = m_text.find('\'', quote + 1);
    if (close == std::string::npos) return error_at(start_line, "unterminated single-quoted value");
    value.assign(m_text, quote + 1, close - quote - 1);
    for (char c : value) {
      if (c == '\n') ++m_line;
    }
    return finish_quoted_line(close + 1);
  }

  Status parse_double_quoted(size_t quote, std::string& value) {
    int start_line = m_line;
    size_t i = quote + 1;
    for (; i < m_text.size(); ++i) {
      char c = m_text[i];
      if (c == '"') break;
      if (c == '\n') ++m_line;
      if (c == '\\' && i + 1 < m_text.size()) {
        char next = m_text[i + 1];
        switch (next) {
          case 'n':
            value.push_back('\n');
            break;
          case 'r':
            value.push_back('\r');
            break;
          case 't':
            value.push_back('\t');
            break;
          case '"':
          case '\\':
          case '$':
            value.push_back(next);
            break;
          default:
            value.push_back('\\');
            continue;  // kept as written; `next` is read on the next turn
        }
        ++i;
        continue;
      }
      value.push_back(c);
    }
    if (i >= m_text.size()) return error_at(start_line, "unterminated double-quoted value");
    return finish_quoted_line(i + 1);
  }

  // After a closing quote only whitespace and a comment may follow on the same line.
  Status finish_quoted_line(size_t after) {
    size_t eol = end_of_line(after);
    size_t p = after;
    while (p < eol && is_blank(m_text[p])) ++p;
    if (p < eol && m_text[p] != '#') {
      return error_at(m_line, "unexpected text after the closing quote (quote the whole value)");
    }
    next_line(eol);
    return ok_status();
  }

  std::string m_text;
  std::string m_origin;
  size_t m_pos = 0;
  int m_line = 1;
};

}  // namespace

Result<std::map<std::string, std::string>> parse_dotenv(std::string_view text, const std::string& origin) {
  return DotenvParser(normalize(text), origin).run();
}

Result<std::string> read_config_file(const std::string& path) {
  auto fail = [&](const std::string& cause) {
    return Error(ErrorKind::config, "read " + path + ": " + cause);
  };
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return fail("not a regular file");
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return fail(std::strerror(err));
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxConfigFileBytes) {
      ::close(fd);
      return fail("larger than 4 MiB, not a configuration file");
    }
  }
  ::close(fd);
  return text;
}

Result<std::map<std::string, std::string>> read_dotenv_file(const std::string& path) {
  std::string text = TS_TRY(read_config_file(path));
  return parse_dotenv(text, path);
}

}  // namespace turso_sync
