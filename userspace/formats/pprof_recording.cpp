// The cgo calls of a recording as a pprof profile (see pprof.h).
#include <fmt/format.h>

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "formats/pprof.h"
#include "record/event_tree.h"

namespace cgotrace {
namespace {

// Frames at and above this one in a call made inside a callback repeat the
// stack of the call the callback ran in.
constexpr std::string_view kCallbackBoundary = "runtime.cgocallback";

// Values of each sample, in this order. The breakdown's two (time in C,
// time re-entering Go) are there only when the recording has it: a recording
// without it gives the profile it always gave.
enum Value { kCalls, kTime, kCTime, kSchedTime, kValues };

// The breakdown is in a recording when a call has its re-entry time: in
// exact mode c_ns is there too, but it only repeats duration_ns.
bool HasBreakdown(const std::vector<RecordedEvent>& events) {
  return std::any_of(events.begin(), events.end(),
                     [](const RecordedEvent& e) { return e.sched_ns != 0; });
}

std::vector<PprofValueType> SampleTypes(bool breakdown) {
  std::vector<PprofValueType> types = {{"calls", "count"}, {"time", "nanoseconds"}};
  if (breakdown) {
    types.push_back({"c_time", "nanoseconds"});
    types.push_back({"sched_time", "nanoseconds"});
  }
  return types;
}

struct PathKey {
  uint32_t parent_path;  // UINT32_MAX for a root
  uint32_t stack;
  uint32_t func;
  uint32_t process;
  bool callback;
  bool operator==(const PathKey&) const = default;
};

struct PathKeyHash {
  size_t operator()(const PathKey& k) const {
    uint64_t h = (uint64_t{k.parent_path} << 32 | k.stack) * 0x9E3779B97F4A7C15ull;
    h ^= (uint64_t{k.func} << 32 | k.process) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2);
    return h ^ (k.callback ? 0xABCDEFull : 0);
  }
};

struct SampleKey {
  uint32_t path;
  uint32_t process;
  uint32_t tid;
  uint64_t goid;
  bool operator==(const SampleKey&) const = default;
};

struct SampleKeyHash {
  size_t operator()(const SampleKey& k) const {
    uint64_t h = (uint64_t{k.path} << 32 | k.tid) * 0x9E3779B97F4A7C15ull;
    return h ^ ((k.goid << 8 | k.process) + 0x632BE59BD9B4E019ull + (h << 6) + (h >> 2));
  }
};

class Converter {
 public:
  explicit Converter(const LoadedRecording& rec)
      : rec_(rec),
        r_(*rec.reader),
        breakdown_(HasBreakdown(rec.events)),
        b_(SampleTypes(breakdown_), kTime) {}

  Result<std::string> Run();

 private:
  uint64_t MappingOf(uint32_t process);
  // Locations an event adds below its parent's (leaf first): the C function
  // (or callback) and the Go frames of the call site that are its own.
  std::vector<uint64_t> OwnLocations(const RecordedEvent& e, bool nested);
  uint32_t PathOf(const RecordedEvent& e, uint32_t parent_path);

  const LoadedRecording& rec_;
  const RecordingReader& r_;
  const bool breakdown_;
  PprofBuilder b_;
  std::vector<uint64_t> mappings_;  // per process, 0: not yet
  std::vector<std::vector<uint64_t>> paths_;
  std::unordered_map<PathKey, uint32_t, PathKeyHash> path_ids_;
};

uint64_t Converter::MappingOf(uint32_t process) {
  if (mappings_.size() <= process) {
    mappings_.resize(process + 1, 0);
  }
  if (mappings_[process] == 0) {
    const RecordedProcess& p = r_.process(process);
    mappings_[process] = b_.Mapping(p.binary_path, p.build_id);
  }
  return mappings_[process];
}

std::vector<uint64_t> Converter::OwnLocations(const RecordedEvent& e, bool nested) {
  const uint64_t mapping = MappingOf(e.process);
  std::vector<uint64_t> out{b_.NamedLocation(mapping, r_.str(e.func))};
  const RecordedStack& s = r_.stack(e.stack);
  if (e.kind == EventKind::kCallback && nested) {
    return out;  // its Go side is the call it ran in
  }
  size_t own = s.frames.size();
  if (nested) {
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (r_.str(s.frames[i]).starts_with(kCallbackBoundary)) {
        own = i;
        break;
      }
    }
  }
  const bool has_pcs = s.pcs.size() == s.frames.size();
  const bool has_lines = has_pcs && s.lines.size() == s.frames.size();
  for (size_t i = 0; i < own; ++i) {
    const std::string& name = r_.str(s.frames[i]);
    if (has_pcs) {
      out.push_back(b_.PcLocation(mapping, s.pcs[i], name, has_lines ? r_.str(s.files[i]) : "",
                                  has_lines ? s.lines[i] : 0));
    } else {
      out.push_back(b_.NamedLocation(mapping, name));
    }
  }
  if (s.truncated && !nested) {
    out.push_back(b_.NamedLocation(mapping, "[truncated]"));
  }
  return out;
}

