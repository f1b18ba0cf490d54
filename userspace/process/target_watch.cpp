#include "process/target_watch.h"

#include <algorithm>

namespace cgotrace {

bool TargetWatch::Add(pid_t pid) {
  auto key = fs_.Key(pid);
  if (!key) {
    return false;
  }
  auto exe = fs_.ExeId(pid);
  targets_.push_back({*key, exe ? *exe : FileId{}});
  return true;
}

bool TargetWatch::Add(pid_t pid, const FileId& exe) {
  auto key = fs_.Key(pid);
  if (!key) {
    return false;
  }
  targets_.push_back({*key, exe});
  return true;
}

void TargetWatch::Remove(pid_t pid) {
  std::erase_if(targets_, [pid](const Target& t) { return t.key.pid == pid; });
}

bool TargetWatch::Contains(pid_t pid) const {
  return std::any_of(targets_.begin(), targets_.end(),
                     [pid](const Target& t) { return t.key.pid == pid; });
}

std::vector<pid_t> TargetWatch::Pids() const {
  std::vector<pid_t> out;
  for (const Target& t : targets_) {
    out.push_back(t.key.pid);
  }
  return out;
}

std::vector<TargetWatch::Change> TargetWatch::Poll() {
  std::vector<Change> out;
  for (auto it = targets_.begin(); it != targets_.end();) {
    if (!fs_.Alive(it->key)) {
      out.push_back({Change::Kind::kExited, it->key.pid, ""});
      it = targets_.erase(it);
      continue;
    }
    auto exe = fs_.ExeId(it->key.pid);
    if (exe && *exe != it->exe) {
      it->exe = *exe;
      auto target = fs_.ExeTarget(it->key.pid);
      out.push_back({Change::Kind::kExeced, it->key.pid, target ? *target : ""});
    }
    ++it;
  }
  return out;
}

}  // namespace cgotrace
