// A request body read front to back in pieces: the JSON text with its spliced large values (remote.h,
// BodySplice: a BLOB's base64, a TEXT JSON-escaped) encoded as they are read, so a request carrying a 50 MB
// value costs a few hundred KB of memory to send.
#pragma once

#include <string>

#include "turso_sync/remote.h"

namespace turso_sync {

class BodyReader {
 public:
  explicit BodyReader(const HttpTransport::Request& request) : m_request(request) {}
  // Fills up to `n` bytes of `out` with the next bytes of the body; 0 at the end. Errors: ErrorKind::io when
  // a large value cannot be read back from its store.
  Result<size_t> read(char* out, size_t n);
  // Back to the first byte (libcurl asks when it sends the request again).
  void rewind();

 private:
  Status fill_encoded();  // the next piece of the current splice, encoded, into m_encoded
  const HttpTransport::Request& m_request;
  size_t m_text_at = 0;      // next byte of request.body
  size_t m_splice = 0;       // next splice
  bool m_in_splice = false;  // inside m_splice's value
  uint64_t m_value_at = 0;   // next byte of that value to encode
  std::string m_encoded;     // encoded bytes not yet handed out
  size_t m_encoded_at = 0;
};

}  // namespace turso_sync
