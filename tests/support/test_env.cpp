#include "support/test_env.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <simdjson.h>
#include <sqlite3.h>

#include "util/text.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace turso_sync::testing {

namespace {

// A child's command line and environment, built before fork(). Between fork() and exec the child of a
// multi-threaded test must not allocate: another thread may hold the allocator's lock at the fork, and the
// child would wait for it forever (seen under ASan: a child spinning in putenv's realloc for 10 minutes).
class ChildExec {
 public:
  // `env` entries are "NAME=VALUE" (set) or "NAME" (unset), applied over this process's environment.
  ChildExec(const std::vector<std::string>& args, const std::vector<std::string>& env) : m_args(args) {
    for (char** e = environ; *e; ++e) m_env.emplace_back(*e);
    for (const std::string& kv : env) {
      std::string name = kv.substr(0, kv.find('='));
      std::erase_if(m_env,
                    [&](const std::string& e) { return e.compare(0, name.size() + 1, name + "=") == 0; });
      if (kv.find('=') != std::string::npos) m_env.push_back(kv);
    }
    for (std::string& a : m_args) m_argv.push_back(a.data());
    m_argv.push_back(nullptr);
    for (std::string& e : m_env) m_envp.push_back(e.data());
    m_envp.push_back(nullptr);
  }
  // In the child: execs (searching PATH as the new environment says), or exits 127.
  [[noreturn]] void exec() {
    environ = m_envp.data();
    execvp(m_argv[0], m_argv.data());
    _exit(127);
  }

 private:
  std::vector<std::string> m_args, m_env;
  std::vector<char*> m_argv, m_envp;
};

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/turso-sync-test-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data())) ADD_FAILURE() << "mkdtemp failed";
  m_path = buf.data();
}

TempDir::~TempDir() {
  if (std::getenv("TURSO_SYNC_TEST_KEEP")) {  // debugging: keep the files of a failing run
    std::fprintf(stderr, "kept %s\n", m_path.c_str());
    return;
  }
  std::error_code ec;
  fs::remove_all(m_path, ec);
}

