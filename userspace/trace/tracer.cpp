#include "cgotrace/tracer.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <map>

#include "binary/go_binary.h"
#include "cgotrace.skel.h"
#include "cgotrace_abi.h"
#include "trace/process.h"

namespace cgotrace {
namespace {

bool g_libbpf_verbose = false;

// libbpf's own messages are only shown with --verbose: its warnings resurface
// as cgotrace's one-line errors.
int LibbpfPrint(enum libbpf_print_level /*level*/, const char* format, va_list args) {
  return g_libbpf_verbose ? vfprintf(stderr, format, args) : 0;
}

// Owns one uprobe attachment; destroying it removes the breakpoint.
class Link {
 public:
  explicit Link(bpf_link* link) : link_(link) {}
  ~Link() { bpf_link__destroy(link_); }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

 private:
  bpf_link* link_;
};

struct SkelDeleter {
  void operator()(cgotrace_bpf* skel) const { cgotrace_bpf__destroy(skel); }
};
struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

std::string PermissionHint() {
  // Measured on Linux 6.18: attaching the uprobe perf events also needs
  // CAP_SYS_ADMIN; BPF + PERFMON + SYS_PTRACE alone load but cannot attach.
  return "run as root, or grant CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE and CAP_SYS_ADMIN";
}

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
    bool all_processes = false;  // attached with pid -1
  };

  std::unique_ptr<cgotrace_bpf, SkelDeleter> skel;
  std::unique_ptr<ring_buffer, RingBufferDeleter> rb;
  std::vector<Binary> binaries;
  // Probes per (binary index, pid); pid -1 for whole-binary attachments.
  std::map<std::pair<uint32_t, pid_t>, std::vector<std::unique_ptr<Link>>> links;
  // Stack ids are stable (no BPF_F_REUSE_STACKID), so each is read once.
  std::map<uint32_t, std::vector<uint64_t>> stack_cache;
  bool empty_probes = false;
  const EventCallback* callback = nullptr;
  int delivered = 0;

  Result<uint32_t> BinaryIndex(const std::string& path);
  Result<void> AttachSites(uint32_t index, const std::string& path, pid_t pid,
                           const ProbedFunction& fn, enum cgt_site entry_site,
                           enum cgt_site ret_site, std::vector<std::unique_ptr<Link>>* out);
  const std::vector<uint64_t>& StackFor(uint32_t id);
  static int OnSample(void* ctx, void* data, size_t size);
};

Tracer::Tracer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Tracer::~Tracer() {
  // Links go first so no probe fires into freed maps.
  impl_->links.clear();
}

Result<std::unique_ptr<Tracer>> Tracer::Create(const TracerOptions& options) {
  g_libbpf_verbose = options.verbose;
  libbpf_set_print(LibbpfPrint);

  auto impl = std::make_unique<Impl>();
  impl->skel.reset(cgotrace_bpf__open());
  if (!impl->skel) {
    return MakeError("cannot open the BPF object: {}", strerror(errno));
  }
  cgotrace_bpf* skel = impl->skel.get();
  impl->empty_probes = options.empty_probes;
  skel->rodata->wakeup_bytes = options.wakeup_bytes;
  skel->rodata->capture_stacks = options.call_stacks ? 1 : 0;
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
      return MakeError("permission denied loading BPF programs: {}", PermissionHint());
    }
    return MakeError("loading BPF programs failed: {} (rerun with --verbose for the verifier log)",
                     strerror(-err));
  }
  impl->rb.reset(
      ring_buffer__new(bpf_map__fd(skel->maps.events), &Impl::OnSample, impl.get(), nullptr));
  if (!impl->rb) {
    return MakeError("cannot set up the BPF ring buffer: {}", strerror(errno));
  }
  return std::unique_ptr<Tracer>(new Tracer(std::move(impl)));
}

Result<uint32_t> Tracer::Impl::BinaryIndex(const std::string& path) {
  auto id = FileIdOf(path);
  if (!id) {
    return id.error();
  }
  for (uint32_t i = 0; i < binaries.size(); ++i) {
    if (binaries[i].id == *id) {
      return i;
    }
  }
  if (binaries.size() >= CGT_MAX_BINARIES) {
    return MakeError("{}: cgotrace traces at most {} distinct binaries at once", path,
                     CGT_MAX_BINARIES);
  }
  auto bin = GoBinary::Analyze(path);
  if (!bin) {
    return bin.error();
  }
  Binary b;
  b.id = *id;
  b.comm = Basename(LinkTarget(path));
  b.bin = std::move(*bin);

  const RuntimeOffsets& off = b.bin->offsets();
  cgt_binary_config cfg{};
  cfg.valid = 1;
  cfg.g_goid = off.g_goid;
  cfg.g_stack_hi = off.g_stack_hi;
  cfg.flags = b.bin->has_symtab() ? 0 : CGT_CFG_CALLER_PC;
  auto index = static_cast<uint32_t>(binaries.size());
  if (bpf_map__update_elem(skel->maps.binaries, &index, sizeof(index), &cfg, sizeof(cfg),
                           BPF_ANY) != 0) {
    return MakeError("{}: cannot configure BPF map: {}", path, strerror(errno));
  }
  binaries.push_back(std::move(b));
  return index;
}

