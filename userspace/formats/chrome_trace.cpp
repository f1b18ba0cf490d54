// Chrome Trace Event Format of a recording: one track per OS thread.
#include "formats/chrome_trace.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <numeric>
#include <set>

#include "record/event_tree.h"
#include "util/format.h"

namespace cgotrace {
namespace {

// Extra tracks of a thread get tid + lane * kLaneStride: above any Linux TID
// (pid_max <= 2^22) and below 2^31 for hundreds of lanes.
constexpr uint64_t kLaneStride = uint64_t{1} << 22;

// Nanoseconds as microseconds with three exact decimals.
std::string Micros(uint64_t ns) { return fmt::format("{}.{:03}", ns / 1000, ns % 1000); }

// The thread each event is drawn on: its own, except that a callback goes
// on the track of the call it ran in (same process and goroutine, within the
// call's interval). The call's tid is the thread it returned on, which is not
// the thread that ran the callback when the goroutine moved meanwhile.
std::vector<uint32_t> TracksOf(const std::vector<RecordedEvent>& ev) {
  std::vector<uint32_t> tid(ev.size());
  const EventTree nest = BuildEventTree(ev);
  for (uint32_t idx : nest.order) {  // a parent's track is set before its children's
    const uint32_t parent = nest.parent[idx];
    tid[idx] = ev[idx].kind == EventKind::kCallback && parent != EventTree::kNone ? tid[parent]
                                                                                  : ev[idx].tid;
  }
  return tid;
}

}  // namespace

std::string FormatChromeTrace(const LoadedRecording& rec) {
  const RecordingReader& r = *rec.reader;
  const std::vector<RecordedEvent>& ev = rec.events;
  uint64_t t0 = r.header().start_monotonic_ns;
  for (const RecordedEvent& e : ev) {
    t0 = std::min(t0, e.start_ns);
  }
  auto pid_of = [&](const RecordedEvent& e) { return r.process(e.process).pid; };
  const std::vector<uint32_t> tid = TracksOf(ev);

  std::vector<uint32_t> order(ev.size());
  std::iota(order.begin(), order.end(), 0u);
  std::sort(order.begin(), order.end(), [&](uint32_t x, uint32_t y) {
    const RecordedEvent& a = ev[x];
    const RecordedEvent& b = ev[y];
    if (pid_of(a) != pid_of(b)) {
      return pid_of(a) < pid_of(b);
    }
    if (tid[x] != tid[y]) {
      return tid[x] < tid[y];
    }
    if (a.start_ns != b.start_ns) {
      return a.start_ns < b.start_ns;
    }
    if (a.duration_ns != b.duration_ns) {
      return a.duration_ns > b.duration_ns;
    }
    if (a.kind != b.kind) {
      return a.kind == EventKind::kCall;
    }
    return x < y;
  });

  std::string out = "{\"traceEvents\":[\n";
  out.reserve(ev.size() * 200 + 1024);
  bool first = true;
  auto sep = [&] {
    out += first ? "" : ",\n";
    first = false;
  };
  std::map<uint32_t, std::string> process_names;   // pid -> comm
  std::set<std::pair<uint32_t, uint64_t>> tracks;  // (pid, tid or lane tid)

  // Per track, each lane is a stack of the open events (end, goid). An event
  // nests under an open event of its own goroutine (a callback in its call),
  // else goes to the first lane with nothing open, else to a new lane: it is
  // never drawn inside another goroutine's call.
  std::vector<std::vector<std::pair<uint64_t, uint64_t>>> lanes;
  for (size_t i = 0; i < order.size(); ++i) {
    const RecordedEvent& e = ev[order[i]];
    const RecordedProcess& p = r.process(e.process);
    if (i == 0 || pid_of(ev[order[i - 1]]) != p.pid || tid[order[i - 1]] != tid[order[i]]) {
      lanes.clear();
    }
    const uint64_t end = e.start_ns + e.duration_ns;
    size_t lane = lanes.size();
    size_t empty = lanes.size();
    for (size_t l = 0; l < lanes.size(); ++l) {
      auto& open = lanes[l];
      while (!open.empty() && open.back().first <= e.start_ns) {
        open.pop_back();
      }
      if (open.empty()) {
        empty = std::min(empty, l);
      } else if (open.back().second == e.goid && end <= open.back().first && lane == lanes.size()) {
        lane = l;
      }
    }
    if (lane == lanes.size()) {
      lane = empty;
    }
    if (lane == lanes.size()) {
      lanes.emplace_back();
    }
    lanes[lane].emplace_back(end, e.goid);
    const uint64_t track = tid[order[i]] + lane * kLaneStride;
    process_names.emplace(p.pid, p.comm);
    tracks.emplace(p.pid, track);
    sep();
    fmt::format_to(std::back_inserter(out),
                   R"({{"name":{},"cat":"{}","ph":"X","ts":{},"dur":{},"pid":{},"tid":{},)"
                   R"("args":{{"goid":{},"tid":{},"stack_depth":{},"duration_ns":{},"kind":"{}")",
                   JsonQuote(r.str(e.func)), e.kind == EventKind::kCall ? "cgo" : "callback",
                   Micros(e.start_ns - t0), Micros(e.duration_ns), p.pid, track, e.goid, e.tid,
                   e.stack_depth, e.duration_ns,
                   e.kind == EventKind::kCall ? "cgo_call" : "cgo_callback");
    const RecordedStack& s = r.stack(e.stack);
    if (!s.frames.empty()) {
      out += R"(,"stack":[)";
      for (size_t f = 0; f < s.frames.size(); ++f) {
        out += (f ? "," : "") + JsonQuote(r.str(s.frames[f]));
      }
      out += "]";
    }
    out += "}}";
  }
  for (const auto& [pid, comm] : process_names) {
    sep();
    fmt::format_to(std::back_inserter(out),
                   R"({{"name":"process_name","ph":"M","pid":{},"tid":0,"args":{{"name":{}}}}})",
                   pid, JsonQuote(comm));
  }
  for (const auto& [pid, track] : tracks) {
    const uint64_t real = track % kLaneStride;
    std::string name = real == pid ? fmt::format("{} (main thread {})", process_names[pid], real)
                                   : fmt::format("tid {}", real);
    if (track >= kLaneStride) {
      name += " (overlapping)";
    }
    sep();
    fmt::format_to(std::back_inserter(out),
                   R"({{"name":"thread_name","ph":"M","pid":{},"tid":{},"args":{{"name":{}}}}})",
                   pid, track, JsonQuote(name));
    sep();
    fmt::format_to(
        std::back_inserter(out),
        R"({{"name":"thread_sort_index","ph":"M","pid":{},"tid":{},"args":{{"sort_index":{}}}}})",
        pid, track, track);
  }
  const RecordingHeader& h = r.header();
  fmt::format_to(std::back_inserter(out),
                 "\n],\"displayTimeUnit\":\"ns\",\"otherData\":{{\"tool\":{},"
                 "\"hostname\":{},\"kernel_release\":{},\"start_realtime_ns\":{},"
                 "\"ts_zero_monotonic_ns\":{},\"events\":{},\"lost\":{},\"truncated\":{}}}}}\n",
                 JsonQuote("cgotrace " + h.tool_version), JsonQuote(h.hostname),
                 JsonQuote(h.kernel_release), h.start_realtime_ns, t0, ev.size(), r.lost(),
                 r.truncated() ? "true" : "false");
  return out;
}

}  // namespace cgotrace
