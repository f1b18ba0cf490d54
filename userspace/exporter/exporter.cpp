// Exporter run loop and HTTP endpoint.
#include "exporter/exporter.h"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include "exporter/exporter_pprof.h"
#ifdef CGOTRACE_SAMPLING
#include "exporter/sample_gauges.h"
#else
namespace cgotrace {
// Built without sampling: --sample is refused in Start().
class SampleGauges {
 public:
  void Rescan() {}
  void Round() {}
  std::vector<prometheus::MetricFamily> Collect() const { return {}; }
};
}  // namespace cgotrace
#endif
#include "util/clock.h"

namespace cgotrace {
namespace {

// Binding once ourselves names the cause (address in use, not a local
// address) that civetweb's exception does not.
Result<void> CheckBindable(const ListenAddress& addr) {
  int fd = socket(addr.ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return MakeError("cannot listen on {}: socket: {}", addr.Display(), strerror(errno));
  }
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  int rc = 0;
  if (addr.ipv6) {
    sockaddr_in6 sa{};
    sa.sin6_family = AF_INET6;
    sa.sin6_port = htons(static_cast<uint16_t>(addr.port));
    inet_pton(AF_INET6, addr.host.c_str(), &sa.sin6_addr);
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  } else {
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(addr.port));
    inet_pton(AF_INET, addr.host.empty() ? "0.0.0.0" : addr.host.c_str(), &sa.sin_addr);
    rc = bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa));
  }
  int err = errno;
  close(fd);
  if (rc != 0) {
    return MakeError("cannot listen on {}: {}", addr.Display(), strerror(err));
  }
  return Ok();
}

// What stays after the initial attach. --all-go attaches to new processes
// for as long as it runs, and --binary attaches again when a redeploy puts a
// new file at its path, so both keep what attaching needs: creating a uprobe
// perf event takes CAP_SYS_ADMIN (CAP_PERFMON is not enough, checked on
// 6.18), loading is done by then but BPF link creation still checks
// CAP_BPF/CAP_PERFMON, and reaching another user's /proc/PID/exe and binary
// takes CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH. -p is fully attached by then.
// Reading BPF maps through descriptors we already hold needs no capability.
std::vector<int> CapabilitiesToKeep(const ExporterOptions& options) {
  std::vector<int> keep;
  // Exact mode attaches again after the start: to a -p or --all-go process
  // that executes another program, to new processes (--all-go), to a file
  // redeployed at a --binary path.
  if (options.exact || options.targets.all_go || !options.targets.binaries.empty()) {
    keep = {CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
#if defined(CAP_BPF) && defined(CAP_PERFMON)
    keep.push_back(CAP_BPF);
    keep.push_back(CAP_PERFMON);
#endif
  }
  // civetweb binds before its threads serve; a privileged port is bound
  // after this drop, so keep the right to do it.
  if (options.listen.port > 0 && options.listen.port < 1024) {
    keep.push_back(CAP_NET_BIND_SERVICE);
  }
  return keep;
}

// Builds the exposition at scrape time, on a civetweb thread.
class ScrapeCollectable : public prometheus::Collectable {
 public:
  using Source = std::function<std::vector<prometheus::MetricFamily>()>;
  explicit ScrapeCollectable(Source source) : source_(std::move(source)) {}
  std::vector<prometheus::MetricFamily> Collect() const override { return source_(); }

 private:
  Source source_;
};

// Sleeps until `deadline_ns` (CLOCK_MONOTONIC), in naps short enough that a
// stop request is seen within 50 ms.
void NapUntil(uint64_t deadline_ns, const std::atomic<bool>& stop) {
  constexpr uint64_t kNapNs = 50'000'000;
  for (;;) {
    uint64_t now = MonotonicNs();
    if (now >= deadline_ns || stop.load() || Session::StopRequested()) {
      return;
    }
    uint64_t nap = std::min(deadline_ns - now, kNapNs);
    timespec ts{static_cast<time_t>(nap / 1'000'000'000), static_cast<long>(nap % 1'000'000'000)};
    nanosleep(&ts, nullptr);
  }
}

}  // namespace

struct Exporter::Impl {
  explicit Impl(const ExporterOptions& opts)
      : options(opts), discovery(opts.targets), metrics(opts.max_functions) {}

