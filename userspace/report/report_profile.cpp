// Call-stack profile of a recording: events nested per goroutine, merged into
// weighted frame paths (folded stacks).
#include <algorithm>
#include <array>
#include <map>
#include <string_view>
#include <unordered_map>

#include "record/event_tree.h"
#include "report/report.h"
#include "util/choice.h"

namespace cgotrace {
namespace {

// Frames at and above this one in a call made inside a callback repeat the
// path of the call the callback ran in.
constexpr std::string_view kCallbackBoundary = "runtime.cgocallback";

struct PathKey {
  uint64_t where;  // parent path id when nested, else the root key
  uint32_t stack;
  uint32_t func;
  bool nested;
  bool callback;
  bool operator==(const PathKey&) const = default;
};

struct PathKeyHash {
  size_t operator()(const PathKey& k) const {
    uint64_t h = k.where * 0x9E3779B97F4A7C15ull;
    h ^= (static_cast<uint64_t>(k.stack) << 32 | k.func) + 0x632BE59BD9B4E019ull + (h << 6) +
         (h >> 2);
    return h ^ (k.nested ? 0x1234567ull : 0) ^ (k.callback ? 0xABCDEFull : 0);
  }
};

struct Builder {
  const LoadedRecording& rec;
  ProfileOptions options;
  Profile profile;
  std::map<std::pair<FrameType, std::string>, uint32_t> frame_ids;
  std::map<std::vector<uint32_t>, uint32_t> path_ids;
  std::vector<std::vector<uint32_t>> paths;
  std::vector<uint64_t> path_values;

  uint32_t Frame(FrameType type, const std::string& name) {
    auto [it, inserted] =
        frame_ids.try_emplace({type, name}, static_cast<uint32_t>(profile.frames.size()));
    if (inserted) {
      profile.frames.push_back({name, type});
    }
    return it->second;
  }

  uint32_t Path(std::vector<uint32_t> path) {
    auto [it, inserted] = path_ids.try_emplace(path, static_cast<uint32_t>(paths.size()));
    if (inserted) {
      paths.push_back(std::move(path));
      path_values.push_back(0);
    }
    return it->second;
  }

  // Identifies the root frame of an event without formatting its name.
  uint64_t RootKey(const RecordedEvent& e) const {
    switch (options.root) {
      case ProfileRoot::kGoroutine:
        return e.goid;
      case ProfileRoot::kThread:
        return e.tid;
      case ProfileRoot::kProcess:
        return e.process;
      case ProfileRoot::kNone:
        break;
    }
    return 0;
  }

  std::vector<uint32_t> Root(const RecordedEvent& e) {
    const RecordedProcess& p = rec.reader->process(e.process);
    switch (options.root) {
      case ProfileRoot::kGoroutine:
        return {Frame(FrameType::kRoot, fmt::format("g{}", e.goid))};
      case ProfileRoot::kThread:
        return {Frame(FrameType::kRoot, fmt::format("tid {}", e.tid))};
      case ProfileRoot::kProcess:
        return {Frame(FrameType::kRoot, fmt::format("{}/{}", p.comm, p.pid))};
      case ProfileRoot::kNone:
        break;
    }
    return {};
  }

