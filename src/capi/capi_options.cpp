// The C API's options: JSON objects parsed with simdjson into typed values, and turso_sync_open_config's
// configuration.
#include <simdjson.h>

#include <cstring>

#include "capi/capi_internal.h"

namespace turso_sync::capi {

ts::Result<Options> Options::parse(const std::string& what, const char* json,
                                   const std::set<std::string>& allowed) {
  Options options;
  options.m_what = what;
  if (!json || !*json) return options;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json, std::strlen(json)).get(root); error)
    return usage(fmt::format("{}: options are not valid JSON: {}", what, simdjson::error_message(error)));
  simdjson::dom::object object;
  if (root.get(object) != simdjson::SUCCESS)
    return usage(fmt::format("{}: options must be a JSON object, like {{\"force\":true}}", what));
  for (auto field : object) {
    std::string name(field.key);
    if (!allowed.count(name)) {
      std::string known;
      for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
      return usage(
          fmt::format("{}: unknown option '{}' (known: {})", what, name, known.empty() ? "none" : known));
    }
    if (options.m_values.count(name)) return usage(fmt::format("{}: option '{}' given twice", what, name));
    simdjson::dom::element v = field.value;
    if (v.is_bool()) {
      options.m_values[name] = v.get_bool().value();
    } else if (v.is_number()) {
      options.m_values[name] = v.get_double().value();
    } else if (v.is_string()) {
      options.m_values[name] = std::string(v.get_string().value());
    } else if (v.is_array()) {
      std::vector<std::string> items;
      simdjson::dom::array array = v.get_array().value();
      for (simdjson::dom::element item : array) {
        if (!item.is_string())
          return usage(fmt::format("{}: option '{}' must be an array of strings", what, name));
        items.emplace_back(item.get_string().value());
      }
      options.m_values[name] = std::move(items);
    } else {
      return usage(
          fmt::format("{}: option '{}' must be a boolean, number, string or array of strings", what, name));
    }
  }
  return options;
}

ts::Result<bool> Options::boolean(const std::string& name, bool fallback) const {
  auto it = m_values.find(name);
  if (it == m_values.end()) return fallback;
  if (const bool* b = std::get_if<bool>(&it->second)) return *b;
  return usage(fmt::format("{}: option '{}' must be true or false", m_what, name));
}
ts::Result<std::optional<double>> Options::number(const std::string& name) const {
  auto it = m_values.find(name);
  if (it == m_values.end()) return std::optional<double>();
  if (const double* d = std::get_if<double>(&it->second)) return std::optional<double>(*d);
  return usage(fmt::format("{}: option '{}' must be a number", m_what, name));
}
ts::Result<std::optional<std::string>> Options::text(const std::string& name) const {
  auto it = m_values.find(name);
  if (it == m_values.end()) return std::optional<std::string>();
  if (const std::string* s = std::get_if<std::string>(&it->second)) return std::optional<std::string>(*s);
  return usage(fmt::format("{}: option '{}' must be a string", m_what, name));
}
ts::Result<std::vector<std::string>> Options::strings(const std::string& name) const {
  auto it = m_values.find(name);
  if (it == m_values.end()) return std::vector<std::string>();
  if (const auto* v = std::get_if<std::vector<std::string>>(&it->second)) return *v;
  return usage(fmt::format("{}: option '{}' must be an array of strings, like [\"5\"]", m_what, name));
}
ts::Result<std::string> Options::choice(const std::string& name, const std::string& fallback,
                                        const std::set<std::string>& choices) const {
  std::optional<std::string> value = TS_TRY(text(name));
  if (!value) return fallback;
  if (!choices.count(*value)) {
    std::string known;
    for (const auto& c : choices) known += (known.empty() ? "" : ", ") + c;
    return usage(fmt::format("{}: option '{}' must be one of {}, got '{}'", m_what, name, known, *value));
  }
  return *value;
}

const std::set<std::string> kPullOptionNames = {"on_conflict", "on_insert_collision"};

std::set<std::string> with_pull_options(std::set<std::string> names) {
  names.insert(kPullOptionNames.begin(), kPullOptionNames.end());
  return names;
}

