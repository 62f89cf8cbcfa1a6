// Configuration: where the remote is, how to authenticate, where the local files live (README,
// "Configuration"). Precedence, highest first: explicit overrides (command-line flags) > process environment
// > .env file > turso-sync.toml > defaults.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "turso_sync/status.h"

namespace turso_sync {

// Where a configuration value came from, for `status`.
enum class ConfigSource { default_value, toml, dotenv, environment, flag };
const char* to_string(ConfigSource source);

struct Config {
  std::string name;          // database name from turso-sync.toml ("" for the single-database setup)
  std::string database_url;  // TURSO_DATABASE_URL (libsql://, https://, http://)
  std::string auth_token;    // TURSO_AUTH_TOKEN; never printed, logged or written by turso-sync
  std::string token_env = "TURSO_AUTH_TOKEN";  // the variable auth_token is read from (token_env in the toml)
  std::string replica_path = "local_replica.db";  // REPLICA_DB
  std::string working_path = "working_copy.db";   // WORKING_DB
  std::string diff_path = "diff.sql";             // DIFF_FILE
  std::string state_dir = ".turso-sync";          // TURSO_SYNC_STATE_DIR; ".turso-sync/<name>" for named dbs
  int sync_interval_seconds = 300;                // TURSO_SYNC_INTERVAL
  std::string ca_cert;               // TURSO_SYNC_CA_CERT / --ca-cert: PEM bundle for private CAs
  bool allow_insecure_http = false;  // --allow-insecure-http: token over http to non-loopback
  // How long to wait for the server (docs/protocol.md, "Timeouts"): the connection (TCP and TLS handshake);
  // a read, the server silent at most this long; any request, the server silent at most this long (a push's
  // batch may run that long on the server before it answers). Reads and status's check wait at most the
  // request timeout too, so a small TURSO_SYNC_REQUEST_TIMEOUT_MS bounds every wait.
  int connect_timeout_ms = 5000;    // TURSO_SYNC_CONNECT_TIMEOUT_MS
  int read_timeout_ms = 10000;      // TURSO_SYNC_READ_TIMEOUT_MS
  int request_timeout_ms = 120000;  // TURSO_SYNC_REQUEST_TIMEOUT_MS
  int retry_backoff_ms = 200;       // TURSO_SYNC_RETRY_BACKOFF_MS: the first wait before a retry (doubles)
  // TURSO_SYNC_PUSH_PART_BYTES: a push whose one batch would exceed this is staged on the remote in parts of
  // about this size, then applied by one final batch (docs/protocol.md, "Push: staged")
  int push_part_bytes = 6 << 20;
  // TURSO_SYNC_LOCAL_TABLES (toml `local_tables`): tables that stay on this copy, as names or globs (`*`,
  // `?`,
  // `[...]`; case-insensitive). Never pushed, never pulled over, left out of diff (README "Tables that stay
  // local"); virtual tables, their shadow tables and the triggers writing to local objects stay local too.
  std::vector<std::string> local_tables;

  // For each variable name above (e.g. "TURSO_DATABASE_URL"), where its value came from.
  std::map<std::string, ConfigSource> sources;
  // Non-fatal findings to show the user, e.g. ".env is readable by group or others (chmod 600 .env)".
  std::vector<std::string> warnings;
  // The files that were read, for `status` (e.g. "/home/u/app/.env").
  std::vector<std::string> files_read;
};

// Values given on the command line. Unset fields fall through to the environment, .env, toml and defaults.
// There is deliberately no token override: a token on a command line is visible to every local user (ps).
struct ConfigOverrides {
  std::optional<std::string> env_file;   // --env-file: read this instead of ./.env (must exist)
  std::optional<std::string> toml_file;  // --config: read this instead of ./turso-sync.toml (must exist)
  std::optional<std::string> db_name;    // --db NAME: a [databases.NAME] section of the toml file
  std::optional<std::string> database_url;
  std::optional<std::string> replica_path;
  std::optional<std::string> working_path;
  std::optional<std::string> diff_path;
  std::optional<int> sync_interval_seconds;
  std::optional<std::string> ca_cert;
  std::optional<bool> allow_insecure_http;
  // The directory to resolve relative names against, as if the program ran there: ./.env,
  // ./turso-sync.toml, --env-file/--config, and the relative paths of the result (replica, working copy,
  // diff file, state dir, CA bundle) become paths under it. Unset: the current directory, paths kept
  // relative. Used by the C API's turso_sync_open(dir), which cannot chdir (the directory is process-wide).
  std::optional<std::string> base_dir;
};

// Loads the configuration for one database. `environment` is the process environment as NAME -> value
// (see process_environment()). Relative paths are kept relative to the current directory, or made relative
// to overrides.base_dir when it is set.
// Errors (ErrorKind::config): unreadable or malformed .env/toml, --env-file/--config naming a missing file,
// unknown --db name, a non-numeric interval. A missing TURSO_DATABASE_URL is NOT an error here (commands such
// as `diff` do not need it); see require_remote().
Result<Config> load_config(const ConfigOverrides& overrides,
                           const std::map<std::string, std::string>& environment);

// The names of TURSO_SYNC_LOCAL_TABLES's text: comma-separated, blanks around each trimmed, empty ones
// dropped.
std::vector<std::string> parse_local_tables(std::string_view text);

// The names of the [databases.NAME] sections of the toml file that `overrides` selects (for --all), sorted.
Result<std::vector<std::string>> list_databases(const ConfigOverrides& overrides);

// ErrorKind::config with a message saying how to set the URL when `config.database_url` is empty.
Status require_remote(const Config& config);

std::map<std::string, std::string> process_environment();

}  // namespace turso_sync
