// HttpTransport for http:// URLs: HTTP/1.1 over a plain TCP socket of our own, so that a command talking to
// a local server never loads libcurl and the libraries it needs (about 10 ms of every start). It behaves as
// the libcurl transport does for its callers: the same limits (connect, silence, whole request), the same
// progress reports and cancellation, the same error kinds and messages, keep-alive with one retry of a
// request whose reused connection turned out dead before any byte of the answer.
#include <fmt/format.h>

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>

#include "remote/http1.h"
#include "remote/remote_errors.h"
#include "remote/request_body.h"
#include "turso_sync/cancel.h"
#include "turso_sync/remote.h"

namespace turso_sync {

namespace {

using PlainClock = std::chrono::steady_clock;

int64_t plain_ms_between(PlainClock::time_point from, PlainClock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

constexpr size_t kPlainReadBuffer = 512 * 1024;  // a page image arrives in pieces of up to this size
constexpr size_t kPlainSendPiece = 256 * 1024;   // bytes of a spliced body encoded at a time
constexpr size_t kPlainHeadLimit = 64 * 1024;    // an answer's status line and headers
constexpr int64_t kPlainSliceMs = 100;           // the longest wait between two checks of cancellation

// Where a request goes: http://host[:port][/path][?query].
struct PlainTarget {
  std::string host;       // for getaddrinfo: an IPv6 address without its brackets
  std::string port;       // "80" when the URL names none
  std::string authority;  // for the Host header, as in the URL
  std::string path;       // the request target: "/" when the URL has no path
  std::string key() const { return host + " " + port; }
};

Result<PlainTarget> plain_target_of(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  auto bad = [&](const char* why) {
    return Error(ErrorKind::config, fmt::format("POST {}: {} (the plain HTTP transport)", url, why));
  };
  if (url.compare(0, kScheme.size(), kScheme) != 0) return bad("not an http:// URL");
  size_t begin = kScheme.size();
  size_t end = std::min(url.find_first_of("/?#", begin), url.size());
  PlainTarget t;
  t.authority = url.substr(begin, end - begin);
  size_t fragment = url.find('#', end);
  t.path = url.substr(end, fragment == std::string::npos ? std::string::npos : fragment - end);
  if (t.path.empty() || t.path.front() != '/') t.path.insert(0, "/");
  std::string_view a = t.authority;
  if (!a.empty() && a.front() == '[') {
    auto close = a.find(']');
    if (close == std::string_view::npos) return bad("unterminated IPv6 address");
    t.host = std::string(a.substr(1, close - 1));
    if (close + 1 < a.size()) {
      if (a[close + 1] != ':') return bad("bad host");
      t.port = std::string(a.substr(close + 2));
    }
  } else {
    auto colon = a.rfind(':');
    t.host = std::string(a.substr(0, colon));
    if (colon != std::string_view::npos) t.port = std::string(a.substr(colon + 1));
  }
  if (t.host.empty()) return bad("no host");
  if (t.port.empty()) t.port = "80";
  return t;
}

// The request line and headers. Values that would end a header line are refused rather than sent.
Result<std::string> plain_request_head(const HttpTransport::Request& request, const PlainTarget& target) {
  for (const std::string* value : {&request.content_type, &request.bearer_token})
    if (value->find_first_of("\r\n") != std::string::npos)
      return Error(ErrorKind::config,
                   fmt::format("POST {}: the {} holds a line break", request.url,
                               value == &request.bearer_token ? "auth token" : "content type"));
  std::string head = fmt::format("POST {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: turso-sync/" TURSO_SYNC_VERSION
                                 "\r\nAccept: */*\r\nContent-Type: {}\r\nContent-Length: {}\r\n",
                                 target.path, target.authority, request.content_type, body_size(request));
  if (!request.bearer_token.empty()) head += "Authorization: Bearer " + request.bearer_token + "\r\n";
  head += "\r\n";
  return head;
}

// One request's clocks, as the libcurl transport's Watch: the connection within the connect limit, then the
// server's silence timed from the moment the connection is ready (every byte taken or sent restarts it),
// the whole request within Request::total_timeout_ms; progress reports about once a second once a wait has
// lasted a second; cancellation checked at least every kPlainSliceMs.
class PlainWatch {
 public:
  PlainWatch(const HttpTransport::Request& request, int connect_timeout_ms)
      : m_request(request), m_server(server_of(request.url)) {
    m_connect_limit_ms = request.total_timeout_ms > 0 ? std::min(request.total_timeout_ms, connect_timeout_ms)
                                                      : connect_timeout_ms;
    m_connect_timeout_ms = connect_timeout_ms;
    m_connect_deadline = m_started + std::chrono::milliseconds(m_connect_limit_ms);
  }

  bool connected() const { return m_connected; }
  void set_connected() {
    m_connected = true;
    m_last_move = PlainClock::now();
  }
  // A new connection for the same request (the reused one was dead): the connect limit starts again, within
  // the whole request's.
  void reconnecting() {
    m_connected = false;
    auto now = PlainClock::now();
    m_connect_deadline = now + std::chrono::milliseconds(m_connect_timeout_ms);
    if (m_request.total_timeout_ms > 0)
      m_connect_deadline =
          std::min(m_connect_deadline, m_started + std::chrono::milliseconds(m_request.total_timeout_ms));
  }
  void moved(size_t bytes, bool answer) {
    m_last_move = PlainClock::now();
    if (answer) m_received += bytes;
  }
  uint64_t received() const { return m_received; }
  PlainClock::time_point connect_deadline() const { return m_connect_deadline; }

  // Between two transfers that did not wait: the request is interrupted or past its whole limit.
  Status check() const {
    if (cancel_requested()) return interrupted();
    if (m_request.total_timeout_ms > 0 &&
        PlainClock::now() >= m_started + std::chrono::milliseconds(m_request.total_timeout_ms))
      return m_connected ? not_answered_in_time() : no_connection();
    return {};
  }

  // Waits up to one slice (and not past `cap`) for `events` on `fd`: the events that came, 0 when none did
  // yet, or the error that ends the request (interrupted, a limit passed).
  Result<short> wait(int fd, short events, PlainClock::time_point cap = PlainClock::time_point::max()) {
    if (cancel_requested()) return interrupted();
    auto now = PlainClock::now();
    auto until = std::min(cap, now + std::chrono::milliseconds(kPlainSliceMs));
    if (!m_connected) {
      if (now >= m_connect_deadline) return no_connection();
      until = std::min(until, m_connect_deadline);
      report(Waiting::Stage::connecting, plain_ms_between(m_started, now), now);
    } else {
      int64_t quiet = plain_ms_between(m_last_move, now);
      if (m_request.timeout_ms > 0 && quiet >= m_request.timeout_ms) return silent();
      if (m_request.timeout_ms > 0)
        until = std::min(until, m_last_move + std::chrono::milliseconds(m_request.timeout_ms));
      report(Waiting::Stage::answer, quiet, now);
    }
    if (m_request.total_timeout_ms > 0) {
      auto total_deadline = m_started + std::chrono::milliseconds(m_request.total_timeout_ms);
      if (now >= total_deadline) return m_connected ? not_answered_in_time() : no_connection();
      until = std::min(until, total_deadline);
    }
    pollfd p{fd, events, 0};
    int wait_ms = static_cast<int>(std::max<int64_t>(0, plain_ms_between(now, until)));
    int rc = ::poll(&p, 1, wait_ms);
    if (rc < 0 && errno != EINTR)
      return Error(ErrorKind::unreachable,
                   fmt::format("POST {}: poll: {}", m_request.url, std::strerror(errno)));
    return static_cast<short>(rc > 0 ? p.revents : 0);
  }

 private:
  void report(Waiting::Stage stage, int64_t waited_ms, PlainClock::time_point now) {
    const WaitCallback& on_wait = m_request.on_wait;
    if (!on_wait || waited_ms < 1000 || plain_ms_between(m_last_report, now) < 900) return;
    m_last_report = now;
    on_wait(Waiting{stage, m_server, waited_ms});
  }

  // The texts of the libcurl transport (curl_transport.cpp), word for word.
  Error interrupted() const {
    return Error(ErrorKind::cancelled, fmt::format("POST {}: interrupted", m_request.url));
  }
  Error no_connection() const {
    return Error(
        ErrorKind::timeout,
        fmt::format("POST {}: timed out: no connection to the server at {} within {} (is it running, "
                    "and are the host and port right?)",
                    m_request.url, m_server, duration_text(m_connect_limit_ms)));
  }
  Error not_answered_in_time() const {
    return Error(ErrorKind::timeout,
                 fmt::format("POST {}: timed out: the server at {} did not answer within {}", m_request.url,
                             m_server, duration_text(m_request.total_timeout_ms)));
  }
  Error silent() const {
    if (m_received == 0)
      return Error(ErrorKind::timeout,
                   fmt::format("POST {}: timed out: the server at {} accepted the connection but did not "
                               "answer within {}",
                               m_request.url, m_server, duration_text(m_request.timeout_ms)));
    return Error(ErrorKind::timeout,
                 fmt::format("POST {}: timed out: the server at {} stopped sending its answer: nothing "
                             "arrived for {} (after {} bytes)",
                             m_request.url, m_server, duration_text(m_request.timeout_ms), m_received));
  }

  const HttpTransport::Request& m_request;
  std::string m_server;
  PlainClock::time_point m_started = PlainClock::now();
  PlainClock::time_point m_connect_deadline;
  PlainClock::time_point m_last_move;
  PlainClock::time_point m_last_report;
  int m_connect_limit_ms = 0;
  int m_connect_timeout_ms = 0;
  bool m_connected = false;
  uint64_t m_received = 0;  // bytes of the answer, head included
};

// The numeric address of `address` ("127.0.0.1", "::1").
std::string plain_address_text(const addrinfo* address) {
  char host[NI_MAXHOST] = "?";
  ::getnameinfo(address->ai_addr, address->ai_addrlen, host, sizeof host, nullptr, 0, NI_NUMERICHOST);
  return host;
}

using PlainAddresses = std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>;

Result<PlainAddresses> plain_resolve(const PlainTarget& target, const std::string& url) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  int rc = ::getaddrinfo(target.host.c_str(), target.port.c_str(), &hints, &found);
  if (rc != 0 || !found)
    return Error(ErrorKind::unreachable,
                 fmt::format("POST {}: cannot resolve the host name {}: {}", url, target.host,
                             rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc)));
  return PlainAddresses(found, &::freeaddrinfo);
}

// A socket with a non-blocking connect to `address` under way (or done), or -1 with errno set.
int plain_start_connect(const addrinfo* address) {
  int fd = ::socket(address->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  int one = 1, idle = 60;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // As libcurl's CURLOPT_TCP_KEEPALIVE: a connection whose peer vanished is noticed in the end.
  ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &idle, sizeof idle);
  if (::connect(fd, address->ai_addr, address->ai_addrlen) == 0 || errno == EINPROGRESS) return fd;
  int e = errno;
  ::close(fd);
  errno = e;
  return -1;
}

std::string plain_connect_failure(int error, const std::string& ip, const std::string& port) {
  if (error == ECONNREFUSED) return fmt::format("connection refused by {} port {}", ip, port);
  if (error == ETIMEDOUT)
    return fmt::format("no connection to {} port {} in its share of the time", ip, port);
  return fmt::format("cannot connect to {} port {}: {}", ip, port, std::strerror(error));
}

// Whether an idle kept-alive connection can no longer carry a request: the server closed it (or sent bytes
// nobody asked for).
bool plain_connection_gone(int fd) {
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  return ::poll(&p, 1, 0) != 0;
}

// What an answer's first bytes are, for the detail of "its answer is not HTTP".
std::string plain_not_http_detail(std::string_view bytes) {
  std::string shown;
  for (char c : bytes.substr(0, 60)) {
    unsigned char u = static_cast<unsigned char>(c);
    shown += u >= 0x20 && u < 0x7F ? std::string(1, c) : fmt::format("\\x{:02x}", u);
  }
  return fmt::format(
      "the answer has no HTTP/1.x status line (an HTTP/0.9 answer, or another protocol); it "
      "begins with \"{}\"",
      shown);
}

class PlainTransport final : public HttpTransport {
 public:
  explicit PlainTransport(TransportOptions options) : m_options(std::move(options)) {}
  ~PlainTransport() override { close_connection(); }
  PlainTransport(const PlainTransport&) = delete;
  PlainTransport& operator=(const PlainTransport&) = delete;