ts::Result<ts::PullOptions> pull_options(const Options& options, const char* default_policy) {
  ts::PullOptions o;
  std::optional<std::string> policy = TS_TRY(options.text("on_conflict"));
  auto parsed_policy = ts::parse_conflict_policy(policy ? *policy : default_policy);
  if (!parsed_policy.ok()) return parsed_policy.error().context(options.what() + ": option 'on_conflict'");
  o.on_conflict = *parsed_policy;
  std::optional<std::string> collision = TS_TRY(options.text("on_insert_collision"));
  if (collision) {
    auto parsed = ts::parse_insert_collision(*collision);
    if (!parsed.ok()) return parsed.error().context(options.what() + ": option 'on_insert_collision'");
    o.on_insert_collision = *parsed;
  }
  return o;
}

ts::Result<ts::Config> config_from_json(const char* json) {
  Options o =
      TS_TRY(Options::parse("turso_sync_open_config", json,
                            {"url", "auth_token", "replica", "working", "diff", "state_dir", "interval",
                             "dir", "ca_cert", "allow_insecure_http", "connect_timeout_ms", "read_timeout_ms",
                             "request_timeout_ms", "retry_backoff_ms", "local_tables"}));
  ts::Config c;
  auto text = [&](const char* name, std::string& field, const char* variable) -> ts::Status {
    std::optional<std::string> v = TS_TRY(o.text(name));
    if (v) {
      field = *v;
      if (variable) c.sources[variable] = ts::ConfigSource::flag;
    }
    return {};
  };
  auto positive = [&](const char* name, int& field, const char* variable) -> ts::Status {
    std::optional<double> v = TS_TRY(o.number(name));
    if (!v) return {};
    if (!(*v >= 1 && *v <= 2147483647.0) || *v != static_cast<double>(static_cast<int>(*v)))
      return ts::Error(ts::ErrorKind::usage,
                       fmt::format("turso_sync_open_config: '{}' must be a positive integer", name));
    field = static_cast<int>(*v);
    if (variable) c.sources[variable] = ts::ConfigSource::flag;
    return {};
  };
  TS_TRY_STATUS(text("url", c.database_url, "TURSO_DATABASE_URL"));
  TS_TRY_STATUS(text("auth_token", c.auth_token, "TURSO_AUTH_TOKEN"));
  TS_TRY_STATUS(text("replica", c.replica_path, "REPLICA_DB"));
  TS_TRY_STATUS(text("working", c.working_path, "WORKING_DB"));
  TS_TRY_STATUS(text("diff", c.diff_path, "DIFF_FILE"));
  TS_TRY_STATUS(text("state_dir", c.state_dir, "TURSO_SYNC_STATE_DIR"));
  TS_TRY_STATUS(text("ca_cert", c.ca_cert, "TURSO_SYNC_CA_CERT"));
  TS_TRY_STATUS(positive("interval", c.sync_interval_seconds, "TURSO_SYNC_INTERVAL"));
  TS_TRY_STATUS(positive("connect_timeout_ms", c.connect_timeout_ms, nullptr));
  TS_TRY_STATUS(positive("read_timeout_ms", c.read_timeout_ms, nullptr));
  TS_TRY_STATUS(positive("request_timeout_ms", c.request_timeout_ms, nullptr));
  TS_TRY_STATUS(positive("retry_backoff_ms", c.retry_backoff_ms, nullptr));
  c.allow_insecure_http = TS_TRY(o.boolean("allow_insecure_http", false));
  if (std::optional<std::string> local = TS_TRY(o.text("local_tables")))  // "drafts, cache_*"
    c.local_tables = ts::parse_local_tables(*local);
  std::optional<std::string> dir = TS_TRY(o.text("dir"));
  if (dir && !dir->empty()) {
    for (std::string* path : {&c.replica_path, &c.working_path, &c.diff_path, &c.state_dir, &c.ca_cert}) {
      if (!path->empty() && (*path)[0] != '/') *path = *dir + "/" + *path;
    }
  }
  return c;
}

}  // namespace turso_sync::capi
