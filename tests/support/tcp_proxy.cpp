#include "support/tcp_proxy.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>

#include "support/test_env.h"

namespace turso_sync::testing {

namespace {

constexpr int kSliceMs = 100;
constexpr int kIoTimeoutMs = 120000;  // generous: a loaded machine must not turn into a fault

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Reads from `fd` into `out` until `done(out)` or EOF/error/timeout. Returns false on error or timeout before
// done.
template <typename Done>
bool read_until(int fd, std::string& out, const std::atomic<bool>& stop, Done done) {
  char buf[65536];
  int waited = 0;
  while (!done(out)) {
    if (stop) return false;
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, kSliceMs);
    if (r < 0) return false;
    if (r == 0) {
      waited += kSliceMs;
      if (waited >= kIoTimeoutMs) return false;
      continue;
    }
    waited = 0;
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) return false;
    if (n == 0) return done(out);  // EOF
    out.append(buf, static_cast<size_t>(n));
  }
  return true;
}

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Whether `msg` holds a complete HTTP message (headers + Content-Length body, or a chunked body).
// Without either, the message ends with its headers (requests without a body).
bool message_complete(const std::string& msg) {
  size_t header_end = msg.find("\r\n\r\n");
  if (header_end == std::string::npos) return false;
  std::string headers = lower(msg.substr(0, header_end));
  size_t body_start = header_end + 4;
  if (auto cl = headers.find("\r\ncontent-length:"); cl != std::string::npos) {
    size_t need = std::strtoul(headers.c_str() + cl + 17, nullptr, 10);
    return msg.size() >= body_start + need;
  }
  if (headers.find("transfer-encoding: chunked") != std::string::npos)
    return msg.size() >= body_start + 5 && msg.compare(msg.size() - 5, 5, "0\r\n\r\n") == 0;
  return true;
}

// A complete error answer with a short text body, as a gateway or an overloaded server sends it.
std::string error_response(int status, const std::string& reason) {
  std::string body = std::to_string(status) + " " + reason;
  return "HTTP/1.1 " + body +
         "\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

TcpProxy::TcpProxy(int upstream_port) : m_upstream_port(upstream_port) {
  m_listen_fd = listen_on_free_port(&m_port, 64);
  m_acceptor = std::thread([this] { accept_loop(); });
}

TcpProxy::~TcpProxy() {
  m_stop = true;
  m_acceptor.join();
  std::vector<std::thread> workers;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    workers.swap(m_workers);
  }
  for (auto& t : workers) t.join();
  close(m_listen_fd);
}

void TcpProxy::set_mode(Fault fault, const std::string& only) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_mode = fault;
  m_mode_only = only;
  m_armed = false;
}

void TcpProxy::arm_once(Fault fault, const std::string& trigger, Fault then) {
  std::lock_guard<std::mutex> lock(m_mutex);
  m_armed = true;
  m_armed_fault = fault;
  m_trigger = trigger;
  m_then = then;
  m_mode_only.clear();
  m_armed_fired = false;
}

int TcpProxy::forwarded_containing(const std::string& text) const {
  std::lock_guard<std::mutex> lock(m_mutex);
  return static_cast<int>(
      std::count_if(m_forwarded_requests.begin(), m_forwarded_requests.end(),
                    [&](const std::string& r) { return r.find(text) != std::string::npos; }));
}

TcpProxy::Fault TcpProxy::decide(const std::string& request) {
  std::lock_guard<std::mutex> lock(m_mutex);
  if (m_armed && (m_trigger.empty() || request.find(m_trigger) != std::string::npos)) {
    m_armed = false;
    m_mode = m_then;
    m_armed_fired = true;
    return m_armed_fault;
  }
  if (m_armed) return Fault::none;
  if (!m_mode_only.empty() && request.find(m_mode_only) == std::string::npos) return Fault::none;
  return m_mode;
}

