#include "remote/page_codec.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

namespace turso_sync::pages {

namespace {

// A header carries a few strings and small messages; a page message is 4096 bytes plus a few of framing.
constexpr uint64_t k_max_header_bytes = 4u << 20;
constexpr uint64_t k_max_page_message_bytes = k_page_size + 64;

enum WireType : uint32_t { k_varint = 0, k_fixed64 = 1, k_len = 2, k_fixed32 = 5 };

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_len_field(std::string& out, uint32_t field, std::string_view bytes) {
  put_varint(out, (uint64_t{field} << 3) | k_len);
  put_varint(out, bytes.size());
  out.append(bytes);
}

// Reads a varint at data[*pos]; false when it is malformed (more than 10 bytes) or runs past the end.
bool get_varint(std::string_view data, size_t* pos, uint64_t* v) {
  uint64_t x = 0;
  for (int shift = 0, i = 0; i < 10; ++i, shift += 7) {
    if (*pos >= data.size()) return false;
    auto byte = static_cast<uint8_t>(data[(*pos)++]);
    if (i == 9 && byte > 1) return false;
    x |= uint64_t{byte & 0x7Fu} << shift;
    if (!(byte & 0x80)) {
      *v = x;
      return true;
    }
  }
  return false;
}

Error malformed(const std::string& what) {
  return Error(ErrorKind::protocol, "malformed /pull-updates response: " + what);
}

// Iterates the fields of one message: `on_field(field, wire_type, varint, bytes)`.
template <typename Fn>
Status for_each_field(std::string_view msg, const char* name, Fn&& on_field) {
  size_t pos = 0;
  while (pos < msg.size()) {
    uint64_t key = 0;
    if (!get_varint(msg, &pos, &key)) return malformed(fmt::format("bad field key in {}", name));
    auto field = static_cast<uint32_t>(key >> 3);
    auto type = static_cast<uint32_t>(key & 7);
    if (field == 0) return malformed(fmt::format("field number 0 in {}", name));
    uint64_t number = 0;
    std::string_view bytes;
    switch (type) {
      case k_varint:
        if (!get_varint(msg, &pos, &number)) return malformed(fmt::format("bad varint in {}", name));
        break;
      case k_fixed64:
        if (msg.size() - pos < 8) return malformed(fmt::format("truncated field in {}", name));
        pos += 8;
        break;
      case k_fixed32:
        if (msg.size() - pos < 4) return malformed(fmt::format("truncated field in {}", name));
        pos += 4;
        break;
      case k_len: {
        uint64_t n = 0;
        if (!get_varint(msg, &pos, &n) || n > msg.size() - pos)
          return malformed(fmt::format("truncated field in {}", name));
        bytes = msg.substr(pos, n);
        pos += n;
        break;
      }
      default:
        return malformed(fmt::format("unsupported wire type {} in {}", type, name));
    }
    TS_TRY_STATUS(on_field(field, type, number, bytes));
  }
  return {};
}

}  // namespace

std::string encode_roaring_bitmap(std::vector<uint32_t> ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  std::map<uint16_t, std::vector<uint16_t>> containers;
  for (uint32_t id : ids) containers[static_cast<uint16_t>(id >> 16)].push_back(static_cast<uint16_t>(id));
  std::string out;
  auto le16 = [&](uint32_t v) {
    out.push_back(static_cast<char>(v & 0xFF));
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
  };
  auto le32 = [&](uint32_t v) {
    le16(v & 0xFFFF);
    le16(v >> 16);
  };
  // Cookie SERIAL_COOKIE_NO_RUNCONTAINER, container count, per container (key, cardinality - 1), then one
  // offset per container, then the containers. A container of more than 4096 values is a bitmap.
  le32(12346);
  le32(static_cast<uint32_t>(containers.size()));
  for (const auto& [key, values] : containers) {
    le16(key);
    le16(static_cast<uint32_t>(values.size() - 1));
  }
  uint32_t offset = static_cast<uint32_t>(out.size() + 4 * containers.size());
  for (const auto& [key, values] : containers) {
    le32(offset);
    offset += values.size() > 4096 ? 8192 : static_cast<uint32_t>(2 * values.size());
  }
  for (const auto& [key, values] : containers) {
    if (values.size() > 4096) {
      std::string bitmap(8192, '\0');
      for (uint16_t v : values) bitmap[v / 8] = static_cast<char>(bitmap[v / 8] | (1 << (v % 8)));
      out += bitmap;
    } else {
      for (uint16_t v : values) le16(v);
    }
  }
  return out;
}

std::string encode_pull_request(const PullRequest& request) {
  std::string out;
  // encoding = 0 (raw) is the default: not sent.
  if (!request.server_revision.empty()) put_len_field(out, 2, request.server_revision);
  if (!request.client_revision.empty()) put_len_field(out, 3, request.client_revision);
  if (request.long_poll_timeout_ms > 0) {
    put_varint(out, (uint64_t{4} << 3) | k_varint);
    put_varint(out, request.long_poll_timeout_ms);
  }
  if (!request.pages.empty()) put_len_field(out, 5, encode_roaring_bitmap(request.pages));
  return out;
}

std::string PullHeader::unusable_reason() const {
  if (mvcc_log || stream_kind == 1) return "the server streams an MVCC logical log, not pages";
  if (stream_kind != 0) return fmt::format("unknown stream kind {}", stream_kind);
  if (zstd_encoding) return "the server sent zstd-encoded pages (only raw pages are supported)";
  if (apply_mode > 1) return fmt::format("unknown apply mode {}", apply_mode);
  if (protocol != 0) return fmt::format("unknown page protocol {}", protocol);
  return "";
}

Result<PullHeader> decode_header(std::string_view message) {
  PullHeader h;
  TS_TRY_STATUS(
      for_each_field(message, "header",
                     [&](uint32_t field, uint32_t type, uint64_t number, std::string_view bytes) -> Status {
                       auto want = [&](uint32_t t) -> Status {
                         if (type != t)
                           return malformed(fmt::format("header field {} has wire type {}", field, type));
                         return {};
                       };
                       switch (field) {
                         case 1:
                           TS_TRY_STATUS(want(k_len));
                           h.server_revision = std::string(bytes);
                           break;
                         case 2:
                           TS_TRY_STATUS(want(k_varint));
                           h.db_size = number;
                           break;
                         case 3:
                           TS_TRY_STATUS(want(k_len));
                           h.raw_encoding = true;
                           break;
                         case 4:
                           TS_TRY_STATUS(want(k_len));
                           h.zstd_encoding = true;
                           break;
                         case 5:
                           TS_TRY_STATUS(want(k_varint));
                           h.stream_kind = number;
                           break;
                         case 6:
                           TS_TRY_STATUS(want(k_varint));
                           h.apply_mode = number;
                           break;
                         case 7:
                           TS_TRY_STATUS(want(k_len));
                           h.mvcc_log = true;
                           break;
                         case 8:
                           TS_TRY_STATUS(want(k_varint));
                           h.protocol = number;
                           break;
                         default:
                           break;  // fields of newer servers are ignored, as protobuf does
                       }
                       return Status();
                     }));
  return h;
}

Status decode_page(std::string_view message, uint64_t* page_id, std::string_view* page) {
  *page_id = 0;
  bool have_page = false;
  TS_TRY_STATUS(for_each_field(
      message, "page", [&](uint32_t field, uint32_t type, uint64_t number, std::string_view bytes) -> Status {
        if (field == 1) {
          if (type != k_varint) return Status(malformed("page_id is not a varint"));
          *page_id = number;
        } else if (field == 2) {
          if (type != k_len) return Status(malformed("page bytes of wrong type"));
          *page = bytes;
          have_page = true;
        }
        return Status();
      }));
  if (!have_page) return malformed(fmt::format("page {} without content", *page_id));
  if (page->size() != k_page_size)
    return malformed(fmt::format("page {} has {} bytes, expected {}", *page_id, page->size(), k_page_size));
  if (*page_id >= (uint64_t{1} << 32)) return malformed(fmt::format("page id {} out of range", *page_id));
  return {};
}

Status PullDecoder::feed(std::string_view data) {
  if (!m_failed.ok()) return m_failed;
  m_bytes_fed += data.size();
  // Keep the buffer small: drop what was consumed before appending.
  if (m_pos > 0) {
    m_buf.erase(0, m_pos);
    m_pos = 0;
  }
  m_buf.append(data);
  auto st = drain();
  if (!st.ok()) m_failed = st;
  return st;
}

Status PullDecoder::drain() {
  for (;;) {
    std::string_view rest(m_buf.data() + m_pos, m_buf.size() - m_pos);
    if (rest.empty()) return {};
    size_t p = 0;
    uint64_t n = 0;
    if (!get_varint(rest, &p, &n)) {
      if (rest.size() >= 10) return malformed("bad message length");
      return {};  // the length itself is still arriving
    }
    uint64_t limit = m_have_header ? k_max_page_message_bytes : k_max_header_bytes;
    if (n > limit)
      return malformed(fmt::format("{} message of {} bytes", m_have_header ? "page" : "header", n));
    if (rest.size() - p < n) return {};  // wait for the rest of the message
    std::string_view msg = rest.substr(p, n);
    m_pos += p + n;
    if (!m_have_header) {
      PullHeader h = TS_TRY(decode_header(msg));
      m_have_header = true;
      TS_TRY_STATUS(m_on_header(h));
    } else {
      uint64_t id = 0;
      std::string_view page;
      TS_TRY_STATUS(decode_page(msg, &id, &page));
      ++m_pages;
      TS_TRY_STATUS(m_on_page(id, page));
    }
  }
}

Status PullDecoder::finish() {
  if (!m_failed.ok()) return m_failed;
  if (!m_have_header) return malformed("the body ended before the header (truncated or not a page stream)");
  if (m_pos != m_buf.size())
    return malformed(
        fmt::format("the body ended inside a message ({} bytes left over): truncated", m_buf.size() - m_pos));
  return {};
}

}  // namespace turso_sync::pages
