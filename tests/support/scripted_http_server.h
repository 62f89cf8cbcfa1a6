// A one-thread HTTP/1.1 server on a free loopback port that can keep a connection open: each request it reads
// gets the next step of a script (an answer, then the connection kept for the next request or closed; or a
// hang-up without an answer), and every request is recorded byte for byte with the connection it came on.
// For the tests of the plain transport: keep-alive, a kept connection the server closed, preconnect, the
// exact bytes of a request. Like the local Turso server, it serves one connection at a time.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace turso_sync::testing {

class ScriptedHttpServer {
 public:
  struct Step {
    std::string answer;      // written once the request is read whole (empty: nothing)
    bool keep_open = false;  // then read the next request on the same connection (else close it)
    std::string interim;     // written once the head is read, before the body is ("HTTP/1.1 100 Continue…")
    // The answer goes once the head is read; the body is never read, and the connection is closed once the
    // client has hung up (a server refusing a request too large for it).
    bool before_body = false;
  };
  struct Received {
    int connection = 0;  // 1 for the first connection accepted, 2 for the next, …
    std::string head;    // the request line and headers, up to and with the empty line
    std::string body;    // Content-Length bytes
  };

  // Request n gets step n (the last step repeats).
  explicit ScriptedHttpServer(std::vector<Step> script);
  ~ScriptedHttpServer();
  ScriptedHttpServer(const ScriptedHttpServer&) = delete;
  ScriptedHttpServer& operator=(const ScriptedHttpServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  int port() const { return m_port; }
  int connections() const { return m_connections.load(); }
  std::vector<Received> requests() const;
  // Whether `n` connections have been accepted within `timeout_ms`.
  bool wait_for_connections(int n, int timeout_ms = 20000) const;

  // An answer with Content-Length that leaves the connection open ("Connection: close" when `close`).
  static std::string answer(int status, const std::string& body, const std::string& extra_headers = "",
                            bool close = false);

 private:
  void serve();
  // Serves the requests of one connection until the script closes it, the client hangs up or the server
  // stops.
  void serve_connection(int fd, int number);
  std::vector<Step> m_script;
  int m_listen_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_connections{0};
  mutable std::mutex m_mutex;  // guards m_requests
  std::vector<Received> m_requests;
  std::thread m_thread;
};

}  // namespace turso_sync::testing
