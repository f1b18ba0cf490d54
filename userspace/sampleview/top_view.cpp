#include "sampleview/top_view.h"

#include <algorithm>

#include "util/format.h"

namespace cgotrace {

Result<TopSort> ParseTopSort(const std::string& text) {
  if (text == "age") {
    return TopSort::kAge;
  }
  if (text == "func") {
    return TopSort::kFunc;
  }
  if (text == "goid") {
    return TopSort::kGoid;
  }
  return MakeError("unknown sort key '{}' (expected age, func or goid)", text);
}

TopSnapshot BuildTopSnapshot(pid_t pid, const std::vector<ThreadSample>& threads,
                             const CallTracker& tracker, FrameNamer& namer) {
  TopSnapshot snap;
  snap.pid = pid;
  snap.threads = static_cast<uint32_t>(threads.size());
  for (const ThreadSample& t : threads) {
    snap.time_ns = std::max(snap.time_ns, t.time_ns);
  }
  for (const ThreadSample& t : threads) {
    if (!t.in_c) {
      continue;
    }
    ++snap.threads_in_c;
    const NamedCall& named = namer.Name(t.c_frames, t.go_frames);
    TopCall call;
    call.tid = t.tid;
    call.goid = t.goid;
    call.func = named.func;
    call.site = named.site;
    call.state = t.state();
    call.stack_depth = t.stack_depth();
    call.c_frames = named.c_frames;
    call.c_frames_complete = named.c_frames_complete;
    if (const CallTracker::Call* c = tracker.Find(t.tid); c != nullptr) {
      call.age_ns = t.time_ns - std::min(t.time_ns, c->first_seen_ns);
      call.age_exact = c->exact;
    }
    snap.calls.push_back(std::move(call));
  }
  SortTopCalls(&snap, TopSort::kAge);
  return snap;
}

void SortTopCalls(TopSnapshot* snap, TopSort sort) {
  auto key = [sort](const TopCall& c) {
    return std::make_tuple(sort == TopSort::kFunc ? c.func : std::string(),
                           sort == TopSort::kGoid ? c.goid : 0, ~c.age_ns, c.tid);
  };
  std::stable_sort(snap->calls.begin(), snap->calls.end(),
                   [&](const TopCall& a, const TopCall& b) { return key(a) < key(b); });
}

namespace {

std::string OptionalNumber(const std::optional<int64_t>& v) {
  return v ? fmt::format("{}", *v) : "null";
}

std::string InnermostC(const TopCall& c) {
  if (c.c_frames.empty()) {
    return "?";
  }
  return c.c_frames.front().func;
}

}  // namespace

std::string FormatTopJson(const TopSnapshot& snap) {
  std::string out = fmt::format(
      R"({{"pid":{},"threads":{},"threads_in_c":{},"goroutines":{},"thread_limit":{},"calls":[)",
      snap.pid, snap.threads, snap.threads_in_c, OptionalNumber(snap.goroutines),
      OptionalNumber(snap.thread_limit));
  for (size_t i = 0; i < snap.calls.size(); ++i) {
    const TopCall& c = snap.calls[i];
    out +=
        fmt::format(R"({}{{"tid":{},"goid":{},"func":{},"state":"{}","age_ns":{},"age_exact":{},)"
                    R"("stack_depth":{},"site":{},"c_frames":[)",
                    i == 0 ? "" : ",", c.tid, c.goid, JsonQuote(c.func), c.state, c.age_ns,
                    c.age_exact, c.stack_depth, JsonQuote(c.site));
    for (size_t j = 0; j < c.c_frames.size(); ++j) {
      const CFrame& f = c.c_frames[j];
      out += fmt::format(R"({}{{"func":{},"module":{},"addr":{}}})", j == 0 ? "" : ",",
                         JsonQuote(f.func), JsonQuote(f.module), f.addr);
    }
    out += fmt::format(R"(],"c_frames_complete":{}}})", c.c_frames_complete);
  }
  out += "]}";
  return out;
}

std::string FormatTopText(const TopSnapshot& snap, size_t max_rows) {
  std::string out = fmt::format("PID {}: {} threads, {} in C, goroutines {}, thread limit {}\n",
                                snap.pid, snap.threads, snap.threads_in_c,
                                snap.goroutines ? fmt::format("{}", *snap.goroutines) : "unknown",
                                snap.thread_limit ? fmt::format("{}", *snap.thread_limit)
                                                  : "unknown (default 10000; binary stripped)");
  int64_t limit = snap.thread_limit.value_or(10000);
  if (static_cast<double>(snap.threads) >= kThreadLimitWarnShare * static_cast<double>(limit)) {
    out += fmt::format(
        "WARNING: {} threads ({} in C) is {:.0f}% of the thread limit {}: the Go runtime aborts "
        "the "
        "process when it is reached\n",
        snap.threads, snap.threads_in_c,
        100.0 * static_cast<double>(snap.threads) / static_cast<double>(limit), limit);
  }
  out +=
      fmt::format("{:>8} {:>8} {:>8} {:<24} {:<28} {:<8} {:>10} {:>8}  {}\n", "PID", "TID", "GOID",
                  "C FUNCTION", "INNERMOST C FRAME", "STATE", "AGE", "DEPTH", "GO CALL SITE");
  size_t n = 0;
  for (const TopCall& c : snap.calls) {
    if (max_rows != 0 && n++ >= max_rows) {
      out += fmt::format("... {} more\n", snap.calls.size() - max_rows);
      break;
    }
    std::string inner = InnermostC(c);
    if (!c.c_frames_complete) {
      inner += " (+?)";
    }
    out += fmt::format("{:>8} {:>8} {:>8} {:<24.24} {:<28.28} {:<8} {:>10} {:>8}  {}\n", snap.pid,
                       c.tid, c.goid, c.func, inner, c.state,
                       (c.age_exact ? "" : ">") + HumanDuration(c.age_ns),
                       HumanBytes(c.stack_depth), c.site);
  }
  if (snap.calls.empty()) {
    out += "(no thread is in a cgo call)\n";
  }
  return out;
}

}  // namespace cgotrace
