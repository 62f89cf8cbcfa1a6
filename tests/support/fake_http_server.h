// A one-thread HTTP server on a free loopback port that answers every request with a canned response, for
// testing how the client handles what a real server would rarely send (401, garbage, truncated bodies).
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace turso_sync::testing {

class FakeHttpServer {
 public:
  // How the response goes out: all at once, or `chunk` bytes every `gap_ms` (a slow link that keeps
  // moving), stopping after `stall_after` bytes until the client hangs up (a server that stops mid-answer).
  struct Pace {
    size_t chunk = 0;  // 0: all at once
    int gap_ms = 0;
    size_t stall_after = std::string::npos;
  };

  // `raw_response` is written as is after reading the request headers and body, then the connection is
  // closed.
  explicit FakeHttpServer(std::string raw_response);
  FakeHttpServer(std::string raw_response, Pace pace);
  ~FakeHttpServer();
  FakeHttpServer(const FakeHttpServer&) = delete;
  FakeHttpServer& operator=(const FakeHttpServer&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  int requests() const { return m_requests.load(); }

  // A complete HTTP/1.1 response with Content-Length.
  static std::string response(int status, const std::string& body,
                              const std::string& content_type = "application/json");

 private:
  void serve();
  std::string m_raw;
  Pace m_pace;
  int m_listen_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_requests{0};
  std::thread m_thread;
};

}  // namespace turso_sync::testing
