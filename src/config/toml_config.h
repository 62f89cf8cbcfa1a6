// turso-sync.toml parsed into per-database settings (the format is described at the top of config.cpp).
// Internal to src/config; a separate entry point so that the parser can be tested and fuzzed on text.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turso_sync/status.h"

namespace turso_sync {

// One database's settings in turso-sync.toml (the top level or a [databases.NAME] section).
struct TomlSettings {
  std::optional<std::string> url, token_env, replica, working, diff, state_dir, ca_cert;
  std::optional<std::string> local_tables;  // comma-separated (an array in the file is joined with commas)
  std::optional<int> interval, connect_timeout_ms, read_timeout_ms, request_timeout_ms, retry_backoff_ms,
      push_part_bytes;
};

struct TomlFile {
  std::string path;
  TomlSettings top;
  std::map<std::string, TomlSettings> databases;  // sorted by name
  std::vector<std::string> warnings;              // unknown keys, "<path>:<line>: unknown key 'k' in …"
};

// Parses the text of a turso-sync.toml; `path` names the file in messages. Errors (ErrorKind::config): toml
// syntax ("<path>:<line>:<column>: <what>"), a token in the file, a value of the wrong type or range, an
// invalid database or variable name.
Result<TomlFile> parse_toml_config(std::string_view text, const std::string& path);

}  // namespace turso_sync