Result<void> Tracer::Impl::AttachSites(uint32_t index, const std::string& path, pid_t pid,
                                       const ProbedFunction& fn, enum cgt_site entry_site,
                                       enum cgt_site ret_site,
                                       std::vector<std::unique_ptr<Link>>* out) {
  const ElfFile& elf = binaries[index].bin->elf();
  for (const ProbeSite& site : fn.sites) {
    auto offset = elf.VaddrToFileOffset(site.vaddr);
    if (!offset) {
      return offset.error();
    }
    bool entry = site.kind == SiteKind::kEntry;
    LIBBPF_OPTS(bpf_uprobe_opts, opts);
    if (site.vaddr > CGT_MAX_VADDR) {
      return MakeError("{}: probe site 0x{:x} beyond the 48-bit cookie range", path, site.vaddr);
    }
    opts.bpf_cookie = CGT_COOKIE(site.vaddr, index, entry ? entry_site : ret_site);
    bpf_program* prog = empty_probes ? skel->progs.cgt_empty
                        : entry      ? skel->progs.cgt_entry
                                     : skel->progs.cgt_return;
    bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, path.c_str(), *offset, &opts);
    if (link == nullptr) {
      int err = errno;
      if (err == EPERM || err == EACCES) {
        return MakeError("permission denied attaching uprobe to {}: {}", path, PermissionHint());
      }
      if (pid > 0 && (err == ESRCH || !ProcessAlive(pid))) {
        return MakeError("PID {} exited while attaching", pid);
      }
      return MakeError("{}: cannot attach uprobe at {}+0x{:x} (file offset 0x{:x}): {}", path,
                       fn.name, site.vaddr - fn.entry, *offset, strerror(err));
    }
    out->push_back(std::make_unique<Link>(link));
  }
  return Ok();
}

Result<AttachReport> Tracer::AddBinary(const std::string& path, pid_t pid) {
  auto index = impl_->BinaryIndex(path);
  if (!index) {
    return index.error();
  }
  Impl::Binary& b = impl_->binaries[*index];
  AttachReport report{path, pid, 0};
  // A whole-binary attachment already sees every process of it.
  if (b.all_processes || impl_->links.count({*index, pid}) != 0) {
    return report;
  }
  // On any failure the partial list is destroyed: nothing stays attached.
  std::vector<std::unique_ptr<Link>> links;
  CGT_TRY(impl_->AttachSites(*index, path, pid, b.bin->cgocall(), CGT_SITE_CALL_ENTRY,
                             CGT_SITE_CALL_RET, &links));
  CGT_TRY(impl_->AttachSites(*index, path, pid, b.bin->cgocallback(), CGT_SITE_CB_ENTRY,
                             CGT_SITE_CB_RET, &links));
  report.probes = links.size();
  impl_->links[{*index, pid}] = std::move(links);
  if (pid < 0) {
    b.all_processes = true;
  }
  return report;
}

void Tracer::RemoveProcess(pid_t pid) {
  for (auto it = impl_->links.begin(); it != impl_->links.end();) {
    it = it->first.second == pid ? impl_->links.erase(it) : std::next(it);
  }
}

std::vector<pid_t> Tracer::AttachedPids() const {
  std::vector<pid_t> out;
  for (const auto& [key, links] : impl_->links) {
    if (key.second > 0) {
      out.push_back(key.second);
    }
  }
  return out;
}

std::vector<BinaryStatus> Tracer::Binaries() const {
  std::vector<BinaryStatus> out;
  for (uint32_t i = 0; i < impl_->binaries.size(); ++i) {
    BinaryStatus st;
    st.path = impl_->binaries[i].bin->elf().path();
    st.comm = impl_->binaries[i].comm;
    int64_t value = 0;
    if (bpf_map__lookup_elem(impl_->skel->maps.in_cgo, &i, sizeof(i), &value, sizeof(value), 0) ==
        0) {
      // Calls cut off by a process exit never return; clamp the leftovers.
      st.threads_in_cgo = value < 0 ? 0 : value;
    }
    for (const auto& [key, links] : impl_->links) {
      if (key.first == i) {
        st.probes += links.size();
      }
    }
    out.push_back(std::move(st));
  }
  return out;
}

