#include "support/tls_front.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

namespace turso_sync::testing {

namespace {

std::string find_stunnel() {
  for (const char* candidate : {"/usr/bin/stunnel4", "/usr/bin/stunnel", "/usr/sbin/stunnel4"})
    if (access(candidate, X_OK) == 0) return candidate;
  return "";
}

}  // namespace

TlsFront::TlsFront(int backend_port) {
  if (find_stunnel().empty()) {
    ADD_FAILURE() << "stunnel4 not found (run `make deps`)";
    return;
  }
  CommandResult cert =
      run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                   "-nodes", "-keyout", m_dir.file("key.pem"), "-out", cert_path(), "-days", "2", "-subj",
                   "/CN=turso-sync test front", "-addext", "subjectAltName=IP:127.0.0.1"});
  if (cert.exit_code != 0) {
    ADD_FAILURE() << "openssl req failed: " << cert.err;
    return;
  }
  for (int attempt = 0; attempt < 5 && m_pid < 0; ++attempt) spawn(free_port(), backend_port);
  if (m_pid < 0)
    ADD_FAILURE() << "could not start stunnel4; its log:\n" << read_text(m_dir.file("stunnel.log"));
}

void TlsFront::spawn(int port, int backend_port) {
  m_port = port;
  std::string conf = m_dir.file("stunnel.conf");
  {
    std::ofstream out(conf);
    out << "foreground = yes\npid =\ndebug = 4\n[turso]\naccept = 127.0.0.1:" << port
        << "\nconnect = 127.0.0.1:" << backend_port << "\ncert = " << cert_path()
        << "\nkey = " << m_dir.file("key.pem") << "\n";
  }
  std::string binary = find_stunnel();
  std::string log = m_dir.file("stunnel.log");
  pid_t pid = fork();
  if (pid == 0) {
    setsid();
    int out = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(out, 1);
    dup2(out, 2);
    int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    execl(binary.c_str(), binary.c_str(), conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Up when the port accepts a connection; a stunnel that exits (port taken) is retried on another port.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = connect_loopback(port);
    if (fd >= 0) {
      close(fd);
      m_pid = pid;
      return;
    }
    if (waitpid(pid, nullptr, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TlsFront::~TlsFront() {
  if (m_pid <= 0) return;
  kill(m_pid, SIGTERM);
  exit_within(m_pid, std::chrono::seconds(10));  // SIGKILLs it past that
}

}  // namespace turso_sync::testing
