// report_bench: size and speed of recording files, for docs/reports.md.
//
// Writes N synthetic events shaped like a busy cgo program (64 goroutines
// on 16 threads, 20 C functions, durations of 1-50 µs, calls 2 µs apart on
// each goroutine, optionally call stacks from 40 distinct call sites), then
// reads them back and renders each report view (the Chrome JSON and
// Perfetto timelines side by side). Prints bytes per event and
// events per second of every step.
//
//   report_bench [events (default 2000000)] [dir (default /tmp)]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "cgotrace/recording.h"
#include "formats/chrome_trace.h"
#include "formats/perfetto_trace.h"
#include "formats/pprof.h"
#include "report/flamegraph.h"
#include "report/report.h"

namespace {

using Clock = std::chrono::steady_clock;
using cgotrace::CgoEvent;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::vector<CgoEvent> MakeEvents(size_t n, bool stacks) {
  std::mt19937_64 rng(1);
  std::vector<CgoEvent> out;
  out.reserve(n);
  std::vector<uint64_t> clock(64, 1'000'000'000'000);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t g = rng() % 64;
    CgoEvent ev;
    ev.pid = 4242;
    ev.tid = 4242 + 1 + static_cast<uint32_t>(g % 16);
    ev.goid = 1000 + g;
    ev.comm = "app";
    ev.binary_path = "/usr/local/bin/app";
    const uint64_t f = rng() % 20;
    ev.func = fmt::format("c_function_{}", f);
    ev.duration_ns = 1000 + rng() % 49'000;
    clock[g] += ev.duration_ns + 2000;
    ev.start_ns = clock[g] - ev.duration_ns;
    ev.stack_depth = 2048 + static_cast<uint32_t>(rng() % 1024) * 8;
    if (stacks) {
      const uint64_t site = f * 2 + rng() % 2;
      ev.stack = {0x4a0000 + site * 16, 0x490000 + site, 0x480000, 0x470000};
      ev.frames = {fmt::format("main._Cfunc_c_function_{}", f),
                   fmt::format("example.com/app/db.(*Conn).call{}", site), "main.handler",
                   "net/http.HandlerFunc.ServeHTTP"};
    }
    out.push_back(std::move(ev));
  }
  return out;
}

int Run(size_t n, const std::string& dir, bool stacks) {
  const std::vector<CgoEvent> events = MakeEvents(n, stacks);
  const std::string path = fmt::format("{}/report_bench.{}.cgotrace", dir, getpid());
  fmt::print("{} events, {}:\n", n, stacks ? "with call stacks" : "without call stacks");

  auto t = Clock::now();
  auto w = cgotrace::RecordingWriter::Create(path, cgotrace::CurrentHostHeader());
  if (!w.ok()) {
    fmt::print(stderr, "{}\n", w.error().message);
    return 1;
  }
  for (const CgoEvent& ev : events) {
    if (auto r = (*w)->Add(ev); !r.ok()) {
      fmt::print(stderr, "{}\n", r.error().message);
      return 1;
    }
  }
  if (auto r = (*w)->Finish({}); !r.ok()) {
    fmt::print(stderr, "{}\n", r.error().message);
    return 1;
  }
  const double write_s = Seconds(t);
  const uint64_t bytes = (*w)->bytes_written();
  fmt::print("  file           {:>10.1f} MB  {:>6.2f} bytes/event\n", bytes / 1e6,
             static_cast<double>(bytes) / static_cast<double>(n));
  auto rate = [&](const char* what, double s) {
    fmt::print("  {:<14} {:>10.2f} s   {:>6.2f} M events/s\n", what, s,
               static_cast<double>(n) / s / 1e6);
  };
  rate("write", write_s);

  t = Clock::now();
  auto reader = cgotrace::RecordingReader::Open(path);
  if (!reader.ok()) {
    fmt::print(stderr, "{}\n", reader.error().message);
    return 1;
  }
  cgotrace::ReportTable table(**reader, cgotrace::TableOptions{});
  std::vector<cgotrace::RecordedEvent> batch;
  while (*(*reader)->NextBatch(&batch)) {
    for (const auto& e : batch) table.Add(e);
  }
  const std::string text = cgotrace::FormatTableText(**reader, table.Finish());
  rate("read + table", Seconds(t));

  t = Clock::now();
  auto rec = cgotrace::LoadRecording(path);
  if (!rec.ok()) {
    fmt::print(stderr, "{}\n", rec.error().message);
    return 1;
  }
  rate("load", Seconds(t));
  t = Clock::now();
  const cgotrace::Profile profile = cgotrace::BuildProfile(*rec, cgotrace::ProfileOptions{});
  const std::string folded = cgotrace::FormatFolded(profile);
  rate("+ folded", Seconds(t));
  t = Clock::now();
  const std::string svg = cgotrace::RenderFlameGraph(profile, cgotrace::FlameGraphOptions{});
  fmt::print("  + flamegraph   {:>10.2f} s   (from the folded profile)\n", Seconds(t));
  t = Clock::now();
  const std::string chrome = cgotrace::FormatChromeTrace(*rec);
  rate("+ chrome", Seconds(t));
  t = Clock::now();
  const std::string perfetto = cgotrace::FormatPerfettoTrace(*rec);
  rate("+ perfetto", Seconds(t));
  t = Clock::now();
  auto pprof = cgotrace::PprofFromRecording(*rec);
  if (!pprof.ok()) {
    fmt::print(stderr, "{}\n", pprof.error().message);
    return 1;
  }
  rate("+ pprof", Seconds(t));
  auto per_event = [&](const std::string& s) {
    return static_cast<double>(s.size()) / static_cast<double>(n);
  };
  fmt::print("  outputs: table {} B, folded {} B, svg {} B, pprof {} B\n", text.size(),
             folded.size(), svg.size(), pprof->size());
  fmt::print(
      "  timeline: chrome {:.1f} MB ({:.0f} B/event), perfetto {:.1f} MB ({:.1f} B/event, "
      "{:.1f}% of chrome)\n",
      chrome.size() / 1e6, per_event(chrome), perfetto.size() / 1e6, per_event(perfetto),
      100.0 * static_cast<double>(perfetto.size()) / static_cast<double>(chrome.size()));
  unlink(path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 2'000'000;
  const std::string dir = argc > 2 ? argv[2] : "/tmp";
  if (int rc = Run(n, dir, false); rc != 0) return rc;
  return Run(n, dir, true);
}