ProgramStats Tracer::ProgramRunStats() const {
  ProgramStats out;
  for (bpf_program* prog : {impl_->skel->progs.cgt_entry, impl_->skel->progs.cgt_return}) {
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(bpf_program__fd(prog), &info, &len) == 0) {
      out.run_time_ns += info.run_time_ns;
      out.run_count += info.run_cnt;
    }
  }
  return out;
}

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

const std::vector<uint64_t>& Tracer::Impl::StackFor(uint32_t id) {
  auto it = stack_cache.find(id);
  if (it != stack_cache.end()) {
    return it->second;
  }
  std::vector<uint64_t> ips(CGT_STACK_DEPTH, 0);
  std::vector<uint64_t> out;
  if (bpf_map__lookup_elem(skel->maps.stacks, &id, sizeof(id), ips.data(),
                           ips.size() * sizeof(uint64_t), 0) == 0) {
    // Frame 0 is runtime.cgocall itself: the call site starts at frame 1.
    for (size_t i = 1; i < ips.size() && ips[i] != 0; ++i) {
      out.push_back(ips[i]);
    }
  }
  return stack_cache.emplace(id, std::move(out)).first->second;
}

int Tracer::Impl::OnSample(void* ctx, void* data, size_t size) {
  auto* self = static_cast<Impl*>(ctx);
  if (size < sizeof(cgt_event)) {
    return 0;
  }
  cgt_event raw;
  memcpy(&raw, data, sizeof(raw));
  if (raw.binary >= self->binaries.size()) {
    return 0;
  }
  const Binary& b = self->binaries[raw.binary];
  const uint64_t bias = raw.load_bias;
  CgoEvent ev;
  ev.pid = raw.pid;
  ev.tid = raw.tid;
  ev.goid = raw.goid;
  ev.comm = b.comm;
  ev.binary_path = b.bin->elf().path();
  ev.start_ns = raw.start_ns;
  ev.duration_ns = raw.duration_ns;
  ev.stack_depth = raw.stack_depth;
  if (raw.stack_id != CGT_NO_STACK) {
    for (uint64_t pc : self->StackFor(raw.stack_id)) {
      ev.stack.push_back(pc - bias);
      const GoFunc* f = b.bin->pclntab().FuncAt(pc - bias);
      ev.frames.push_back(f != nullptr ? f->name : fmt::format("0x{:x}", pc - bias));
    }
  }
  if (raw.kind == CGT_EV_CALLBACK) {
    ev.kind = EventKind::kCallback;
    ev.func = b.bin->CallbackName(raw.fn);
  } else {
    ev.kind = EventKind::kCall;
    ev.func = b.bin->CallName(raw.fn, raw.caller_pc);
  }
  (*self->callback)(ev);
  ++self->delivered;
  return 0;
}

Result<int> Tracer::Poll(int timeout_ms, const EventCallback& callback) {
  impl_->callback = &callback;
  impl_->delivered = 0;
  // Wakeups are batched in BPF, so epoll may stay quiet while data waits:
  // always drain after the wait.
  int err = ring_buffer__poll(impl_->rb.get(), timeout_ms);
  if (err >= 0) {
    err = ring_buffer__consume(impl_->rb.get());
  }
  impl_->callback = nullptr;
  if (err < 0 && err != -EINTR) {
    return MakeError("reading the BPF ring buffer failed: {}", strerror(-err));
  }
  return impl_->delivered;
}

TracerStats Tracer::Stats() const {
  TracerStats out;
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) {
    return out;
  }
  std::vector<uint64_t> values(static_cast<size_t>(ncpu));
  auto sum = [&](uint32_t key) -> uint64_t {
    if (bpf_map__lookup_elem(impl_->skel->maps.stats, &key, sizeof(key), values.data(),
                             values.size() * sizeof(uint64_t), 0) != 0) {
      return 0;
    }
    uint64_t total = 0;
    for (uint64_t v : values) {
      total += v;
    }
    return total;
  };
  out.events = sum(CGT_STAT_EVENTS);
  out.lost = sum(CGT_STAT_LOST_RINGBUF);
  out.no_entry = sum(CGT_STAT_NO_ENTRY);
  out.read_fail = sum(CGT_STAT_READ_FAIL);
  out.entries = sum(CGT_STAT_ENTRIES);
  out.stack_fail = sum(CGT_STAT_STACK_FAIL);
  return out;
}

size_t Tracer::probe_count() const {
  size_t n = 0;
  for (const auto& [key, links] : impl_->links) {
    n += links.size();
  }
  return n;
}

}  // namespace cgotrace
