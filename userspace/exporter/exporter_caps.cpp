// Dropping capabilities once the exporter no longer needs them.
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "exporter/exporter.h"

namespace cgotrace {
namespace {

int LastCap() {
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  int last = CAP_LAST_CAP;
  in >> last;
  return last;
}

std::string CapName(int cap) {
  switch (cap) {
    case CAP_SYS_ADMIN:
      return "cap_sys_admin";
    case CAP_SYS_PTRACE:
      return "cap_sys_ptrace";
    case CAP_DAC_READ_SEARCH:
      return "cap_dac_read_search";
    case CAP_NET_BIND_SERVICE:
      return "cap_net_bind_service";
#ifdef CAP_PERFMON
    case CAP_PERFMON:
      return "cap_perfmon";
#endif
#ifdef CAP_BPF
    case CAP_BPF:
      return "cap_bpf";
#endif
    default:
      return fmt::format("cap_{}", cap);
  }
}

}  // namespace

Result<std::string> DropCapabilitiesExcept(const std::vector<int>& keep) {
  auto kept = [&](int cap) { return std::find(keep.begin(), keep.end(), cap) != keep.end(); };
  // The bounding set first: dropping from it needs CAP_SETPCAP, which goes
  // next. Without CAP_SETPCAP (a container that never had it) the bounding
  // set is left as the runtime configured it.
  const int last = LastCap();
  for (int cap = 0; cap <= last; ++cap) {
    if (!kept(cap)) {
      prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
    }
  }
  prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);

  __user_cap_header_struct header{};
  header.version = _LINUX_CAPABILITY_VERSION_3;
  header.pid = 0;
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
  if (syscall(SYS_capget, &header, data) != 0) {
    return MakeError("capget: {}", strerror(errno));
  }
  std::string summary;
  for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; ++i) {
    uint32_t mask = 0;
    for (int cap : keep) {
      if (cap / 32 == i) {
        mask |= 1u << (cap % 32);
      }
    }
    data[i].effective &= mask;
    data[i].permitted &= mask;
    data[i].inheritable = 0;
  }
  for (int cap : keep) {
    const auto& d = data[cap / 32];
    if ((d.effective >> (cap % 32)) & 1u) {
      summary += (summary.empty() ? "" : ",") + CapName(cap);
    }
  }
  if (syscall(SYS_capset, &header, data) != 0) {
    return MakeError("capset: {}", strerror(errno));
  }
  // Nothing exec'd from here (there is nothing) may regain privileges.
  prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  return summary.empty() ? std::string("none") : summary;
}

}  // namespace cgotrace
