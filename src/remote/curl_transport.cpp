// HttpTransport over libcurl (loaded on the first request: curl_library.h). One easy handle per transport,
// reused so connections are kept alive.
#include <fmt/format.h>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <optional>
#include <string_view>

#include "remote/curl_library.h"
#include "remote/remote_errors.h"
#include "remote/request_body.h"
#include "turso_sync/cancel.h"
#include "turso_sync/remote.h"

namespace turso_sync {

namespace {

struct Sink {
  std::string* body;
  size_t limit;
  bool overflow = false;
  const CurlApi* api = nullptr;
  CURL* curl = nullptr;
  const HttpTransport::DataFn* on_data = nullptr;  // streaming: the body of a 200 answer goes here
  std::optional<Error> stream_error;
};

struct BodySource {
  BodyReader* reader;
  std::optional<Error>* error;
};

size_t read_body(char* out, size_t size, size_t n, void* user) {
  auto* source = static_cast<BodySource*>(user);
  auto got = source->reader->read(out, size * n);
  if (!got.ok()) {
    *source->error = got.error();
    return CURL_READFUNC_ABORT;
  }
  return got.value();
}

int seek_body(void* user, curl_off_t offset, int origin) {
  if (offset != 0 || origin != SEEK_SET) return CURL_SEEKFUNC_CANTSEEK;
  static_cast<BodySource*>(user)->reader->rewind();
  return CURL_SEEKFUNC_OK;
}

size_t write_body(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t bytes = size * n;
  if (sink->on_data) {
    long status = 0;
    sink->api->easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status == 200) {
      auto st = (*sink->on_data)(std::string_view(data, bytes));
      if (!st.ok()) {
        sink->stream_error = st.error();
        return 0;  // aborts the transfer
      }
      return bytes;
    }
  }
  if (sink->body->size() + bytes > sink->limit) {
    sink->overflow = true;
    return 0;  // aborts the transfer
  }
  sink->body->append(data, bytes);
  return bytes;
}

using Clock = std::chrono::steady_clock;

int64_t ms_since(Clock::time_point t, Clock::time_point now) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count();
}

enum class Probe { no_connection, not_plain_http, plain_http };

// Whether the server at `ip`:`port` answers plain HTTP: one `GET /` over a connection of its own, answered
// within `wait_ms` by bytes that start with "HTTP/". A TLS server that answers such a request with a
// complaint about HTTPS (nginx: "The plain HTTP request was sent to HTTPS port") is a TLS server.
Probe probe_plain_http(const std::string& ip, long port, int wait_ms) {
  addrinfo hints{};
  hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(ip.c_str(), std::to_string(port).c_str(), &hints, &found) != 0 || !found)
    return Probe::no_connection;
  int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  Probe result = Probe::no_connection;
  auto deadline = Clock::now() + std::chrono::milliseconds(wait_ms);
  auto wait_for = [&](short events) {
    int left = static_cast<int>(std::max<int64_t>(0, -ms_since(deadline, Clock::now())));
    pollfd p{fd, events, 0};
    return ::poll(&p, 1, left) == 1 && (p.revents & events);
  };
  if (fd >= 0 && (::connect(fd, found->ai_addr, found->ai_addrlen) == 0 || errno == EINPROGRESS) &&
      wait_for(POLLOUT)) {
    const std::string probe = "GET / HTTP/1.0\r\nUser-Agent: turso-sync/" TURSO_SYNC_VERSION "\r\n\r\n";
    std::string answer;
    if (::send(fd, probe.data(), probe.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(probe.size())) {
      char buf[512];
      while (answer.size() < sizeof buf && wait_for(POLLIN)) {
        ssize_t n = ::recv(fd, buf, sizeof buf - answer.size(), 0);
        if (n <= 0) break;
        answer.append(buf, static_cast<size_t>(n));
      }
    }
    bool plain = answer.rfind("HTTP/", 0) == 0 && answer.find("HTTPS") == std::string::npos;
    result = plain ? Probe::plain_http : Probe::not_plain_http;
  }
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(found);
  return result;
}

// libcurl goes through a proxy named by the environment: the address it connects to is the proxy's, which
// speaks plain HTTP whatever the server does, so the plain-http probe would accuse the wrong server.
bool proxy_in_environment() {
  for (const char* name : {"https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"}) {
    const char* value = std::getenv(name);
    if (value && *value) return true;
  }
  return false;
}

