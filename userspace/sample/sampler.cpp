#include "sample/sampler.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <unordered_map>

#include "offsets/go_sample_layout.h"
#include "sample.skel.h"
#include "sample/target_process.h"
#include "util/proc_fs.h"

namespace cgotrace {
namespace {

bool g_verbose = false;

int LibbpfPrint(enum libbpf_print_level /*level*/, const char* format, va_list args) {
  return g_verbose ? vfprintf(stderr, format, args) : 0;
}

struct SkelDeleter {
  void operator()(sample_bpf* skel) const { sample_bpf__destroy(skel); }
};
struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};

// Closes a file descriptor on scope exit.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) {
      close(fd_);
    }
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Result<void> CheckFits(uint32_t offset, uint32_t limit, const char* what, const std::string& path) {
  if (offset + sizeof(uint64_t) > limit) {
    return MakeError("{}: offset {} of {} is beyond the {} bytes the sampler reads", path, offset,
                     what, limit);
  }
  return Ok();
}

// Memo entries for a process with this many threads now: four times that
// (threads come and go; the LRU's per-CPU free lists want slack), at least
// 1024, at most CGT_SAMPLE_MAX_THREADS.
uint32_t MemoEntriesFor(pid_t pid) {
  constexpr uint32_t kMin = 1024;
  const uint64_t want = 4 * static_cast<uint64_t>(ProcessThreadCount(pid));
  return static_cast<uint32_t>(
      std::clamp<uint64_t>(want, kMin, static_cast<uint64_t>(CGT_SAMPLE_MAX_THREADS)));
}

}  // namespace

Result<cgt_sample_config> MakeSampleConfig(const GoBinary& binary) {
  const std::string& path = binary.elf().path();
  auto tls = FindGTlsSlot(binary.elf(), binary.pclntab());
  if (!tls) {
    return tls.error();
  }
  const RuntimeOffsets& off = binary.offsets();
  cgt_sample_config cfg{};
  cfg.tls_g = static_cast<uint64_t>(tls->offset);
  cfg.g_m = off.g_m;
  cfg.g_goid = off.g_goid;
  cfg.g_stack_hi = off.g_stack_hi;
  cfg.g_syscallsp = off.g_syscallsp;
  cfg.g_syscallpc = off.g_syscallpc;
  const bool has_syscallbp = off.g_syscallbp != RuntimeOffsets::kAbsent;
  cfg.g_syscallbp = has_syscallbp ? off.g_syscallbp : 0;
  cfg.m_g0 = off.m_g0;
  cfg.m_curg = off.m_curg;
  cfg.m_incgo = off.m_incgo;
  cfg.m_ncgocall = off.m_ncgocall;
  cfg.m_procid = off.m_procid;
  // PIDs and thread ids as our own PID namespace numbers them: the host's
  // when cgotrace runs on the host, the pod's in a sidecar (what `ps` and
  // /proc show the user either way).
  auto ns = FileIdOf("/proc/self/ns/pid");
  cfg.pidns_ino = ns ? ns->ino : 0;
  if (!has_syscallbp) {
    const ProbedFunction& cgocall = binary.cgocall();
    auto code = binary.elf().ReadVaddr(cgocall.entry, cgocall.size);
    if (!code) {
      return MakeError("{}: cannot read runtime.cgocall: {}", path, code.error().message);
    }
    auto bp = CgocallFramePointerOffset(binary.elf().arch(), cgocall.entry, *code);
    if (!bp) {
      return MakeError("{}: {}", path, bp.error().message);
    }
    cfg.cgocall_bp = *bp;
  }
  for (auto [o, what] : {std::pair{off.g_m, "runtime.g.m"},
                         {off.g_goid, "runtime.g.goid"},
                         {off.g_stack_hi, "runtime.g.stack.hi"},
                         {off.g_syscallsp, "runtime.g.syscallsp"},
                         {off.g_syscallpc, "runtime.g.syscallpc"},
                         {cfg.g_syscallbp, "runtime.g.syscallbp"}}) {
    CGT_TRY(CheckFits(o, CGT_SAMPLE_G_BYTES, what, path));
  }
  for (auto [o, what] : {std::pair{off.m_g0, "runtime.m.g0"},
                         {off.m_curg, "runtime.m.curg"},
                         {off.m_incgo, "runtime.m.incgo"},
                         {off.m_ncgocall, "runtime.m.ncgocall"},
                         {off.m_procid, "runtime.m.procid"}}) {
    CGT_TRY(CheckFits(o, CGT_SAMPLE_M_BYTES, what, path));
  }
  return cfg;
}

struct Sampler::Impl {
  std::unique_ptr<sample_bpf, SkelDeleter> skel;
  std::unique_ptr<bpf_link, LinkDeleter> link;
  std::vector<uint8_t> buf;
  // Each thread's previous sample: what the program skips re-reading for a
  // thread still in the same call comes from here.
  std::unordered_map<uint32_t, ThreadSample> previous;
};

