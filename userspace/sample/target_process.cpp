#include "sample/target_process.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "offsets/dwarf_file.h"

namespace cgotrace {
namespace {

std::optional<uint64_t> ReadWord(pid_t pid, uint64_t addr, size_t size) {
  std::string path = fmt::format("/proc/{}/mem", pid);
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return std::nullopt;
  }
  uint64_t v = 0;
  ssize_t n = pread(fd, &v, size, static_cast<off_t>(addr));
  close(fd);
  if (n != static_cast<ssize_t>(size)) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

Result<uint64_t> ExecutableLoadBias(pid_t pid, const ElfFile& exe) {
  if (!exe.is_pie()) {
    return 0;
  }
  char target[4096];
  std::string exe_link = fmt::format("/proc/{}/exe", pid);
  ssize_t len = readlink(exe_link.c_str(), target, sizeof(target) - 1);
  if (len <= 0) {
    return MakeError("cannot read {}: process gone or no permission", exe_link);
  }
  std::string exe_path(target, static_cast<size_t>(len));
  std::ifstream maps(fmt::format("/proc/{}/maps", pid));
  for (std::string line; std::getline(maps, line);) {
    uint64_t start = 0;
    uint64_t end = 0;
    uint64_t offset = 0;
    char perms[8] = {};
    int path_at = 0;
    if (std::sscanf(line.c_str(), "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %*s %*u %n", &start,
                    &end, perms, &offset, &path_at) < 4 ||
        path_at == 0) {
      continue;
    }
    if (line.compare(static_cast<size_t>(path_at), std::string::npos, exe_path) != 0) {
      continue;
    }
    for (const ElfSegment& seg : exe.load_segments()) {
      uint64_t page_off = seg.offset & ~uint64_t{0xfff};
      if (offset >= page_off && offset < seg.offset + seg.filesz) {
        return start - offset - (seg.vaddr - seg.offset);
      }
    }
  }
  return MakeError("PID {}: executable {} is not mapped in /proc/{}/maps", pid, exe_path, pid);
}

uint32_t ProcessThreadCount(pid_t pid) {
  std::ifstream status(fmt::format("/proc/{}/status", pid));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("Threads:", 0) == 0) {
      return static_cast<uint32_t>(std::stoul(line.substr(8)));
    }
  }
  return 0;
}

std::optional<uint32_t> SchedMaxmcountOffset(const std::string& path) {
  auto file = DwarfFile::Open(path);
  if (!file) {
    return std::nullopt;
  }
  Dwarf* dwarf = (*file)->get();
  std::optional<uint32_t> found;
  Dwarf_Off off = 0;
  Dwarf_Off next = 0;
  size_t header_size = 0;
  while (dwarf != nullptr && !found &&
         dwarf_nextcu(dwarf, off, &next, &header_size, nullptr, nullptr, nullptr) == 0) {
    Dwarf_Die cu;
    Dwarf_Die child;
    if (dwarf_offdie(dwarf, off + header_size, &cu) != nullptr && dwarf_child(&cu, &child) == 0) {
      do {
        const char* name = dwarf_diename(&child);
        if (dwarf_tag(&child) != DW_TAG_structure_type || name == nullptr ||
            std::strcmp(name, "runtime.schedt") != 0 || dwarf_hasattr(&child, DW_AT_declaration)) {
          continue;
        }
        Dwarf_Die member;
        if (dwarf_child(&child, &member) != 0) {
          break;
        }
        do {
          const char* m = dwarf_diename(&member);
          Dwarf_Attribute attr;
          Dwarf_Word value = 0;
          if (dwarf_tag(&member) == DW_TAG_member && m != nullptr &&
              std::strcmp(m, "maxmcount") == 0 &&
              dwarf_attr(&member, DW_AT_data_member_location, &attr) != nullptr &&
              dwarf_formudata(&attr, &value) == 0 && value < 4096) {
            found = static_cast<uint32_t>(value);
          }
        } while (!found && dwarf_siblingof(&member, &member) == 0);
        break;
      } while (dwarf_siblingof(&child, &child) == 0);
    }
    off = next;
  }
  return found;
}

std::optional<int64_t> ReadThreadLimit(pid_t pid, const GoBinary& binary, uint64_t bias) {
  const ElfSymbol* sched = binary.elf().FindSymbol("runtime.sched");
  if (sched == nullptr) {
    return std::nullopt;
  }
  // Cached per binary path: DWARF is read once per run.
  static std::mutex mu;
  static std::map<std::string, std::optional<uint32_t>> cache;
  std::optional<uint32_t> offset;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(binary.elf().path());
    if (it == cache.end()) {
      it = cache.emplace(binary.elf().path(), SchedMaxmcountOffset(binary.elf().path())).first;
    }
    offset = it->second;
  }
  if (!offset) {
    return std::nullopt;
  }
  auto v = ReadWord(pid, sched->value + bias + *offset, sizeof(int32_t));
  if (!v) {
    return std::nullopt;
  }
  return static_cast<int32_t>(*v);
}

std::optional<int64_t> ReadGoroutineCount(pid_t pid, const GoBinary& binary, uint64_t bias) {
  const ElfSymbol* allglen = binary.elf().FindSymbol("runtime.allglen");
  if (allglen == nullptr) {
    return std::nullopt;
  }
  auto v = ReadWord(pid, allglen->value + bias, sizeof(uint64_t));
  if (!v) {
    return std::nullopt;
  }
  return static_cast<int64_t>(*v);
}

}  // namespace cgotrace