// One request's clocks, read by the progress callback libcurl calls about once a second and at every
// transfer: the server's silence is timed from the moment the connection is ready, and every byte taken or
// sent restarts the clock.
struct Watch {
  const CurlApi* api = nullptr;
  CURL* curl = nullptr;
  bool tls = false;
  int64_t silence_limit_ms = 0;
  const WaitCallback* on_wait = nullptr;
  std::string server;
  Clock::time_point started = Clock::now();
  Clock::time_point last_move;
  Clock::time_point last_report;
  bool connected = false;
  curl_off_t bytes = 0;     // taken and received so far
  curl_off_t received = 0;  // of them, bytes of the answer
  // TLS: stop the transfer once the handshake has gone unanswered for a second (the probe cannot be made
  // while it is open: the local Turso server serves one connection at a time).
  bool probe_allowed = false;  // TLS without a proxy
  bool stop_unanswered_handshake = false;
  bool handshake_unanswered = false;  // stopped for that reason
  std::string ip;                     // the server's address, once the connect has started
  long port = 0;
  std::optional<Probe> probed;  // TLS: what the port answered to plain HTTP, once asked
  bool silent = false;          // given up: the server was silent for silence_limit_ms

  bool plain_http() const { return probed == Probe::plain_http; }

  // The address libcurl connects to (known as soon as the TCP connect starts; libcurl 7.88 tells the
  // connect time only once the TLS handshake is done).
  bool note_address() {
    char* primary = nullptr;
    api->easy_getinfo(curl, CURLINFO_PRIMARY_IP, &primary);
    api->easy_getinfo(curl, CURLINFO_PRIMARY_PORT, &port);
    if (primary) ip = primary;
    return !ip.empty() && port > 0;
  }

  // Asks the port for plain HTTP once, libcurl's connection being closed: a plain-http server waits for a
  // request line that the ClientHello never gives it, or answers it with bytes that are not TLS.
  void probe_once() {
    if (probe_allowed && !probed && note_address()) probed = probe_plain_http(ip, port, 1500);
  }

  void report(Waiting::Stage stage, int64_t waited_ms, Clock::time_point now) {
    if (!on_wait || !*on_wait || waited_ms < 1000 || ms_since(last_report, now) < 900) return;
    last_report = now;
    (*on_wait)(Waiting{stage, server, waited_ms});
  }

  // 0 to go on, 1 to stop the transfer.
  int tick(curl_off_t moved, curl_off_t answer_bytes) {
    received = answer_bytes;
    if (cancel_requested()) return 1;
    auto now = Clock::now();
    if (!connected) {
      curl_off_t ready_us = 0;
      api->easy_getinfo(curl, CURLINFO_PRETRANSFER_TIME_T, &ready_us);
      if (ready_us == 0) {
        if (stop_unanswered_handshake && ms_since(started, now) >= 1000 && note_address()) {
          handshake_unanswered = true;
          return 1;
        }
        report(Waiting::Stage::connecting, ms_since(started, now), now);
        return 0;
      }
      connected = true;
      last_move = now;
      bytes = moved;
    }
    if (moved != bytes) {
      bytes = moved;
      last_move = now;
    }
    int64_t quiet = ms_since(last_move, now);
    if (silence_limit_ms > 0 && quiet >= silence_limit_ms) {
      silent = true;
      return 1;
    }
    report(Waiting::Stage::answer, quiet, now);
    return 0;
  }
};

int on_transfer_progress(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
  return static_cast<Watch*>(user)->tick(dlnow + ulnow, dlnow);
}

