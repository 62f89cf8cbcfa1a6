#include "support/scripted_http_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include "support/test_env.h"

namespace turso_sync::testing {

ScriptedHttpServer::ScriptedHttpServer(std::vector<Step> script) : m_script(std::move(script)) {
  m_listen_fd = listen_on_free_port(&m_port, 16);
  m_thread = std::thread([this] { serve(); });
}

ScriptedHttpServer::~ScriptedHttpServer() {
  m_stop = true;
  m_thread.join();
  close(m_listen_fd);
}

std::string ScriptedHttpServer::answer(int status, const std::string& body, const std::string& extra_headers,
                                       bool close) {
  return "HTTP/1.1 " + std::to_string(status) +
         " X\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         extra_headers + (close ? "Connection: close\r\n" : "") + "\r\n" + body;
}

std::vector<ScriptedHttpServer::Received> ScriptedHttpServer::requests() const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return m_requests;
}

bool ScriptedHttpServer::wait_for_connections(int n, int timeout_ms) const {
  return eventually([&] { return connections() >= n; }, std::chrono::milliseconds(timeout_ms),
                    std::chrono::milliseconds(5));
}

void ScriptedHttpServer::serve() {
  while (!m_stop) {
    pollfd p{m_listen_fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept(m_listen_fd, nullptr, nullptr);
    if (fd < 0) continue;
    serve_connection(fd, ++m_connections);
    shutdown(fd, SHUT_RDWR);
    close(fd);
  }
}

void ScriptedHttpServer::serve_connection(int fd, int number) {
  std::string in;
  char buf[65536];
  auto write_all = [&](const std::string& bytes) {
    for (size_t done = 0; done < bytes.size();) {
      ssize_t n = send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  };
  for (;;) {
    // One request: its head, then Content-Length bytes of body.
    size_t head_end = std::string::npos, need = 0;
    const Step* step = nullptr;
    while (head_end == std::string::npos || in.size() < head_end + need) {
      if (m_stop) return;
      if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
        head_end += 4;
        auto cl = in.find("Content-Length: ");
        need =
            cl == std::string::npos || cl > head_end ? 0 : std::strtoull(in.c_str() + cl + 16, nullptr, 10);
        {
          std::lock_guard<std::mutex> lock(m_mutex);
          step = &m_script.at(std::min(m_requests.size() + 1, m_script.size()) - 1);
        }
        if (!step->interim.empty() && !write_all(step->interim)) return;
        if (step->before_body) break;
        continue;
      }
      pollfd q{fd, POLLIN, 0};
      if (poll(&q, 1, 50) <= 0) continue;
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) return;  // the client hung up
      in.append(buf, static_cast<size_t>(n));
    }
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      m_requests.push_back(Received{number, in.substr(0, head_end),
                                    in.substr(head_end, std::min(need, in.size() - head_end))});
    }
    if (!write_all(step->answer)) return;
    if (step->before_body) {
      // The rest of the body stays unread until the client, having read the answer, hangs up.
      while (!m_stop) {
        pollfd q{fd, POLLRDHUP, 0};
        if (poll(&q, 1, 50) > 0) return;
      }
      return;
    }
    in.erase(0, head_end + need);
    if (!step->keep_open) return;
  }
}

}  // namespace turso_sync::testing
