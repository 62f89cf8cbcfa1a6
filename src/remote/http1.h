// The parts of HTTP/1.1 (RFC 9112) the plain transport reads: an answer's status line and headers, a chunked
// body, and Retry-After. No sockets here: what arrives is handed in as bytes, so each rule is tested alone
// (tests/unit/http1_test.cpp).
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "turso_sync/status.h"

namespace turso_sync {

// What the head of an answer says about the answer.
struct Http1Head {
  long status = 0;
  int minor_version = 1;  // HTTP/1.<minor_version>
  std::string content_type;
  std::optional<uint64_t> content_length;
  bool chunked = false;           // Transfer-Encoding ends with "chunked"
  std::string transfer_encoding;  // as sent ("" when absent)
  std::string content_encoding;   // as sent ("" when absent)
  bool close = false;             // the server closes the connection after this answer
  std::string retry_after;        // as sent ("" when absent)
};

struct Http1HeadParse {
  enum class State {
    incomplete,  // more bytes are needed (none of them contradicts HTTP so far)
    done,        // `head` is filled; `consumed` bytes of the input were the head
    not_http,    // the bytes do not begin with an HTTP/1.x status line
    malformed,   // a status line, then headers that break the rules (`problem` says which)
  };
  State state = State::incomplete;
  size_t consumed = 0;
  Http1Head head;
  std::string problem;
};

// Parses the status line and the headers at the front of `bytes` (the first bytes of an answer). Lines may
// end with CRLF or a bare LF. A head larger than `limit` bytes is malformed.
Http1HeadParse http1_parse_head(std::string_view bytes, size_t limit);

// Whether an answer with this head has a body framed by its headers (false for 1xx, 204 and 304).
bool http1_has_body(const Http1Head& head);

// Decodes a chunked body (RFC 9112 §7.1) fed in pieces as they arrive. Chunk extensions and trailers are
// read and dropped.
class ChunkedDecoder {
 public:
  using Sink = std::function<Status(std::string_view data)>;
  // Decodes the bytes of `in`, handing each piece of the body to `sink` (a view into `in`). Returns how many
  // bytes of `in` belonged to the body (all of them until the last chunk and its trailers are complete).
  // Errors: ErrorKind::protocol for bytes that are not a chunked body; the sink's own errors.
  Result<size_t> feed(std::string_view in, const Sink& sink);
  bool done() const { return m_state == State::done; }

 private:
  enum class State {
    size,
    extension,
    size_lf,
    data,
    data_cr,
    data_lf,
    trailer_start,
    trailer_cr,
    trailer,
    done
  };
  // The size line ended: the chunk's data follows, or the trailers after the last (size 0) chunk.
  void end_size_line() {
    m_last = m_left == 0;
    m_state = m_last ? State::trailer_start : State::data;
    m_size_digits = 0;
  }
  State m_state = State::size;
  uint64_t m_left = 0;  // bytes of the current chunk not yet handed out
  int m_size_digits = 0;
  bool m_last = false;  // the chunk being read is the last (size 0)
};

// Retry-After (RFC 9110 §10.2.3) in seconds from `now`: delay-seconds, or an HTTP date (IMF-fixdate, the
// obsolete RFC 850 and asctime forms); 0 when absent, unreadable or in the past.
int64_t http1_retry_after_seconds(std::string_view value, std::time_t now);

}  // namespace turso_sync
