#include "util/proc_fs.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <iterator>

namespace cgotrace {
namespace {

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

class HostProcFs final : public ProcFs {
 public:
  std::vector<pid_t> ListPids() const override {
    std::vector<pid_t> out;
    DIR* dir = opendir("/proc");
    if (dir == nullptr) {
      return out;
    }
    while (dirent* de = readdir(dir)) {
      pid_t pid = 0;
      if (ParseNumber(std::string_view(de->d_name), &pid) && pid > 0) {
        out.push_back(pid);
      }
    }
    closedir(dir);
    std::sort(out.begin(), out.end());
    return out;
  }

  Result<std::string> ReadFile(pid_t pid, std::string_view name) const override {
    const std::string path = fmt::format("/proc/{}/{}", pid, name);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return MakeError("cannot read {}: {}", path, strerror(errno));
    }
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  Result<FileId> ExeId(pid_t pid) const override {
    return FileIdOf(fmt::format("/proc/{}/exe", pid));
  }

  Result<std::string> ExeTarget(pid_t pid) const override {
    const std::string exe = fmt::format("/proc/{}/exe", pid);
    char buf[4096];
    const ssize_t n = readlink(exe.c_str(), buf, sizeof(buf));
    if (n < 0) {
      return MakeError("cannot read {}: {}", exe, strerror(errno));
    }
    return std::string(buf, static_cast<size_t>(n));
  }
};

}  // namespace

Result<FileId> FileIdOf(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    return MakeError("{}: {}", path, strerror(errno));
  }
  return FileId{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino)};
}

Result<ProcStat> ParseProcStat(std::string_view text) {
  // "PID (COMM) STATE PPID ...": comm may hold spaces and ')', so the fields
  // resume after the last ')'.
  const size_t open = text.find(" (");
  const size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return MakeError("malformed /proc stat line");
  }
  ProcStat out;
  if (!ParseNumber(text.substr(0, open), &out.pid)) {
    return MakeError("malformed /proc stat line: PID '{}'", text.substr(0, open));
  }
  out.comm = std::string(text.substr(open + 2, close - open - 2));
  std::string_view rest = text.substr(close + 1);
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  size_t pos = 0;
  while (pos < rest.size() && fields.size() < 20) {
    while (pos < rest.size() && (rest[pos] == ' ' || rest[pos] == '\n')) {
      ++pos;
    }
    size_t end = rest.find_first_of(" \n", pos);
    if (end == std::string_view::npos) {
      end = rest.size();
    }
    if (end > pos) {
      fields.push_back(rest.substr(pos, end - pos));
    }
    pos = end;
  }
  constexpr size_t kStartTimeIndex = 22 - 3;
  if (fields.size() <= kStartTimeIndex || fields[0].size() != 1 ||
      !ParseNumber(fields[1], &out.ppid) ||
      !ParseNumber(fields[kStartTimeIndex], &out.start_time)) {
    return MakeError("malformed /proc/{}/stat", out.pid);
  }
  out.state = fields[0][0];
  return out;
}

Result<ProcStat> ProcFs::Stat(pid_t pid) const {
  auto text = ReadFile(pid, "stat");
  if (!text) {
    return text.error();
  }
  return ParseProcStat(*text);
}

std::optional<ProcessKey> ProcFs::Key(pid_t pid) const {
  if (pid <= 0) {
    return std::nullopt;
  }
  auto st = Stat(pid);
  if (!st || st->state == 'Z' || st->state == 'X') {
    return std::nullopt;
  }
  return ProcessKey{pid, st->start_time};
}

bool ProcFs::Alive(const ProcessKey& key) const {
  auto now = Key(key.pid);
  return now && *now == key;
}

std::string ProcFs::Comm(pid_t pid) const {
  auto text = ReadFile(pid, "comm");
  if (!text) {
    return "";
  }
  std::string comm = std::move(*text);
  while (!comm.empty() && comm.back() == '\n') {
    comm.pop_back();
  }
  return comm;
}

std::map<pid_t, FileId> ProcFs::Executables(pid_t skip) const {
  std::map<pid_t, FileId> out;
  for (pid_t pid : ListPids()) {
    if (pid == skip) {
      continue;
    }
    if (auto id = ExeId(pid)) {
      out[pid] = *id;
    }
  }
  return out;
}

const ProcFs& RealProcFs() {
  static const HostProcFs fs;
  return fs;
}

}  // namespace cgotrace
