// Synthetic recordings with a known truth, for the recording and report unit
// tests: goroutines of two processes making cgo calls from known Go call
// chains, some with C->Go callbacks inside, delivered in completion order as
// the tracer delivers them; and a test fixture holding one such recording
// written to disk and loaded back.
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "cgotrace/event.h"
#include "cgotrace/recording.h"

namespace cgotrace::testing {

struct SyntheticTruth {
  // (pid, goid, func, kind) -> number of events.
  std::map<std::tuple<uint32_t, uint64_t, std::string, EventKind>, uint64_t> counts;
  // Folded line (goroutine root, time weight) -> self ns.
  std::map<std::string, uint64_t> folded_time;
  std::map<std::string, uint64_t> folded_calls;
  uint64_t total_call_ns = 0;
};

struct Synthetic {
  std::vector<CgoEvent> events;  // completion order
  SyntheticTruth truth;
};

// Go call chains, innermost first, as the tracer reports `frames`.
inline std::vector<std::string> ChainFor(const std::string& func) {
  if (func == "sqlite3_step") {
    return {"main._Cfunc_sqlite3_step", "main.worker", "main.main", "runtime.main",
            "runtime.goexit"};
  }
  if (func == "call_back_n") {
    return {"main._Cfunc_call_back_n", "main.runCallback", "runtime.goexit"};
  }
  if (func == "odd;name<&>") {  // characters folded and XML output must escape
    return {"main._Cfunc_odd", "main.(*T).weird", "runtime.goexit"};
  }
  return {};  // a call without a captured stack
}

inline std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const std::string& p : parts) {
    out += (out.empty() ? "" : ";") + p;
  }
  return out;
}

inline std::string FoldedFrame(std::string name) {
  std::replace(name.begin(), name.end(), ';', ':');
  return name;
}

// `calls_per_goroutine` calls on each of `goroutines` goroutines of pid 4242,
// plus a few calls of pid 5000. Deterministic for a seed.
inline Synthetic MakeSynthetic(int goroutines, int calls_per_goroutine, uint64_t seed = 1) {
  std::mt19937_64 rng(seed);
  const std::vector<std::string> funcs = {"sqlite3_step", "fast_add", "call_back_n", "odd;name<&>"};
  Synthetic s;
  struct Timed {
    CgoEvent ev;
    uint64_t end;
    int depth;  // 0 for calls, 1 for callbacks (children complete first)
  };
  std::vector<Timed> all;
  auto add_process = [&](uint32_t pid, const std::string& comm, uint64_t first_goid, int gs,
                         int calls) {
    for (int g = 0; g < gs; ++g) {
      const uint64_t goid = first_goid + static_cast<uint64_t>(g);
      uint64_t t = 1'000'000'000 + rng() % 1000;
      for (int c = 0; c < calls; ++c) {
        CgoEvent ev;
        ev.pid = pid;
        ev.tid = pid + 1 + static_cast<uint32_t>(goid % 3);
        ev.goid = goid;
        ev.comm = comm;
        ev.binary_path = "/nonexistent/" + comm;
        ev.func = funcs[rng() % funcs.size()];
        ev.start_ns = t;
        ev.duration_ns = 200 + rng() % 50'000;
        ev.stack_depth = 1024 + static_cast<uint32_t>(rng() % 4096);
        ev.frames = ChainFor(ev.func);
        std::vector<std::string> path = {"g" + std::to_string(goid)};
        for (auto it = ev.frames.rbegin(); it != ev.frames.rend(); ++it) {
          path.push_back(FoldedFrame(*it));
        }
        path.push_back(FoldedFrame(ev.func));
        uint64_t children = 0;
        if (ev.func == "call_back_n") {
          const int n = 1 + static_cast<int>(rng() % 4);
          uint64_t cb_t = t + 50;
          for (int k = 0; k < n; ++k) {
            CgoEvent cb = ev;
            cb.kind = EventKind::kCallback;
            cb.func = "goCallback";
            cb.frames.clear();
            cb.start_ns = cb_t;
            cb.duration_ns = 10 + rng() % 100;
            cb.stack_depth += 512;
            cb_t += cb.duration_ns + 20;
            children += cb.duration_ns;
            all.push_back({cb, cb.start_ns + cb.duration_ns, 1});
            std::vector<std::string> cb_path = path;
            cb_path.push_back("goCallback");
            s.truth.folded_time[Join(cb_path)] += cb.duration_ns;
            s.truth.folded_calls[Join(cb_path)] += 1;
            ++s.truth.counts[{pid, goid, cb.func, EventKind::kCallback}];
          }
          ev.duration_ns = std::max(ev.duration_ns, cb_t - t + 30);
        }
        s.truth.folded_time[Join(path)] += ev.duration_ns - children;
        s.truth.folded_calls[Join(path)] += 1;
        s.truth.total_call_ns += ev.duration_ns;
        ++s.truth.counts[{pid, goid, ev.func, EventKind::kCall}];
        all.push_back({ev, ev.start_ns + ev.duration_ns, 0});
        t += ev.duration_ns + 100 + rng() % 5000;
      }
    }
  };
  add_process(4242, "app", 17, goroutines, calls_per_goroutine);
  add_process(5000, "other", 1, 1, 5);
  std::stable_sort(all.begin(), all.end(), [](const Timed& a, const Timed& b) {
    return a.end != b.end ? a.end < b.end : a.depth > b.depth;
  });
  for (Timed& t : all) {
    s.events.push_back(std::move(t.ev));
  }
  return s;
}

