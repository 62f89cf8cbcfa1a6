#include "remote/request_body.h"

#include <algorithm>
#include <cstring>

#include "util/json_writer.h"
#include "util/large_store.h"
#include "util/text.h"

namespace turso_sync {

namespace {

constexpr size_t kPiece = 3 * 64 * 1024;  // bytes of a value encoded at a time (a multiple of 3)

uint64_t base64_size(uint64_t n) {
  return (n + 2) / 3 * 4;
}

}  // namespace

uint64_t body_size(const HttpTransport::Request& request) {
  uint64_t n = request.body.size();
  for (const BodySplice& s : request.splices)
    n += s.value.type() == ValueType::text ? s.escaped_size : base64_size(s.value.byte_size());
  return n;
}

std::string whole_body(const HttpTransport::Request& request) {
  if (request.splices.empty()) return request.body;
  std::string out;
  out.reserve(static_cast<size_t>(body_size(request)));
  size_t at = 0;
  for (const BodySplice& s : request.splices) {
    out.append(request.body, at, s.at - at);
    if (s.value.type() == ValueType::text)
      append_json_escaped(out, s.value.as_bytes());
    else
      out += base64_encode(s.value.as_bytes());
    at = s.at;
  }
  out.append(request.body, at, std::string::npos);
  return out;
}

void BodyReader::rewind() {
  m_text_at = 0;
  m_splice = 0;
  m_in_splice = false;
  m_value_at = 0;
  m_encoded.clear();
  m_encoded_at = 0;
}

Status BodyReader::fill_encoded() {
  const Value& v = m_request.splices[m_splice].value;
  size_t n = static_cast<size_t>(std::min<uint64_t>(kPiece, v.byte_size() - m_value_at));
  std::string raw(n, '\0');
  if (v.is_large()) {
    const LargeBytes& lb = v.large_bytes();
    TS_TRY_STATUS(lb.store->read(lb.offset + m_value_at, n, raw.data()));
  } else {
    std::memcpy(raw.data(), v.as_bytes().data() + m_value_at, n);
  }
  m_value_at += n;
  // Escaping works byte by byte, so a piece may end inside a character (json_writer.h).
  if (v.type() == ValueType::text) {
    m_encoded.clear();
    append_json_escaped(m_encoded, raw);
  } else {
    m_encoded = base64_encode(raw);
  }
  m_encoded_at = 0;
  return {};
}

Result<size_t> BodyReader::read(char* out, size_t n) {
  const auto& splices = m_request.splices;
  size_t done = 0;
  while (done < n) {
    if (m_encoded_at < m_encoded.size()) {
      size_t k = std::min(n - done, m_encoded.size() - m_encoded_at);
      std::memcpy(out + done, m_encoded.data() + m_encoded_at, k);
      m_encoded_at += k;
      done += k;
      continue;
    }
    if (m_in_splice) {
      if (m_value_at < splices[m_splice].value.byte_size()) {
        TS_TRY_STATUS(fill_encoded());
        continue;
      }
      m_in_splice = false;
      ++m_splice;
      continue;
    }
    size_t text_end = m_splice < splices.size() ? splices[m_splice].at : m_request.body.size();
    if (m_text_at < text_end) {
      size_t k = std::min(n - done, text_end - m_text_at);
      std::memcpy(out + done, m_request.body.data() + m_text_at, k);
      m_text_at += k;
      done += k;
      continue;
    }
    if (m_splice >= splices.size()) break;  // the end of the body
    m_in_splice = true;
    m_value_at = 0;
  }
  return done;
}

}  // namespace turso_sync
