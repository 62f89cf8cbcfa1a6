// Configuration loading (README, "Configuration"): flags > environment > .env > turso-sync.toml > defaults.
//
// turso-sync.toml describes the default database with top-level keys and further databases with
// [databases.NAME] sections:
//
//   url = "libsql://app-org.turso.io"      # default database
//   token_env = "TURSO_AUTH_TOKEN"         # NAME of the variable holding the token (never the token itself)
//   replica = "local_replica.db"           # also: working, diff, state_dir
//   interval = 300                         # also: ca_cert, connect_timeout_ms, read_timeout_ms,
//                                          # request_timeout_ms, retry_backoff_ms, push_part_bytes
//   local_tables = ["drafts", "cache_*"]   # or "drafts, cache_*": tables that stay on this copy
//
//   [databases.analytics]
//   url = "libsql://analytics-org.turso.io"
//   token_env = "ANALYTICS_TOKEN"
//
// A named database (--db NAME) takes its location — url, token_env, replica, working, diff, state_dir — from
// its own section (or the command line), never from TURSO_DATABASE_URL, REPLICA_DB, WORKING_DB, DIFF_FILE or
// TURSO_SYNC_STATE_DIR: those describe the default database, and letting them leak into a named one would
// make
// `--db analytics push` send one database's working copy to another. Its files default to <NAME>_replica.db,
// <NAME>_working.db, <NAME>_diff.sql and .turso-sync/<NAME>. Settings shared by every database (interval,
// ca_cert, timeouts) follow the usual precedence, with the section's value, then the top-level one, at the
// toml level.
#include "turso_sync/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <climits>
#include <cstdint>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "config/dotenv.h"
#include "config/toml_config.h"
#include "util/text.h"

extern char** environ;

namespace turso_sync {

namespace {

namespace fs = std::filesystem;

constexpr const char* kUrlVar = "TURSO_DATABASE_URL";
constexpr const char* kTokenVar = "TURSO_AUTH_TOKEN";
constexpr const char* kReplicaVar = "REPLICA_DB";
constexpr const char* kWorkingVar = "WORKING_DB";
constexpr const char* kDiffVar = "DIFF_FILE";
constexpr const char* kIntervalVar = "TURSO_SYNC_INTERVAL";
constexpr const char* kStateDirVar = "TURSO_SYNC_STATE_DIR";
constexpr const char* kCaCertVar = "TURSO_SYNC_CA_CERT";
constexpr const char* kConnectTimeoutVar = "TURSO_SYNC_CONNECT_TIMEOUT_MS";
constexpr const char* kReadTimeoutVar = "TURSO_SYNC_READ_TIMEOUT_MS";
constexpr const char* kRequestTimeoutVar = "TURSO_SYNC_REQUEST_TIMEOUT_MS";
constexpr const char* kRetryBackoffVar = "TURSO_SYNC_RETRY_BACKOFF_MS";
constexpr const char* kPushPartBytesVar = "TURSO_SYNC_PUSH_PART_BYTES";
constexpr const char* kLocalTablesVar = "TURSO_SYNC_LOCAL_TABLES";

constexpr const char* kDefaultTomlFile = "turso-sync.toml";
constexpr const char* kDefaultEnvFile = ".env";

Error config_error(std::string message) {
  return Error(ErrorKind::config, std::move(message));
}

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  return ec ? path : abs.lexically_normal().string();
}

// `path` as seen from overrides.base_dir (unchanged when it is unset or `path` is absolute).
std::string in_base_dir(const ConfigOverrides& overrides, const std::string& path) {
  if (!overrides.base_dir || overrides.base_dir->empty() || path.empty() || fs::path(path).is_absolute())
    return path;
  return (fs::path(*overrides.base_dir) / path).lexically_normal().string();
}

// A strictly positive int written in decimal digits only ("300"; not "5m", "0", "-1", "1e3").
std::optional<int> parse_positive_int(std::string_view text) {
  std::string s = trim(text);
  if (s.empty()) return std::nullopt;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  int64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size() || value <= 0 || value > INT_MAX) return std::nullopt;
  return static_cast<int>(value);
}

