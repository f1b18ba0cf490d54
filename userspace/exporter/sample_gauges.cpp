// The exporter's --sample mode: sampled in-C gauges and the processes they
// come from.
#include "exporter/sample_gauges.h"

#include <unistd.h>

#include <algorithm>

#include "exporter/exporter.h"
#include "exporter/metric_family.h"
#include "gofile/cgo_names.h"
#include "process/process.h"

namespace cgotrace {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

constexpr const char* kOther = "other";
constexpr const char* kUnknownFunction = "unknown";

MetricFamily GaugeFamily(const char* name, const char* help) {
  return Family(name, help, MetricType::Gauge);
}

ClientMetric GaugeValue(double value, std::vector<ClientMetric::Label> labels = {}) {
  return Scalar(value, MetricType::Gauge, std::move(labels));
}

}  // namespace

SampleGaugeTable::SampleGaugeTable(size_t max_functions) : max_functions_(max_functions) {}

void SampleGaugeTable::Publish(const std::vector<SampledCall>& calls, uint64_t processes_sampled) {
  std::lock_guard lock(mu_);
  processes_ = processes_sampled;
  for (auto& [binary, gauges] : binaries_) {
    for (auto& [func, g] : gauges.functions) {
      g = Gauge{};
    }
  }
  for (const SampledCall& c : calls) {
    BinaryGauges& bin = binaries_[c.binary];
    std::string func = c.function;
    if (!bin.admitted.contains(func)) {
      if (bin.admitted.size() < max_functions_) {
        bin.admitted.insert(func);
      } else {
        func = kOther;
      }
    }
    Gauge& g = bin.functions[func];
    ++g.threads;
    g.oldest_ns = std::max(g.oldest_ns, c.age_ns);
  }
}

std::vector<MetricFamily> SampleGaugeTable::Collect() const {
  MetricFamily threads =
      GaugeFamily("cgotrace_threads_in_cgo_sampled",
                  "Threads inside a cgo call in C at the last sampling round, by C function");
  MetricFamily oldest = GaugeFamily(
      "cgotrace_oldest_cgo_call_age_seconds",
      "Age of the oldest cgo call in C at the last sampling round, by C function (a lower "
      "bound for calls that began before sampling)");
  MetricFamily processes =
      GaugeFamily("cgotrace_processes_sampled", "Processes currently sampled (--sample)");
  std::lock_guard lock(mu_);
  for (const auto& [binary, gauges] : binaries_) {
    for (const auto& [func, g] : gauges.functions) {
      threads.metric.push_back(
          GaugeValue(static_cast<double>(g.threads), {{"binary", binary}, {"function", func}}));
      oldest.metric.push_back(GaugeValue(static_cast<double>(g.oldest_ns) / 1e9,
                                         {{"binary", binary}, {"function", func}}));
    }
  }
  processes.metric.push_back(GaugeValue(static_cast<double>(processes_)));
  std::vector<MetricFamily> out;
  for (MetricFamily* f : {&threads, &oldest}) {
    if (!f->metric.empty()) {
      out.push_back(std::move(*f));
    }
  }
  out.push_back(std::move(processes));
  return out;
}

struct SampleGauges::Process {
  ProcessKey key;
  std::string label;  // ExporterMetrics::BinaryLabel
  std::shared_ptr<const GoBinary> binary;
  uint64_t bias = 0;
  std::unique_ptr<Sampler> sampler;
  CallTracker tracker;
  // Return address into the _Cfunc_ wrapper -> the C function's name.
  std::unordered_map<uint64_t, std::string> names;

  const std::string& FunctionOf(const ThreadSample& t) {
    const uint64_t ret = t.go_frames.empty() ? 0 : t.go_frames.front();
    auto [it, added] = names.try_emplace(ret);
    if (!added) {
      return it->second;
    }
    // A return address points after the CALL: name the call instruction.
    const GoFunc* f = ret > bias ? binary->pclntab().FuncAt(ret - 1 - bias) : nullptr;
    if (f == nullptr) {
      it->second = kUnknownFunction;
    } else {
      it->second = CgoNameFromSymbol(f->name);
      if (it->second.empty()) {
        it->second = f->name;  // a cgo call of the runtime's own
      }
    }
    return it->second;
  }
};

SampleGauges::SampleGauges(const ExporterTargets& targets, size_t max_functions, bool verbose,
                           const ProcFs& fs)
    : targets_(targets), verbose_(verbose), fs_(fs), table_(max_functions), self_(getpid()) {}

SampleGauges::~SampleGauges() = default;

Result<std::shared_ptr<const GoBinary>> SampleGauges::BinaryOf(pid_t pid, const FileId& id) {
  if (auto it = analysed_.find(id); it != analysed_.end()) {
    if (auto shared = it->second.lock()) {
      return shared;
    }
  }
  auto exe = ProcessExePath(pid);
  if (!exe) {
    return exe.error();
  }
  auto bin = GoBinary::Analyze(*exe);
  if (!bin) {
    return MakeError("PID {}: {}", pid, bin.error().message);
  }
  // The sampler's configuration is checked once per executable: a binary
  // whose TLS slot or offsets cannot be found is refused before any load.
  auto cfg = MakeSampleConfig(**bin);
  if (!cfg) {
    return MakeError("PID {}: {}", pid, cfg.error().message);
  }
  std::shared_ptr<const GoBinary> shared = std::move(*bin);
  analysed_[id] = shared;
  return shared;
}

