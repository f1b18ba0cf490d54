// BpfObject: skeleton, maps and ring buffer of cgotrace's BPF object.
#include "trace/bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstdarg>
#include <cstring>

#include "cgotrace.skel.h"
#include "process/process.h"

namespace cgotrace {
namespace {

bool g_libbpf_verbose = false;

// libbpf's own messages are only shown with --verbose: its warnings resurface
// as cgotrace's one-line errors.
int LibbpfPrint(enum libbpf_print_level /*level*/, const char* format, va_list args) {
  return g_libbpf_verbose ? vfprintf(stderr, format, args) : 0;
}

// The sum over CPUs of a per-CPU array's value at `key` (T: a 64-bit
// counter); 0 if it cannot be read.
template <typename T>
T SumPerCpu(const bpf_map* map, uint32_t key) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) {
    return 0;
  }
  std::vector<T> values(static_cast<size_t>(ncpu));
  if (bpf_map__lookup_elem(map, &key, sizeof(key), values.data(), values.size() * sizeof(T), 0) !=
      0) {
    return 0;
  }
  T total = 0;
  for (T v : values) {
    total += v;
  }
  return total;
}

}  // namespace

const char* BpfPermissionHint() {
  // Measured on Linux 6.18: attaching the uprobe perf events also needs
  // CAP_SYS_ADMIN; BPF + PERFMON + SYS_PTRACE alone load but cannot attach.
  return "run as root, or grant CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_SYS_ADMIN";
}

BpfObject::~BpfObject() {
  bpf_link__destroy(exit_link_);
  ring_buffer__free(rb_);
  cgotrace_bpf__destroy(skel_);
}

Result<std::unique_ptr<BpfObject>> BpfObject::Load(const TracerOptions& options) {
  g_libbpf_verbose = options.verbose;
  libbpf_set_print(LibbpfPrint);

  std::unique_ptr<BpfObject> obj(new BpfObject());
  obj->skel_ = cgotrace_bpf__open();
  if (obj->skel_ == nullptr) {
    return MakeError("cannot open the BPF object: {}", strerror(errno));
  }
  cgotrace_bpf* skel = obj->skel_;
  obj->empty_probes_ = options.empty_probes;
  // The BPF side compares shifts (no division per event): a power of two,
  // rounded down.
  skel->rodata->wakeup_shift =
      options.wakeup_bytes == 0 ? 0
                                : static_cast<uint32_t>(std::bit_width(options.wakeup_bytes) - 1);
  skel->rodata->capture_stacks = options.call_stacks ? 1 : 0;
  skel->rodata->outputs = (options.events ? CGT_OUT_EVENTS : 0u) |
                          (options.aggregate ? CGT_OUT_AGGREGATE : 0u) |
                          (options.export_rows ? CGT_OUT_EXPORT : 0u);
  skel->data->events_on = options.events_enabled ? 1 : 0;
  // In the initial PID namespace the kernel's PIDs are already ours; the
  // translation helper would only add cost to every probe hit.
  constexpr uint64_t kInitPidNsIno = 0xEFFFFFFCULL;  // PROC_PID_INIT_INO
  if (options.report_in_own_pidns) {
    if (auto ns = OwnPidNamespace(); ns && ns->ino != kInitPidNsIno) {
      skel->rodata->pidns_dev = ns->dev;
      skel->rodata->pidns_ino = ns->ino;
    }
  }
  if (bpf_map__set_max_entries(skel->maps.events, options.ringbuf_bytes) != 0) {
    return MakeError("invalid ring buffer size {} (must be a power of two multiple of the page)",
                     options.ringbuf_bytes);
  }
  if (int err = cgotrace_bpf__load(skel); err != 0) {
    if (err == -EPERM || err == -EACCES || geteuid() != 0) {
      return MakeError("permission denied loading BPF programs: {}", BpfPermissionHint());
    }
    return MakeError("loading BPF programs failed: {} (rerun with --verbose for the verifier log)",
                     strerror(-err));
  }
  // Without it, calls cut off by a process exit would stay in in_cgo
  // forever (tp_btf: Linux 5.5+, task storage from tracing programs 5.11+).
  if (!options.empty_probes) {
    obj->exit_link_ = bpf_program__attach(skel->progs.cgt_thread_exit);
    if (obj->exit_link_ == nullptr) {
      return MakeError("cannot attach the thread-exit program (tp_btf/sched_process_exit): {}",
                       strerror(errno));
    }
  }
  obj->rb_ =
      ring_buffer__new(bpf_map__fd(skel->maps.events), &BpfObject::OnRecord, obj.get(), nullptr);
  if (obj->rb_ == nullptr) {
    return MakeError("cannot set up the BPF ring buffer: {}", strerror(errno));
  }
  return obj;
}

Result<void> BpfObject::SetBinary(uint32_t binary, const cgt_binary_config& cfg) {
  if (bpf_map__update_elem(skel_->maps.binaries, &binary, sizeof(binary), &cfg, sizeof(cfg),
                           BPF_ANY) != 0) {
    return MakeError("cannot configure BPF map `binaries`: {}", strerror(errno));
  }
  return Ok();
}

void BpfObject::ClearBinary(uint32_t binary) {
  const cgt_binary_config invalid{};
  // Array maps: an update of an index inside the map cannot fail.
  (void)bpf_map__update_elem(skel_->maps.binaries, &binary, sizeof(binary), &invalid,
                             sizeof(invalid), BPF_ANY);
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu > 0) {
    const std::vector<int64_t> zeros(static_cast<size_t>(ncpu), 0);
    (void)bpf_map__update_elem(skel_->maps.in_cgo, &binary, sizeof(binary), zeros.data(),
                               zeros.size() * sizeof(int64_t), BPF_ANY);
  }
}