  Result<Response> post(const Request& request) override { return exchange(request, nullptr); }

  Result<Response> post_streaming(const Request& request, const DataFn& on_data) override {
    return exchange(request, &on_data);
  }

  std::unique_ptr<HttpTransport> another() const override {
    return std::make_unique<PlainTransport>(m_options);
  }

  void preconnect(const std::string& url) override {
    auto target = plain_target_of(url);
    if (!target.ok()) return;  // the request itself will say what is wrong
    if (m_conn.fd >= 0) {
      if (m_conn.key == target->key()) return;
      close_connection();
    }
    auto addresses = plain_resolve(*target, url);
    if (!addresses.ok()) return;
    int fd = plain_start_connect(addresses->get());
    if (fd < 0) return;
    m_conn = Connection{fd, target->key(), false, true};
  }

 private:
  struct Connection {
    int fd = -1;
    std::string key;           // the server it goes to (PlainTarget::key)
    bool established = false;  // the TCP connect is done (else preconnect() began it)
    bool earlier = false;      // made before the request that uses it: the server may have closed it since
  };

  void close_connection() {
    if (m_conn.fd >= 0) ::close(m_conn.fd);
    m_conn = Connection{};
  }

  // Waits for the connect under way on `fd`: 0 once connected, the connect's errno, or ETIMEDOUT once `cap`
  // has passed; the watch's errors (interrupted, out of time).
  Result<int> finish_connect(int fd, PlainWatch& watch, PlainClock::time_point cap) {
    for (;;) {
      if (PlainClock::now() >= cap) return ETIMEDOUT;
      short events = TS_TRY(watch.wait(fd, POLLOUT, cap));
      if (events == 0) continue;
      int error = 0;
      socklen_t size = sizeof error;
      if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) error = errno;
      return error;
    }
  }

