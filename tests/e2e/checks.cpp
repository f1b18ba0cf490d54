#include "checks.h"

#include <unistd.h>

#include <algorithm>
#include <sstream>

namespace cgotrace::e2e {
namespace {

// Stop reporting per-event problems after this many: one broken field in
// every event would otherwise bury the useful output.
constexpr int kMaxReports = 5;

uint64_t U64(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

std::string Str(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : "";
}

void ExpectExecutable(const std::string& path, const std::string& what) {
  ASSERT_EQ(access(path.c_str(), X_OK), 0)
      << what << " " << path << " is missing; build it (ninja cgotrace go_fixtures)";
}

void CommonSetUp() {
  ExpectExecutable(CgotraceBin(), "the cgotrace CLI");
  for (const char* f : {"cgocalls", "cgocalls-stripped", "cgocalls-pie", "cgocalls-pie-stripped",
                        "nocgo", "sqlite", "demo"}) {
    ExpectExecutable(Fixture(f), "fixture");
  }
}

}  // namespace

void BpfTest::SetUp() {
  const std::string why = BpfUnavailableReason();
  ASSERT_TRUE(why.empty()) << why;
  ASSERT_NO_FATAL_FAILURE(CommonSetUp());
}

void CliTest::SetUp() { ASSERT_NO_FATAL_FAILURE(CommonSetUp()); }

std::vector<std::string> ModestCgocallsArgs() {
  return {"-goroutines=4",     "-calls=1000",   "-blocking=3",   "-sleep-us=20000",
          "-depth=2000",       "-deep-calls=3", "-callbacks=10", "-callback-calls=5",
          "-locked-calls=100", "-cstrings=10"};
}

std::optional<Json> ReadTruth(const std::string& path, std::string* error) {
  if (!WaitForFile(path, 5s)) {
    *error = "the fixture wrote no truth file " + path;
    return std::nullopt;
  }
  return ParseJson(ReadFile(path), error);
}

std::vector<Json> ReadEventsOrFail(const std::string& path) {
  std::string error;
  auto events = ReadJsonl(path, &error);
  if (!events) {
    ADD_FAILURE() << "cgotrace's JSONL output: " << error;
    return {};
  }
  return *events;
}

std::vector<Json> ForPid(const std::vector<Json>& events, uint64_t pid) {
  std::vector<Json> out;
  for (const auto& e : events) {
    if (U64(e, "pid") == pid) out.push_back(e);
  }
  return out;
}

void ExpectWellFormed(const std::vector<Json>& events) {
  int reports = 0;
  for (const auto& e : events) {
    std::ostringstream why;
    const std::string kind = Str(e, "event");
    if (kind != "cgo_call" && kind != "cgo_callback") why << " unknown event kind;";
    for (const char* key : {"pid", "tid", "goid", "start_ns", "duration_ns", "stack_depth"}) {
      if (!e.contains(key) || !e[key].is_number_unsigned())
        why << " " << key << " missing/not unsigned;";
    }
    for (const char* key : {"func", "comm"}) {
      if (Str(e, key).empty()) why << " " << key << " missing/empty;";
    }
    if (U64(e, "pid") == 0 || U64(e, "tid") == 0) why << " zero pid/tid;";
    if (U64(e, "goid") == 0) why << " goid 0 (no goroutine has id 0);";
    if (!why.str().empty() && reports++ < kMaxReports) {
      ADD_FAILURE() << "malformed event:" << why.str() << " " << e.dump();
    }
  }
  EXPECT_EQ(reports, 0) << reports << " malformed events";
}

std::map<std::pair<uint64_t, std::string>, int64_t> CountByGoidFunc(const std::vector<Json>& events,
                                                                    const std::string& kind) {
  std::map<std::pair<uint64_t, std::string>, int64_t> counts;
  for (const auto& e : events) {
    if (Str(e, "event") == kind) ++counts[{U64(e, "goid"), Str(e, "func")}];
  }
  return counts;
}

int64_t CountKind(const std::vector<Json>& events, const std::string& kind) {
  return std::count_if(events.begin(), events.end(),
                       [&](const Json& e) { return Str(e, "event") == kind; });
}

std::string FuncSummary(const std::vector<Json>& events) {
  std::map<std::string, int64_t> by_func;
  for (const auto& e : events) ++by_func[Str(e, "event") + ":" + Str(e, "func")];
  std::ostringstream os;
  for (const auto& [f, n] : by_func) os << f << "=" << n << " ";
  return os.str();
}

std::string CommOf(const std::string& path) { return path.substr(path.find_last_of('/') + 1); }

void ExpectMatchesCgocallsTruth(const Json& truth, const std::vector<Json>& events, Window window,
                                const std::string& comm) {
  SCOPED_TRACE("events by func: " + FuncSummary(events));
  const int64_t before = truth.at("num_cgo_call_before").get<int64_t>();
  const int64_t after = truth.at("num_cgo_call_after").get<int64_t>();
  // The fixture's own accounting must be complete, or the exact comparisons
  // below would compare against the wrong numbers.
  ASSERT_EQ(after - before, truth.at("expected_cgo_calls").get<int64_t>())
      << "fixture bug: NumCgoCall delta differs from the calls the fixture counted";

  ExpectWellFormed(events);
  int reports = 0;
  for (const auto& e : events) {
    // The kernel truncates a task's comm to 15 characters; the tool may show
    // either that or the binary's full base name.
    const std::string c = Str(e, "comm");
    if (c != comm && c != comm.substr(0, 15) && reports++ < kMaxReports) {
      ADD_FAILURE() << "comm should be " << comm << ": " << e.dump();
    }
    // Every call, the runtime's and cgo helpers' included, must get a name a
    // user can read, not a raw address.
    if (Str(e, "func").starts_with("0x") && reports++ < kMaxReports) {
      ADD_FAILURE() << "unsymbolized func: " << e.dump();
    }
  }

  const auto calls = CountByGoidFunc(events, "cgo_call");
  std::map<std::string, int64_t> truth_per_func;  // the fixture's own C functions
  std::map<uint64_t, int64_t> events_per_goid;
  for (const auto& [key, n] : calls) events_per_goid[key.first] += n;

  for (const auto& g : truth.at("goroutines")) {
    const uint64_t goid = g.at("goid").get<uint64_t>();
    const std::string scenario = g.at("scenario").get<std::string>();
    SCOPED_TRACE("goroutine " + std::to_string(goid) + " (" + scenario + ")");
    int64_t expected_total = 0;
    for (const auto& [func, n] : g.at("calls").items()) {
      const int64_t want = n.get<int64_t>();
      truth_per_func[func] += want;
      expected_total += want;
      auto it = calls.find({goid, func});
      EXPECT_EQ(it == calls.end() ? 0 : it->second, want) << func << " calls on goid " << goid;
    }
    if (g.contains("helper_calls")) {
      // C.CString's cgo call is named by the tracer; only its count is fixed.
      for (const auto& [helper, n] : g["helper_calls"].items()) expected_total += n.get<int64_t>();
    }
    EXPECT_EQ(events_per_goid[goid], expected_total)
        << "every cgo call of goroutine " << goid << " and nothing else";
  }
  // Calls to the fixture's functions attributed to goroutines that did not
  // make them show up here.
  for (const auto& [func, want] : truth_per_func) {
    int64_t got = 0;
    for (const auto& [key, n] : calls) {
      if (key.second == func) got += n;
    }
    EXPECT_EQ(got, want) << "total " << func << " calls over all goroutines";
  }

  // Calls of one goroutine are sequential: they must not overlap in time.
  std::map<uint64_t, std::vector<std::pair<uint64_t, uint64_t>>> spans;
  for (const auto& e : events) {
    if (Str(e, "event") == "cgo_call") {
      spans[U64(e, "goid")].push_back({U64(e, "start_ns"), U64(e, "duration_ns")});
    }
  }
  for (auto& [goid, s] : spans) {
    std::sort(s.begin(), s.end());
    for (size_t i = 1; i < s.size(); ++i) {
      if (s[i].first < s[i - 1].first + s[i - 1].second) {
        ADD_FAILURE() << "goroutine " << goid << ": call at start_ns " << s[i].first
                      << " overlaps the previous call (start_ns " << s[i - 1].first
                      << ", duration_ns " << s[i - 1].second << ")";
        break;
      }
    }
  }

  std::map<std::string, const Json*> by_scenario;
  for (const auto& g : truth.at("goroutines")) {
    by_scenario[g.at("scenario").get<std::string>()] = &g;
  }

  if (by_scenario.count("blocking")) {
    const uint64_t min_ns = truth.at("sleep_us").get<uint64_t>() * 1000;
    int checked = 0;
    for (const auto& e : events) {
      if (Str(e, "func") != "sleep_us") continue;
      ++checked;
      EXPECT_GE(U64(e, "duration_ns"), min_ns) << "sleep_us(" << min_ns / 1000 << ") " << e.dump();
    }
    EXPECT_GT(checked, 0);
  }

  if (by_scenario.count("deep")) {
    uint64_t min_deep = UINT64_MAX, max_shallow = 0;
    for (const auto& e : events) {
      if (Str(e, "func") == "deep_call") min_deep = std::min(min_deep, U64(e, "stack_depth"));
      if (Str(e, "func") == "shallow_call")
        max_shallow = std::max(max_shallow, U64(e, "stack_depth"));
    }
    ASSERT_NE(min_deep, UINT64_MAX) << "no deep_call events";
    // The fixture keeps depth * frame-local bytes live below deep_call.
    EXPECT_GE(min_deep, truth.at("min_deep_stack_bytes").get<uint64_t>());
    EXPECT_GT(min_deep, 100u * 1024);
    EXPECT_GT(min_deep, 10 * max_shallow)
        << "deep_call depth " << min_deep << " vs shallow_call depth " << max_shallow;
    EXPECT_GT(max_shallow, 0u) << "a goroutine's stack is never empty at a cgo call";
  }

  if (by_scenario.count("callback")) {
    const Json& cb = truth.at("callbacks");
    const uint64_t goid = cb.at("goid").get<uint64_t>();
    EXPECT_EQ(goid, by_scenario["callback"]->at("goid").get<uint64_t>())
        << "fixture: callbacks run on the calling goroutine";
    const auto callbacks = CountByGoidFunc(events, "cgo_callback");
    auto it = callbacks.find({goid, cb.at("func").get<std::string>()});
    EXPECT_EQ(it == callbacks.end() ? 0 : it->second, cb.at("count").get<int64_t>())
        << "goCallback callbacks on goid " << goid;
    EXPECT_EQ(CountKind(events, "cgo_callback"), cb.at("count").get<int64_t>())
        << "callbacks in total";
  } else {
    EXPECT_EQ(CountKind(events, "cgo_callback"), 0);
  }

  if (by_scenario.count("locked")) {
    const Json& g = *by_scenario["locked"];
    const uint64_t goid = g.at("goid").get<uint64_t>();
    const uint64_t tid = g.at("tid").get<uint64_t>();
    ASSERT_NE(tid, 0u);
    int wrong = 0;
    for (const auto& e : events) {
      if (U64(e, "goid") == goid && U64(e, "tid") != tid && wrong++ < kMaxReports) {
        ADD_FAILURE() << "locked goroutine's call not on its thread " << tid << ": " << e.dump();
      }
    }
  }

  const int64_t total = CountKind(events, "cgo_call");
  EXPECT_GE(total, after - before);
  switch (window) {
    case Window::kWholeProcess:
      // NumCgoCall counts every runtime.cgocall since the process started,
      // including the runtime's own; nothing calls C after the reading.
      EXPECT_EQ(total, after) << "every cgo call since the first instruction";
      break;
    case Window::kAfterSignal:
      EXPECT_EQ(total, after - before) << "every cgo call after the attach";
      break;
  }
}

int64_t TruthCalls(const Json& truth, const std::string& func) {
  int64_t n = 0;
  for (const auto& g : truth.at("goroutines")) n += g.at("calls").value(func, int64_t{0});
  return n;
}

void ExpectCleanError(const RunResult& r, const std::string& what) {
  SCOPED_TRACE(what);
  EXPECT_TRUE(r.status.exited && r.status.code != 0 && !r.status.timed_out)
      << "expected a non-zero exit; " << r.Describe();
  std::vector<std::string> lines;
  for (const auto& l : Lines(r.err)) {
    if (!l.empty()) lines.push_back(l);
  }
  ASSERT_EQ(lines.size(), 1u) << "expected exactly one error line on stderr; " << r.Describe();
  EXPECT_TRUE(lines[0].starts_with("cgotrace: ")) << lines[0];
  EXPECT_GT(lines[0].size(), std::string("cgotrace: ").size() + 5) << "error says nothing";
}

std::map<std::string, uint64_t> PprofFlatByName(const std::string& top) {
  std::map<std::string, uint64_t> out;
  std::istringstream in(top);
  std::string line;
  bool rows = false;
  while (std::getline(in, line)) {
    if (line.find("flat%") != std::string::npos) {
      rows = true;
      continue;
    }
    if (!rows) {
      continue;
    }
    std::istringstream cols(line);
    std::string flat, flat_pct, sum_pct, cum, cum_pct, name;
    if (cols >> flat >> flat_pct >> sum_pct >> cum >> cum_pct >> name) {
      out[name] += std::stoull(flat);
    }
  }
  return out;
}

std::map<std::string, uint64_t> PprofFlat(const TempDir& dir, const std::string& pb,
                                          const std::string& sample_index) {
  RunResult top = RunCommand({CGOTRACE_GO, "tool", "pprof", "-sample_index=" + sample_index,
                              "-unit=ns", "-top", "-nodecount=1000", "-nodefraction=0", pb},
                             dir);
  EXPECT_TRUE(top.status.Ok()) << top.Describe();
  return PprofFlatByName(top.out);
}

std::map<std::string, uint64_t> TruthCallsByFunc(const Json& truth) {
  std::map<std::string, uint64_t> out;
  for (const Json& g : truth.at("goroutines")) {
    for (const auto& [func, n] : g.at("calls").items()) out[func] += n.get<uint64_t>();
  }
  if (truth.contains("callbacks")) {
    out[truth.at("callbacks").at("func").get<std::string>()] +=
        truth.at("callbacks").at("count").get<uint64_t>();
  }
  return out;
}

void ExpectPprofCalls(const TempDir& dir, const std::string& pb,
                      const std::map<std::string, uint64_t>& want) {
  RunResult top = RunCommand({CGOTRACE_GO, "tool", "pprof", "-sample_index=calls", "-top",
                              "-nodecount=1000", "-nodefraction=0", pb},
                             dir);
  ASSERT_TRUE(top.status.Ok()) << top.Describe();
  const auto flat = PprofFlatByName(top.out);
  for (const auto& [func, n] : want) {
    EXPECT_EQ(flat.count(func) ? flat.at(func) : 0, n) << func << "\n" << top.out;
  }
}

}  // namespace cgotrace::e2e
