// The exporter's /debug/pprof/cgo answers, without HTTP: seconds as Go's
// pprof handler reads them, the write-timeout bound, the limit on concurrent
// windows, and the profile of the events delivered during a window.
#include "exporter/exporter_pprof.h"

#include <zlib.h>

#include <chrono>
#include <map>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pprof.pb.h"

namespace cgotrace {
namespace {

std::string Gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

uint64_t NowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(ts.tv_nsec);
}

CgoEvent Event(const std::string& func, uint64_t goid) {
  CgoEvent ev;
  ev.pid = 4242;
  ev.tid = 4243;
  ev.goid = goid;
  ev.func = func;
  ev.comm = "app";
  ev.binary_path = "/nonexistent/app";
  ev.start_ns = NowNs();
  ev.duration_ns = 1000;
  ev.frames = {"main._Cfunc_" + func, "main.worker", "runtime.goexit"};
  return ev;
}

PprofEndpointOptions Options(int max_seconds, int max_windows) {
  PprofEndpointOptions o;
  o.max_seconds = max_seconds;
  o.max_windows = max_windows;
  o.header.tool_version = "test";
  o.header.call_stacks = true;
  return o;
}

TEST(PprofEndpointTest, SecondsAtOrBeyondTheWriteTimeoutAreABadRequest) {
  PprofEndpoint ep(Options(60, 4));
  for (const char* q : {"seconds=60", "seconds=61", "debug=0&seconds=100000"}) {
    const auto r = ep.Serve(q);
    EXPECT_EQ(r.status, 400) << q;
    EXPECT_EQ(r.content_type, "text/plain; charset=utf-8");
    EXPECT_EQ(r.body, "profile duration exceeds server's WriteTimeout\n");
  }
  EXPECT_EQ(ep.open_windows(), 0);
}

// Go reads a missing, unparsable or non-positive value as 30 s: with a
// write timeout of 30 s, each of them is then the same 400.
TEST(PprofEndpointTest, BadSecondsMeanTheDefaultLikeGo) {
  PprofEndpoint ep(Options(kPprofDefaultSeconds, 4));
  for (const char* q : {"", "seconds=", "seconds=abc", "seconds=-5", "seconds=0",
                        "seconds=99999999999999", "x=1"}) {
    EXPECT_EQ(ep.Serve(q).status, 400) << q;
  }
  PprofEndpoint ok(Options(kPprofDefaultSeconds + 1, 4));
  ok.Stop();  // a 30 s window that ends at once
  EXPECT_EQ(ok.Serve("seconds=abc").status, 200);
}

TEST(PprofEndpointTest, ProfilesTheCallsOfItsWindowOnly) {
  PprofEndpoint ep(Options(60, 4));
  ep.Record(Event("before", 1));  // no window open: dropped
  std::atomic<bool> done{false};
  std::map<std::string, int> sent;
  std::thread feeder([&] {
    // Events start once the window is open (open_windows() says so).
    while (ep.open_windows() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (int i = 0; i < 300; ++i) {
      const std::string f = i % 3 == 0 ? "sqlite3_step" : "fast_add";
      ep.Record(Event(f, 10 + static_cast<uint64_t>(i % 2)));
      ++sent[f];
    }
    done = true;
    ep.Stop();  // ends the window now, however slow this machine is
  });
  const auto r = ep.Serve("seconds=50");
  feeder.join();
  ASSERT_TRUE(done);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "application/octet-stream");
  pprof::Profile p;
  ASSERT_TRUE(p.ParseFromString(Gunzip(r.body)));
  std::map<uint64_t, std::string> fn;
  for (const auto& f : p.function()) fn[f.id()] = p.string_table(static_cast<int>(f.name()));
  std::map<uint64_t, uint64_t> loc_fn;
  for (const auto& l : p.location()) loc_fn[l.id()] = l.line(0).function_id();
  std::map<std::string, int> got;
  for (const auto& s : p.sample()) {
    got[fn[loc_fn[s.location_id(0)]]] += static_cast<int>(s.value(0));
    EXPECT_EQ(fn[loc_fn[s.location_id(2)]], "main.worker");
  }
  EXPECT_EQ(got, sent);
  EXPECT_EQ(ep.open_windows(), 0);
  ep.Record(Event("after", 1));  // closed again: no window to write to
}

// exporter --breakdown: events carry c_ns and sched_ns, and the window's
// profile has their sample types, as report --format pprof does.
TEST(PprofEndpointTest, BreakdownEventsAddCTimeAndSchedTime) {
  PprofEndpoint ep(Options(60, 4));
  constexpr int kEvents = 50;
  std::thread feeder([&] {
    while (ep.open_windows() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    for (int i = 0; i < kEvents; ++i) {
      CgoEvent ev = Event("sqlite3_step", 10);
      ev.c_ns = 700;
      ev.sched_ns = 300;
      ep.Record(ev);
    }
    ep.Stop();
  });
  const auto r = ep.Serve("seconds=50");
  feeder.join();
  ASSERT_EQ(r.status, 200) << r.body;
  pprof::Profile p;
  ASSERT_TRUE(p.ParseFromString(Gunzip(r.body)));
  std::vector<std::string> types;
  for (const auto& t : p.sample_type()) types.push_back(p.string_table(static_cast<int>(t.type())));
  EXPECT_EQ(types, (std::vector<std::string>{"calls", "time", "c_time", "sched_time"}));
  std::vector<int64_t> sums(4, 0);
  for (const auto& s : p.sample()) {
    ASSERT_EQ(s.value_size(), 4);
    for (int i = 0; i < 4; ++i) sums[static_cast<size_t>(i)] += s.value(i);
  }
  EXPECT_EQ(sums, (std::vector<int64_t>{kEvents, kEvents * 1000, kEvents * 700, kEvents * 300}));
}

TEST(PprofEndpointTest, ConcurrentWindowsBeyondTheLimitGetA500) {
  PprofEndpoint ep(Options(60, 1));
  std::thread first([&] { EXPECT_EQ(ep.Serve("seconds=2").status, 200); });
  while (ep.open_windows() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const auto second = ep.Serve("seconds=1");
  EXPECT_EQ(second.status, 500);
  EXPECT_NE(second.body.find("already being collected"), std::string::npos) << second.body;
  ep.Stop();
  first.join();
}

}  // namespace
}  // namespace cgotrace