  // Connects to `target`: finishes the connect preconnect() began, else tries each address in turn (each
  // but the last gets its share of the connect time left).
  Status connect(const PlainTarget& target, PlainWatch& watch, const std::string& url) {
    if (m_conn.fd >= 0 && !m_conn.established) {
      int error = TS_TRY(finish_connect(m_conn.fd, watch, PlainClock::time_point::max()));
      if (error == 0) {
        m_conn.established = true;
        watch.set_connected();
        return {};
      }
      close_connection();  // connect afresh: the server may have come up since
    }
    PlainAddresses addresses = TS_TRY(plain_resolve(target, url));
    int left = 0;
    for (const addrinfo* a = addresses.get(); a; a = a->ai_next) ++left;
    std::string failures;
    for (const addrinfo* a = addresses.get(); a; a = a->ai_next, --left) {
      std::string ip = plain_address_text(a);
      auto now = PlainClock::now();
      auto cap = left > 1 ? now + (std::max(watch.connect_deadline(), now) - now) / left
                          : PlainClock::time_point::max();
      int error = 0;
      int fd = plain_start_connect(a);
      if (fd < 0) {
        error = errno;
      } else {
        auto finished = finish_connect(fd, watch, cap);
        if (!finished.ok()) {
          ::close(fd);
          return std::move(finished).error();
        }
        error = *finished;
        if (error == 0) {
          m_conn = Connection{fd, target.key(), true, false};
          watch.set_connected();
          return {};
        }
        ::close(fd);
      }
      if (!failures.empty()) failures += "; ";
      failures += plain_connect_failure(error, ip, target.port);
    }
    return Error(ErrorKind::unreachable, fmt::format("POST {}: {}", url, failures));
  }

