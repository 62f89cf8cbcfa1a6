// Fuzz target: the .env reader (src/config/dotenv.*), fed any bytes (a hand-edited file, a binary given as
// --env-file).
//
// Each input must give values or a config error "<origin>:<line>: <problem>" with a line number inside the
// file. What it gives must survive being written back as KEY="value" lines (every byte escaped as the format
// says) and read again: the same keys with the same bytes.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "config/dotenv.h"
#include "fuzz_check.h"

namespace turso_sync::fuzz {
namespace {

bool is_key(std::string_view key) {
  if (key.empty() || (key[0] >= '0' && key[0] <= '9') || key[0] == '.') return false;
  for (char c : key) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    if (!ok) return false;
  }
  return true;
}

std::string render(const std::map<std::string, std::string>& values) {
  std::string out;
  for (const auto& [key, value] : values) {
    out += key + "=\"";
    for (char c : value) {
      switch (c) {
        case '\\':
          out += "\\\\";
          break;
        case '"':
          out += "\\\"";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          out += c;
      }
    }
    out += "\"\n";
  }
  return out;
}

}  // namespace
}  // namespace turso_sync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace turso_sync;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_dotenv(text, "fuzz.env");
  if (!parsed.ok()) {
    const std::string& message = parsed.error().message();
    fuzz::check_error_kind(parsed.error(), {ErrorKind::config}, "parse_dotenv");
    FUZZ_CHECK(message.starts_with("fuzz.env:"), "message without the origin: {}", message);
    size_t line = 0, i = 9;
    for (; i < message.size() && message[i] >= '0' && message[i] <= '9'; ++i)
      line = line * 10 + (message[i] - '0');
    size_t lines = 1;
    for (char c : text) lines += c == '\n';
    FUZZ_CHECK(i > 9 && i < message.size() && message[i] == ':' && line >= 1 && line <= lines,
               "message without a line number inside the file ({} lines): {}", lines, message);
    return 0;
  }
  for (const auto& [key, value] : *parsed) FUZZ_CHECK(fuzz::is_key(key), "accepted the key `{}`", key);

  std::string again_text = fuzz::render(*parsed);
  auto again = parse_dotenv(again_text, "rendered.env");
  FUZZ_CHECK(again.ok(), "the values written back do not parse: {}\n{}",
             again.ok() ? "" : again.error().message(), again_text);
  FUZZ_CHECK(*again == *parsed, "the values written back read differently:\n{}", again_text);
  return 0;
}
