// The .env format (README, "Configuration"): what turso-sync reads from `.env` or `--env-file`.
//
//   # a comment                      full-line comments and blank lines are skipped
//   export KEY=value                 an optional `export ` prefix (so the file can also be sourced by a
//   shell) KEY=  value with spaces  # note  unquoted: trimmed; `#` after whitespace starts a comment
//   KEY='literal $x \n # kept'       single quotes: everything literal up to the next single quote
//   KEY="a\tb \"q\" \\ c             double quotes: escapes \n \r \t \" \\ \$ (others kept as written);
//   second line"                     the value may span lines
//
// Keys are [A-Za-z_][A-Za-z0-9_.]*. CRLF line endings and a UTF-8 byte order mark are accepted. A later
// assignment of the same key wins. There is no variable expansion: `$OTHER` is kept as written.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "turso_sync/status.h"

namespace turso_sync {

// Parses .env text. `origin` names the file in error messages, which read "<origin>:<line>: <problem>".
// Errors (ErrorKind::config): a line without `=`, an invalid key, an unterminated quote, text after a closing
// quote that is not a comment.
Result<std::map<std::string, std::string>> parse_dotenv(std::string_view text, const std::string& origin);

// Reads a whole configuration file (.env or toml). ErrorKind::config "read <path>: <cause>" on failure.
Result<std::string> read_config_file(const std::string& path);

// Reads and parses the file at `path`. ErrorKind::config when it cannot be read or does not parse.
Result<std::map<std::string, std::string>> read_dotenv_file(const std::string& path);

}  // namespace turso_sync
