// bpf_costs: what each building block of cgotrace's BPF program costs per
// probe hit, side by side with an empty program at the same sites (the
// floor). Attaches one program of costs.bpf.c at a time to the planned call
// start and end sites of a Go loop (bench/cgoloop), runs the loop, and reads
// the program's run time from kernel.bpf_stats. Programs are interleaved
// within each round and the median over rounds is printed, so a noisy
// machine moves every row alike.
//
// Usage: bpf_costs LOOP [CALLS] [ROUNDS]   (root; LOOP accepts `-n CALLS`)
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "binary/go_binary.h"
#include "binary/site_plan.h"
#include "costs.skel.h"

extern char** environ;

namespace {

int RunLoop(const std::string& loop, const std::string& calls) {
  std::vector<std::string> args = {loop, "-n", calls};
  std::vector<char*> argv;
  argv.reserve(args.size() + 1);
  for (std::string& a : args) {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, loop.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) {
    return -1;
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int NoOpRecord(void* /*ctx*/, void* /*data*/, size_t /*size*/) { return 0; }

int Run(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: bpf_costs LOOP [CALLS] [ROUNDS]\n");
    return 2;
  }
  const std::string loop = argv[1];
  const std::string calls = argc > 2 ? argv[2] : "100000";
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 5;

  auto bin = cgotrace::GoBinary::Analyze(loop);
  if (!bin) {
    fmt::print(stderr, "bpf_costs: {}\n", bin.error().message);
    return 1;
  }
  auto plan = cgotrace::PlanSites(**bin);
  if (!plan) {
    fmt::print(stderr, "bpf_costs: {}\n", plan.error().message);
    return 1;
  }
  std::vector<uint64_t> offsets;
  for (const cgotrace::PlannedSite& s : plan->sites) {
    const uint8_t event = plan->descriptors[s.slot].event;
    if (event == CGT_SE_CALL_START || event == CGT_SE_CALL_END) {
      auto off = (*bin)->elf().VaddrToFileOffset(s.vaddr);
      if (!off) {
        fmt::print(stderr, "bpf_costs: {}\n", off.error().message);
        return 1;
      }
      offsets.push_back(*off);
    }
  }
  if (offsets.size() != 2) {
    fmt::print(stderr, "bpf_costs: {}: expected one call start and one call end site\n", loop);
    return 1;
  }

  costs_bpf* skel = costs_bpf__open_and_load();
  if (skel == nullptr) {
    fmt::print(stderr, "bpf_costs: cannot load the BPF programs (root needed)\n");
    return 1;
  }
  const int stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
  if (stats_fd < 0) {
    fmt::print(stderr, "bpf_costs: cannot enable kernel.bpf_stats\n");
    return 1;
  }
  ring_buffer* rb = ring_buffer__new(bpf_map__fd(skel->maps.events), NoOpRecord, nullptr, nullptr);

  std::map<std::string, std::vector<double>> ns;  // per program, one per round
  std::vector<std::string> order;
  for (int r = 0; r < rounds; ++r) {
    bpf_program* prog = nullptr;
    bpf_object__for_each_program(prog, skel->obj) {
      const std::string name = bpf_program__name(prog);
      if (r == 0) {
        order.push_back(name);
      }
      std::vector<bpf_link*> links;
      for (uint64_t off : offsets) {
        bpf_link* l = bpf_program__attach_uprobe(prog, false, -1, loop.c_str(), off);
        if (l == nullptr) {
          fmt::print(stderr, "bpf_costs: cannot attach {}\n", name);
          return 1;
        }
        links.push_back(l);
      }
      bpf_prog_info before{}, after{};
      uint32_t len = sizeof(before);
      bpf_obj_get_info_by_fd(bpf_program__fd(prog), &before, &len);
      if (RunLoop(loop, calls) != 0) {
        fmt::print(stderr, "bpf_costs: {} failed\n", loop);
        return 1;
      }
      len = sizeof(after);
      bpf_obj_get_info_by_fd(bpf_program__fd(prog), &after, &len);
      for (bpf_link* l : links) {
        bpf_link__destroy(l);
      }
      if (rb != nullptr) {
        ring_buffer__consume(rb);
      }
      const uint64_t runs = after.run_cnt - before.run_cnt;
      const uint64_t t = after.run_time_ns - before.run_time_ns;
      ns[name].push_back(runs == 0 ? 0.0 : static_cast<double>(t) / static_cast<double>(runs));
    }
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  utsname u{};
  uname(&u);
  fmt::print("kernel {}, {} calls per run, 2 sites (call start + call end), median of {}\n",
             static_cast<const char*>(u.release), calls, rounds);
  fmt::print("{:<16} {:>10} {:>10}\n", "program", "ns/hit", "added");
  const double floor = median(ns["empty"]);
  for (const std::string& name : order) {
    const double m = median(ns[name]);
    fmt::print("{:<16} {:>10.0f} {:>10.0f}\n", name, m, m - floor);
  }
  ring_buffer__free(rb);
  close(stats_fd);
  costs_bpf__destroy(skel);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "bpf_costs: {}\n", e.what());
    return 1;
  }
}
