// Wire format of the Turso sync page protocol, `POST /pull-updates` (docs/protocol.md, "Page protocol"):
// a hand-written protobuf subset (varints, length-delimited fields), no libprotobuf.
//
// Request  PullUpdatesReqProtoBody: encoding=1 (varint, 0 = raw), server_revision=2 (string, "" = latest),
//          client_revision=3 (string, "" = from scratch), long_poll_timeout_ms=4, server_pages_selector=5
//          (bytes: portable RoaringBitmap of 0-based page ids, empty = all pages).
// Response a varint-length-delimited PullUpdatesRespProtoBody {server_revision=1 (string), db_size=2 (pages),
//          raw_encoding=3 (message), zstd_encoding=4 (message), stream_kind=5 (0 pages, 1 MVCC logical log),
//          apply_mode=6 (0 incremental, 1 replace base), mvcc_log=7 (message), protocol=8 (varint)}, then
//          varint-length-delimited PageData {page_id=1 (0-based; absent = 0), encoded_page=2 (bytes)} until
//          the end of the body.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "turso_sync/status.h"

namespace turso_sync::pages {

// The only page size the protocol serves (and the only one turso-sync accepts).
constexpr size_t k_page_size = 4096;

struct PullRequest {
  std::string server_revision;  // "" = latest
  std::string client_revision;  // "" = from scratch
  std::vector<uint32_t> pages;  // 0-based page ids to select; empty = all
  // > 0: a server that long-polls holds the request this long while it has nothing newer than
  // client_revision (Turso Cloud does; the local server answers at once).
  uint32_t long_poll_timeout_ms = 0;
};

std::string encode_pull_request(const PullRequest& request);
// Portable RoaringBitmap serialization (array containers only; any number of ids).
std::string encode_roaring_bitmap(std::vector<uint32_t> ids);

enum class ApplyMode { incremental, replace_base };

struct PullHeader {
  std::string server_revision;
  uint64_t db_size = 0;  // pages
  bool raw_encoding = false;
  bool zstd_encoding = false;
  uint64_t stream_kind = 0;  // 0 = pages
  uint64_t apply_mode = 0;   // 0 = incremental, 1 = replace base
  bool mvcc_log = false;
  uint64_t protocol = 0;
  ApplyMode mode() const { return apply_mode == 1 ? ApplyMode::replace_base : ApplyMode::incremental; }
  // Empty when the body is a stream of raw 4096-byte pages turso-sync can apply; otherwise why not (a
  // logical log, zstd pages, an unknown stream kind, apply mode or protocol).
  std::string unusable_reason() const;
};

// Decodes a response body fed in arbitrary chunks (as it arrives from the network): calls `on_header` once,
// then `on_page` for each page in order. Errors (ErrorKind::protocol): a malformed varint or field, a message
// longer than the protocol allows, a page that is not 4096 bytes, a page before the header, a body that ends
// inside a message (truncated). A callback's error stops decoding and is returned.
class PullDecoder {
 public:
  using HeaderFn = std::function<Status(const PullHeader&)>;
  using PageFn = std::function<Status(uint64_t page_id, std::string_view page)>;
  PullDecoder(HeaderFn on_header, PageFn on_page)
      : m_on_header(std::move(on_header)), m_on_page(std::move(on_page)) {}

  Status feed(std::string_view data);
  // The body ended: an error when it ended inside a message or before the header.
  Status finish();
  bool have_header() const { return m_have_header; }
  uint64_t pages() const { return m_pages; }
  uint64_t bytes_fed() const { return m_bytes_fed; }

 private:
  Status drain();
  HeaderFn m_on_header;
  PageFn m_on_page;
  std::string m_buf;
  size_t m_pos = 0;
  bool m_have_header = false;
  uint64_t m_pages = 0;
  uint64_t m_bytes_fed = 0;
  Status m_failed;
};

// Parses one PullUpdatesRespProtoBody message (without its length prefix).
Result<PullHeader> decode_header(std::string_view message);
// Parses one PageData message (without its length prefix); the page bytes point into `message`.
Status decode_page(std::string_view message, uint64_t* page_id, std::string_view* page);

}  // namespace turso_sync::pages
