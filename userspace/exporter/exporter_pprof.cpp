// The exporter's /debug/pprof/cgo endpoint (see exporter_pprof.h).
#include "exporter/exporter_pprof.h"

#include <CivetServer.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>

#include <fmt/format.h>

#include "formats/pprof.h"

namespace cgotrace {

struct PprofEndpoint::Window {
  std::mutex mu;
  uint64_t start_ns = 0;  // CLOCK_MONOTONIC: calls that began before are not in it
  std::unique_ptr<RecordingWriter> writer;
  Result<void> status = Ok();  // the first write error
};

namespace {

// Seconds as Go's pprof handler reads them: missing, unparsable or <= 0 is
// the default.
int ParseSeconds(const std::string& query) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    if (amp == std::string::npos) {
      amp = query.size();
    }
    const std::string_view part(query.data() + pos, amp - pos);
    if (part.starts_with("seconds=")) {
      const std::string_view v = part.substr(8);
      // strconv.ParseInt(v, 10, 64): an optional sign, digits, no overflow.
      const std::string_view digits = v.starts_with('-') || v.starts_with('+') ? v.substr(1) : v;
      if (digits.empty() || digits.size() > 18 ||
          digits.find_first_not_of("0123456789") != std::string::npos || v.starts_with('-')) {
        return kPprofDefaultSeconds;  // unparsable, or <= 0
      }
      const long long n = std::stoll(std::string(digits));
      return n == 0 ? kPprofDefaultSeconds : static_cast<int>(std::min<long long>(n, INT_MAX));
    }
    pos = amp + 1;
  }
  return kPprofDefaultSeconds;
}

PprofEndpoint::Response TextError(int status, const std::string& message) {
  return {status, "text/plain; charset=utf-8", message + "\n"};
}

// A file in memory, as a path the recording writer and reader can open.
class MemFile {
 public:
  MemFile() : fd_(memfd_create("cgotrace-pprof", MFD_CLOEXEC)) {}
  ~MemFile() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;
  bool ok() const { return fd_ >= 0; }
  std::string path() const { return fmt::format("/proc/self/fd/{}", fd_); }

 private:
  int fd_;
};

}  // namespace

PprofEndpoint::PprofEndpoint(PprofEndpointOptions options) : options_(std::move(options)) {}

PprofEndpoint::~PprofEndpoint() { Stop(); }

void PprofEndpoint::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  stopping_ = true;
  stop_cv_.notify_all();
}

void PprofEndpoint::Record(const CgoEvent& event) {
  if (recording_.load(std::memory_order_relaxed) == 0) {
    return;
  }
  std::lock_guard<std::mutex> lock(windows_mu_);
  for (const std::shared_ptr<Window>& w : windows_) {
    std::lock_guard<std::mutex> wl(w->mu);
    if (event.start_ns >= w->start_ns && w->status.ok()) {
      w->status = w->writer->Add(event);
    }
  }
}

void PprofEndpoint::WantEvents(int delta) {
  std::lock_guard<std::mutex> lock(events_mu_);
  const bool before = events_wanted_ > 0;
  events_wanted_ += delta;
  const bool after = events_wanted_ > 0;
  if (before != after && options_.set_events) {
    options_.set_events(after);
  }
}

PprofEndpoint::Response PprofEndpoint::Serve(const std::string& query) {
  const int seconds = ParseSeconds(query);
  if (seconds >= options_.max_seconds) {
    return TextError(400, "profile duration exceeds server's WriteTimeout");
  }
  return Profile(seconds);
}

PprofEndpoint::Response PprofEndpoint::Profile(int seconds) {
  if (open_.fetch_add(1) >= options_.max_windows) {
    open_.fetch_sub(1);
    return TextError(500, fmt::format("Could not enable cgo profiling: {} profiles already "
                                      "being collected",
                                      options_.max_windows));
  }
  // Events on before the window's start time is taken: every call that
  // begins in the window then reads its goid and makes an event.
  WantEvents(1);
  MemFile file;
  RecordingHeader header = options_.header;
  const RecordingHeader now = CurrentHostHeader();
  header.hostname = now.hostname;
  header.kernel_release = now.kernel_release;
  header.machine = now.machine;
  header.start_realtime_ns = now.start_realtime_ns;
  header.start_monotonic_ns = now.start_monotonic_ns;
  auto window = std::make_shared<Window>();
  window->start_ns = now.start_monotonic_ns;
  if (file.ok()) {
    auto writer = RecordingWriter::Create(file.path(), header);
    if (writer) {
      window->writer = std::move(*writer);
    }
  }
  if (!window->writer) {
    WantEvents(-1);
    open_.fetch_sub(1);
    return TextError(500, "Could not enable cgo profiling: no in-memory file for the recording");
  }
  {
    std::lock_guard<std::mutex> lock(windows_mu_);
    windows_.push_back(window);
    recording_.fetch_add(1);
  }
  {
    std::unique_lock<std::mutex> lock(stop_mu_);
    stop_cv_.wait_for(lock, std::chrono::seconds(seconds), [this] { return stopping_; });
  }
  {
    std::lock_guard<std::mutex> lock(windows_mu_);
    windows_.remove(window);
    recording_.fetch_sub(1);
  }
  WantEvents(-1);
  open_.fetch_sub(1);
  RecordingTrailer trailer;
  const RecordingHeader end = CurrentHostHeader();
  trailer.end_realtime_ns = end.start_realtime_ns;
  trailer.end_monotonic_ns = end.start_monotonic_ns;
  std::lock_guard<std::mutex> wl(window->mu);
  Result<void> finished = window->status.ok() ? window->writer->Finish(trailer) : window->status;
  if (!finished) {
    return TextError(500, "Could not record the cgo calls: " + finished.error().message);
  }
  auto rec = LoadRecording(file.path());
  if (!rec) {
    return TextError(500, "Could not read the recording back: " + rec.error().message);
  }
  auto profile = PprofFromRecording(*rec);
  if (!profile) {
    return TextError(500, "Could not write the profile: " + profile.error().message);
  }
  return {200, "application/octet-stream", std::move(*profile)};
}

namespace {

std::atomic<PprofEndpoint*> g_endpoint{nullptr};

const char* StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    default:
      return "Internal Server Error";
  }
}

// civetweb calls this first for every request; 0 leaves it to the server's
// handlers (/metrics), any other value means it was answered.
int BeginRequest(mg_connection* conn) {
  const mg_request_info* ri = mg_get_request_info(conn);
  PprofEndpoint* endpoint = g_endpoint.load();
  if (endpoint == nullptr || ri == nullptr || ri->local_uri == nullptr ||
      std::strcmp(ri->local_uri, kPprofCgoPath) != 0) {
    return 0;
  }
  const PprofEndpoint::Response r =
      endpoint->Serve(ri->query_string != nullptr ? ri->query_string : "");
  // A client that went away makes these writes fail; nothing else to do.
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nX-Go-Pprof: 1\r\n%s"
            "X-Content-Type-Options: nosniff\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
            r.status, StatusText(r.status), r.content_type.c_str(),
            r.status == 200 ? "Content-Disposition: attachment; filename=\"profile\"\r\n" : "",
            r.body.size());
  mg_write(conn, r.body.data(), r.body.size());
  return r.status;
}

}  // namespace

CivetCallbacks* PprofEndpoint::InstallCallbacks(PprofEndpoint* endpoint) {
  static CivetCallbacks callbacks;
  callbacks.begin_request = BeginRequest;
  g_endpoint.store(endpoint);
  return &callbacks;
}

}  // namespace cgotrace
