#include "sampleview/sample_profile.h"

#include <algorithm>
#include <array>
#include <filesystem>
#include <system_error>

#include "formats/pprof.h"

#include "util/format.h"

namespace cgotrace {

void SampleProfile::AddRound(const std::vector<ThreadSample>& threads, FrameNamer& namer,
                             const std::string& comm) {
  thread_samples_ += threads.size();
  auto root_it = std::find_if(roots_.begin(), roots_.end(),
                              [&](const Root& r) { return r.comm == comm && r.namer == &namer; });
  const size_t root = static_cast<size_t>(root_it - roots_.begin());
  if (root_it == roots_.end()) {
    roots_.push_back({comm, &namer});
  }
  for (const ThreadSample& t : threads) {
    if (!t.in_c) {
      continue;
    }
    ++samples_in_c_;
    const NamedCall& call = namer.Name(t.c_frames, t.go_frames);
    Function& f = functions_[call.func];
    f.func = call.func;
    ++f.samples;
    Goroutine& g = goroutines_[{t.pid, t.goid}];
    g.pid = t.pid;
    g.goid = t.goid;
    g.func = call.func;
    ++g.samples;
    if (t.on_cpu) {
      ++f.on_cpu_samples;
      ++g.on_cpu_samples;
    } else if (t.runnable) {
      ++f.runnable_samples;
      ++g.runnable_samples;
    }
    ++stacks_[{root, &call, t.goid}];
  }
}

std::vector<SampleProfile::Function> SampleProfile::Functions() const {
  std::vector<Function> out;
  for (const auto& [name, f] : functions_) {
    out.push_back(f);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Function& a, const Function& b) { return a.samples > b.samples; });
  return out;
}

std::vector<SampleProfile::Goroutine> SampleProfile::Goroutines() const {
  std::vector<Goroutine> out;
  for (const auto& [key, g] : goroutines_) {
    out.push_back(g);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const Goroutine& a, const Goroutine& b) { return a.samples > b.samples; });
  return out;
}

Profile SampleProfile::ToProfile() const {
  Profile p;
  p.weight = ProfileWeight::kTime;
  const uint64_t period_ns = frequency_hz_ == 0 ? 0 : 1'000'000'000ULL / frequency_hz_;
  // Paths of frame names with their types, outermost first; equal paths
  // (different addresses, same names) merge.
  std::map<std::vector<std::pair<std::string, FrameType>>, uint64_t> paths;
  for (const auto& [key, samples] : stacks_) {
    const auto& [root, call_ptr, goid] = key;
    const NamedCall& call = *call_ptr;
    std::vector<std::pair<std::string, FrameType>> path;
    path.emplace_back(roots_[root].comm, FrameType::kRoot);
    for (auto it = call.go_stack.rbegin(); it != call.go_stack.rend(); ++it) {
      path.emplace_back(*it, FrameType::kGo);
    }
    if (!call.c_frames_complete) {
      path.emplace_back("[unknown C frames]", FrameType::kTruncated);
    }
    for (auto it = call.c_frames.rbegin(); it != call.c_frames.rend(); ++it) {
      path.emplace_back(it->func, FrameType::kC);
    }
    paths[path] += samples;
  }
  std::map<std::pair<std::string, FrameType>, uint32_t> index;
  // Ordered by path names, which is the order Profile wants.
  for (const auto& [path, samples] : paths) {
    Profile::Stack s;
    for (const auto& frame : path) {
      auto [it, added] = index.emplace(frame, static_cast<uint32_t>(p.frames.size()));
      if (added) {
        p.frames.push_back({frame.first, frame.second});
      }
      s.path.push_back(it->second);
    }
    s.value = samples * period_ns;
    p.total += s.value;
    p.stacks.push_back(std::move(s));
  }
  return p;
}

