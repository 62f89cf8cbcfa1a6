#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "cli/cli.h"
#include "turso_sync/cancel.h"
#include "turso_sync/report_json.h"

namespace turso_sync::cli {

ConfigOverrides Context::overrides() const {
  ConfigOverrides o;
  if (!global.env_file.empty()) o.env_file = global.env_file;
  if (!global.config_file.empty()) o.toml_file = global.config_file;
  if (!global.db_name.empty()) o.db_name = global.db_name;
  if (!global.ca_cert.empty()) o.ca_cert = global.ca_cert;
  if (global.allow_insecure_http) o.allow_insecure_http = true;
  if (!global.url.empty()) o.database_url = global.url;
  if (!global.replica.empty()) o.replica_path = global.replica;
  if (!global.working.empty()) o.working_path = global.working;
  if (!global.diff_file.empty()) o.diff_path = global.diff_file;
  return o;
}

Result<Config> Context::load_config() {
  Config config = TS_TRY(turso_sync::load_config(overrides(), process_environment()));
  for (const auto& w : config.warnings) warn("warning: " + w);
  return config;
}

int Context::for_each_database(const std::function<int()>& command) {
  if (!global.all) return command();
  if (!global.db_name.empty() || !global.url.empty() || !global.replica.empty() || !global.working.empty() ||
      !global.diff_file.empty())
    return fail(
        Error(ErrorKind::usage,
              "--all runs the command for every database of turso-sync.toml; it cannot be combined with "
              "--db, --url, --replica, --working or --diff-file"));
  auto names = list_databases(overrides());
  if (!names.ok()) return fail(names.error());
  if (names->empty())
    return fail(Error(ErrorKind::config, "--all: turso-sync.toml declares no [databases.NAME] section"));
  int worst = 0;
  for (const std::string& name : *names) {
    if (cancel_requested()) return std::max(worst, fail(Error(ErrorKind::cancelled, "interrupted")));
    global.db_name = name;
    print(bold("== " + name));
    worst = std::max(worst, command());
  }
  global.db_name.clear();
  return worst;
}

void Context::print(const std::string& text) const {
  if (global.quiet || global.json) return;
  std::fwrite(text.data(), 1, text.size(), stdout);
  if (text.empty() || text.back() != '\n') std::fputc('\n', stdout);
  std::fflush(stdout);
}

void Context::warn(const std::string& text) const {
  if (global.quiet) return;
  std::fprintf(stderr, "%s\n", text.c_str());
}

void Context::verbose(const std::string& text) const {
  if (global.verbose) std::fprintf(stderr, "%s\n", text.c_str());
}

int Context::fail(const Error& error) const {
  int code = exit_code_for(error.kind());
  if (global.json) {
    print_json(error_json(error));
  } else {
    std::string prefix = color() ? "\033[1;31mturso-sync: error:\033[0m " : "turso-sync: error: ";
    std::fprintf(stderr, "%s%s\n", prefix.c_str(), error.message().c_str());
    if (!error.detail().empty()) verbose("  detail: " + error.detail());
  }
  return code;
}

void Context::print_json(const JsonWriter& json) const {
  print_json(json.str());
}

void Context::print_json(const std::string& json) const {
  std::printf("%s\n", json.c_str());
}

bool Context::color() const {
  if (global.no_color || std::getenv("NO_COLOR")) return false;
  return isatty(STDOUT_FILENO) && isatty(STDERR_FILENO);
}

std::string Context::bold(const std::string& s) const {
  return color() ? "\033[1m" + s + "\033[0m" : s;
}
std::string Context::green(const std::string& s) const {
  return color() ? "\033[32m" + s + "\033[0m" : s;
}
std::string Context::red(const std::string& s) const {
  return color() ? "\033[31m" + s + "\033[0m" : s;
}
std::string Context::yellow(const std::string& s) const {
  return color() ? "\033[33m" + s + "\033[0m" : s;
}

std::string counts(const TableCounts& c) {
  return fmt::format("+{} ~{} -{}", c.inserts, c.updates, c.deletes);
}

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.1f} {}", v, units[u]);
}

ProgressCallback Context::progress_printer() {
  if (global.quiet || global.json || !isatty(STDERR_FILENO)) return nullptr;
  auto last = std::make_shared<std::chrono::steady_clock::time_point>();
  return [this, last](const Progress& p) {
    auto now = std::chrono::steady_clock::now();
    if (now - *last < std::chrono::milliseconds(100) &&
        (p.phase == "rows" || p.phase == "pages" || p.phase == "upload"))
      return;
    *last = now;
    std::string line;
    if (p.phase == "rows") {
      std::string total = p.rows_total >= 0 ? fmt::format("/{}", p.rows_total) : "";
      std::string pct = p.rows_total > 0 ? fmt::format(" ({}%)", p.rows_done * 100 / p.rows_total) : "";
      line = fmt::format("downloading rows {}{}{}  table {}  {}", p.rows_done, total, pct, p.table,
                         human_bytes(p.bytes_received));
    } else if (p.phase == "upload") {
      std::string pct = p.rows_total > 0 ? fmt::format(" ({}%)", p.rows_done * 100 / p.rows_total) : "";
      line = fmt::format("uploading rows {}/{}{}  table {}", p.rows_done, p.rows_total, pct, p.table);
    } else if (p.phase == "apply") {
      line = fmt::format("publishing {} rows in one transaction…", p.rows_total);
    } else if (p.phase == "pages" && p.pages_done > 0) {
      std::string total = p.pages_total >= 0 ? fmt::format("/{}", p.pages_total) : "";
      line = fmt::format("downloading pages {}{}  {}", p.pages_done, total, human_bytes(p.bytes_received));
    } else if (p.phase == "connecting") {
      line = fmt::format("connecting to {}… {} s", p.server, p.waited_ms / 1000);
    } else if (p.phase == "waiting") {
      line = fmt::format("waiting for the server at {} to answer… {} s", p.server, p.waited_ms / 1000);
    } else if (p.phase == "push" && p.parts_total == 1) {
      line = fmt::format("push: sending {} row change{} in one transaction…", p.rows_total,
                         p.rows_total == 1 ? "" : "s");
    } else if (p.phase == "push") {
      std::string of = p.parts_total > 0 ? fmt::format(" of about {}", p.parts_total) : "";
      line = fmt::format("push: sending part {}{}  rows {}/{}  {} sent", p.parts_done + 1, of, p.rows_done,
                         p.rows_total, human_bytes(p.bytes_sent));
    } else if (p.phase == "push apply") {
      line = fmt::format("push: applying {} staged parts ({} row changes) in one transaction…", p.parts_total,
                         p.rows_total);
    } else {
      line = fmt::format("{}…", p.phase);
    }
    std::fprintf(stderr, "\r\033[K%s", line.c_str());
    std::fflush(stderr);
    m_progress_shown = true;
  };
}

void Context::end_progress() {
  if (m_progress_shown) std::fprintf(stderr, "\r\033[K");
  m_progress_shown = false;
}

}  // namespace turso_sync::cli
