// HttpTransport over libcurl. One easy handle per transport, reused so connections are kept alive.
#include <curl/curl.h>
#include <fmt/format.h>

#include <mutex>
#include <optional>
#include <string_view>

#include "turso_sync/cancel.h"
#include "turso_sync/remote.h"

namespace turso_sync {

namespace {

struct CurlGlobal {
  CurlGlobal() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  ~CurlGlobal() { curl_global_cleanup(); }
};

void ensure_curl_global() {
  static CurlGlobal global;
}

struct Sink {
  std::string* body;
  size_t limit;
  bool overflow = false;
  CURL* curl = nullptr;
  const HttpTransport::DataFn* on_data = nullptr;  // streaming: the body of a 200 answer goes here
  std::optional<Error> stream_error;
};

size_t write_body(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  size_t bytes = size * n;
  if (sink->on_data) {
    long status = 0;
    curl_easy_getinfo(sink->curl, CURLINFO_RESPONSE_CODE, &status);
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

int abort_on_cancel(void*, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return cancel_requested() ? 1 : 0;
}

class CurlTransport final : public HttpTransport {
 public:
  explicit CurlTransport(TransportOptions options) : m_options(std::move(options)) {
    ensure_curl_global();
    m_curl = curl_easy_init();
  }
  ~CurlTransport() override {
    if (m_curl) curl_easy_cleanup(m_curl);
  }

  Result<Response> post(const Request& request) override { return perform(request, nullptr); }

  Result<Response> post_streaming(const Request& request, const DataFn& on_data) override {
    return perform(request, &on_data);
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

  Result<Response> perform(const Request& request, const DataFn* on_data) {
    if (!m_curl) return Error(ErrorKind::internal, "curl_easy_init failed");
    CURL* c = m_curl;
    curl_easy_reset(c);
    Response response;
    Sink sink{&response.body, m_options.max_response_bytes};
    sink.curl = c;
    sink.on_data = on_data;
    curl_slist* headers = nullptr;
    headers = curl_slist_append(headers, ("Content-Type: " + request.content_type).c_str());
    headers = curl_slist_append(headers, "Expect:");
    std::string auth;
    if (!request.bearer_token.empty()) {
      auth = "Authorization: Bearer " + request.bearer_token;
      headers = curl_slist_append(headers, auth.c_str());
    }
    curl_easy_setopt(c, CURLOPT_URL, request.url.c_str());
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(m_options.connect_timeout_ms));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(request.timeout_ms));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip etc. when the server offers it
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, abort_on_cancel);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "turso-sync/" TURSO_SYNC_VERSION);
    if (!m_options.ca_cert.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, m_options.ca_cert.c_str());
    char errbuf[CURL_ERROR_SIZE] = {0};
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);

    CURLcode rc = curl_easy_perform(c);
    curl_slist_free_all(headers);
    if (sink.stream_error) return *sink.stream_error;
    if (sink.overflow)
      return Error(ErrorKind::protocol, fmt::format("POST {}: response larger than {} bytes", request.url,
                                                    m_options.max_response_bytes));
    if (rc == CURLE_ABORTED_BY_CALLBACK)
      return Error(ErrorKind::cancelled, fmt::format("POST {}: interrupted", request.url));
    if (rc != CURLE_OK) {
      std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
      if (rc == CURLE_PEER_FAILED_VERIFICATION) return certificate_error(request.url, detail);
      if (rc == CURLE_SSL_CACERT_BADFILE)
        return Error(ErrorKind::config,
                     fmt::format("POST {}: cannot use the certificate authorities of {} (--ca-cert, "
                                 "TURSO_SYNC_CA_CERT): {}; give a readable PEM file",
                                 request.url,
                                 m_options.ca_cert.empty() ? "the system store" : m_options.ca_cert, detail));
      ErrorKind kind = rc == CURLE_OPERATION_TIMEDOUT ? ErrorKind::timeout : ErrorKind::unreachable;
      return Error(kind, fmt::format("POST {}: {}", request.url, detail));
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
    char* ct = nullptr;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
    if (ct) response.content_type = ct;
    curl_off_t retry_after = 0;  // parsed from Retry-After (seconds or an HTTP date); 0 when absent
    if (curl_easy_getinfo(c, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK && retry_after > 0)
      response.retry_after_s = static_cast<int64_t>(retry_after);
    return response;
  }

  TransportOptions m_options;
  CURL* m_curl = nullptr;
};

}  // namespace

std::unique_ptr<HttpTransport> make_curl_transport(const TransportOptions& options) {
  return std::make_unique<CurlTransport>(options);
}

}  // namespace turso_sync