  // The frames an event adds below its parent's path (or the root).
  void AppendOwn(const RecordedEvent& e, bool nested, std::vector<uint32_t>* path) {
    const RecordingReader& r = *rec.reader;
    if (e.kind == EventKind::kCallback) {
      path->push_back(Frame(FrameType::kCallback, r.str(e.func)));
      return;
    }
    const RecordedStack& s = r.stack(e.stack);
    size_t outer = s.frames.size();  // frames [0, outer) are this call's own
    if (nested) {
      for (size_t i = 0; i < s.frames.size(); ++i) {
        if (r.str(s.frames[i]).starts_with(kCallbackBoundary)) {
          outer = i;
          break;
        }
      }
    } else if (s.truncated) {
      path->push_back(Frame(FrameType::kTruncated, "[truncated]"));
    }
    for (size_t i = outer; i-- > 0;) {
      path->push_back(Frame(FrameType::kGo, r.str(s.frames[i])));
    }
    path->push_back(Frame(FrameType::kC, r.str(e.func)));
  }
};

std::string FoldedName(const std::string& name) {
  std::string out = name;
  std::replace(out.begin(), out.end(), ';', ':');
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

}  // namespace

Result<ProfileRoot> ParseProfileRoot(const std::string& text) {
  static constexpr std::array<Choice<ProfileRoot>, 4> kChoices{
      {{"goroutine", ProfileRoot::kGoroutine},
       {"thread", ProfileRoot::kThread},
       {"process", ProfileRoot::kProcess},
       {"none", ProfileRoot::kNone}}};
  return ParseChoice<ProfileRoot>("--root", text, kChoices);
}

Result<ProfileWeight> ParseProfileWeight(const std::string& text) {
  static constexpr std::array<Choice<ProfileWeight>, 2> kChoices{
      {{"time", ProfileWeight::kTime}, {"calls", ProfileWeight::kCalls}}};
  return ParseChoice<ProfileWeight>("--weight", text, kChoices);
}

Profile BuildProfile(const LoadedRecording& rec, const ProfileOptions& options) {
  Builder b{rec, options, {}, {}, {}, {}, {}};
  b.profile.weight = options.weight;
  const std::vector<RecordedEvent>& ev = rec.events;

  // Each event hangs under the innermost event of its goroutine that holds
  // it (BuildEventTree); parents come first in the order.
  const EventTree nest = BuildEventTree(ev);
  std::vector<uint32_t> path_of(ev.size());
  std::vector<uint64_t> children_ns(ev.size(), 0);
  std::unordered_map<PathKey, uint32_t, PathKeyHash> known;
  for (uint32_t idx : nest.order) {
    const RecordedEvent& e = ev[idx];
    const uint32_t parent = nest.parent[idx];
    // The path depends only on where the event hangs (root key or parent
    // path), its stack, function and kind: build each distinct one once.
    const bool nested = parent != EventTree::kNone;
    const uint64_t where = nested ? path_of[parent] : b.RootKey(e);
    const PathKey key{where, e.stack, e.func, nested, e.kind == EventKind::kCallback};
    auto [it, inserted] = known.try_emplace(key, 0);
    if (inserted) {
      std::vector<uint32_t> path = nested ? b.paths[path_of[parent]] : b.Root(e);
      b.AppendOwn(e, nested, &path);
      it->second = b.Path(std::move(path));
    }
    if (nested) {
      children_ns[parent] += e.duration_ns;
    }
    path_of[idx] = it->second;
  }
  for (size_t idx = 0; idx < ev.size(); ++idx) {
    const uint64_t dur = ev[idx].duration_ns;
    const uint64_t value = options.weight == ProfileWeight::kCalls
                               ? 1
                               : (dur > children_ns[idx] ? dur - children_ns[idx] : 0);
    b.path_values[path_of[idx]] += value;
  }

  std::vector<std::pair<std::string, uint32_t>> named;
  for (uint32_t p = 0; p < b.paths.size(); ++p) {
    if (b.path_values[p] == 0 && options.weight == ProfileWeight::kTime) {
      continue;  // all of it inside callbacks: the callbacks carry the width
    }
    std::string key;
    for (uint32_t f : b.paths[p]) {
      key += FoldedName(b.profile.frames[f].name) + ";";
    }
    named.emplace_back(std::move(key), p);
  }
  std::sort(named.begin(), named.end());
  for (const auto& [key, p] : named) {
    b.profile.stacks.push_back({b.paths[p], b.path_values[p]});
    b.profile.total += b.path_values[p];
  }
  return std::move(b.profile);
}

std::string FormatFolded(const Profile& profile) {
  std::string out;
  for (const Profile::Stack& s : profile.stacks) {
    for (size_t i = 0; i < s.path.size(); ++i) {
      out += (i ? ";" : "") + FoldedName(profile.frames[s.path[i]].name);
    }
    out += fmt::format(" {}\n", s.value);
  }
  return out;
}

}  // namespace cgotrace