// How the events of a synthetic recording carry the latency breakdown.
enum class SyntheticBreakdown {
  kNone,   // no c_ns, no sched_ns (as before the breakdown existed)
  kExact,  // exact mode: c_ns = duration_ns, no sched_ns
  kSplit,  // --breakdown: c_ns + sched_ns = duration_ns, 1-40 ns of re-entry
};

// Sets c_ns and sched_ns of every call (callbacks carry neither). The
// re-entry time stays under 50 ns, so each call's callbacks (which end at
// least 50 ns before the call) lie in its C part, as they do in a real run.
inline void AddBreakdown(Synthetic* s, SyntheticBreakdown mode) {
  for (CgoEvent& e : s->events) {
    if (e.kind != EventKind::kCall || mode == SyntheticBreakdown::kNone) {
      continue;
    }
    e.sched_ns = mode == SyntheticBreakdown::kSplit ? 1 + e.start_ns % 40 : 0;
    e.c_ns = e.duration_ns - e.sched_ns;
  }
}

// A header with fixed host and time, so outputs are reproducible.
inline RecordingHeader FixedHeader(uint32_t batch_events) {
  RecordingHeader h;
  h.tool_version = "test";
  h.hostname = "testhost";
  h.kernel_release = "6.1.0-test";
  h.machine = "x86_64";
  h.start_realtime_ns = 1'700'000'000'000'000'000;
  h.start_monotonic_ns = 999'000'000;
  h.argv = {"cgotrace", "record", "-o", "synthetic.cgotrace", "--", "./app"};
  h.targets = {"PID 4242 (./app)"};
  h.call_stacks = true;
  h.batch_events = batch_events;
  return h;
}

// Fixture: MakeSynthetic(6, 250, seed) with the breakdown of `breakdown`,
// written with FixedHeader(100) to a temporary directory (dir_, removed
// afterwards) and loaded back (rec_).
class SyntheticRecordingTest : public ::testing::Test {
 protected:
  explicit SyntheticRecordingTest(uint64_t seed,
                                  SyntheticBreakdown breakdown = SyntheticBreakdown::kNone)
      : seed_(seed), breakdown_(breakdown) {}

  void SetUp() override {
    char tmpl[] = "/tmp/cgotrace-recording-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = dir_ + "/synthetic.cgotrace";
    synthetic_ = MakeSynthetic(6, 250, seed_);
    AddBreakdown(&synthetic_, breakdown_);
    auto w = RecordingWriter::Create(path_, FixedHeader(100));
    ASSERT_TRUE(w.ok()) << w.error().message;
    for (const CgoEvent& ev : synthetic_.events) {
      ASSERT_TRUE((*w)->Add(ev).ok());
    }
    ASSERT_TRUE((*w)->Finish(RecordingTrailer{}).ok());
    auto loaded = LoadRecording(path_);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    rec_ = std::move(*loaded);
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  const uint64_t seed_;
  const SyntheticBreakdown breakdown_;
  std::string dir_, path_;
  Synthetic synthetic_;
  LoadedRecording rec_;
};

}  // namespace cgotrace::testing
