// Attaching site plans with RAII uprobe links.
#include "trace/site_attach.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "process/process.h"
#include "trace/bpf_object.h"

namespace cgotrace {

UprobeLink::~UprobeLink() { bpf_link__destroy(link_); }

UprobeLink& UprobeLink::operator=(UprobeLink&& o) noexcept {
  if (this != &o) {
    bpf_link__destroy(link_);
    link_ = std::exchange(o.link_, nullptr);
  }
  return *this;
}

Result<cgt_binary_config> BinaryConfigFor(const std::string& path, const RuntimeOffsets& offsets) {
  const std::pair<const char*, uint32_t> fields[] = {{"goid", offsets.g_goid},
                                                     {"stack.hi", offsets.g_stack_hi}};
  for (const auto& [field, offset] : fields) {
    if (offset % 8 != 0 || offset >= CGT_G_PREFIX_BYTES) {
      return MakeError(
          "{}: runtime.g.{} at offset {} ({}) is outside the first {} bytes of runtime.g that "
          "cgotrace's BPF programs read (CGT_G_PREFIX_WORDS), or not 8-aligned",
          path, field, offset, offsets.source, CGT_G_PREFIX_BYTES);
    }
  }
  cgt_binary_config cfg{};
  cfg.valid = 1;
  cfg.g_goid = offsets.g_goid;
  cfg.g_stack_hi = offsets.g_stack_hi;
  return cfg;
}

Result<size_t> Attachments::Attach(bpf_program* prog, uint32_t binary, const ElfFile& elf,
                                   const std::string& path, pid_t pid, const SitePlan& plan) {
  // On any failure the partial list is destroyed: nothing stays attached.
  std::vector<UprobeLink> links;
  for (const PlannedSite& site : plan.sites) {
    auto offset = elf.VaddrToFileOffset(site.vaddr);
    if (!offset) {
      return offset.error();
    }
    if (site.vaddr > CGT_MAX_VADDR) {
      return MakeError("{}: probe site 0x{:x} beyond the 48-bit cookie range", path, site.vaddr);
    }
    LIBBPF_OPTS(bpf_uprobe_opts, opts);
    opts.bpf_cookie = CGT_COOKIE(site.vaddr, binary, site.slot);
    bpf_link* link = bpf_program__attach_uprobe_opts(prog, pid, path.c_str(), *offset, &opts);
    if (link == nullptr) {
      int err = errno;
      if (err == EPERM || err == EACCES) {
        return MakeError("permission denied attaching uprobe to {}: {}", path, BpfPermissionHint());
      }
      if (pid > 0 && (err == ESRCH || !ProcessAlive(pid))) {
        return MakeError("PID {} exited while attaching", pid);
      }
      return MakeError("{}: cannot attach uprobe at {}+0x{:x} (file offset 0x{:x}): {}", path,
                       site.function, site.vaddr - site.function_entry, *offset, strerror(err));
    }
    links.emplace_back(link);
  }
  size_t n = links.size();
  links_[{binary, pid}] = std::move(links);
  return n;
}

void Attachments::RemovePid(pid_t pid) {
  for (auto it = links_.begin(); it != links_.end();) {
    it = it->first.second == pid ? links_.erase(it) : std::next(it);
  }
}

std::vector<pid_t> Attachments::Pids() const {
  std::vector<pid_t> out;
  for (const auto& [key, links] : links_) {
    if (key.second > 0) {
      out.push_back(key.second);
    }
  }
  return out;
}

size_t Attachments::CountFor(uint32_t binary) const {
  size_t n = 0;
  for (const auto& [key, links] : links_) {
    if (key.first == binary) {
      n += links.size();
    }
  }
  return n;
}

size_t Attachments::Total() const {
  size_t n = 0;
  for (const auto& [key, links] : links_) {
    n += links.size();
  }
  return n;
}

}  // namespace cgotrace