bool is_valid_database_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool is_valid_variable_name(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

// Reads the settings of one table of turso-sync.toml. `where` names it in messages ("top level",
// "[databases.analytics]").
Status read_settings(const toml::table& table, const std::string& path, const std::string& where,
                     bool top_level, TomlSettings& out, std::vector<std::string>& warnings) {
  for (const auto& [key_node, node] : table) {
    std::string key(key_node.str());
    std::string at = fmt::format("{}:{}", path, node.source().begin.line);
    if (top_level && key == "databases") continue;  // read by the caller
    if (key == "token" || key == "auth_token" || key == kTokenVar) {
      return config_error(
          fmt::format("{}: '{}' in {}: tokens are not read from turso-sync.toml (such files get committed); "
                      "put the token in "
                      ".env or the environment and name its variable with token_env = \"VARIABLE\"",
                      at, key, where));
    }
    std::optional<std::string>* text_field = nullptr;
    std::optional<int>* int_field = nullptr;
    if (key == "url")
      text_field = &out.url;
    else if (key == "token_env")
      text_field = &out.token_env;
    else if (key == "replica")
      text_field = &out.replica;
    else if (key == "working")
      text_field = &out.working;
    else if (key == "diff")
      text_field = &out.diff;
    else if (key == "state_dir")
      text_field = &out.state_dir;
    else if (key == "ca_cert")
      text_field = &out.ca_cert;
    else if (key == "interval")
      int_field = &out.interval;
    else if (key == "connect_timeout_ms")
      int_field = &out.connect_timeout_ms;
    else if (key == "read_timeout_ms")
      int_field = &out.read_timeout_ms;
    else if (key == "request_timeout_ms")
      int_field = &out.request_timeout_ms;
    else if (key == "retry_backoff_ms")
      int_field = &out.retry_backoff_ms;
    else if (key == "push_part_bytes")
      int_field = &out.push_part_bytes;

    if (key == "local_tables" && node.as_array()) {
      std::string joined;
      for (const toml::node& item : *node.as_array()) {
        if (!item.as_string())
          return config_error(fmt::format("{}: '{}' in {} must be strings", at, key, where));
        joined += (joined.empty() ? "" : ",") + item.as_string()->get();
      }
      out.local_tables = joined;
      continue;
    }
    if (key == "local_tables") text_field = &out.local_tables;

    if (text_field) {
      const std::string* value = node.as_string() ? &node.as_string()->get() : nullptr;
      if (!value) return config_error(fmt::format("{}: '{}' in {} must be a string", at, key, where));
      if (value->empty()) return config_error(fmt::format("{}: '{}' in {} is empty", at, key, where));
      if (key == "token_env" && !is_valid_variable_name(*value)) {
        return config_error(fmt::format(
            "{}: token_env in {} must be the NAME of an environment variable (e.g. \"ANALYTICS_TOKEN\"), "
            "not the token itself",
            at, where));
      }
      *text_field = *value;
    } else if (int_field) {
      int64_t value = node.is_integer() ? node.as_integer()->get() : 0;
      if (value <= 0 || value > INT_MAX) {
        return config_error(fmt::format("{}: '{}' in {} must be a positive integer", at, key, where));
      }
      *int_field = static_cast<int>(value);
    } else {
      warnings.push_back(fmt::format("{}: unknown key '{}' in {} (ignored)", at, printable(key), where));
    }
  }
  return ok_status();
}

}  // namespace

Result<TomlFile> parse_toml_config(std::string_view text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return config_error(
        fmt::format("{}:{}:{}: {}", path, e.source().begin.line, e.source().begin.column, e.description()));
  }
  TomlFile file;
  file.path = path;
  TS_TRY_STATUS(read_settings(root, path, "the top level", /*top_level=*/true, file.top, file.warnings));
  if (const toml::node* databases = root.get("databases")) {
    const toml::table* sections = databases->as_table();
    if (!sections) {
      return config_error(fmt::format("{}:{}: 'databases' must be a table of [databases.NAME] sections", path,
                                      databases->source().begin.line));
    }
    for (const auto& [name_key, section] : *sections) {
      std::string name(name_key.str());
      int line = static_cast<int>(section.source().begin.line);
      if (!is_valid_database_name(name)) {
        return config_error(
            fmt::format("{}:{}: database name '{}' must be letters, digits, '_' or '-' (it names files)",
                        path, line, printable(name)));
      }
      const toml::table* table = section.as_table();
      if (!table) {
        return config_error(
            fmt::format("{}:{}: databases.{} must be a [databases.{}] section", path, line, name, name));
      }
      TomlSettings settings;
      TS_TRY_STATUS(read_settings(*table, path, "[databases." + name + "]", /*top_level=*/false, settings,
                                  file.warnings));
      file.databases.emplace(name, std::move(settings));
    }
  }
  return file;
}