uint32_t Converter::PathOf(const RecordedEvent& e, uint32_t parent_path) {
  const PathKey key{parent_path, e.stack, e.func, e.process, e.kind == EventKind::kCallback};
  auto [it, inserted] = path_ids_.try_emplace(key, static_cast<uint32_t>(paths_.size()));
  if (inserted) {
    const bool nested = parent_path != UINT32_MAX;
    std::vector<uint64_t> path = OwnLocations(e, nested);
    if (nested) {
      const std::vector<uint64_t>& above = paths_[parent_path];
      path.insert(path.end(), above.begin(), above.end());
    }
    paths_.push_back(std::move(path));
  }
  return it->second;
}

Result<std::string> Converter::Run() {
  const std::vector<RecordedEvent>& ev = rec_.events;
  const EventTree tree = BuildEventTree(ev);
  std::vector<uint64_t> children_ns(ev.size(), 0);
  for (size_t i = 0; i < ev.size(); ++i) {
    if (tree.parent[i] != EventTree::kNone) {
      children_ns[tree.parent[i]] += ev[i].duration_ns;
    }
  }
  const int64_t goid_key = b_.String("goid");
  const int64_t thread_key = b_.String("thread");
  const int64_t binary_key = b_.String("binary");
  std::vector<uint32_t> path_of(ev.size());
  std::unordered_map<SampleKey, size_t, SampleKeyHash> samples;
  for (uint32_t idx : tree.order) {
    const RecordedEvent& e = ev[idx];
    const uint32_t parent = tree.parent[idx];
    path_of[idx] = PathOf(e, parent == EventTree::kNone ? UINT32_MAX : path_of[parent]);
    const SampleKey key{path_of[idx], e.process, e.tid, e.goid};
    auto it = samples.find(key);
    if (it == samples.end()) {
      const std::vector<PprofLabel> labels{
          {goid_key, b_.String(fmt::format("{}", e.goid))},
          {thread_key, b_.String(fmt::format("{}", e.tid))},
          {binary_key, b_.String(r_.process(e.process).binary_path)},
      };
      it = samples.emplace(key, b_.Sample(paths_[path_of[idx]], labels)).first;
    }
    const uint64_t self = e.duration_ns - std::min(e.duration_ns, children_ns[idx]);
    // The callbacks a call ran lie in its C part: they are taken out of its
    // C time as out of its time, so time = c_time + sched_time per call.
    const uint64_t c_self = e.c_ns - std::min(e.c_ns, children_ns[idx]);
    const int64_t values[kValues] = {1, static_cast<int64_t>(self), static_cast<int64_t>(c_self),
                                     static_cast<int64_t>(e.sched_ns)};
    b_.Add(it->second, values);  // the builder takes as many as it has sample types
  }

  const RecordingHeader& h = r_.header();
  const uint64_t end = r_.end_monotonic_ns();
  b_.SetTime(static_cast<int64_t>(h.start_realtime_ns),
             static_cast<int64_t>(end > h.start_monotonic_ns ? end - h.start_monotonic_ns : 0));
  b_.SetPeriod({"calls", "count"}, 1);
  b_.AddComment(
      fmt::format("cgotrace {}: {} events recorded on {}", h.tool_version, ev.size(), h.hostname));
  for (const std::string& target : h.targets) {
    b_.AddComment("target: " + target);
  }
  if (r_.truncated()) {
    b_.AddComment("truncated recording (no trailer)");
  }
  return b_.Finish();
}

}  // namespace

Result<std::string> PprofFromRecording(const LoadedRecording& recording) {
  return Converter(recording).Run();
}

}  // namespace cgotrace
