// Fuzz target: the `/pull-updates` response decoder (src/remote/page_codec.*: PullDecoder), fed in arbitrary
// chunk splits, as the body arrives from the network.
//
// Input: one byte S (seeds the chunk sizes), then the body. The body is decoded twice: in one piece, and in
// chunks of 0 to ~5000 bytes drawn from S. Both must agree on everything: the header, every page (id and
// bytes) in order, and the outcome (the same error, or success). Errors are values: a malformed or truncated
// body must never crash the decoder or make it read out of bounds.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "remote/page_codec.h"

namespace turso_sync::fuzz {
namespace {

struct Outcome {
  std::optional<pages::PullHeader> header;
  std::vector<std::pair<uint64_t, std::string>> pages;
  Status status;
};

std::string describe_header(const pages::PullHeader& h) {
  return fmt::format("revision `{}` db_size {} raw {} zstd {} kind {} mode {} mvcc {} protocol {}",
                     h.server_revision, h.db_size, h.raw_encoding, h.zstd_encoding, h.stream_kind,
                     h.apply_mode, h.mvcc_log, h.protocol);
}

Outcome decode(std::string_view body, const std::vector<size_t>& chunks) {
  Outcome out;
  pages::PullDecoder decoder(
      [&](const pages::PullHeader& h) -> Status {
        FUZZ_CHECK(!out.header, "a second header");
        (void)h.unusable_reason();
        out.header = h;
        return {};
      },
      [&](uint64_t id, std::string_view page) -> Status {
        FUZZ_CHECK(out.header, "page {} before the header", id);
        FUZZ_CHECK(page.size() == pages::k_page_size, "page {} of {} bytes", id, page.size());
        FUZZ_CHECK(id < (uint64_t{1} << 32), "page id {} out of range", id);
        out.pages.emplace_back(id, std::string(page));
        return {};
      });
  size_t pos = 0;
  for (size_t n : chunks) {
    n = std::min(n, body.size() - pos);
    out.status = decoder.feed(body.substr(pos, n));
    pos += n;
    if (!out.status.ok()) break;
  }
  if (out.status.ok()) {
    FUZZ_CHECK(pos == body.size(), "chunks cover {} of {} bytes", pos, body.size());
    out.status = decoder.finish();
  } else {
    // Once failed, the decoder keeps failing with the same error.
    Status again = decoder.feed("x");
    FUZZ_CHECK(!again.ok() && again.error().message() == out.status.error().message(),
               "a failed decoder accepted more data");
  }
  FUZZ_CHECK(decoder.pages() == out.pages.size(), "pages() {} for {} pages delivered", decoder.pages(),
             out.pages.size());
  return out;
}

}  // namespace
}  // namespace turso_sync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace turso_sync;
  if (size == 0) return 0;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);

  // Chunk sizes from a small linear congruential generator seeded by the first byte: empty chunks, single
  // bytes, splits inside varints and pages, chunks spanning several messages.
  std::vector<size_t> chunks;
  uint32_t state = data[0] * 2654435761u + 1;
  for (size_t covered = 0; covered < body.size();) {
    state = state * 1664525u + 1013904223u;
    uint32_t r = state >> 16;
    size_t n = r % 4 == 0 ? r % 3 : r % 4 == 1 ? r % 16 : r % 4 == 2 ? r % 600 : r % 5000;
    chunks.push_back(n);
    covered += n;
  }
  fuzz::Outcome whole = fuzz::decode(body, {body.size()});
  fuzz::Outcome split = fuzz::decode(body, chunks);

  FUZZ_CHECK(whole.status.ok() == split.status.ok(), "whole: {}, in chunks: {}",
             whole.status.ok() ? "ok" : whole.status.error().message(),
             split.status.ok() ? "ok" : split.status.error().message());
  if (!whole.status.ok()) {
    fuzz::check_error_kind(whole.status.error(), {ErrorKind::protocol}, "PullDecoder");
    FUZZ_CHECK(whole.status.error().message() == split.status.error().message(), "whole: {}; in chunks: {}",
               whole.status.error().message(), split.status.error().message());
  }
  FUZZ_CHECK(whole.header.has_value() == split.header.has_value(), "header in one decoding only");
  if (whole.header)
    FUZZ_CHECK(fuzz::describe_header(*whole.header) == fuzz::describe_header(*split.header), "{} vs {}",
               fuzz::describe_header(*whole.header), fuzz::describe_header(*split.header));
  FUZZ_CHECK(whole.pages == split.pages, "{} pages whole, {} in chunks (or different bytes)",
             whole.pages.size(), split.pages.size());
  return 0;
}
