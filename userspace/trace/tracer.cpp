// Tracer: the public facade over the BPF object (bpf_object.h), site
// planning and attaching (site_plan.h, site_attach.h) and record decoding
// (event_decoder.h).
#include "cgotrace/tracer.h"

#include <unistd.h>

#include <map>
#include <tuple>

#include "binary/go_binary.h"
#include "binary/site_plan.h"
#include "cgotrace_abi.h"
#include "process/process.h"
#include "trace/bpf_object.h"
#include "trace/event_decoder.h"
#include "trace/site_attach.h"

namespace cgotrace {
namespace {

std::string LinkTarget(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf) - 1);
  if (n <= 0) {
    return path;
  }
  return std::string(buf, static_cast<size_t>(n));
}

std::string Basename(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

struct Tracer::Impl {
  struct Binary {
    std::unique_ptr<GoBinary> bin;
    FileId id;
    std::string comm;
    SitePlan plan;
    bool all_processes = false;  // attached with pid -1
    bool in_use() const { return bin != nullptr; }
  };

  explicit Impl(std::unique_ptr<BpfObject> o)
      : obj(std::move(o)), decoder([this](uint32_t id) { return obj->Stack(id); }) {}

  // Declaration order is destruction order in reverse: links go before the
  // object whose program they run.
  std::unique_ptr<BpfObject> obj;
  std::vector<Binary> binaries;
  EventDecoder decoder;
  Attachments links;
  bool entry_ret_sites = false;
  bool events = true;
  // Aggregated rows of binaries already released, named while they still
  // could be (their index is reused by the next binary).
  std::vector<AggregateRow> retired;
  // The same for the exporter's rows, summed by (comm, kind, function).
  std::map<std::tuple<std::string, ExportRow::Kind, std::string>, ExportRow> retired_export;

  // The kernel's aggregation rows of `binary`, named.
  std::vector<AggregateRow> NamedAggregates(uint32_t binary) const;
  std::vector<ExportRow> NamedExportRows(uint32_t binary) const;
  bool breakdown = false;

  Result<uint32_t> BinaryIndex(const std::string& path);
  // Frees the index, BPF state and analysis (its file mapping) of every
  // binary that has no probes left, so that the limit of CGT_MAX_BINARIES
  // counts binaries traced at the same time, not over a lifetime.
  void ReleaseUnused();
  // Set when probes were removed: the release waits until the next poll has
  // drained the ring buffer, which then holds every record the removed
  // processes wrote (they are gone), so none of them is decoded without its
  // binary.
  bool release_after_drain = false;
};

void Tracer::Impl::ReleaseUnused() {
  for (uint32_t i = 0; i < binaries.size(); ++i) {
    if (!binaries[i].in_use() || binaries[i].all_processes || links.CountFor(i) != 0) {
      continue;
    }
    // Records of this index still in the ring buffer (a process that exited
    // just now) decode to nothing from here on: the index may be reused.
    // Its processes are gone, so its aggregation rows are final.
    for (AggregateRow& row : NamedAggregates(i)) {
      retired.push_back(std::move(row));
    }
    obj->DeleteAggregates(i);
    for (ExportRow& row : NamedExportRows(i)) {
      ExportRow& into = retired_export[{row.comm, row.kind, row.func}];
      if (into.buckets.empty()) {
        into = std::move(row);
        continue;
      }
      into.count += row.count;
      into.sum += row.sum;
      for (size_t k = 0; k < into.buckets.size() && k < row.buckets.size(); ++k) {
        into.buckets[k] += row.buckets[k];
      }
    }
    obj->DeleteExportRows(i);
    obj->ClearBinary(i);
    decoder.SetBinary(i, nullptr, "");
    binaries[i] = Binary{};
  }
}

std::vector<AggregateRow> Tracer::Impl::NamedAggregates(uint32_t binary) const {
  std::vector<AggregateRow> out;
  if (binary >= binaries.size() || !binaries[binary].in_use()) {
    return out;
  }
  const Binary& b = binaries[binary];
  for (const BpfObject::Aggregate& a : obj->Aggregates(binary)) {
    const cgt_agg_value& v = a.get();
    AggregateRow row;
    if (a.key.kind == CGT_EV_CALLBACK) {
      row.kind = EventKind::kCallback;
      row.func = b.bin->CallbackName(a.key.fn);
    } else {
      row.kind = EventKind::kCall;
      row.func = b.bin->CallName(a.key.fn, a.key.caller_pc);
    }
    row.comm = b.comm;
    row.count = v.count;
    row.sum_ns = v.sum_ns;
    row.min_ns = v.count != 0 ? v.min_ns : 0;
    row.max_ns = v.max_ns;
    row.buckets.assign(std::begin(v.buckets), std::end(v.buckets));
    row.split_count = v.split_count;
    row.c_sum_ns = v.c_sum_ns;
    row.sched_sum_ns = v.sched_sum_ns;
    row.sched_max_ns = v.sched_max_ns;
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<ExportRow> Tracer::Impl::NamedExportRows(uint32_t binary) const {
  std::vector<ExportRow> out;
  if (binary >= binaries.size() || !binaries[binary].in_use()) {
    return out;
  }
  const Binary& b = binaries[binary];
  for (const BpfObject::Aggregate& a : obj->ExportRows(binary)) {
    const cgt_export_value& v = a.get_export();
    ExportRow row;
    switch (a.key.kind) {
      case CGT_EV_CALL:
        row.kind = ExportRow::Kind::kCall;
        row.func = b.bin->CallName(a.key.fn, a.key.caller_pc);
        break;
      case CGT_EV_CALLBACK:
        row.kind = ExportRow::Kind::kCallback;
        row.func = b.bin->CallbackName(a.key.fn);
        break;
      default:
        continue;
    }
    row.comm = b.comm;
    row.count = v.duration.count;
    row.sum = v.duration.sum;
    row.buckets.assign(std::begin(v.duration.buckets), std::end(v.duration.buckets));
    if (v.reentry.count != 0) {
      // --breakdown: the same calls' re-entry into Go, a row of its own.
      ExportRow reentry = row;
      reentry.kind = ExportRow::Kind::kReentry;
      reentry.count = v.reentry.count;
      reentry.sum = v.reentry.sum;
      reentry.buckets.assign(std::begin(v.reentry.buckets), std::end(v.reentry.buckets));
      out.push_back(std::move(reentry));
    }
    out.push_back(std::move(row));
  }
  const cgt_pow2_hist depth = obj->ExportDepth(binary);
  if (depth.count != 0) {
    ExportRow row;
    row.kind = ExportRow::Kind::kStackDepth;
    row.comm = b.comm;
    row.count = depth.count;
    row.sum = depth.sum;
    row.buckets.assign(std::begin(depth.buckets), std::end(depth.buckets));
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<ExportRow> Tracer::ExportRows() const {
  std::vector<ExportRow> out;
  for (const auto& [key, row] : impl_->retired_export) {
    out.push_back(row);
  }
  for (uint32_t i = 0; i < impl_->binaries.size(); ++i) {
    for (ExportRow& row : impl_->NamedExportRows(i)) {
      out.push_back(std::move(row));
    }
  }
  return out;
}

void Tracer::SetEventsEnabled(bool on) { impl_->obj->SetEventsEnabled(on); }

std::vector<AggregateRow> Tracer::Aggregates() const {
  std::vector<AggregateRow> out = impl_->retired;
  for (uint32_t i = 0; i < impl_->binaries.size(); ++i) {
    for (AggregateRow& row : impl_->NamedAggregates(i)) {
      out.push_back(std::move(row));
    }
  }
  return out;
}

Tracer::Tracer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Tracer::~Tracer() {
  // Links go first so no probe fires into freed maps.
  impl_->links.Clear();
}

Result<std::unique_ptr<Tracer>> Tracer::Create(const TracerOptions& options) {
  auto obj = BpfObject::Load(options);
  if (!obj) {
    return obj.error();
  }
  auto impl = std::make_unique<Impl>(std::move(*obj));
  impl->entry_ret_sites = options.entry_ret_sites;
  impl->events = options.events;
  impl->breakdown = options.breakdown;
  return std::unique_ptr<Tracer>(new Tracer(std::move(impl)));
}

Result<uint32_t> Tracer::Impl::BinaryIndex(const std::string& path) {
  auto id = FileIdOf(path);
  if (!id) {
    return id.error();
  }
  uint32_t index = static_cast<uint32_t>(binaries.size());
  for (uint32_t i = 0; i < binaries.size(); ++i) {
    if (binaries[i].in_use() && binaries[i].id == *id) {
      return i;
    }
    if (!binaries[i].in_use() && index == binaries.size()) {
      index = i;  // the first free index
    }
  }
  if (index >= CGT_MAX_BINARIES) {
    return MakeError("{}: cgotrace traces at most {} distinct binaries at the same time", path,
                     CGT_MAX_BINARIES);
  }
  auto bin = GoBinary::Analyze(path);
  if (!bin) {
    return bin.error();
  }
  auto cfg = BinaryConfigFor(path, (*bin)->offsets());
  if (!cfg) {
    return cfg.error();
  }
  auto plan = PlanSites(**bin, entry_ret_sites, breakdown);
  if (!plan) {
    return plan.error();
  }
  for (uint32_t slot = 0; slot < plan->descriptors.size(); ++slot) {
    if (auto r = obj->SetSite(index, slot, plan->descriptors[slot]); !r) {
      return MakeError("{}: {}", path, r.error().message);
    }
  }
  // Valid last: until then the program ignores hits for this index.
  if (auto r = obj->SetBinary(index, *cfg); !r) {
    return MakeError("{}: {}", path, r.error().message);
  }
  Binary b;
  b.id = *id;
  b.comm = Basename(LinkTarget(path));
  b.bin = std::move(*bin);
  b.plan = std::move(*plan);
  decoder.SetBinary(index, b.bin.get(), b.comm);
  if (index == binaries.size()) {
    binaries.push_back(std::move(b));
  } else {
    binaries[index] = std::move(b);
  }
  return index;
}

Result<AttachReport> Tracer::AddBinary(const std::string& path, pid_t pid) {
  // libbpf searches $PATH for a name without '/': the probes would land at
  // this file's offsets in another program. Callers resolve paths first
  // (CanonicalBinaryPath); this is the last line of defence.
  if (!path.starts_with("/")) {
    return MakeError("{}: not an absolute path (internal error: refusing to attach)", path);
  }
  auto index = impl_->BinaryIndex(path);
  if (!index) {
    return index.error();
  }
  Impl::Binary& b = impl_->binaries[*index];
  AttachReport report{path, pid, 0};
  // A whole-binary attachment already sees every process of it.
  if (b.all_processes || impl_->links.Has(*index, pid)) {
    return report;
  }
  auto n = impl_->links.Attach(impl_->obj->site_program(), *index, b.bin->elf(), path, pid, b.plan);
  if (!n) {
    impl_->ReleaseUnused();
    return n.error();
  }
  report.probes = *n;
  if (pid < 0) {
    b.all_processes = true;
  }
  return report;
}

void Tracer::RemoveProcess(pid_t pid) {
  impl_->links.RemovePid(pid);
  impl_->release_after_drain = true;
}

size_t Tracer::RemoveFile(const FileId& id) {
  size_t removed = 0;
  for (uint32_t i = 0; i < impl_->binaries.size(); ++i) {
    Impl::Binary& b = impl_->binaries[i];
    if (!b.in_use() || !b.all_processes || b.id != id) {
      continue;
    }
    const size_t before = impl_->links.CountFor(i);
    impl_->links.Remove(i, -1);
    removed += before - impl_->links.CountFor(i);
    b.all_processes = false;
    impl_->release_after_drain = true;
  }
  return removed;
}

std::vector<pid_t> Tracer::AttachedPids() const { return impl_->links.Pids(); }

std::vector<BinaryStatus> Tracer::Binaries() const {
  std::vector<BinaryStatus> out;
  for (uint32_t i = 0; i < impl_->binaries.size(); ++i) {
    if (!impl_->binaries[i].in_use()) {
      continue;
    }
    BinaryStatus st;
    st.path = impl_->binaries[i].bin->elf().path();
    st.comm = impl_->binaries[i].comm;
    st.build_id = impl_->binaries[i].bin->elf().build_id();
    st.go_version = impl_->binaries[i].bin->buildinfo().version.raw;
    // Calls cut off by a process exit never return; clamp the leftovers.
    int64_t value = impl_->obj->InCgo(i);
    st.threads_in_cgo = value < 0 ? 0 : value;
    st.probes = impl_->links.CountFor(i);
    out.push_back(std::move(st));
  }
  return out;
}

std::optional<std::pair<std::string, uint32_t>> Tracer::SourceLineAt(const std::string& path,
                                                                     uint64_t pc) const {
  for (const Impl::Binary& b : impl_->binaries) {
    if (b.in_use() && b.bin->elf().path() == path) {
      auto at = b.bin->pclntab().LineAt(pc);
      if (at) {
        return std::make_pair(std::string(at->file), at->line);
      }
      return std::nullopt;
    }
  }
  return std::nullopt;
}

ProgramStats Tracer::ProgramRunStats() const { return impl_->obj->RunStats(); }

Result<AttachReport> Tracer::AddProcess(pid_t pid) {
  auto exe = ProcessExePath(pid);
  if (!exe) {
    return exe.error();
  }
  auto report = AddBinary(*exe, pid);
  if (!report) {
    // Name the PID as well as the /proc path the user never typed.
    return MakeError("PID {}: {}", pid, report.error().message);
  }
  return report;
}

Result<int> Tracer::Poll(int timeout_ms, const EventCallback& callback) {
  int delivered = 0;
  auto r = impl_->obj->Poll(timeout_ms, [&](std::span<const uint8_t> record) {
    if (auto ev = impl_->decoder.Decode(record)) {
      callback(*ev);
      ++delivered;
    }
  });
  if (!r) {
    return r.error();
  }
  if (impl_->release_after_drain) {
    impl_->release_after_drain = false;
    impl_->ReleaseUnused();
  }
  return delivered;
}

TracerStats Tracer::Stats() const {
  const BpfObject& o = *impl_->obj;
  TracerStats out;
  out.events = o.Counter(CGT_STAT_EVENTS);
  out.lost = o.Counter(CGT_STAT_LOST_RINGBUF);
  out.no_entry = o.Counter(CGT_STAT_NO_ENTRY);
  out.read_fail = o.Counter(CGT_STAT_READ_FAIL);
  out.entries = o.Counter(CGT_STAT_ENTRIES);
  out.stack_fail = o.Counter(CGT_STAT_STACK_FAIL);
  out.inflight_overflow = o.Counter(CGT_STAT_INFLIGHT_OVERFLOW);
  out.aggregated = o.Counter(CGT_STAT_AGGREGATED);
  out.agg_full = o.Counter(CGT_STAT_AGG_FULL);
  out.unreturned_exit = o.Counter(CGT_STAT_UNRETURNED_EXIT);
  out.unreturned_panic = o.Counter(CGT_STAT_UNRETURNED_PANIC);
  out.unreturned_evicted = o.Counter(CGT_STAT_UNRETURNED_EVICTED);
  out.callbacks_unreturned = o.Counter(CGT_STAT_CB_UNRETURNED);
  for (uint32_t i = 0; i < impl_->binaries.size(); ++i) {
    if (impl_->binaries[i].in_use()) {
      const int64_t n = o.InCgo(i);
      out.unreturned_in_c += n > 0 ? static_cast<uint64_t>(n) : 0;
    }
  }
  // Counted by cause in BPF; calls cut off by an LRU eviction of the
  // per-goroutine hash (entry / RET sites only) are the one cause not seen.
  out.unreturned =
      out.unreturned_exit + out.unreturned_panic + out.unreturned_evicted + out.unreturned_in_c;
  return out;
}

size_t Tracer::probe_count() const { return impl_->links.Total(); }

}  // namespace cgotrace
