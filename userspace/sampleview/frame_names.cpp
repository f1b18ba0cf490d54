#include "sampleview/frame_names.h"

#ifdef CGOTRACE_BCC
#include <bcc/bcc_syms.h>
#else
#include <fstream>
#include <sstream>
#endif

namespace cgotrace {

FrameNamer::FrameNamer(pid_t pid, const GoBinary& binary, uint64_t bias)
    : pid_(pid), binary_(binary), bias_(bias) {}

FrameNamer::~FrameNamer() {
#ifdef CGOTRACE_BCC
  if (cache_ != nullptr) {
    bcc_free_symcache(cache_, pid_);
  }
#endif
}

std::string FrameNamer::GoName(uint64_t addr) const {
  if (addr < bias_) {
    return "";
  }
  const cgotrace::GoFunc* f = binary_.pclntab().FuncAt(addr - bias_);
  return f == nullptr ? "" : f->name;
}

#ifndef CGOTRACE_BCC
namespace {

// Without BCC: the path of the file mapped at `addr`, from /proc/PID/maps.
std::string ModuleAt(pid_t pid, uint64_t addr) {
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream in(line);
    std::string range, perms, offset, dev, inode, path;
    in >> range >> perms >> offset >> dev >> inode;
    std::getline(in >> std::ws, path);
    const size_t dash = range.find('-');
    if (dash == std::string::npos) {
      continue;
    }
    const uint64_t lo = std::stoull(range.substr(0, dash), nullptr, 16);
    const uint64_t hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    if (addr >= lo && addr < hi) {
      return path;
    }
  }
  return "";
}

}  // namespace
#endif

CFrame FrameNamer::NameC(uint64_t addr) {
  auto it = c_names_.find(addr);
  if (it != c_names_.end()) {
    return it->second;
  }
#ifndef CGOTRACE_BCC
  // Built without BCC (the arm64 cross build): frames in the executable
  // are named by its pclntab or its own ELF symbols (its C code), others
  // are addresses in their module.
  CFrame plain;
  plain.addr = addr;
  plain.func = GoName(addr);
  if (plain.func.empty() && addr >= bias_) {
    const ElfSymbol* sym = binary_.elf().FunctionAt(addr - bias_);
    plain.func = sym != nullptr ? sym->name : "";
  }
  if (!plain.func.empty()) {
    plain.module = binary_.elf().path();
  } else {
    plain.func = fmt::format("0x{:x}", addr);
    plain.module = ModuleAt(pid_, addr);
  }
  c_names_.emplace(addr, plain);
  return plain;
#else
  if (cache_ == nullptr) {
    // Lazily: loading the symbols of every module costs milliseconds.
    cache_ = bcc_symcache_new(pid_, nullptr);
  }
  CFrame frame;
  frame.addr = addr;
  bcc_symbol sym{};
  if (cache_ != nullptr && bcc_symcache_resolve_no_demangle(cache_, addr, &sym) == 0 &&
      sym.name != nullptr) {
    frame.func = sym.name;
    frame.module = sym.module != nullptr ? sym.module : "";
  } else {
    // The Go binary's own code, when BCC has no symbol for it (stripped).
    frame.func = GoName(addr);
    if (!frame.func.empty()) {
      frame.module = binary_.elf().path();
    } else {
      frame.func = fmt::format("0x{:x}", addr);
      if (cache_ != nullptr && sym.module != nullptr) {
        frame.module = sym.module;
      }
    }
  }
  c_names_.emplace(addr, frame);
  return frame;
#endif
}

const NamedCall& FrameNamer::Name(const std::vector<uint64_t>& c_frames,
                                  const std::vector<uint64_t>& go_frames) {
  std::string key;
  key.reserve((c_frames.size() + go_frames.size() + 1) * sizeof(uint64_t));
  auto append = [&key](const std::vector<uint64_t>& v) {
    key.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(uint64_t));
  };
  append(c_frames);
  key.append(sizeof(uint64_t), '\xff');  // no frame is ~0: the lists cannot run together
  append(go_frames);
  auto [it, added] = calls_.try_emplace(std::move(key));
  if (!added) {
    return it->second;
  }
  NamedCall& call = it->second;
  for (size_t i = 0; i < c_frames.size(); ++i) {
    // Return addresses point after the call: name the call instruction.
    uint64_t addr = i == 0 ? c_frames[i] : c_frames[i] - 1;
    // The chain reaches Go through runtime.asmcgocall, which called the cgo
    // trampoline on the g0 stack: everything from there on is Go's.
    std::string go = GoName(addr);
    if (go == "runtime.asmcgocall" || go == "runtime.asmcgocall.abi0") {
      call.c_frames_complete = true;
      break;
    }
    call.c_frames.push_back(NameC(addr));
    call.c_frames.back().addr = c_frames[i];
  }
  for (size_t i = 0; i < go_frames.size(); ++i) {
    std::string name = GoName(go_frames[i] - 1);
    if (name.empty()) {
      break;  // off the end of the goroutine's frames
    }
    if (i == 0) {
      call.func = CgoNameFromSymbol(name);
      if (call.func.empty()) {
        call.func = name;  // a runtime-internal cgo call
      }
    } else if (call.site.empty()) {
      call.site = name;
    }
    call.go_stack.push_back(std::move(name));
    call.go_pcs.push_back(go_frames[i]);
  }
  if (call.func.empty()) {
    call.func = "?";
  }
  return call;
}

}  // namespace cgotrace