namespace {

Result<TomlFile> read_toml(const std::string& path) {
  std::string text = TS_TRY(read_config_file(path));
  return parse_toml_config(text, path);
}

// The toml file that `overrides` selects, if any: --config (which must exist) or ./turso-sync.toml.
Result<std::optional<TomlFile>> load_toml(const ConfigOverrides& overrides) {
  if (overrides.toml_file) {
    std::string path = in_base_dir(overrides, *overrides.toml_file);
    if (!file_exists(path)) {
      return config_error(fmt::format("--config {}: no such file", path));
    }
    return std::optional<TomlFile>(TS_TRY(read_toml(path)));
  }
  std::string path = in_base_dir(overrides, kDefaultTomlFile);
  if (!file_exists(path)) return std::optional<TomlFile>();
  return std::optional<TomlFile>(TS_TRY(read_toml(path)));
}

std::string join_names(const std::map<std::string, TomlSettings>& databases) {
  std::string out;
  for (const auto& [name, settings] : databases) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

// Whether a variable is looked up in the environment and .env, or only on the command line and in the toml
// file.
enum class Lookup { everywhere, flag_and_toml_only };

class Resolver {
 public:
  Resolver(Config& config, const std::map<std::string, std::string>& environment,
           const std::map<std::string, std::string>& dotenv, std::string dotenv_path)
      : m_config(config),
        m_environment(environment),
        m_dotenv(dotenv),
        m_dotenv_path(std::move(dotenv_path)) {}

  // The value of `var` in the environment, else in .env. An empty value counts as unset.
  std::optional<std::pair<std::string, ConfigSource>> lookup(const std::string& var) const {
    if (auto it = m_environment.find(var); it != m_environment.end() && !it->second.empty()) {
      return std::make_pair(it->second, ConfigSource::environment);
    }
    if (auto it = m_dotenv.find(var); it != m_dotenv.end() && !it->second.empty()) {
      return std::make_pair(it->second, ConfigSource::dotenv);
    }
    return std::nullopt;
  }

  std::string describe(ConfigSource source) const {
    switch (source) {
      case ConfigSource::environment:
        return "the environment";
      case ConfigSource::dotenv:
        return m_dotenv_path;
      case ConfigSource::toml:
        return "turso-sync.toml";
      case ConfigSource::flag:
        return "the command line";
      case ConfigSource::default_value:
        return "the defaults";
    }
    return "?";
  }

  void text(const char* var, std::string& field, const std::optional<std::string>& flag,
            const std::optional<std::string>& toml, Lookup lookup_in) {
    ConfigSource source = ConfigSource::default_value;
    if (flag && !flag->empty()) {
      field = *flag;
      source = ConfigSource::flag;
    } else if (auto found = lookup_in == Lookup::everywhere ? lookup(var) : std::nullopt) {
      field = found->first;
      source = found->second;
    } else if (toml) {
      field = *toml;
      source = ConfigSource::toml;
    }
    m_config.sources[var] = source;
  }

  Status positive_int(const char* var, int& field, const std::optional<int>& flag,
                      const std::optional<int>& toml) {
    ConfigSource source = ConfigSource::default_value;
    if (flag) {
      if (*flag <= 0) {
        return Error(ErrorKind::usage,
                     fmt::format("{} from the command line must be a positive integer, got {}", var, *flag));
      }
      field = *flag;
      source = ConfigSource::flag;
    } else if (auto found = lookup(var)) {
      std::optional<int> value = parse_positive_int(found->first);
      if (!value) {
        return config_error(fmt::format("{} in {} must be a positive integer, got '{}'", var,
                                        describe(found->second), printable(found->first)));
      }
      field = *value;
      source = found->second;
    } else if (toml) {
      field = *toml;  // checked when the file was read
      source = ConfigSource::toml;
    }
    m_config.sources[var] = source;
    return ok_status();
  }

 private:
  Config& m_config;
  const std::map<std::string, std::string>& m_environment;
  const std::map<std::string, std::string>& m_dotenv;
  std::string m_dotenv_path;
};

template <typename T>
std::optional<T> first_of(const std::optional<T>& a, const std::optional<T>& b) {
  return a ? a : b;
}

Result<Config> load_config_may_throw(const ConfigOverrides& overrides,
                                     const std::map<std::string, std::string>& environment) {
  Config config;
  std::optional<TomlFile> toml = TS_TRY(load_toml(overrides));
  if (toml) {
    config.files_read.push_back(absolute_path(toml->path));
    config.warnings.insert(config.warnings.end(), toml->warnings.begin(), toml->warnings.end());
  }

  // The database: the top level of the toml file, or its [databases.NAME] section.
  TomlSettings none;
  const TomlSettings* db = toml ? &toml->top : &none;
  if (overrides.db_name) {
    const std::string& name = *overrides.db_name;
    if (name.empty()) return Error(ErrorKind::usage, "--db: needs a database name");
    if (!toml) {
      return config_error(fmt::format(
          "--db {}: no turso-sync.toml in the current directory (or --config FILE) to declare [databases.{}]",
          name, name));
    }
    auto it = toml->databases.find(name);
    if (it == toml->databases.end()) {
      std::string known = toml->databases.empty() ? std::string("it declares no [databases.NAME] sections")
                                                  : "known databases: " + join_names(toml->databases);
      return config_error(
          fmt::format("--db {}: {} has no [databases.{}] section; {}", name, toml->path, name, known));
    }
    db = &it->second;
    config.name = name;
    config.replica_path = name + "_replica.db";
    config.working_path = name + "_working.db";
    config.diff_path = name + "_diff.sql";
    config.state_dir = ".turso-sync/" + name;
  }
  const TomlSettings& top = toml ? toml->top : none;

  // .env: --env-file (which must exist) or ./.env.
  std::map<std::string, std::string> dotenv;
  std::string dotenv_path = in_base_dir(overrides, overrides.env_file.value_or(kDefaultEnvFile));
  if (overrides.env_file && !file_exists(dotenv_path)) {
    return config_error(fmt::format("--env-file {}: no such file", dotenv_path));
  }
  if (file_exists(dotenv_path)) {
    dotenv = TS_TRY(read_dotenv_file(dotenv_path));
    config.files_read.push_back(absolute_path(dotenv_path));
    struct stat st {};
    if (::stat(dotenv_path.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      config.warnings.push_back(
          fmt::format("{} is readable by group or others; run: chmod 600 {}", dotenv_path, dotenv_path));
    }
  }

  Resolver resolve(config, environment, dotenv, dotenv_path);
  Lookup location = config.name.empty() ? Lookup::everywhere : Lookup::flag_and_toml_only;
  resolve.text(kUrlVar, config.database_url, overrides.database_url, db->url, location);
  config.database_url = trim(config.database_url);
  resolve.text(kReplicaVar, config.replica_path, overrides.replica_path, db->replica, location);
  resolve.text(kWorkingVar, config.working_path, overrides.working_path, db->working, location);
  resolve.text(kDiffVar, config.diff_path, overrides.diff_path, db->diff, location);
  resolve.text(kStateDirVar, config.state_dir, std::nullopt, db->state_dir, location);

  // Shared settings: the section's value, else the top level's, at the toml level.
  resolve.text(kCaCertVar, config.ca_cert, overrides.ca_cert, first_of(db->ca_cert, top.ca_cert),
               Lookup::everywhere);
  TS_TRY_STATUS(resolve.positive_int(kIntervalVar, config.sync_interval_seconds,
                                     overrides.sync_interval_seconds, first_of(db->interval, top.interval)));
  TS_TRY_STATUS(resolve.positive_int(kConnectTimeoutVar, config.connect_timeout_ms, std::nullopt,
                                     first_of(db->connect_timeout_ms, top.connect_timeout_ms)));
  TS_TRY_STATUS(resolve.positive_int(kReadTimeoutVar, config.read_timeout_ms, std::nullopt,
                                     first_of(db->read_timeout_ms, top.read_timeout_ms)));
  TS_TRY_STATUS(resolve.positive_int(kRequestTimeoutVar, config.request_timeout_ms, std::nullopt,
                                     first_of(db->request_timeout_ms, top.request_timeout_ms)));
  TS_TRY_STATUS(resolve.positive_int(kRetryBackoffVar, config.retry_backoff_ms, std::nullopt,
                                     first_of(db->retry_backoff_ms, top.retry_backoff_ms)));
  TS_TRY_STATUS(resolve.positive_int(kPushPartBytesVar, config.push_part_bytes, std::nullopt,
                                     first_of(db->push_part_bytes, top.push_part_bytes)));
  std::string local_tables;
  resolve.text(kLocalTablesVar, local_tables, std::nullopt, first_of(db->local_tables, top.local_tables),
               location);
  config.local_tables = parse_local_tables(local_tables);
  config.allow_insecure_http = overrides.allow_insecure_http.value_or(false);
  for (std::string* path :
       {&config.replica_path, &config.working_path, &config.diff_path, &config.state_dir, &config.ca_cert})
    *path = in_base_dir(overrides, *path);

  // The token: never on the command line, never in the toml file; the toml may only name its variable.
  config.token_env = db->token_env.value_or(kTokenVar);
  if (auto found = resolve.lookup(config.token_env)) {
    config.auth_token = trim(found->first);
    config.sources[kTokenVar] = found->second;
  } else {
    config.sources[kTokenVar] = ConfigSource::default_value;
    if (db->token_env) {
      config.warnings.push_back(
          fmt::format("token_env = \"{}\" in {}, but {} is set neither in the environment "
                      "nor in {}; connecting without a token",
                      config.token_env, toml->path, config.token_env, dotenv_path));
    }
  }
  return config;
}

// The URL without its query string, which may carry a token (libsql://host?authToken=...).
std::string url_for_display(const std::string& url) {
  return printable(std::string_view(url).substr(0, url.find('?')));
}

}  // namespace

const char* to_string(ConfigSource source) {
  switch (source) {
    case ConfigSource::default_value:
      return "default";
    case ConfigSource::toml:
      return "toml";
    case ConfigSource::dotenv:
      return "dotenv";
    case ConfigSource::environment:
      return "environment";
    case ConfigSource::flag:
      return "flag";
  }
  return "unknown";
}

Result<Config> load_config(const ConfigOverrides& overrides,
                           const std::map<std::string, std::string>& environment) {
  try {
    return load_config_may_throw(overrides, environment);
  } catch (const std::exception& e) {
    return Error(ErrorKind::internal, fmt::format("load configuration: {}", e.what()));
  } catch (...) {
    return Error(ErrorKind::internal, "load configuration: unknown exception");
  }
}

std::vector<std::string> parse_local_tables(std::string_view text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(',', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string name = trim(text.substr(pos, end - pos));
    if (!name.empty()) out.push_back(std::move(name));
    pos = end + 1;
  }
  return out;
}

Result<std::vector<std::string>> list_databases(const ConfigOverrides& overrides) {
  try {
    std::optional<TomlFile> toml = TS_TRY(load_toml(overrides));
    std::vector<std::string> names;
    if (toml) {
      for (const auto& [name, settings] : toml->databases) names.push_back(name);
    }
    return names;
  } catch (const std::exception& e) {
    return Error(ErrorKind::internal, fmt::format("list databases: {}", e.what()));
  } catch (...) {
    return Error(ErrorKind::internal, "list databases: unknown exception");
  }
}

Status require_remote(const Config& config) {
  const std::string& url = config.database_url;
  if (url.empty()) {
    if (!config.name.empty()) {
      return config_error(
          fmt::format("database '{}': no remote URL: add url = \"libsql://<database>-<org>.turso.io\" to the "
                      "[databases.{}] section of turso-sync.toml",
                      config.name, config.name));
    }
    return config_error(
        "no remote database: TURSO_DATABASE_URL is not set. Run ./setup-turso.sh to write .env, or add "
        "TURSO_DATABASE_URL=libsql://<database>-<org>.turso.io to .env (see env.example), or export it in "
        "the environment (the URL is shown by `turso db show <database>`)");
  }
  if (!starts_with_icase(url, "libsql://") && !starts_with_icase(url, "https://") &&
      !starts_with_icase(url, "http://") && !starts_with_icase(url, "wss://") &&
      !starts_with_icase(url, "ws://")) {
    auto it = config.sources.find(kUrlVar);
    std::string from = it == config.sources.end() ? "" : fmt::format(" (from {})", to_string(it->second));
    return config_error(fmt::format("remote URL '{}'{}: must start with libsql://, https:// or http://",
                                    url_for_display(url), from));
  }
  return ok_status();
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> environment;
  for (char** entry = environ; entry && *entry; ++entry) {
    std::string_view kv(*entry);
    size_t eq = kv.find('=');
    if (eq == std::string_view::npos || eq == 0) continue;
    environment.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return environment;
}

}  // namespace turso_sync