  std::vector<prometheus::MetricFamily> Collect() {
    ExporterSelfStats self;
    std::vector<ExportRow> rows;
    if (session) {
      self = session->WithTracer([this, &rows](const Tracer& tracer) {
        ExporterSelfStats out;
        TracerStats st = tracer.Stats();
        ProgramStats prog = tracer.ProgramRunStats();
        out.processes_traced = discovery.processes_traced();
        out.probes_attached = tracer.probe_count();
#define CGOTRACE_COPY(name, ...) out.name = st.name;
        CGOTRACE_RUN_COUNTERS(CGOTRACE_COPY)
#undef CGOTRACE_COPY
        out.unreturned_exit = st.unreturned_exit;
        out.unreturned_panic = st.unreturned_panic;
        out.unreturned_evicted = st.unreturned_evicted;
        out.callbacks_unreturned = st.callbacks_unreturned;
        out.bpf_run_time_ns = prog.run_time_ns;
        out.bpf_run_count = prog.run_count;
        out.events = st.events;
        out.aggregated = st.aggregated;
        out.agg_full = st.agg_full;
        out.binaries = tracer.Binaries();
        rows = tracer.ExportRows();
        return out;
      });
    }
    std::lock_guard lock(scrape_mu);
    metrics.SetKernelRows(rows);
    std::vector<prometheus::MetricFamily> out = metrics.Collect(self);
    if (sampling) {
      for (prometheus::MetricFamily& f : sampling->Collect()) {
        out.push_back(std::move(f));
      }
    }
    return out;
  }

  // Rounds at sample_hz, rescans every rescan_ns, until a stop request,
  // `stop`, or --duration. Returns the number of rounds.
  uint64_t SampleLoop(const std::atomic<bool>& stop) {
    const uint64_t period = 1'000'000'000ull / static_cast<uint64_t>(options.sample_hz);
    const uint64_t start = MonotonicNs();
    const uint64_t end = options.duration_ns == 0 ? 0 : start + options.duration_ns;
    uint64_t next_round = start;
    uint64_t next_rescan = start + options.rescan_ns;
    uint64_t rounds = 0;
    while (!stop.load() && !Session::StopRequested()) {
      uint64_t now = MonotonicNs();
      if (end != 0 && now >= end) {
        break;
      }
      if (now >= next_rescan) {
        sampling->Rescan();
        next_rescan = now + options.rescan_ns;
      }
      sampling->Round();
      ++rounds;
      // A round that overran its period is not made up for: the next one
      // starts one period from now.
      next_round = std::max(next_round + period, MonotonicNs());
      NapUntil(end != 0 ? std::min(next_round, end) : next_round, stop);
    }
    return rounds;
  }

  ExporterOptions options;
  ProcessDiscovery discovery;  // the session's TargetSource: outlives it
  ExporterMetrics metrics;
  // The call series come from the kernel's export_rows (--breakdown's
  // re-entry histogram included), read at scrape time; events flow only
  // while a /debug/pprof/cgo window is open.
  std::mutex scrape_mu;                    // one SetKernelRows + Collect at a time
  std::unique_ptr<Session> session;        // exact mode
  std::unique_ptr<SampleGauges> sampling;  // --sample
  std::shared_ptr<prometheus::Collectable> collectable;
  std::unique_ptr<PprofEndpoint> pprof;  // outlives the server that calls it
  // Last member: destroyed first, so no scrape runs once the session goes.
  std::unique_ptr<prometheus::Exposer> exposer;
};

Exporter::Exporter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Exporter::~Exporter() {
  if (impl_->pprof) {
    impl_->pprof->Stop();  // profile requests answer now: the server waits for them
  }
  impl_->exposer.reset();
  impl_->session.reset();
  impl_->sampling.reset();
}

Result<std::unique_ptr<Exporter>> Exporter::Start(const ExporterOptions& options) {
  if (options.listen.port != 0) {
    CGT_TRY(CheckBindable(options.listen));
  }
  auto impl = std::make_unique<Impl>(options);
  if (options.exact) {
    SessionOptions so;
    so.tracer = options.tracer;
    so.tracer.export_rows = true;
    so.tracer.events_enabled = false;
    so.duration_ns = options.duration_ns;
    so.source = &impl->discovery;
    so.rescan_ns = options.rescan_ns;
    auto session = Session::Start(so);
    if (!session) {
      return session.error();
    }
    impl->session = std::move(*session);
  }
  if (options.sample) {
#ifdef CGOTRACE_SAMPLING
    // Before the capability drop: -p samplers are all opened here.
    impl->sampling = std::make_unique<SampleGauges>(options.targets, options.max_functions,
                                                    options.tracer.verbose);
    CGT_TRY(impl->sampling->Start());
#else
    return MakeError("--sample: this cgotrace was built without sampling (CGOTRACE_SAMPLING=OFF)");
#endif
  }

  // Before the HTTP server starts its threads: capabilities are per thread,
  // and new threads copy them from this one.
  if (options.drop_capabilities) {
    auto kept = DropCapabilitiesExcept(CapabilitiesToKeep(options));
    if (!kept) {
      return MakeError("cannot drop capabilities: {}", kept.error().message);
    }
    fmt::print(stderr, "cgotrace: dropped capabilities; kept: {}\n", *kept);
  }

  std::unique_ptr<Exporter> exporter(new Exporter(std::move(impl)));
  Impl* self = exporter->impl_.get();
  PprofEndpointOptions pprof;
  pprof.header.tool_version = options.tool_version;
  pprof.header.call_stacks = options.tracer.call_stacks;
  pprof.header.targets = {"processes of cgotrace exporter"};
  if (self->session) {
    // Thread-safe by contract (Session::SetEventsEnabled); the session
    // outlives the endpoint's requests (the server stops first).
    pprof.set_events = [self](bool on) { self->session->SetEventsEnabled(on); };
  }
  self->pprof = std::make_unique<PprofEndpoint>(pprof);
  try {
    // Two threads for scrapes beside those a profile window holds.
    self->exposer = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", options.listen.CivetSpec(), "num_threads",
                                 std::to_string(2 + pprof.max_windows)},
        // The cgo-call profiles come from exact mode's events: without it
        // there is no /debug/pprof/cgo (404).
        options.exact ? PprofEndpoint::InstallCallbacks(self->pprof.get()) : nullptr);
  } catch (const std::exception& e) {
    return MakeError("cannot listen on {}: {}", options.listen.Display(), e.what());
  }
  exporter->listening_ = options.listen;
  std::vector<int> ports = self->exposer->GetListeningPorts();
  if (!ports.empty()) {
    exporter->listening_.port = ports.front();
  }
  self->collectable = std::make_shared<ScrapeCollectable>([self] { return self->Collect(); });
  self->exposer->RegisterCollectable(self->collectable);
  fmt::print(stderr, "cgotrace: serving metrics on http://{}/metrics\n",
             exporter->listening_.Display());
  if (options.exact) {
    fmt::print(stderr, "cgotrace: serving cgo profiles on http://{}{}?seconds=N\n",
               exporter->listening_.Display(), kPprofCgoPath);
  }
  if (options.sample) {
    fmt::print(stderr, "cgotrace: sampling at {} Hz{}\n", options.sample_hz,
               options.exact ? "" : "; no probes attached");
  }
  return exporter;
}

