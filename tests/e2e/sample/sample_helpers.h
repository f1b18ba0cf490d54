// Helpers of the `top` and `profile` tests (top_test.cpp, profile_test.cpp):
// the incgo fixture started with its goroutines in C and its truth read, the
// CLI's JSON output parsed, and the check of a `top` snapshot against the
// fixture's truth.
#pragma once

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks.h"
#include "harness.h"

namespace cgotrace::e2e {

inline constexpr auto kTimeout = 60s;

inline std::vector<std::string> Cli(std::vector<std::string> args) {
  args.insert(args.begin(), CgotraceBin());
  return args;
}

// The fixture running, all its goroutines in C, and its truth.
struct Incgo {
  Process proc;
  Json truth;
};

inline Incgo StartIncgo(const TempDir& dir, const std::string& fixture, int blocked) {
  Incgo f;
  const std::string truth = dir.File(fixture + ".truth.json");
  f.proc = Process::Start({Fixture(fixture), "-blocked", std::to_string(blocked), "-truth", truth},
                          dir.File(fixture + ".out"), dir.File(fixture + ".err"));
  EXPECT_TRUE(f.proc.WaitForLine(Stream::kStdout, "READY", kTimeout)) << f.proc.Describe();
  std::string error;
  auto t = ReadTruth(truth, &error);
  EXPECT_TRUE(t) << error;
  if (t) {
    f.truth = *t;
  }
  return f;
}

// Runs the CLI with `args` and parses its output as one JSON document: an
// empty object, with the failure reported, when the command or its JSON
// fails.
inline Json CliJson(const TempDir& dir, const std::vector<std::string>& args) {
  RunResult r = RunCommand(Cli(args), dir, kTimeout);
  EXPECT_TRUE(r.status.Ok()) << r.Describe();
  std::string error;
  auto j = ParseJson(r.out, &error);
  EXPECT_TRUE(j) << error << "\n" << r.Describe();
  return j ? *j : Json::object();
}

inline Json TopOnce(const TempDir& dir, pid_t pid, const std::string& interval = "300ms") {
  return CliJson(dir, {"top", "-p", std::to_string(pid), "--once", "--format", "json", "--interval",
                       interval});
}

// `profile -p PID -F 49 --format json` for `duration`.
inline Json ProfileJson(const TempDir& dir, pid_t pid, const std::string& duration) {
  return CliJson(dir, {"profile", "-p", std::to_string(pid), "-F", "49", "--duration", duration,
                       "--format", "json"});
}

inline const Json* CallOf(const Json& top, uint64_t goid) {
  for (const Json& c : top["calls"]) {
    if (c["goid"].get<uint64_t>() == goid) {
      return &c;
    }
  }
  return nullptr;
}

inline std::vector<std::string> CFrameNames(const Json& call) {
  std::vector<std::string> out;
  for (const Json& f : call["c_frames"]) {
    out.push_back(f["func"].get<std::string>());
  }
  return out;
}

// `c_symbols`: whether the binary has the .symtab that names its own C code
// (a stripped binary's C frames are addresses; the chain is still walked).
inline void ExpectTopMatchesTruth(const Json& top, const Json& truth, const std::string& what,
                                  bool c_symbols) {
  SCOPED_TRACE(what);
  ASSERT_TRUE(top.contains("calls")) << top.dump();
  EXPECT_EQ(top["pid"].get<int>(), truth["pid"].get<int>());
  const size_t blocked = truth["blocked"].size();
  // blocked + the spinner, maybe the tiny caller caught inside C.
  EXPECT_GE(top["threads_in_c"].get<size_t>(), blocked + 1) << top.dump();
  EXPECT_LE(top["threads_in_c"].get<size_t>(), blocked + 2) << top.dump();
  EXPECT_GE(top["threads"].get<size_t>(), blocked + 2);
  for (const Json& g : truth["blocked"]) {
    const Json* c = CallOf(top, g["goid"].get<uint64_t>());
    ASSERT_NE(c, nullptr) << "goroutine " << g["goid"] << " not listed: " << top.dump();
    EXPECT_EQ((*c)["func"], "block_outer");
    EXPECT_EQ((*c)["state"], "blocked");
    EXPECT_EQ((*c)["tid"], g["tid"]);
    EXPECT_EQ((*c)["site"], "main.blockedWorker");
    EXPECT_GT((*c)["stack_depth"].get<uint64_t>(), 0u);
    // The C frames the thread is really in, innermost first; the chain
    // reached Go (the cgo trampoline tail-calls block_outer at -O2, so it
    // has no frame of its own).
    std::vector<std::string> frames = CFrameNames(*c);
    ASSERT_EQ(frames.size(), 2u) << c->dump();
    if (c_symbols) {
      EXPECT_EQ(frames[0], "block_inner");
      EXPECT_EQ(frames[1], "block_outer");
    }
    EXPECT_TRUE((*c)["c_frames_complete"].get<bool>()) << c->dump();
    // In C since before cgotrace attached: a lower bound.
    EXPECT_FALSE((*c)["age_exact"].get<bool>());
  }
  const Json& spinner = truth["spinner"];
  const Json* s = CallOf(top, spinner["goid"].get<uint64_t>());
  ASSERT_NE(s, nullptr) << "spinner not listed: " << top.dump();
  EXPECT_EQ((*s)["func"], "spin_outer");
  // On a CPU, or waiting for one on a loaded machine: never blocked.
  EXPECT_NE((*s)["state"], "blocked") << s->dump();
  EXPECT_EQ((*s)["tid"], spinner["tid"]);
  EXPECT_EQ((*s)["site"], "main.spinWorker");
  std::vector<std::string> frames = CFrameNames(*s);
  ASSERT_EQ(frames.size(), 2u) << s->dump();
  if (c_symbols) {
    EXPECT_EQ(frames[0], "spin_inner");
    EXPECT_EQ(frames[1], "spin_outer");
  }
}

}  // namespace cgotrace::e2e
