#include "remote/http1.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace turso_sync {

namespace {

bool http1_iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view http1_trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The comma-separated elements of a header value, trimmed, empty ones left out.
std::vector<std::string_view> http1_list(std::string_view value) {
  std::vector<std::string_view> out;
  while (!value.empty()) {
    auto comma = value.find(',');
    auto item = http1_trim(value.substr(0, comma));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

bool http1_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// "HTTP/1.x SSS": the first 12 bytes of a status line, checked as far as they have arrived. `status` and
// `minor` are set once all 12 are there.
bool http1_status_line_prefix(std::string_view bytes, long* status, int* minor) {
  static constexpr std::string_view kName = "HTTP/1.";
  for (size_t i = 0; i < std::min(bytes.size(), kName.size()); ++i)
    if (bytes[i] != kName[i]) return false;
  auto digit_at = [&](size_t i) { return i >= bytes.size() || (bytes[i] >= '0' && bytes[i] <= '9'); };
  if (!digit_at(7) || (bytes.size() > 8 && bytes[8] != ' ')) return false;
  if (!digit_at(9) || !digit_at(10) || !digit_at(11)) return false;
  if (bytes.size() > 12 && bytes[12] != ' ' && bytes[12] != '\r' && bytes[12] != '\n') return false;
  if (bytes.size() >= 12) {
    *minor = bytes[7] - '0';
    *status = std::stol(std::string(bytes.substr(9, 3)));
    if (*status < 100) return false;
  }
  return true;
}

}  // namespace

Http1HeadParse http1_parse_head(std::string_view bytes, size_t limit) {
  Http1HeadParse out;
  Http1Head& head = out.head;
  if (!http1_status_line_prefix(bytes, &head.status, &head.minor_version)) {
    out.state = Http1HeadParse::State::not_http;
    return out;
  }
  // The head ends at the first empty line.
  size_t end = std::string_view::npos, after = 0;
  for (size_t nl = bytes.find('\n'); nl != std::string_view::npos; nl = bytes.find('\n', nl + 1)) {
    if (nl + 1 < bytes.size() && bytes[nl + 1] == '\n') {
      end = nl + 1;
      after = nl + 2;
      break;
    }
    if (nl + 2 < bytes.size() && bytes[nl + 1] == '\r' && bytes[nl + 2] == '\n') {
      end = nl + 1;
      after = nl + 3;
      break;
    }
  }
  if (end == std::string_view::npos || after > limit) {
    if (bytes.size() < 12 || bytes.size() <= limit) return out;  // incomplete
    out.state = Http1HeadParse::State::malformed;
    out.problem = fmt::format("its headers are longer than {} bytes", limit);
    return out;
  }
  std::string_view lines = bytes.substr(0, end);
  lines.remove_prefix(std::min(lines.size(), lines.find('\n') + 1));  // the status line
  bool keep_alive = false, transfer_encoding = false;
  auto malformed = [&](std::string problem) {
    out.state = Http1HeadParse::State::malformed;
    out.problem = std::move(problem);
    return out;
  };
  while (!lines.empty()) {
    auto nl = lines.find('\n');
    std::string_view line = lines.substr(0, nl);
    lines.remove_prefix(nl == std::string_view::npos ? lines.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == ' ' || line.front() == '\t') continue;  // obsolete line folding
    auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0)
      return malformed(fmt::format("a header line without a name: \"{}\"", line.substr(0, 80)));
    std::string_view name = line.substr(0, colon), value = http1_trim(line.substr(colon + 1));
    if (http1_iequals(name, "Content-Type")) {
      head.content_type = std::string(value);
    } else if (http1_iequals(name, "Content-Length")) {
      for (std::string_view item : http1_list(value)) {
        if (!http1_digits(item) || item.size() > 18)
          return malformed(fmt::format("Content-Length \"{}\"", value.substr(0, 40)));
        uint64_t n = std::stoull(std::string(item));
        if (head.content_length && *head.content_length != n)
          return malformed("two different Content-Length headers");
        head.content_length = n;
      }
    } else if (http1_iequals(name, "Transfer-Encoding")) {
      transfer_encoding = true;
      if (!head.transfer_encoding.empty()) head.transfer_encoding += ", ";
      head.transfer_encoding += value;
    } else if (http1_iequals(name, "Content-Encoding")) {
      head.content_encoding = std::string(value);
    } else if (http1_iequals(name, "Connection")) {
      for (std::string_view item : http1_list(value)) {
        if (http1_iequals(item, "close")) head.close = true;
        if (http1_iequals(item, "keep-alive")) keep_alive = true;
      }
    } else if (http1_iequals(name, "Retry-After")) {
      head.retry_after = std::string(value);
    }
  }
  if (transfer_encoding) {
    auto codings = http1_list(head.transfer_encoding);
    head.chunked = !codings.empty() && http1_iequals(codings.back(), "chunked");
    head.content_length.reset();  // RFC 9112 §6.3: Transfer-Encoding overrides Content-Length
  }
  if (head.minor_version == 0 && !keep_alive) head.close = true;
  out.state = Http1HeadParse::State::done;
  out.consumed = after;
  return out;
}

bool http1_has_body(const Http1Head& head) {
  return head.status >= 200 && head.status != 204 && head.status != 304;
}

Result<size_t> ChunkedDecoder::feed(std::string_view in, const Sink& sink) {
  auto bad = [](std::string what) { return Error(ErrorKind::protocol, "bad chunked body: " + what); };
  size_t i = 0;
  while (i < in.size() && m_state != State::done) {
    char c = in[i];
    switch (m_state) {
      case State::size: {
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                           : -1;
        if (digit >= 0) {
          if (++m_size_digits > 15) return bad("a chunk size of more than 15 hex digits");
          m_left = m_left * 16 + static_cast<uint64_t>(digit);
          ++i;
          break;
        }
        if (m_size_digits == 0) return bad(fmt::format("a chunk size line begins with byte {}", int(c)));
        if (c == ';' || c == ' ' || c == '\t') {
          m_state = State::extension;
        } else if (c == '\r') {
          m_state = State::size_lf;
        } else if (c != '\n') {
          return bad(fmt::format("byte {} in a chunk size", int(c)));
        }
        if (c == '\n') end_size_line();
        ++i;
        break;
      }
      case State::extension:
        if (c == '\r') m_state = State::size_lf;
        if (c == '\n') end_size_line();
        ++i;
        break;
      case State::size_lf:
        if (c != '\n') return bad("a chunk size line not ended by CRLF");
        end_size_line();
        ++i;
        break;
      case State::data: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(m_left, in.size() - i));
        TS_TRY_STATUS(sink(in.substr(i, n)));
        m_left -= n;
        i += n;
        if (m_left == 0) m_state = State::data_cr;
        break;
      }
      case State::data_cr:
        if (c == '\n') {
          m_state = State::size;
        } else if (c == '\r') {
          m_state = State::data_lf;
        } else {
          return bad("a chunk longer than its size");
        }
        ++i;
        break;
      case State::data_lf:
        if (c != '\n') return bad("a chunk not ended by CRLF");
        m_state = State::size;
        ++i;
        break;
      case State::trailer_start:
        m_state = c == '\n' ? State::done : c == '\r' ? State::trailer_cr : State::trailer;
        ++i;
        break;
      case State::trailer_cr:
        if (c != '\n') return bad("a trailer section not ended by CRLF");
        m_state = State::done;
        ++i;
        break;
      case State::trailer:
        if (c == '\n') m_state = State::trailer_start;
        ++i;
        break;
      case State::done:
        break;
    }
  }
  return i;
}

