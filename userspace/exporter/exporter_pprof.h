// PprofEndpoint: the exporter's /debug/pprof/cgo?seconds=N, the cgo calls of
// the next N seconds as a pprof profile, like Go's /debug/pprof/profile.
//
// A request opens a window: every event the session delivers while it is
// open is written to an in-memory recording (a memfd, the same writer as
// `cgotrace record`), and when it closes the recording is read back and
// converted by PprofFromRecording, so the answer is exactly what
// `cgotrace record` + `cgotrace report --format pprof` give for that window.
// Answers follow Go's net/http/pprof: seconds missing, unparsable or <= 0
// mean 30; seconds at or beyond the server's write timeout (max_seconds) get
// 400 "profile duration exceeds server's WriteTimeout"; errors are
// text/plain with X-Go-Pprof: 1; a profile is application/octet-stream.
// Windows run concurrently (each request gets its own) up to max_windows;
// one more gets 500 with a message, as Go's answer to a second CPU profile.
// A client that goes away is noticed when the answer is written; nothing
// else changes.
//
// Thread safety: Record() is called by the session thread; Handle() by the
// HTTP server's worker threads, concurrently. Each window has its own lock;
// Record() takes none while no window is open.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cgotrace/event.h"
#include "cgotrace/recording.h"

struct mg_connection;
struct CivetCallbacks;

namespace cgotrace {

inline constexpr char kPprofCgoPath[] = "/debug/pprof/cgo";
inline constexpr int kPprofDefaultSeconds = 30;

struct PprofEndpointOptions {
  int max_seconds = 600;   // the server's "write timeout": N >= this is a 400
  int max_windows = 4;     // concurrent profile requests
  RecordingHeader header;  // tool version, targets, call_stacks of the session
  // Called with true before the first window takes its start time, and with
  // false when the last one closes (from the requests' threads, serialized):
  // the exporter turns the tracer's per-call events on only while they are
  // wanted. Empty: events always flow.
  std::function<void(bool)> set_events;
};

class PprofEndpoint {
 public:
  explicit PprofEndpoint(PprofEndpointOptions options);
  ~PprofEndpoint();
  PprofEndpoint(const PprofEndpoint&) = delete;
  PprofEndpoint& operator=(const PprofEndpoint&) = delete;

  // Every event of the session (session thread).
  void Record(const CgoEvent& event);

  // The answer to one request: status, content type, body. Blocks for the
  // window. `query` is the URL part after '?'.
  struct Response {
    int status = 200;
    std::string content_type;
    std::string body;
  };
  Response Serve(const std::string& query);

  // Callbacks for the HTTP server (prometheus::Exposer's CivetServer) whose
  // begin_request answers kPprofCgoPath with this endpoint and leaves every
  // other path to the server. One endpoint per process can be installed.
  static CivetCallbacks* InstallCallbacks(PprofEndpoint* endpoint);

  // Ends every open window now (each answers with what it has) and every
  // later one at once: call before stopping the HTTP server, whose
  // shutdown waits for the requests in progress.
  void Stop();

  // Windows receiving events now: a window counts from the moment Record()
  // writes into it, not from the moment its request was admitted.
  int open_windows() const { return recording_.load(); }

 private:
  struct Window;
  Response Profile(int seconds);
  // Counts a window that wants events (+1) or no longer does (-1), calling
  // options_.set_events on the first and the last.
  void WantEvents(int delta);

  PprofEndpointOptions options_;
  std::atomic<int> open_{0};       // admitted requests (the max_windows gate)
  std::atomic<int> recording_{0};  // windows in windows_; changed under windows_mu_
  std::mutex windows_mu_;          // guards windows_ (the list, not each window)
  std::list<std::shared_ptr<Window>> windows_;
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::mutex events_mu_;
  int events_wanted_ = 0;  // guarded by events_mu_
};

}  // namespace cgotrace