namespace {

// Completes a sample the program shortened because nothing had changed.
// Returns false if the previous sample it refers to is unknown (then the
// thread is reported without the skipped fields).
bool FillFromPrevious(const std::unordered_map<uint32_t, ThreadSample>& previous, ThreadSample* s) {
  if (!s->same_call && !s->same_c && !s->unchanged) {
    return true;
  }
  auto it = previous.find(s->tid);
  if (it == previous.end()) {
    return false;
  }
  const ThreadSample& p = it->second;
  if (s->unchanged) {
    ThreadSample fresh = *s;
    *s = p;
    s->time_ns = fresh.time_ns;
    s->runnable = fresh.runnable;
    s->on_cpu = fresh.on_cpu;
    s->unchanged = true;
    return true;
  }
  if (!p.in_c) {
    return false;
  }
  if (s->same_call) {
    s->goid = p.goid;
    s->syscallsp = p.syscallsp;
    s->syscallpc = p.syscallpc;
    s->stack_hi = p.stack_hi;
    s->go_frames = p.go_frames;
  }
  if (s->same_c) {
    s->c_frames = p.c_frames;
    s->c_truncated = p.c_truncated;
  }
  return true;
}

}  // namespace

Sampler::Sampler(pid_t pid) : pid_(pid), impl_(std::make_unique<Impl>()) {}
Sampler::~Sampler() = default;

Result<std::unique_ptr<Sampler>> Sampler::Open(pid_t pid, const GoBinary& binary, bool verbose) {
  auto cfg = MakeSampleConfig(binary);
  if (!cfg) {
    return cfg.error();
  }
  g_verbose = verbose;
  libbpf_set_print(LibbpfPrint);
  std::unique_ptr<Sampler> s(new Sampler(pid));
  s->impl_->skel.reset(sample_bpf__open());
  if (!s->impl_->skel) {
    return MakeError("cannot open the sampling BPF object: {}", strerror(errno));
  }
  std::memcpy(const_cast<cgt_sample_config*>(&s->impl_->skel->rodata->cfg), &*cfg, sizeof(*cfg));
  // The memo table is preallocated (an LRU hash): at its full size, 4.7 MB
  // per sampled process, which an exporter sampling every Go process of a
  // host pays for each. Size it to the process instead, with room to grow;
  // a thread whose memo was evicted is just read in full.
  if (int err = bpf_map__set_max_entries(s->impl_->skel->maps.memos, MemoEntriesFor(pid));
      err != 0) {
    return MakeError("cannot size the sampler's thread table: {}", strerror(-err));
  }
  if (int err = sample_bpf__load(s->impl_->skel.get()); err != 0) {
    return MakeError(
        "cannot load the sampling BPF program: {} (needs root or CAP_BPF + CAP_PERFMON + "
        "CAP_SYS_PTRACE, and a kernel with BTF and sleepable task iterators, 6.1+; -v shows the "
        "verifier log)",
        strerror(-err));
  }
  union bpf_iter_link_info info {};
  info.task.pid = static_cast<uint32_t>(pid);
  LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
  bpf_link* link = bpf_program__attach_iter(s->impl_->skel->progs.cgt_sample_task, &opts);
  if (link == nullptr) {
    return MakeError("cannot attach the sampler to PID {}: {}", pid, strerror(errno));
  }
  s->impl_->link.reset(link);
  return s;
}

Result<std::vector<ThreadSample>> Sampler::Sample() {
  Fd fd(bpf_iter_create(bpf_link__fd(impl_->link.get())));
  if (fd.get() < 0) {
    return MakeError("cannot start a sample of PID {}: {}", pid_, strerror(errno));
  }
  std::vector<uint8_t>& buf = impl_->buf;
  buf.clear();
  constexpr size_t kChunk = 64 * 1024;
  for (;;) {
    size_t at = buf.size();
    buf.resize(at + kChunk);
    ssize_t n = read(fd.get(), buf.data() + at, kChunk);
    if (n < 0) {
      if (errno == EINTR) {
        buf.resize(at);
        continue;
      }
      return MakeError("reading a sample of PID {} failed: {}", pid_, strerror(errno));
    }
    buf.resize(at + static_cast<size_t>(n));
    if (n == 0) {
      break;
    }
  }
  auto samples = DecodeSamples(buf);
  if (!samples) {
    return samples.error();
  }
  std::unordered_map<uint32_t, ThreadSample> next;
  next.reserve(samples->size());
  for (ThreadSample& t : *samples) {
    if (!FillFromPrevious(impl_->previous, &t)) {
      t.read_failed = true;
    }
    next.emplace(t.tid, t);
  }
  impl_->previous = std::move(next);
  return samples;
}

Result<ProcessSampler> OpenProcessSampler(pid_t pid, const GoBinary& binary, bool verbose) {
  ProcessSampler out;
  auto bias = ExecutableLoadBias(pid, binary.elf());
  if (!bias) {
    return bias.error();
  }
  out.bias = *bias;
  auto sampler = Sampler::Open(pid, binary, verbose);
  if (!sampler) {
    return MakeError("PID {}: {}", pid, sampler.error().message);
  }
  out.sampler = std::move(*sampler);
  return out;
}

}  // namespace cgotrace