int64_t http1_retry_after_seconds(std::string_view value, std::time_t now) {
  value = http1_trim(value);
  if (http1_digits(value)) return value.size() > 9 ? 999999999 : std::stoll(std::string(value));
  // An HTTP date in any of its three forms: "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37
  // GMT", "Sun Nov  6 08:49:37 1994". In each, the first number is the day and the second the year.
  static constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::tm tm{};
  int numbers = 0, month = -1;
  bool time_seen = false;
  size_t i = 0;
  while (i < value.size()) {
    if (value[i] == ' ' || value[i] == ',' || value[i] == '-') {
      ++i;
      continue;
    }
    size_t j = value.find_first_of(" ,-", i);
    std::string_view token = value.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i);
    i += token.size();
    if (token.size() == 8 && token[2] == ':' && token[5] == ':') {
      if (!http1_digits(token.substr(0, 2)) || !http1_digits(token.substr(3, 2)) ||
          !http1_digits(token.substr(6, 2)))
        return 0;
      tm.tm_hour = std::stoi(std::string(token.substr(0, 2)));
      tm.tm_min = std::stoi(std::string(token.substr(3, 2)));
      tm.tm_sec = std::stoi(std::string(token.substr(6, 2)));
      time_seen = true;
    } else if (http1_digits(token) && token.size() <= 4) {
      int n = std::stoi(std::string(token));
      if (numbers == 0) {
        tm.tm_mday = n;
      } else if (numbers == 1) {
        tm.tm_year = (token.size() <= 2 ? (n < 70 ? 2000 + n : 1900 + n) : n) - 1900;
      } else {
        return 0;
      }
      ++numbers;
    } else if (token.size() == 3 && month < 0) {
      for (size_t m = 0; m < kMonths.size(); ++m)
        if (http1_iequals(token, kMonths[m])) month = static_cast<int>(m);
    }
    // Anything else (the day's name, "GMT") says nothing more.
  }
  if (numbers != 2 || month < 0 || !time_seen || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
      tm.tm_min > 59 || tm.tm_sec > 60)
    return 0;
  tm.tm_mon = month;
  std::time_t at = timegm(&tm);
  return at > now ? static_cast<int64_t>(at - now) : 0;
}

}  // namespace turso_sync
