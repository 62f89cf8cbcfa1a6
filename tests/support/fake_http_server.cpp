#include "support/fake_http_server.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "support/test_env.h"

namespace turso_sync::testing {

FakeHttpServer::FakeHttpServer(std::string raw_response) : FakeHttpServer(std::move(raw_response), Pace()) {}

FakeHttpServer::FakeHttpServer(std::string raw_response, Pace pace)
    : m_raw(std::move(raw_response)), m_pace(pace) {
  m_listen_fd = listen_on_free_port(&m_port, 16);
  m_thread = std::thread([this] { serve(); });
}

FakeHttpServer::~FakeHttpServer() {
  m_stop = true;
  m_thread.join();
  close(m_listen_fd);
}

std::string FakeHttpServer::response(int status, const std::string& body, const std::string& content_type) {
  return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + content_type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

void FakeHttpServer::serve() {
  while (!m_stop) {
    pollfd p{m_listen_fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept(m_listen_fd, nullptr, nullptr);
    if (fd < 0) continue;
    // Read headers, then Content-Length bytes of body.
    std::string req;
    char buf[4096];
    size_t header_end = std::string::npos, need = 0;
    while (true) {
      pollfd q{fd, POLLIN, 0};
      if (poll(&q, 1, 2000) <= 0) break;
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
      if (header_end == std::string::npos && (header_end = req.find("\r\n\r\n")) != std::string::npos) {
        auto cl = req.find("Content-Length:");
        if (cl == std::string::npos) cl = req.find("content-length:");
        need = cl == std::string::npos ? 0 : std::strtoul(req.c_str() + cl + 15, nullptr, 10);
      }
      if (header_end != std::string::npos && req.size() >= header_end + 4 + need) break;
    }
    ++m_requests;
    size_t done = 0;
    size_t end = std::min(m_raw.size(), m_pace.stall_after);
    while (done < end) {
      size_t size = m_pace.chunk == 0 ? end - done : std::min(m_pace.chunk, end - done);
      ssize_t n = send(fd, m_raw.data() + done, size, MSG_NOSIGNAL);  // a client that hung up: no SIGPIPE
      if (n <= 0) break;
      done += static_cast<size_t>(n);
      // Pacing a slow link on purpose: the client's clock is what is tested, not this one.
      if (m_pace.gap_ms > 0 && done < end)
        std::this_thread::sleep_for(std::chrono::milliseconds(m_pace.gap_ms));
    }
    // Stalled: nothing more until the client hangs up (or the server stops).
    while (done < m_raw.size() && !m_stop) {
      pollfd q{fd, POLLIN, 0};
      if (poll(&q, 1, 50) > 0 && read(fd, buf, sizeof buf) <= 0) break;
    }
    shutdown(fd, SHUT_RDWR);
    close(fd);
  }
}

}  // namespace turso_sync::testing