Result<void> BpfObject::SetSite(uint32_t binary, uint32_t slot, const cgt_site_desc& desc) {
  if (slot >= CGT_MAX_SITE_SLOTS) {
    return MakeError("site slot {} beyond CGT_MAX_SITE_SLOTS ({})", slot, CGT_MAX_SITE_SLOTS);
  }
  uint32_t key = CGT_SITE_KEY(binary, slot);
  if (bpf_map__update_elem(skel_->maps.sites, &key, sizeof(key), &desc, sizeof(desc), BPF_ANY) !=
      0) {
    return MakeError("cannot configure BPF map `sites`: {}", strerror(errno));
  }
  return Ok();
}

bpf_program* BpfObject::site_program() const {
  return empty_probes_ ? skel_->progs.cgt_empty : skel_->progs.cgt_site;
}

int BpfObject::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<BpfObject*>(ctx);
  (*self->record_fn_)(std::span<const uint8_t>(static_cast<const uint8_t*>(data), size));
  ++self->records_;
  return 0;
}

Result<int> BpfObject::Poll(int timeout_ms, const RecordFn& fn) {
  record_fn_ = &fn;
  records_ = 0;
  // Wakeups are batched in BPF, so epoll may stay quiet while data waits:
  // always drain after the wait.
  int err = ring_buffer__poll(rb_, timeout_ms);
  if (err >= 0) {
    err = ring_buffer__consume(rb_);
  }
  record_fn_ = nullptr;
  if (err < 0 && err != -EINTR) {
    return MakeError("reading the BPF ring buffer failed: {}", strerror(-err));
  }
  return records_;
}

int64_t BpfObject::InCgo(uint32_t binary) const {
  // Per CPU: a call may start on one CPU and end on another.
  return SumPerCpu<int64_t>(skel_->maps.in_cgo, binary);
}

std::vector<uint64_t> BpfObject::Stack(uint32_t id) const {
  std::vector<uint64_t> ips(CGT_STACK_DEPTH, 0);
  if (bpf_map__lookup_elem(skel_->maps.stacks, &id, sizeof(id), ips.data(),
                           ips.size() * sizeof(uint64_t), 0) != 0) {
    return {};
  }
  return ips;
}

namespace {

// Every key of a hash map keyed by cgt_agg_key (of every binary, or of one)
// with its value of `words` 64-bit words (0: keys only); entries deleted
// meanwhile are skipped.
std::vector<BpfObject::Aggregate> ReadAggKeyed(int fd, size_t words,
                                               std::optional<uint32_t> binary) {
  std::vector<BpfObject::Aggregate> out;
  cgt_agg_key key{};
  cgt_agg_key next{};
  const cgt_agg_key* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, &next) == 0) {
    key = next;
    prev = &key;
    if (binary && key.binary != *binary) {
      continue;
    }
    BpfObject::Aggregate a{key, std::vector<uint64_t>(words)};
    if (words == 0 || bpf_map_lookup_elem(fd, &key, a.value.data()) == 0) {
      out.push_back(std::move(a));
    }
  }
  return out;
}

void DeleteAggKeyed(int fd, uint32_t binary) {
  for (const BpfObject::Aggregate& a : ReadAggKeyed(fd, 0, binary)) {
    (void)bpf_map_delete_elem(fd, &a.key);  // gone already: nothing to do
  }
}

}  // namespace

std::vector<BpfObject::Aggregate> BpfObject::Aggregates(std::optional<uint32_t> binary) const {
  return ReadAggKeyed(bpf_map__fd(skel_->maps.aggregates), sizeof(cgt_agg_value) / 8, binary);
}

void BpfObject::DeleteAggregates(uint32_t binary) {
  DeleteAggKeyed(bpf_map__fd(skel_->maps.aggregates), binary);
}

std::vector<BpfObject::Aggregate> BpfObject::ExportRows(std::optional<uint32_t> binary) const {
  return ReadAggKeyed(bpf_map__fd(skel_->maps.export_rows), sizeof(cgt_export_value) / 8, binary);
}

void BpfObject::DeleteExportRows(uint32_t binary) {
  DeleteAggKeyed(bpf_map__fd(skel_->maps.export_rows), binary);
  const cgt_pow2_hist zero{};
  // An array map: an update of an index inside the map cannot fail.
  (void)bpf_map__update_elem(skel_->maps.export_depth, &binary, sizeof(binary), &zero, sizeof(zero),
                             BPF_ANY);
}

cgt_pow2_hist BpfObject::ExportDepth(uint32_t binary) const {
  cgt_pow2_hist v{};
  if (bpf_map__lookup_elem(skel_->maps.export_depth, &binary, sizeof(binary), &v, sizeof(v), 0) !=
      0) {
    return cgt_pow2_hist{};
  }
  return v;
}

void BpfObject::SetEventsEnabled(bool on) {
  // The programs read it at every hit; a plain store is all it takes.
  __atomic_store_n(&skel_->data->events_on, on ? 1u : 0u, __ATOMIC_SEQ_CST);
}

uint64_t BpfObject::Counter(uint32_t which) const {
  return SumPerCpu<uint64_t>(skel_->maps.stats, which);
}

ProgramStats BpfObject::RunStats() const {
  ProgramStats out;
  bpf_prog_info info{};
  uint32_t len = sizeof(info);
  if (bpf_obj_get_info_by_fd(bpf_program__fd(skel_->progs.cgt_site), &info, &len) == 0) {
    out.run_time_ns = info.run_time_ns;
    out.run_count = info.run_cnt;
  }
  return out;
}

}  // namespace cgotrace
