// Fuzz target: the turso-sync.toml reader (parse_toml_config, src/config/toml_config.h), fed any bytes.
//
// Each input must give settings or a config error; no exception may escape (toml++ reports syntax errors by
// throwing, which the reader turns into errors). What it accepts must satisfy what the rest of the
// configuration relies on: valid database and variable names, non-empty strings, positive integers.
#include <climits>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <string_view>

#include "config/toml_config.h"
#include "fuzz_check.h"

namespace turso_sync::fuzz {
namespace {

void check_settings(const TomlSettings& s, const std::string& where) {
  for (const auto* text : {&s.url, &s.token_env, &s.replica, &s.working, &s.diff, &s.state_dir, &s.ca_cert})
    FUZZ_CHECK(!*text || !(*text)->empty(), "{}: an empty string accepted", where);
  for (const auto* number : {&s.interval, &s.connect_timeout_ms, &s.request_timeout_ms})
    FUZZ_CHECK(!*number || **number > 0, "{}: {} accepted as a positive integer", where, **number);
  if (s.token_env) {
    const std::string& name = *s.token_env;
    bool ok = !(name[0] >= '0' && name[0] <= '9');
    for (char c : name)
      ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_');
    FUZZ_CHECK(ok, "{}: token_env `{}` accepted", where, name);
  }
}

}  // namespace
}  // namespace turso_sync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace turso_sync;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::optional<Result<TomlFile>> parsed;
  try {
    parsed.emplace(parse_toml_config(text, "fuzz.toml"));
  } catch (const std::exception& e) {
    FUZZ_CHECK(false, "an exception escaped parse_toml_config: {}", e.what());
  }
  if (!parsed->ok()) {
    fuzz::check_error_kind(parsed->error(), {ErrorKind::config}, "parse_toml_config");
    FUZZ_CHECK(parsed->error().message().starts_with("fuzz.toml:"), "message without the file: {}",
               parsed->error().message());
    return 0;
  }
  const TomlFile& file = parsed->value();
  fuzz::check_settings(file.top, "top level");
  for (const auto& [name, settings] : file.databases) {
    bool ok = !name.empty() && name.size() <= 64;
    for (char c : name)
      ok = ok && ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
                  c == '-');
    FUZZ_CHECK(ok, "database name `{}` accepted", name);
    fuzz::check_settings(settings, "[databases." + name + "]");
  }
  return 0;
}