// libcurl's failures that mean the bytes that came back are not an HTTP answer (a server of another
// protocol, or garbage): "Received HTTP/0.9 when not allowed", "Weird server reply", a body that does not
// decode by its Content-Encoding.
bool not_http(CURLcode rc) {
  return rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_WEIRD_SERVER_REPLY ||
         rc == CURLE_BAD_CONTENT_ENCODING;
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(TransportOptions options) : m_options(std::move(options)) {}
  ~CurlTransport() override {
    if (m_curl) m_api->easy_cleanup(m_curl);
  }
  CurlTransport(const CurlTransport&) = delete;
  CurlTransport& operator=(const CurlTransport&) = delete;

  Result<Response> post(const Request& request) override { return perform(request, nullptr); }

  Result<Response> post_streaming(const Request& request, const DataFn& on_data) override {
    return perform(request, &on_data);
  }

  std::unique_ptr<HttpTransport> another() const override {
    return std::make_unique<CurlTransport>(m_options);
  }

 private:
  // The server's certificate did not verify (unknown or private CA, self-signed, wrong host name, expired):
  // the request was never sent. Say so, and how a private CA is trusted.
  Error certificate_error(const std::string& url, const std::string& detail) const {
    std::string trusted = m_options.ca_cert.empty()
                              ? "the system's certificate authorities"
                              : fmt::format("the certificate authorities of --ca-cert {}", m_options.ca_cert);
    return Error(
        ErrorKind::unreachable,
        fmt::format("POST {}: the server's TLS certificate could not be verified against {} ({}); "
                    "nothing was sent. If the server uses a private or self-signed certificate, pass "
                    "its CA certificate (PEM) with --ca-cert FILE or TURSO_SYNC_CA_CERT",
                    url, trusted, detail));
  }

  // TLS spoken to a port that serves plain http: the request never went out, and the URL must change
  // (ErrorKind::config, exit 2; never retried).
  Error plain_http_error(const std::string& url, const std::string& detail) const {
    std::string server = server_of(url);
    std::string plain = "http://" + server.substr(server.find("://") + 3);
    return Error(ErrorKind::config,
                 fmt::format("POST {}: the server at {} speaks plain http, not TLS: use {} (or "
                             "libsql://{}?tls=0) in TURSO_DATABASE_URL; nothing was sent",
                             url, server, plain, plain.substr(7)),
                 detail);
  }

  // CURLE_OPERATION_TIMEDOUT: the connect timeout (TCP, or the TLS handshake), or Request::total_timeout_ms.
  Error timeout_error(const Request& request, const Watch& watch, const std::string& detail) const {
    // Not connected in time: the TLS handshake was found unanswered by a server that took the probe's
    // connection (Watch::probe_once), or there was no connection at all.
    std::string server = server_of(request.url);
    std::string what;
    int connect_limit = request.total_timeout_ms > 0
                            ? std::min(request.total_timeout_ms, m_options.connect_timeout_ms)
                            : m_options.connect_timeout_ms;
    if (!watch.connected) {
      if (watch.probed != Probe::not_plain_http)
        what = fmt::format(
            "no connection to the server at {} within {} (is it running, and are the host and "
            "port right?)",
            server, duration_text(connect_limit));
      else
        what = fmt::format(
            "the server at {} accepted the connection but did not complete the TLS handshake "
            "within {} (if it serves plain http, use http:// or libsql://…?tls=0)",
            server, duration_text(connect_limit));
    }
    if (what.empty())
      what = fmt::format("the server at {} did not answer within {}", server,
                         duration_text(request.total_timeout_ms));
    return Error(ErrorKind::timeout, fmt::format("POST {}: timed out: {}", request.url, what), detail);
  }

  Result<Response> perform(const Request& request, const DataFn* on_data) {
    if (!m_api) {
      auto api = curl_library();
      if (!api.ok()) return api.error().context("POST " + request.url);
      m_api = *api;
    }
    const CurlApi& curl = *m_api;
    if (!m_curl) m_curl = curl.easy_init();
    if (!m_curl) return Error(ErrorKind::internal, "curl_easy_init failed");
    CURL* c = m_curl;
    curl.easy_reset(c);
    Response response;
    Sink sink{&response.body, m_options.max_response_bytes};
    sink.api = m_api;
    sink.curl = c;
    sink.on_data = on_data;
    curl_slist* headers = nullptr;
    headers = curl.slist_append(headers, ("Content-Type: " + request.content_type).c_str());
    headers = curl.slist_append(headers, "Expect:");
    std::string auth;
    if (!request.bearer_token.empty()) {
      auth = "Authorization: Bearer " + request.bearer_token;
      headers = curl.slist_append(headers, auth.c_str());
    }
    curl.easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl.easy_setopt(c, CURLOPT_POST, 1L);
    // A body with large values spliced in is read piece by piece as libcurl sends it.
    BodyReader body(request);
    std::optional<Error> body_error;
    BodySource source{&body, &body_error};
    if (request.splices.empty()) {
      curl.easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    } else {
      curl.easy_setopt(c, CURLOPT_READFUNCTION, read_body);
      curl.easy_setopt(c, CURLOPT_READDATA, &source);
      curl.easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_body);
      curl.easy_setopt(c, CURLOPT_SEEKDATA, &source);
    }
    curl.easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body_size(request)));
    curl.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    // Large reads: a page image arrives in fewer, larger pieces (fewer system calls and callbacks).
    curl.easy_setopt(c, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl.easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
    curl.easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    auto set_timeouts = [&](int64_t spent_ms) {
      curl.easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                       static_cast<long>(std::max<int64_t>(1, m_options.connect_timeout_ms - spent_ms)));
      curl.easy_setopt(c, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(request.total_timeout_ms > 0
                                             ? std::max<int64_t>(1, request.total_timeout_ms - spent_ms)
                                             : 0));
    };
    set_timeouts(0);
    curl.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl.easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl.easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip etc. when the server offers it
    Watch watch;
    watch.api = m_api;
    watch.curl = c;
    watch.tls = request.url.rfind("https://", 0) == 0;
    watch.probe_allowed = watch.tls && !proxy_in_environment();
    watch.stop_unanswered_handshake = watch.probe_allowed;
    watch.silence_limit_ms = request.timeout_ms;
    watch.on_wait = &request.on_wait;
    watch.server = server_of(request.url);
    curl.easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_transfer_progress);
    curl.easy_setopt(c, CURLOPT_XFERINFODATA, &watch);
    curl.easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl.easy_setopt(c, CURLOPT_USERAGENT, "turso-sync/" TURSO_SYNC_VERSION);
    if (!m_options.ca_cert.empty()) curl.easy_setopt(c, CURLOPT_CAINFO, m_options.ca_cert.c_str());
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl.easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

    CURLcode rc = curl.easy_perform(c);
    if (rc == CURLE_ABORTED_BY_CALLBACK && watch.handshake_unanswered) {
      // libcurl has closed the unfinished connection, so the port can be asked for plain HTTP now.
      watch.probe_once();
      if (!watch.plain_http()) {
        // A slow TLS server, or a port that answers nothing at all: the rest of the connect time.
        watch.stop_unanswered_handshake = false;
        set_timeouts(ms_since(watch.started, Clock::now()));
        body.rewind();
        rc = curl.easy_perform(c);
      }
    }
    curl.slist_free_all(headers);
    if (body_error) return *body_error;
    if (sink.stream_error) return *sink.stream_error;
    if (sink.overflow)
      return Error(ErrorKind::protocol, fmt::format("POST {}: response larger than {} bytes", request.url,
                                                    m_options.max_response_bytes));
    if (rc == CURLE_ABORTED_BY_CALLBACK) {
      if (watch.plain_http()) return plain_http_error(request.url, "it does not answer the TLS handshake");
      if (watch.silent && watch.received == 0)
        return Error(ErrorKind::timeout,
                     fmt::format("POST {}: timed out: the server at {} accepted the connection but did not "
                                 "answer within {}",
                                 request.url, watch.server, duration_text(watch.silence_limit_ms)));
      if (watch.silent)
        return Error(
            ErrorKind::timeout,
            fmt::format("POST {}: timed out: the server at {} stopped sending its answer: nothing "
                        "arrived for {} (after {} bytes)",
                        request.url, watch.server, duration_text(watch.silence_limit_ms), watch.received));
      return Error(ErrorKind::cancelled, fmt::format("POST {}: interrupted", request.url));
    }
    if (rc != CURLE_OK) {
      std::string detail = errbuf[0] ? errbuf : curl.easy_strerror(rc);
      if (rc == CURLE_OPERATION_TIMEDOUT) return timeout_error(request, watch, detail);
      // The handshake failed at once: the server answered the ClientHello with bytes that are not TLS
      // ("wrong version number") or closed the connection.
      if (rc == CURLE_SSL_CONNECT_ERROR && watch.tls) {
        watch.probe_once();
        if (watch.plain_http()) return plain_http_error(request.url, detail);
      }
      if (not_http(rc)) return not_a_turso_server(request.url, "its answer is not HTTP", detail);
      if (rc == CURLE_PEER_FAILED_VERIFICATION) return certificate_error(request.url, detail);
      if (rc == CURLE_SSL_CACERT_BADFILE)
        return Error(ErrorKind::config,
                     fmt::format("POST {}: cannot use the certificate authorities of {} (--ca-cert, "
                                 "TURSO_SYNC_CA_CERT): {}; give a readable PEM file",
                                 request.url,
                                 m_options.ca_cert.empty() ? "the system store" : m_options.ca_cert, detail));
      return Error(ErrorKind::unreachable, fmt::format("POST {}: {}", request.url, detail));
    }
    curl.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    char* ct = nullptr;
    curl.easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) response.content_type = ct;
    curl_off_t retry_after = 0;  // parsed from Retry-After (seconds or an HTTP date); 0 when absent
    if (curl.easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
      response.retry_after_s = static_cast<int64_t>(retry_after);
    return response;
  }

  TransportOptions m_options;
  const CurlApi* m_api = nullptr;
  CURL* m_curl = nullptr;
};

}  // namespace

std::unique_ptr<HttpTransport> make_curl_transport(const TransportOptions& options) {
  return std::make_unique<CurlTransport>(options);
}

}  // namespace turso_sync
