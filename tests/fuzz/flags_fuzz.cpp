// Fuzz target: parsers of command-line text (the one duration parser, --by
// and --format through the one named-choice parser, --listen, Go versions)
// and cgo symbol naming, on the same string. Seeds:
// tests/fuzz/seeds/flags. report's --sort/--root/--weight parsers are left
// out: linking the report library (pprof and Perfetto protobufs) would double
// the fuzz build's time in CI for three enum look-ups.
#include <cstddef>
#include <cstdint>
#include <string>

#include "exporter/exporter.h"
#include "fuzz_input.h"
#include "gofile/cgo_names.h"
#include "gofile/go_buildinfo.h"
#include "stats/aggregator.h"
#include "trace/sinks.h"
#include "util/duration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(cgotrace::fuzz::AsText(data, size));
  (void)cgotrace::ParseDuration("--duration", text, cgotrace::DurationRange{0, UINT64_MAX});
  (void)cgotrace::ParseGroupBy(text);
  (void)cgotrace::ParseEventFormat(text);
  if (auto addr = cgotrace::ParseListenAddress(text)) {
    (void)addr->CivetSpec();
  }
  (void)cgotrace::GoVersion::Parse(text);
  (void)cgotrace::ParseCgoSymbol(text);
  return 0;
}
