// Exporter run loop and HTTP endpoint.
#include "exporter/exporter.h"

#include <arpa/inet.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <exception>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>

#include "cgotrace/session.h"
#include "exporter/exporter_pprof.h"

namespace cgotrace {
namespace {

std::atomic<bool> g_stop{false};

void OnSignal(int /*sig*/) { g_stop.store(true); }

constexpr int kPollMs = 100;

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
// for as long as it runs, so it keeps what attaching needs: creating a uprobe
// perf event takes CAP_SYS_ADMIN (CAP_PERFMON is not enough, checked on
// 6.18), loading is done by then but BPF link creation still checks
// CAP_BPF/CAP_PERFMON, and reaching another user's /proc/PID/exe and binary
// takes CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH. -p and --binary are fully
// attached by then (the kernel arms --binary probes in processes started
// later by itself); --binary keeps CAP_SYS_PTRACE only to find its processes
// through /proc/PID/exe for cgotrace_processes_traced (the kernel denies that
// to a caller whose capabilities are not a superset of the target's). Reading
// BPF maps through descriptors we already hold needs no capability.
std::vector<int> CapabilitiesToKeep(const ExporterOptions& options) {
  std::vector<int> keep;
  if (options.targets.all_go) {
    keep = {CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
#if defined(CAP_BPF) && defined(CAP_PERFMON)
    keep.push_back(CAP_BPF);
    keep.push_back(CAP_PERFMON);
#endif
  } else if (!options.targets.binaries.empty()) {
    keep = {CAP_SYS_PTRACE};
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

}  // namespace

struct Exporter::Impl {
  explicit Impl(const ExporterOptions& opts) : options(opts), metrics(opts.max_functions) {}

  std::vector<prometheus::MetricFamily> Collect() {
    ExporterSelfStats self;
    {
      std::lock_guard lock(tracer_mu);
      TracerStats st = tracer->Stats();
      ProgramStats prog = tracer->ProgramRunStats();
      self.processes_traced = discovery->processes_traced();
      self.probes_attached = tracer->probe_count();
      self.events_lost = st.lost;
      self.bpf_run_time_ns = prog.run_time_ns;
      self.bpf_run_count = prog.run_count;
      self.binaries = tracer->Binaries();
    }
    return metrics.Collect(self);
  }

  ExporterOptions options;
  // Guards tracer and discovery: the loop thread polls and rescans, HTTP
  // threads read counters and gauges.
  std::mutex tracer_mu;
  std::unique_ptr<Tracer> tracer;
  std::unique_ptr<ProcessDiscovery> discovery;
  ExporterMetrics metrics;
  Tracer::EventCallback on_event;
  std::shared_ptr<prometheus::Collectable> collectable;
  std::unique_ptr<PprofEndpoint> pprof;  // outlives the server that calls it
  // Last member: destroyed first, so no scrape runs once the tracer goes.
  std::unique_ptr<prometheus::Exposer> exposer;
};

Exporter::Exporter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Exporter::~Exporter() {
  if (impl_->pprof) {
    impl_->pprof->Stop();  // profile requests answer now: the server waits for them
  }
  impl_->exposer.reset();
  std::lock_guard lock(impl_->tracer_mu);
  impl_->discovery.reset();
  impl_->tracer.reset();
}

void Exporter::InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  (void)signal(SIGPIPE, SIG_IGN);  // a scraper hanging up must not kill us
}

void Exporter::RequestStop() { g_stop.store(true); }

Result<std::unique_ptr<Exporter>> Exporter::Start(const ExporterOptions& options) {
  if (options.listen.port != 0) {
    CGT_TRY(CheckBindable(options.listen));
  }
  auto impl = std::make_unique<Impl>(options);
  auto tracer = Tracer::Create(options.tracer);
  if (!tracer) {
    return tracer.error();
  }
  impl->tracer = std::move(*tracer);
  impl->discovery = std::make_unique<ProcessDiscovery>(options.targets, impl->tracer.get());
  CGT_TRY(impl->discovery->Start());

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
  self->pprof = std::make_unique<PprofEndpoint>(pprof);
  self->on_event = [self](const CgoEvent& ev) {
    self->metrics.Record(ev);
    self->pprof->Record(ev);
  };
  try {
    // Two threads for scrapes beside those a profile window holds.
    self->exposer = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", options.listen.CivetSpec(), "num_threads",
                                 std::to_string(2 + pprof.max_windows)},
        PprofEndpoint::InstallCallbacks(self->pprof.get()));
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
  fmt::print(stderr, "cgotrace: serving cgo profiles on http://{}{}?seconds=N\n",
             exporter->listening_.Display(), kPprofCgoPath);
  return exporter;
}

Result<void> Exporter::Run() {
  const uint64_t rescan_ns = impl_->options.rescan_ns;
  uint64_t next_rescan = MonotonicNs() + rescan_ns;
  while (!g_stop.load()) {
    {
      // Poll(0) drains without waiting, so scrapes never wait behind an
      // idle poll; the sleep below bounds event latency as Session does.
      std::lock_guard lock(impl_->tracer_mu);
      auto n = impl_->tracer->Poll(0, impl_->on_event);
      if (!n) {
        return n.error();
      }
    }
    timespec ts{0, kPollMs * 1000000L};
    nanosleep(&ts, nullptr);  // a signal cuts it short: fine
    if (MonotonicNs() >= next_rescan) {
      std::lock_guard lock(impl_->tracer_mu);
      impl_->discovery->Rescan();
      next_rescan = MonotonicNs() + rescan_ns;
    }
  }
  std::lock_guard lock(impl_->tracer_mu);
  for (;;) {
    auto n = impl_->tracer->Poll(0, impl_->on_event);
    if (!n) {
      return n.error();
    }
    if (*n == 0) {
      break;
    }
  }
  TracerStats st = impl_->tracer->Stats();
  fmt::print(stderr, "cgotrace: stopping; {} events, {} lost\n", st.events, st.lost);
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