SeedSequence::SeedSequence(uint64_t base) : m_state(base) {
  const char* r = std::getenv("TURSO_SYNC_RANDOM_SEEDS");
  m_random = r && *r && std::string(r) != "0";
  if (m_random) m_state = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

uint64_t SeedSequence::next() {  // splitmix64
  uint64_t z = (m_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

std::string tursodb_path() {
  if (const char* p = std::getenv("TURSODB")) return p;
  return std::string(TURSO_SYNC_SOURCE_DIR "/node_modules/@tursodatabase/cli-linux-x64-gnu/tursodb");
}

int listen_on_free_port(int* port, int backlog) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  listen(fd, backlog);
  return fd;
}

int connect_loopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

void write_file(const std::string& path, const std::string& content, mode_t mode) {
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
  }
  ASSERT_EQ(::chmod(path.c_str(), mode), 0) << path;
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> discarded_files(const TempDir& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir.path() / ".turso-sync", ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind("discarded-", 0) == 0 && name.size() > 4 && name.substr(name.size() - 4) == ".sql")
      out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string discarded_files_text(const TempDir& dir) {
  std::string text;
  for (const std::string& file : discarded_files(dir)) text += read_text(file);
  return text;
}

bool official_client_installed() {
  return fs::exists(fs::path(TURSO_SYNC_SOURCE_DIR) / "node_modules/@tursodatabase/sync/package.json");
}

int free_port() {
  int port = 0;
  close(listen_on_free_port(&port, 1));
  return port;
}

namespace {

bool port_accepts(int port) {
  int fd = connect_loopback(port);
  if (fd < 0) return false;
  close(fd);
  return true;
}

}  // namespace

LocalServer::LocalServer(std::vector<std::string> extra_flags) : m_flags(std::move(extra_flags)) {
  std::string binary = tursodb_path();
  if (access(binary.c_str(), X_OK) != 0) {
    ADD_FAILURE() << "tursodb not found at " << binary << " (run `make deps`)";
    return;
  }
  for (int attempt = 0; attempt < 5 && m_pid < 0; ++attempt) spawn(free_port());
  if (m_pid < 0) ADD_FAILURE() << "could not start tursodb --sync-server";
}

void LocalServer::restart() {
  stop();
  for (int attempt = 0; attempt < 50 && m_pid < 0; ++attempt) {
    spawn(m_port);
    if (m_pid < 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the port is not free yet
  }
  if (m_pid < 0) ADD_FAILURE() << "could not restart tursodb --sync-server on port " << m_port;
}

void LocalServer::spawn(int port) {
  std::string binary = tursodb_path();
  {
    m_port = port;
    std::string db = m_dir.file("remote.db");
    std::string listen = "127.0.0.1:" + std::to_string(m_port);
    std::string log = m_dir.file("server.log");
    std::vector<std::string> args{binary, db, "--sync-server", listen, "--experimental-without-rowid"};
    args.insert(args.end(), m_flags.begin(), m_flags.end());
    ChildExec child(args, {});
    pid_t pid = fork();
    if (pid == 0) {
      setsid();
      int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      dup2(out, 1);
      dup2(out, 2);
      int in = open("/dev/null", O_RDONLY);
      dup2(in, 0);
      child.exec();
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    bool up = false;
    while (std::chrono::steady_clock::now() < deadline) {
      if (port_accepts(m_port)) {
        up = true;
        break;
      }
      int status;
      if (waitpid(pid, &status, WNOHANG) == pid) break;  // died (port taken?): retry on another port
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (up) {
      m_pid = pid;
      m_url = "http://127.0.0.1:" + std::to_string(m_port);
    } else {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
    }
  }
}

void LocalServer::stop() {
  if (m_pid <= 0) return;
  kill(m_pid, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    if (waitpid(m_pid, nullptr, WNOHANG) == m_pid) {
      m_pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(m_pid, SIGKILL);
  waitpid(m_pid, nullptr, 0);
  m_pid = -1;
}

LocalServer::~LocalServer() {
  stop();
}

CommandResult run_command(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          const std::string& cwd, const std::string& stdin_data) {
  CommandResult result;
  int out_pipe[2], err_pipe[2], in_pipe[2];
  if (pipe(out_pipe) != 0 || pipe(err_pipe) != 0 || pipe(in_pipe) != 0) {
    ADD_FAILURE() << "pipe failed";
    return result;
  }
  ChildExec child(argv, env);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1], in_pipe[0], in_pipe[1]}) close(fd);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    child.exec();
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  close(in_pipe[0]);
  if (!stdin_data.empty()) {
    signal(SIGPIPE, SIG_IGN);
    ssize_t ignored = write(in_pipe[1], stdin_data.data(), stdin_data.size());
    (void)ignored;
  }
  close(in_pipe[1]);
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      } else {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      }
    }
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  result.max_rss_kib = usage.ru_maxrss;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

pid_t spawn_cli(const std::vector<std::string>& args, const std::vector<std::string>& env,
                const std::string& cwd, const std::string& output_file) {
  std::vector<std::string> argv{cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildExec child(argv, env);  // before fork(): the child only execs
  pid_t pid = fork();
  if (pid == 0) {
    int null_fd = open("/dev/null", O_RDWR);
    int out_fd =
        output_file.empty() ? null_fd : open(output_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(null_fd, 0);
    dup2(out_fd, 1);
    dup2(out_fd, 2);
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    child.exec();
  }
  return pid;
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int exit_within(pid_t pid, std::chrono::milliseconds limit) {
  int code = -1;
  auto exited = [&] {
    int status = 0;
    if (waitpid(pid, &status, WNOHANG) != pid) return false;
    code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return true;
  };
  if (eventually(exited, limit, std::chrono::milliseconds(50))) return code;
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit,
                std::chrono::milliseconds poll) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(poll);  // a poll interval: the wait ends on the event or the deadline
  }
  return done();
}

const std::string& test_program_dir() {
  static const std::string dir = std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  return dir;
}

const std::string& cli_path() {
  static const std::string cli =
      (std::filesystem::path(test_program_dir()).parent_path() / "turso-sync").string();
  return cli;
}

// Defined by the AddressSanitizer runtime, which only the sanitized variant's programs link.
extern "C" void __asan_init() __attribute__((weak));

bool sanitized() {
  return &__asan_init != nullptr;
}

CommandResult run_cli(const std::vector<std::string>& args, const std::vector<std::string>& env,
                      const std::string& cwd) {
  std::vector<std::string> argv{cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv, env, cwd);
}

CommandResult run_cli_on_terminal(const std::vector<std::string>& args, const std::vector<std::string>& env,
                                  const std::string& cwd) {
  CommandResult result;
  std::vector<std::string> argv{cli_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildExec child(argv, env);  // before forkpty(): the child only execs
  int terminal = -1;
  pid_t pid = forkpty(&terminal, nullptr, nullptr, nullptr);
  if (pid < 0) {
    ADD_FAILURE() << "forkpty failed";
    return result;
  }
  if (pid == 0) {
    if (!cwd.empty() && chdir(cwd.c_str()) != 0) _exit(126);
    child.exec();
  }
  char buf[4096];
  while (true) {
    ssize_t n = read(terminal, buf, sizeof buf);
    if (n > 0) {
      result.out.append(buf, static_cast<size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;  // EIO: the child's side of the terminal is closed
    }
  }
  close(terminal);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::vector<std::string> remote_query(const std::string& url, const std::vector<std::string>& statements) {
  std::vector<std::string> argv{access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3",
                                std::string(TURSO_SYNC_SOURCE_DIR "/tests/support/hrana_query.py"), url};
  argv.insert(argv.end(), statements.begin(), statements.end());
  CommandResult r = run_command(argv);
  std::string sent;
  for (const std::string& s : statements) sent += "\n  " + s;
  EXPECT_EQ(r.exit_code, 0) << "remote query failed: " << r.err << "statements:" << sent;
  std::vector<std::string> rows;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);) rows.push_back(line);
  return rows;
}

void remote_exec(const std::string& url, const std::vector<std::string>& statements) {
  remote_query(url, statements);
}

bool remote_try_exec(const std::string& url, const std::vector<std::string>& statements) {
  std::vector<std::string> argv{access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3",
                                std::string(TURSO_SYNC_SOURCE_DIR "/tests/support/hrana_query.py"), url};
  argv.insert(argv.end(), statements.begin(), statements.end());
  return run_command(argv).exit_code == 0;
}

std::vector<std::vector<Value>> remote_rows(const std::string& url, const std::string& sql) {
  std::vector<std::vector<Value>> out;
  simdjson::dom::parser parser;
  for (const auto& line : remote_query(url, {sql})) {
    simdjson::dom::element row;
    if (parser.parse(line).get(row) != simdjson::SUCCESS) {
      ADD_FAILURE() << "bad line from hrana_query.py: " << line;
      continue;
    }
    std::vector<Value> values;
    for (simdjson::dom::element cell : row.get_array()) {
      std::string_view type = cell.at(0).get_string().value();
      simdjson::dom::element v = cell.at(1);
      if (type == "null") {
        values.push_back(Value::null());
      } else if (type == "integer") {
        values.push_back(Value::integer(std::stoll(std::string(v.get_string().value()))));
      } else if (type == "float") {
        values.push_back(Value::real(v.get_double().value()));
      } else if (type == "text") {
        values.push_back(Value::text(std::string(v.get_string().value())));
      } else {
        values.push_back(Value::blob(base64_decode(v.get_string().value()).value_or("<bad base64>")));
      }
    }
    out.push_back(std::move(values));
  }
  return out;
}

void local_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK) << path;
  sqlite3_busy_timeout(db, 60000);
  char* err = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << sql << ": " << message;
}

int app_exec(const std::string& path, bool foreign_keys, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) {
    ADD_FAILURE() << "open " << path;
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 60000);
  std::string begin =
      std::string("PRAGMA foreign_keys = ") + (foreign_keys ? "ON" : "OFF") + "; BEGIN IMMEDIATE";
  int changed = -1;
  if (sqlite3_exec(db, begin.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK) {
    if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK) changed = sqlite3_changes(db);
    if (changed < 0 || sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      changed = -1;
    }
  }
  sqlite3_close(db);
  return changed;
}

void local_sql(const std::string& path, const std::string& sql) {
  auto r = run_command({"sqlite3", path, sql});
  ASSERT_EQ(r.exit_code, 0) << sql << "\n" << r.err;
}

std::vector<std::vector<Value>> local_rows(const std::string& path, const std::string& sql) {
  std::vector<std::vector<Value>> out;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    ADD_FAILURE() << "cannot open " << path;
    sqlite3_close(db);
    return out;
  }
  sqlite3_busy_timeout(db, 60000);  // the process under test may be writing it (a workflow cycle)
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
  if (rc != SQLITE_OK && sqlite3_extended_errcode(db) == SQLITE_READONLY_ROLLBACK) {
    // A process killed inside a write left a hot journal, which only a read-write connection rolls back
    // (as the application's next connection, or turso-sync's next run, does).
    sqlite3_close(db);
    db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(db, 60000);
      rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr);
    }
  }
  if (rc != SQLITE_OK) {
    ADD_FAILURE() << "prepare " << sql << ": " << sqlite3_errmsg(db);
    sqlite3_close(db);
    return out;
  }
  while (sqlite3_step(stmt) == SQLITE_ROW) {
    std::vector<Value> values;
    for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
      switch (sqlite3_column_type(stmt, i)) {
        case SQLITE_INTEGER:
          values.push_back(Value::integer(sqlite3_column_int64(stmt, i)));
          break;
        case SQLITE_FLOAT:
          values.push_back(Value::real(sqlite3_column_double(stmt, i)));
          break;
        case SQLITE_TEXT:
          values.push_back(
              Value::text(std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, i)),
                                      static_cast<size_t>(sqlite3_column_bytes(stmt, i)))));
          break;
        case SQLITE_BLOB: {
          const char* p = static_cast<const char*>(sqlite3_column_blob(stmt, i));
          values.push_back(
              Value::blob(std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(stmt, i)))));
          break;
        }
        default:
          values.push_back(Value::null());
      }
    }
    out.push_back(std::move(values));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

std::string render_rows(const std::vector<std::vector<Value>>& rows) {
  std::string out;
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i)
      out += (i ? ", " : "") + std::string(to_string(row[i].type())) + ":" + describe(row[i], 80);
    out += "\n";
  }
  return out;
}

std::string sql_real(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

}  // namespace turso_sync::testing

namespace turso_sync {
void PrintTo(const Value& value, std::ostream* os) {
  *os << to_string(value.type()) << ":" << describe(value, 80);
}
}  // namespace turso_sync
