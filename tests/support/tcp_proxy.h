// A small TCP proxy on a free loopback port in front of a local server, for fault tests: it can pass requests
// through, drop the server's answer after the server has fully handled the request (the "lost response"), cut
// a request before it reaches the server, or delay requests. The local Turso server handles one request per
// TCP connection (Connection: close), so the proxy reads one HTTP request per client connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace turso_sync::testing {

class TcpProxy {
 public:
  enum class Fault {
    none,                            // pass-through
    drop_response_after_forwarding,  // forward the request, read the server's whole answer, close without
                                     // sending it
    cut_request,                     // read the request, close the client connection, never forward it
    truncate_response,  // forward the request, send the server's answer with only the first half of its body,
                        // then close (the client sees a body shorter than announced)
    garble_response,    // forward the request, send the server's answer with every body byte replaced by 0xFF
                        // (same length: only the content is wrong)
    damage_last_page,  // forward the request, send the server's answer with the first byte of the body's last
                       // 4096 bytes inverted: in a page answer, the header of its last page (the framing
                       // intact, only that page's content is wrong)
    rate_limit,  // read the request, answer "429 Too Many Requests" with "Retry-After: 1", never forward it
    hold,  // read the request and keep the client waiting, never forwarding it, until release_held(), the
           // client's hang-up or the proxy's end: an operation is then provably in progress (tests
           // synchronise on held() instead of sleeping)
    hold_in_flight,  // like hold, but the request stays held when the client hangs up, and release_held()
                     // then forwards it (its answer goes nowhere if the client is gone): a request still on
                     // its way to the server after its sender died
    http_500,        // read the request, answer "500 Internal Server Error", never forward it
    http_502,        // read the request, answer "502 Bad Gateway", never forward it
    http_503,        // read the request, answer "503 Service Unavailable", never forward it
    http_503_after_forwarding,  // forward the request, let the server answer, send "503 Service Unavailable"
                                // instead (the server did the work; the client is told it failed)
    wrong_shape_response,  // forward the request, then answer 200 with valid JSON the client does not expect:
                           // {"baton":null,"results":42} to /v2/pipeline, {"results":[]} (JSON, not a page
                           // stream) to /pull-updates
  };

  explicit TcpProxy(int upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  int port() const { return m_port; }

  // Applies `fault` from now on to every request whose raw text contains `only` (empty: every request; the
  // others pass through); clears an armed one-shot fault.
  void set_mode(Fault fault, const std::string& only = "");
  // Requests pass through until one whose raw text (headers + body) contains `trigger` arrives (empty: any
  // request); that one gets `fault`, and every later request gets `then`.
  void arm_once(Fault fault, const std::string& trigger, Fault then = Fault::none);
  // Every request containing `trigger` is answered "404 Not Found" without reaching the server, as by a
  // server that lacks that endpoint ("" = off).
  void answer_not_found(const std::string& trigger) {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_not_found = trigger;
  }
  // Delay before forwarding each request whose raw text contains `only` (0: none; "" = every request).
  void set_delay_ms(int ms, const std::string& only = "") {
    std::lock_guard<std::mutex> lock(m_mutex);
    m_delay_ms = ms;
    m_delay_only = only;
  }

  int requests() const { return m_requests.load(); }       // requests read from clients
  int forwarded() const { return m_forwarded.load(); }     // requests sent to the server
  int faults_injected() const { return m_faults.load(); }  // requests dropped, cut, held or refused
  int answered() const { return m_answered.load(); }       // forwarded requests the server answered
  int held() const { return m_held.load(); }               // requests being held right now
  // Bytes of the requests read from clients and of the answers passed back to them, HTTP headers included.
  uint64_t bytes_from_clients() const { return m_bytes_in.load(); }
  uint64_t bytes_to_clients() const { return m_bytes_out.load(); }
  // Waits until at least one request is held; false after `timeout_ms`.
  bool wait_until_held(int timeout_ms = 120000) const;
  // Lets every held request go on to the server; later requests with `hold` are held again.
  void release_held() { ++m_release_generation; }
  bool armed_fault_fired() const { return m_armed_fired.load(); }
  // How many requests forwarded to the server contained `text`.
  int forwarded_containing(const std::string& text) const;

 private:
  void accept_loop();
  void handle(int client_fd);
  // Whether a held request is dropped when its client hangs up (Fault::hold) or stays in flight
  // (Fault::hold_in_flight).
  enum class OnHangUp { drop, keep };
  // Holds a request until release_held(); true when released, false when the proxy stops or (OnHangUp::drop)
  // the client hung up.
  bool hold(int client_fd, OnHangUp on_hang_up);
  Fault decide(const std::string& request);

  int m_upstream_port;
  int m_listen_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_delay_ms{0};
  std::atomic<int> m_requests{0};
  std::atomic<int> m_forwarded{0};
  std::atomic<int> m_answered{0};
  std::atomic<int> m_faults{0};
  std::atomic<bool> m_armed_fired{false};
  std::atomic<int> m_held{0};
  std::atomic<uint64_t> m_bytes_in{0}, m_bytes_out{0};
  std::atomic<int> m_release_generation{0};

  mutable std::mutex m_mutex;  // guards everything below
  Fault m_mode = Fault::none;
  std::string m_mode_only;  // m_mode applies only to requests containing this ("" = all)
  bool m_armed = false;
  Fault m_armed_fault = Fault::none;
  std::string m_trigger;
  Fault m_then = Fault::none;
  std::string m_not_found;
  std::string m_delay_only;  // m_delay_ms applies only to requests containing this ("" = all)
  std::vector<std::string> m_forwarded_requests;
  std::vector<std::thread> m_workers;
  std::thread m_acceptor;
};

}  // namespace turso_sync::testing