Result<std::string> SampleProfilePprof(const SampleProfile& profile) {
  const int64_t period_ns =
      profile.frequency_hz_ == 0 ? 0 : 1'000'000'000LL / profile.frequency_hz_;
  PprofBuilder b({{"samples", "count"}, {"wall", "nanoseconds"}}, 1);
  b.SetPeriod({"wall", "nanoseconds"}, period_ns);
  b.SetTime(0, static_cast<int64_t>(profile.duration_ns_));
  b.AddComment(fmt::format("cgotrace profile: {} Hz, {} rounds, wall-clock time of threads in C",
                           profile.frequency_hz_, profile.rounds_));
  const int64_t goid_key = b.String("goid");
  const int64_t binary_key = b.String("binary");
  for (const auto& [key, samples] : profile.stacks_) {
    const auto& [root_index, call_ptr, goid] = key;
    const SampleProfile::Root& root = profile.roots_[root_index];
    const NamedCall& call = *call_ptr;
    const GoBinary& bin = root.namer->binary();
    // A live target is analysed through /proc/PID/exe: name the file itself.
    std::error_code ec;
    std::filesystem::path exe_path = std::filesystem::read_symlink(bin.elf().path(), ec);
    const std::string exe_name = ec ? bin.elf().path() : exe_path.string();
    const uint64_t exe = b.Mapping(exe_name, bin.elf().build_id());
    std::vector<uint64_t> locations;
    for (const CFrame& f : call.c_frames) {
      const uint64_t mapping =
          f.module.empty() || f.module == bin.elf().path() ? exe : b.Mapping(f.module, "");
      locations.push_back(b.NamedLocation(mapping, f.func));
    }
    if (!call.c_frames_complete) {
      locations.push_back(b.NamedLocation(exe, "[unknown C frames]"));
    }
    for (size_t i = 0; i < call.go_stack.size(); ++i) {
      const uint64_t pc = call.go_pcs[i] - root.namer->bias();
      auto line = bin.pclntab().LineAt(pc - 1);
      locations.push_back(b.PcLocation(exe, pc, call.go_stack[i],
                                       line ? line->file : std::string_view(),
                                       line ? line->line : 0));
    }
    size_t sample = b.Sample(std::move(locations), {{goid_key, b.String(std::to_string(goid))},
                                                    {binary_key, b.String(exe_name)}});
    const std::array<int64_t, 2> values = {static_cast<int64_t>(samples),
                                           static_cast<int64_t>(samples) * period_ns};
    b.Add(sample, values);
  }
  return b.Finish();
}

namespace {

double Ratio(uint64_t a, uint64_t b) {
  return b == 0 ? 0.0 : static_cast<double>(a) / static_cast<double>(b);
}

}  // namespace

std::string FormatSampleProfileText(const SampleProfile& profile) {
  std::string out =
      fmt::format("{} rounds at {} Hz over {}: {} thread samples, {} in C\n\n", profile.rounds(),
                  profile.frequency_hz(), HumanDuration(profile.duration_ns()),
                  profile.thread_samples(), profile.samples_in_c());
  out += fmt::format("{:<32} {:>9} {:>8} {:>9} {:>8} {:>9} {:>8}\n", "C FUNCTION", "SAMPLES",
                     "SHARE", "THREADS", "ON-CPU", "RUNNABLE", "BLOCKED");
  for (const SampleProfile::Function& f : profile.Functions()) {
    double on = Ratio(f.on_cpu_samples, f.samples);
    double runnable = Ratio(f.runnable_samples, f.samples);
    out += fmt::format("{:<32} {:>9} {:>7.1f}% {:>9.2f} {:>7.1f}% {:>8.1f}% {:>7.1f}%\n", f.func,
                       f.samples, 100 * Ratio(f.samples, profile.samples_in_c()),
                       Ratio(f.samples, profile.rounds()), 100 * on, 100 * runnable,
                       100 * (1 - on - runnable));
  }
  out += fmt::format("\n{:>8} {:>10} {:<32} {:>9} {:>8}\n", "PID", "GOID", "C FUNCTION", "SAMPLES",
                     "ON-CPU");
  for (const SampleProfile::Goroutine& g : profile.Goroutines()) {
    out += fmt::format("{:>8} {:>10} {:<32} {:>9} {:>7.1f}%\n", g.pid, g.goid, g.func, g.samples,
                       100 * Ratio(g.on_cpu_samples, g.samples));
  }
  return out;
}

std::string FormatSampleProfileJson(const SampleProfile& profile) {
  std::string out = fmt::format(
      R"({{"frequency_hz":{},"rounds":{},"duration_ns":{},"thread_samples":{},"samples_in_c":{},"functions":[)",
      profile.frequency_hz(), profile.rounds(), profile.duration_ns(), profile.thread_samples(),
      profile.samples_in_c());
  bool first = true;
  for (const SampleProfile::Function& f : profile.Functions()) {
    out += fmt::format(R"({}{{"func":{},"samples":{},"on_cpu_samples":{},"runnable_samples":{}}})",
                       first ? "" : ",", JsonQuote(f.func), f.samples, f.on_cpu_samples,
                       f.runnable_samples);
    first = false;
  }
  out += R"(],"goroutines":[)";
  first = true;
  for (const SampleProfile::Goroutine& g : profile.Goroutines()) {
    out += fmt::format(
        R"({}{{"pid":{},"goid":{},"func":{},"samples":{},"on_cpu_samples":{},"runnable_samples":{}}})",
        first ? "" : ",", g.pid, g.goid, JsonQuote(g.func), g.samples, g.on_cpu_samples,
        g.runnable_samples);
    first = false;
  }
  out += "]}";
  return out;
}

}  // namespace cgotrace