Result<void> SampleGauges::Add(pid_t pid, const FileId& id) {
  auto key = fs_.Key(pid);
  if (!key) {
    return MakeError("no process with PID {}", pid);
  }
  auto bin = BinaryOf(pid, id);
  if (!bin) {
    return bin.error();
  }
  auto p = std::make_unique<Process>();
  p->key = *key;
  p->binary = *bin;
  // The executable's base name, as the exact mode labels it (comm is cut
  // at 15 characters).
  auto target = fs_.ExeTarget(pid);
  if (!target) {
    return MakeError("PID {}: {}", pid, target.error().message);
  }
  p->label = ExporterMetrics::BinaryLabel(target->substr(target->rfind('/') + 1));
  auto opened = OpenProcessSampler(pid, *p->binary, verbose_);
  if (!opened) {
    return opened.error();
  }
  p->bias = opened->bias;
  p->sampler = std::move(opened->sampler);
  fmt::print(stderr, "cgotrace: sampling PID {} ({})\n", pid, fs_.Comm(pid));
  processes_[pid] = std::move(p);
  return Ok();
}

bool SampleGauges::OfBinaryTarget(const FileId& id) const {
  return std::any_of(binaries_.begin(), binaries_.end(), [&](const BinaryTarget& b) {
    return std::find(b.ids.begin(), b.ids.end(), id) != b.ids.end();
  });
}

Result<void> SampleGauges::Start() {
  for (pid_t pid : targets_.pids) {
    auto id = fs_.ExeId(pid);
    if (!id) {
      return MakeError("no process with PID {}", pid);
    }
    CGT_TRY(Add(pid, *id));
  }
  for (const std::string& given : targets_.binaries) {
    auto binary = ResolveBinaryArgument(given);
    if (!binary) {
      return binary.error();
    }
    // Checked now, not when its first process appears: a file that cannot
    // be sampled is bad input.
    auto bin = GoBinary::Analyze(binary->path);
    if (!bin) {
      return bin.error();
    }
    auto cfg = MakeSampleConfig(**bin);
    if (!cfg) {
      return cfg.error();
    }
    binaries_.push_back({binary->path, {binary->id}});
    fmt::print(stderr, "cgotrace: sampling every process of {}\n", binary->path);
  }
  Rescan();
  return Ok();
}

void SampleGauges::Rescan() {
  for (auto it = processes_.begin(); it != processes_.end();) {
    if (fs_.Alive(it->second->key)) {
      ++it;
      continue;
    }
    fmt::print(stderr, "cgotrace: PID {} exited; stopped sampling it\n", it->first);
    it = processes_.erase(it);
  }
  for (BinaryTarget& b : binaries_) {
    auto id = FileIdOf(b.path);
    if (id && *id != b.ids.back()) {
      b.ids.push_back(*id);
      fmt::print(stderr, "cgotrace: {} was replaced (new inode {}); sampling its processes\n",
                 b.path, id->ino);
    }
  }
  if (!targets_.all_go && binaries_.empty()) {
    return;
  }
  for (const auto& [pid, id] : fs_.Executables(self_)) {
    if (processes_.contains(pid) || rejected_.contains(id)) {
      continue;
    }
    const bool wanted = OfBinaryTarget(id);
    if (!wanted && !targets_.all_go) {
      continue;
    }
    auto added = Add(pid, id);
    if (added) {
      continue;
    }
    // A process that exited meanwhile says nothing about its executable;
    // one still running was refused for good (analysed once).
    if (fs_.Alive(pid)) {
      rejected_.insert(id);
      if (wanted || !ExpectedRejection(added.error().message)) {
        fmt::print(stderr, "cgotrace: not sampling {}\n", added.error().message);
      }
    }
  }
  if (targets_.all_go && processes_.empty() && !waiting_logged_) {
    fmt::print(stderr, "cgotrace: waiting for Go processes with cgo\n");
  }
  waiting_logged_ = targets_.all_go && processes_.empty();
  // Analyses no process uses any more are released with their last user.
  std::erase_if(analysed_, [](const auto& entry) { return entry.second.expired(); });
}

void SampleGauges::Round() {
  std::vector<SampledCall> calls;
  for (auto& [pid, p] : processes_) {
    auto threads = p->sampler->Sample();
    if (!threads) {
      continue;  // exited mid-round: the next rescan drops it
    }
    p->tracker.Update(*threads);
    for (const ThreadSample& t : *threads) {
      const CallTracker::Call* call = p->tracker.Find(t.tid);
      if (!t.in_c || call == nullptr) {
        continue;
      }
      SampledCall c;
      c.binary = p->label;
      c.function = p->FunctionOf(t);
      c.age_ns = t.time_ns > call->first_seen_ns ? t.time_ns - call->first_seen_ns : 0;
      calls.push_back(std::move(c));
    }
  }
  table_.Publish(calls, processes_.size());
}

}  // namespace cgotrace
