// A TLS front on loopback for tests: stunnel4 (Debian package `stunnel4`) with a self-signed certificate made
// at test time with the `openssl` CLI (subjectAltName IP:127.0.0.1), forwarding to a plain-HTTP port on
// 127.0.0.1 (a LocalServer). Started by the constructor (fails the test on error), stopped by process id in
// the destructor.
#pragma once

#include <sys/types.h>

#include <string>

#include "support/test_env.h"

namespace turso_sync::testing {

class TlsFront {
 public:
  explicit TlsFront(int backend_port);
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;

  bool started() const { return m_pid > 0; }
  int port() const { return m_port; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(m_port); }
  // The self-signed certificate (PEM): the CA to trust with --ca-cert.
  std::string cert_path() const { return m_dir.file("cert.pem"); }

 private:
  void spawn(int port, int backend_port);
  TempDir m_dir;
  int m_port = 0;
  pid_t m_pid = -1;
};

}  // namespace turso_sync::testing