  // Sends the request head and body. True once all of it went out; false when the server gave its final
  // answer or closed the connection first (read next, by receive()). Bytes of the answer that come while it
  // sends are kept in m_in: an interim answer (1xx) is dropped and the upload goes on.
  Result<bool> send_request(const std::string& head, const Request& request, BodyReader& body,
                            PlainWatch& watch) {
    size_t head_at = 0;
    uint64_t body_left = body_size(request);
    const char* piece = nullptr;
    size_t piece_size = 0, piece_at = 0;
    if (request.splices.empty()) {
      piece = request.body.data();
      piece_size = request.body.size();
    }
    for (;;) {
      TS_TRY_STATUS(watch.check());
      if (piece_at == piece_size && body_left > 0 && !request.splices.empty()) {
        if (!m_send) m_send = std::make_unique<char[]>(kPlainSendPiece);
        size_t got = TS_TRY(
            body.read(m_send.get(), static_cast<size_t>(std::min<uint64_t>(kPlainSendPiece, body_left))));
        if (got == 0)
          return Error(ErrorKind::internal, fmt::format("POST {}: the body ended {} bytes before its size",
                                                        request.url, body_left));
        piece = m_send.get();
        piece_size = got;
        piece_at = 0;
      }
      iovec iov[2];
      int count = 0;
      if (head_at < head.size())
        iov[count++] = {const_cast<char*>(head.data()) + head_at, head.size() - head_at};
      if (piece_at < piece_size) iov[count++] = {const_cast<char*>(piece) + piece_at, piece_size - piece_at};
      if (count == 0) return true;
      msghdr message{};
      message.msg_iov = iov;
      message.msg_iovlen = static_cast<size_t>(count);
      ssize_t sent = ::sendmsg(m_conn.fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) {
        watch.moved(static_cast<size_t>(sent), false);
        size_t n = static_cast<size_t>(sent);
        size_t from_head = std::min(n, head.size() - head_at);
        head_at += from_head;
        piece_at += n - from_head;
        body_left -= n - from_head;
        continue;
      }
      if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        short events = TS_TRY(watch.wait(m_conn.fd, POLLOUT | POLLIN));
        if ((events & POLLIN) && answered_early(watch)) return false;
        continue;
      }
      if (sent < 0 && (errno == EPIPE || errno == ECONNRESET)) return false;
      return Error(ErrorKind::unreachable, fmt::format("POST {}: sending the request to {}: {}", request.url,
                                                       server_of(request.url), std::strerror(errno)));
    }
  }

  // Reads into `out` (at most `size` bytes) as soon as any bytes come: their count, 0 at the end of the
  // connection, -1 when the server reset it.
  Result<long> read_some(char* out, size_t size, const Request& request, PlainWatch& watch) {
    for (;;) {
      TS_TRY_STATUS(watch.check());
      ssize_t n = ::recv(m_conn.fd, out, size, MSG_DONTWAIT);
      if (n > 0) {
        watch.moved(static_cast<size_t>(n), true);
        return static_cast<long>(n);
      }
      if (n == 0) return 0L;
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        TS_TRY_STATUS(watch.wait(m_conn.fd, POLLIN));
        continue;
      }
      if (errno == ECONNRESET) return -1L;
      return Error(ErrorKind::unreachable,
                   fmt::format("POST {}: receiving the answer from {}: {}", request.url,
                               server_of(request.url), std::strerror(errno)));
    }
  }

  // Parses the head at the front of m_in's first `*have` bytes, dropping interim (1xx) answers: the first
  // final head (done, still in m_in), or what stops parsing.
  Http1HeadParse parse_head_dropping_interim(size_t* have) {
    char* in = m_in.get();
    for (;;) {
      auto parsed = http1_parse_head(std::string_view(in, *have), kPlainHeadLimit);
      if (parsed.state != Http1HeadParse::State::done || parsed.head.status >= 200) return parsed;
      std::memmove(in, in + parsed.consumed, *have - parsed.consumed);
      *have -= parsed.consumed;
    }
  }

  // While the request is being sent, bytes came: reads them into m_in. True when the upload should stop:
  // the final answer's head (or bytes that are not HTTP) arrived, or the connection ended.
  bool answered_early(PlainWatch& watch) {
    ssize_t n = ::recv(m_conn.fd, m_in.get() + m_have, kPlainReadBuffer - m_have, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return false;
    if (n <= 0) return true;  // the end of the connection (or its reset): receive() says which
    watch.moved(static_cast<size_t>(n), true);
    m_have += static_cast<size_t>(n);
    return parse_head_dropping_interim(&m_have).state != Http1HeadParse::State::incomplete;
  }

  // An answer cut short: the connection ended (`n` 0) or was reset (`n` -1); `where` says when.
  static Error cut_short(const Request& request, long n, const std::string& where) {
    return Error(ErrorKind::unreachable,
                 fmt::format("POST {}: the server at {} {} {}", request.url, server_of(request.url),
                             n < 0 ? "reset the connection" : "closed the connection", where));
  }

  // Reads the answer. `dead_before_answer`: the connection ended before any byte of it. `keep`: the
  // connection may carry the next request.
  Result<Response> receive(const Request& request, const DataFn* on_data, PlainWatch& watch,
                           bool* dead_before_answer, bool* keep) {
    char* in = m_in.get();
    size_t have = m_have;
    Http1Head head;
    for (;;) {  // the head, after any interim (1xx) answers
      auto parsed = parse_head_dropping_interim(&have);
      if (parsed.state == Http1HeadParse::State::not_http)
        return not_a_turso_server(request.url, "its answer is not HTTP",
                                  plain_not_http_detail(std::string_view(in, have)));
      if (parsed.state == Http1HeadParse::State::malformed)
        return not_a_turso_server(request.url, "its answer is not HTTP",
                                  "its headers break HTTP/1.1: " + parsed.problem);
      if (parsed.state == Http1HeadParse::State::done) {
        std::memmove(in, in + parsed.consumed, have - parsed.consumed);
        have -= parsed.consumed;
        head = std::move(parsed.head);
        break;
      }
      long n = TS_TRY(read_some(in + have, kPlainReadBuffer - have, request, watch));
      if (n <= 0) {
        *dead_before_answer = watch.received() == 0;
        if (*dead_before_answer) return cut_short(request, n, "without answering");
        return cut_short(
            request, n,
            fmt::format("in the middle of its answer's headers (after {} bytes)", watch.received()));
      }
      have += static_cast<size_t>(n);
    }

    Response response;
    response.status = head.status;
    response.content_type = head.content_type;
    if (!head.retry_after.empty())
      response.retry_after_s = http1_retry_after_seconds(head.retry_after, std::time(nullptr));
    if (!head.content_encoding.empty() && head.content_encoding != "identity")
      return Error(ErrorKind::protocol,
                   fmt::format("POST {}: the answer is encoded as {}, which was not asked for", request.url,
                               head.content_encoding));
    const bool streaming = on_data && head.status == 200;
    const size_t limit = m_options.max_response_bytes;
    auto too_large = [&] {
      return Error(ErrorKind::protocol,
                   fmt::format("POST {}: response larger than {} bytes", request.url, limit));
    };
    auto deliver = [&](std::string_view piece) -> Status {
      if (piece.empty()) return {};
      if (streaming) return (*on_data)(piece);
      if (response.body.size() + piece.size() > limit) return too_large();
      response.body.append(piece);
      return {};
    };
    bool complete_framing = true;  // the answer's end is known without the connection's end
    if (!http1_has_body(head)) {
      // No body: whatever follows is not part of this answer.
    } else if (head.chunked) {
      ChunkedDecoder decoder;
      std::optional<Error> sink_error;
      auto sink = [&](std::string_view piece) -> Status {
        Status st = deliver(piece);
        if (!st.ok()) sink_error = st.error();
        return st;
      };
      size_t fed = have, used = 0;
      for (;;) {
        auto decoded = decoder.feed(std::string_view(in, fed), sink);
        if (!decoded.ok()) {
          if (sink_error) return *sink_error;
          return Error(ErrorKind::unreachable,
                       fmt::format("POST {}: the server at {} sent a broken chunked answer", request.url,
                                   server_of(request.url)),
                       decoded.error().message());
        }
        used = *decoded;
        if (decoder.done()) break;
        long n = TS_TRY(read_some(in, kPlainReadBuffer, request, watch));
        if (n <= 0) return cut_short(request, n, "in the middle of its chunked answer");
        fed = static_cast<size_t>(n);
      }
      have = fed - used;  // bytes after the answer
    } else if (head.content_length) {
      uint64_t length = *head.content_length;
      if (!streaming && length > limit) return too_large();
      if (!streaming) response.body.reserve(static_cast<size_t>(length));
      uint64_t left = length;
      size_t take = static_cast<size_t>(std::min<uint64_t>(have, left));
      TS_TRY_STATUS(deliver(std::string_view(in, take)));
      left -= take;
      have -= take;
      while (left > 0) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(kPlainReadBuffer, left));
        long n = TS_TRY(read_some(in, want, request, watch));
        if (n <= 0)
          return cut_short(request, n,
                           fmt::format("before the end of its answer: {} of {} bytes of its body arrived ({} "
                                       "bytes remaining)",
                                       length - left, length, left));
        TS_TRY_STATUS(deliver(std::string_view(in, static_cast<size_t>(n))));
        left -= static_cast<uint64_t>(n);
      }
    } else {
      // Neither a length nor chunks: the answer ends with the connection.
      complete_framing = false;
      TS_TRY_STATUS(deliver(std::string_view(in, have)));
      have = 0;
      for (;;) {
        long n = TS_TRY(read_some(in, kPlainReadBuffer, request, watch));
        if (n == 0) break;
        if (n < 0) return cut_short(request, n, "in the middle of its answer");
        TS_TRY_STATUS(deliver(std::string_view(in, static_cast<size_t>(n))));
      }
    }
    *keep = complete_framing && !head.close && have == 0;
    return response;
  }

  Result<Response> exchange(const Request& request, const DataFn* on_data) {
    PlainTarget target = TS_TRY(plain_target_of(request.url));
    std::string head = TS_TRY(plain_request_head(request, target));
    PlainWatch watch(request, m_options.connect_timeout_ms);
    BodyReader body(request);
    for (int attempt = 1;; ++attempt) {
      if (m_conn.fd >= 0 && m_conn.key != target.key()) close_connection();
      if (m_conn.fd >= 0 && m_conn.established && plain_connection_gone(m_conn.fd)) close_connection();
      if (m_conn.fd >= 0 && m_conn.established) {
        watch.set_connected();
      } else {
        Status connected = connect(target, watch, request.url);
        if (!connected.ok()) {
          close_connection();
          return connected.error();
        }
      }
      bool earlier = m_conn.earlier;
      m_conn.earlier = true;  // for the next request, this connection is one made before it
      bool dead_before_answer = false, keep = false;
      if (!m_in) m_in = std::make_unique<char[]>(kPlainReadBuffer);
      m_have = 0;
      auto result = [&]() -> Result<Response> {
        bool all_sent = TS_TRY(send_request(head, request, body, watch));
        auto response = receive(request, on_data, watch, &dead_before_answer, &keep);
        keep = keep && all_sent;
        return response;
      }();
      if (!result.ok() || !keep) close_connection();
      // A connection kept from before that the server had closed: libcurl sends the request again on a new
      // one, once (nothing of an answer arrived, so nothing was handed to the caller).
      if (!result.ok() && dead_before_answer && earlier && attempt == 1) {
        body.rewind();
        watch.reconnecting();
        continue;
      }
      return result;
    }
  }

  TransportOptions m_options;
  Connection m_conn;
  std::unique_ptr<char[]> m_in;    // the answer as it arrives (kPlainReadBuffer bytes)
  size_t m_have = 0;               // bytes of m_in read while the request was sent
  std::unique_ptr<char[]> m_send;  // a spliced body's next piece (kPlainSendPiece bytes)
};

}  // namespace

std::unique_ptr<HttpTransport> make_plain_transport(const TransportOptions& options) {
  return std::make_unique<PlainTransport>(options);
}

}  // namespace turso_sync