Result<void> Exporter::Run() {
  std::atomic<bool> stop_sampling{false};
  std::atomic<uint64_t> rounds{0};
  std::thread sampler;
  if (impl_->sampling && impl_->session) {
    sampler = std::thread([&] { rounds = impl_->SampleLoop(stop_sampling); });
  } else if (impl_->sampling) {
    rounds = impl_->SampleLoop(stop_sampling);
    fmt::print(stderr, "cgotrace: stopping; {} sampling rounds\n", rounds.load());
    return Ok();
  }
  Session& session = *impl_->session;
  auto total = session.Run([this](const CgoEvent& ev) { impl_->pprof->Record(ev); },
                           [](uint64_t /*now*/) {});
  if (sampler.joinable()) {
    stop_sampling = true;
    sampler.join();
  }
  if (!total) {
    return total.error();
  }
  TracerStats st = session.WithTracer([](const Tracer& t) { return t.Stats(); });
  fmt::print(stderr, "cgotrace: stopping; {} calls counted in the kernel, {} events, {} lost{}\n",
             st.aggregated, st.events, st.lost,
             impl_->sampling ? fmt::format(", {} sampling rounds", rounds.load()) : "");
  return Ok();
}

std::string ListenAddress::CivetSpec() const {
  if (ipv6) {
    return fmt::format("[{}]:{}", host, port);
  }
  return host.empty() ? fmt::format("{}", port) : fmt::format("{}:{}", host, port);
}

std::string ListenAddress::Display() const {
  if (ipv6) {
    return fmt::format("[{}]:{}", host, port);
  }
  return fmt::format("{}:{}", host.empty() ? "0.0.0.0" : host, port);
}

Result<ListenAddress> ParseListenAddress(const std::string& text) {
  ListenAddress out;
  std::string port_text;
  if (text.starts_with("[")) {
    auto close = text.find("]:");
    if (close == std::string::npos) {
      return MakeError("--listen '{}': expected [IPV6]:PORT", text);
    }
    out.host = text.substr(1, close - 1);
    out.ipv6 = true;
    port_text = text.substr(close + 2);
    in6_addr a{};
    if (inet_pton(AF_INET6, out.host.c_str(), &a) != 1) {
      return MakeError("--listen '{}': '{}' is not an IPv6 address", text, out.host);
    }
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos) {
      port_text = text;
    } else {
      out.host = text.substr(0, colon);
      port_text = text.substr(colon + 1);
    }
    if (out.host.find(':') != std::string::npos) {
      return MakeError("--listen '{}': write IPv6 addresses as [ADDRESS]:PORT", text);
    }
    if (out.host == "localhost") {
      out.host = "127.0.0.1";
    }
    in_addr a{};
    if (!out.host.empty() && inet_pton(AF_INET, out.host.c_str(), &a) != 1) {
      return MakeError("--listen '{}': '{}' is not an IP address (expected e.g. 127.0.0.1:{})",
                       text, out.host, kExporterDefaultPort);
    }
  }
  if (port_text.empty() || port_text.size() > 5 ||
      port_text.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port_text) > 65535) {
    return MakeError("--listen '{}': invalid port '{}' (expected 0-65535)", text, port_text);
  }
  out.port = std::stoi(port_text);
  return out;
}

}  // namespace cgotrace