bool TcpProxy::wait_until_held(int timeout_ms) const {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (m_held.load() == 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool TcpProxy::hold(int client_fd, OnHangUp on_hang_up) {
  int generation = m_release_generation.load();
  ++m_held;
  bool released = false;
  while (!m_stop) {
    if (m_release_generation.load() != generation) {
      released = true;
      break;
    }
    // Waits 20 ms at most for the client (not watched when the request stays in flight: poll skips a
    // negative descriptor), then looks at the release again: a poll of events, not a delay a test relies on.
    pollfd p{on_hang_up == OnHangUp::drop ? client_fd : -1, POLLIN, 0};
    if (poll(&p, 1, 20) > 0) {
      char c;
      if (recv(client_fd, &c, 1, MSG_PEEK) <= 0) break;  // the client hung up
    }
  }
  --m_held;
  return released;
}

void TcpProxy::accept_loop() {
  while (!m_stop) {
    pollfd p{m_listen_fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    int fd = accept(m_listen_fd, nullptr, nullptr);
    if (fd < 0) continue;
    std::lock_guard<std::mutex> lock(m_mutex);
    m_workers.emplace_back([this, fd] { handle(fd); });
  }
}

void TcpProxy::handle(int client_fd) {
  std::string request;
  if (!read_until(client_fd, request, m_stop, message_complete) || request.empty()) {
    close(client_fd);
    return;
  }
  ++m_requests;
  m_bytes_in += request.size();
  bool not_found = false;
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    not_found = !m_not_found.empty() && request.find(m_not_found) != std::string::npos;
  }
  if (not_found) {
    write_all(client_fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    shutdown(client_fd, SHUT_RDWR);
    close(client_fd);
    return;
  }
  Fault fault = decide(request);
  if (fault == Fault::hold) {
    ++m_faults;
    if (!hold(client_fd, OnHangUp::drop)) {
      close(client_fd);
      return;
    }
  }
  if (fault == Fault::hold_in_flight) {
    ++m_faults;
    if (!hold(client_fd, OnHangUp::keep)) {
      close(client_fd);
      return;
    }
  }
  if (fault == Fault::rate_limit) {
    ++m_faults;
    write_all(client_fd,
              "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Type: text/plain\r\n"
              "Content-Length: 17\r\nConnection: close\r\n\r\ntoo many requests");
    shutdown(client_fd, SHUT_RDWR);
    close(client_fd);
    return;
  }
  if (fault == Fault::http_500 || fault == Fault::http_502 || fault == Fault::http_503) {
    ++m_faults;
    write_all(client_fd, fault == Fault::http_500   ? error_response(500, "Internal Server Error")
                         : fault == Fault::http_502 ? error_response(502, "Bad Gateway")
                                                    : error_response(503, "Service Unavailable"));
    shutdown(client_fd, SHUT_RDWR);
    close(client_fd);
    return;
  }
  if (fault == Fault::cut_request) {
    ++m_faults;
    shutdown(client_fd, SHUT_RDWR);
    close(client_fd);
    return;
  }
  int delay = m_delay_ms.load();
  {
    std::lock_guard<std::mutex> lock(m_mutex);
    if (!m_delay_only.empty() && request.find(m_delay_only) == std::string::npos) delay = 0;
  }
  if (delay > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay));
  int upstream = connect_loopback(m_upstream_port);
  if (upstream < 0) {
    close(client_fd);
    return;
  }
  std::string response;
  bool sent = write_all(upstream, request);
  if (sent) {
    ++m_forwarded;
    {
      std::lock_guard<std::mutex> lock(m_mutex);
      m_forwarded_requests.push_back(request);
    }
    // The server closes after its answer; a complete message with a Content-Length also ends the read.
    read_until(upstream, response, m_stop, [](const std::string& r) {
      size_t header_end = r.find("\r\n\r\n");
      if (header_end == std::string::npos) return false;
      if (lower(r.substr(0, header_end)).find("\r\ncontent-length:") == std::string::npos)
        return false;  // to EOF
      return message_complete(r);
    });
    if (!response.empty()) ++m_answered;
  }
  close(upstream);
  if (fault == Fault::drop_response_after_forwarding) {
    ++m_faults;
  } else if (fault == Fault::http_503_after_forwarding && !response.empty()) {
    ++m_faults;
    write_all(client_fd, error_response(503, "Service Unavailable"));
  } else if (fault == Fault::wrong_shape_response && !response.empty()) {
    ++m_faults;
    std::string body = request.find("POST /pull-updates") != std::string::npos
                           ? R"({"results":[]})"
                           : R"({"baton":null,"base_url":null,"results":42})";
    write_all(client_fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body);
  } else if ((fault == Fault::truncate_response || fault == Fault::garble_response ||
              fault == Fault::damage_last_page) &&
             !response.empty()) {
    ++m_faults;
    size_t body = response.find("\r\n\r\n");
    body = body == std::string::npos ? response.size() : body + 4;
    if (fault == Fault::truncate_response)
      response.resize(body + (response.size() - body) / 2);
    else if (fault == Fault::garble_response)
      std::fill(response.begin() + static_cast<std::ptrdiff_t>(body), response.end(), '\xff');
    else if (response.size() - body >= 4096)
      response[response.size() - 4096] = static_cast<char>(~response[response.size() - 4096]);
    write_all(client_fd, response);
  } else if (!response.empty()) {
    if (write_all(client_fd, response)) m_bytes_out += response.size();
  }
  shutdown(client_fd, SHUT_RDWR);
  close(client_fd);
}

}  // namespace turso_sync::testing
