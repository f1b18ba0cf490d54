// cgotrace report: views of a recording (table, JSON, folded stacks, flame
// graph, Chrome trace). Needs no privileges.
#include <fmt/format.h>
#include <unistd.h>

#include "cgotrace/recording.h"
#include "commands.h"
#include "common.h"
#include "report/chrome_trace.h"
#include "report/flamegraph.h"
#include "report/perfetto_trace.h"
#include "report/pprof.h"
#include "report/report.h"
#include "util/format.h"

namespace cgotrace::cli {
namespace {

struct ReportFlags {
  std::string input = "cgotrace.data";
  std::string output;
  std::string format = "table";
  std::string sort = "func";
  double percent_limit = 0;
  bool histogram = false;
  std::string weight = "time";
  std::string root = "goroutine";
  std::string title;
};

void WarnIfTruncated(const std::string& path, const RecordingReader& r) {
  if (r.truncated()) {
    fmt::print(stderr, "cgotrace: warning: {} is truncated after {} events (no trailer)\n", path,
               r.events_read());
  }
}

Result<std::string> TableView(const ReportFlags& flags, bool json) {
  auto sort = ParseReportSort(flags.sort);
  if (!sort) {
    return sort.error();
  }
  auto reader = RecordingReader::Open(flags.input);
  if (!reader) {
    return reader.error();
  }
  ReportTable table(**reader, TableOptions{*sort, flags.percent_limit, flags.histogram});
  std::vector<RecordedEvent> batch;
  for (;;) {
    auto more = (*reader)->NextBatch(&batch);
    if (!more) {
      return more.error();
    }
    if (!*more) {
      break;
    }
    for (const RecordedEvent& e : batch) {
      table.Add(e);
    }
  }
  WarnIfTruncated(flags.input, **reader);
  TableReport rep = table.Finish();
  return json ? FormatTableJson(**reader, rep) + "\n" : FormatTableText(**reader, rep);
}

Result<std::string> WholeRecordingView(const ReportFlags& flags) {
  auto root = ParseProfileRoot(flags.root);
  if (!root) {
    return root.error();
  }
  auto weight = ParseProfileWeight(flags.weight);
  if (!weight) {
    return weight.error();
  }
  auto rec = LoadRecording(flags.input);
  if (!rec) {
    return rec.error();
  }
  WarnIfTruncated(flags.input, *rec->reader);
  if (flags.format == "chrome") {
    return FormatChromeTrace(*rec);
  }
  if (flags.format == "pprof") {
    return PprofFromRecording(*rec);
  }
  if (flags.format == "perfetto") {
    return FormatPerfettoTrace(*rec);
  }
  Profile profile = BuildProfile(*rec, ProfileOptions{*root, *weight});
  if (flags.format == "folded") {
    return FormatFolded(profile);
  }
  FlameGraphOptions fg;
  if (!flags.title.empty()) {
    fg.title = flags.title;
  }
  const RecordingHeader& h = rec->reader->header();
  fg.subtitle = fmt::format("{} events on {}, {}; weight: {}{}", rec->events.size(), h.hostname,
                            h.targets.empty() ? std::string("no target") : h.targets.front(),
                            flags.weight == "time" ? "time in cgo calls" : "number of calls",
                            rec->reader->truncated() ? " (truncated recording)" : "");
  return RenderFlameGraph(profile, fg);
}

int RunReport(const ReportFlags& flags) {
  const std::string& f = flags.format;
  if (f != "table" && f != "json" && f != "folded" && f != "flamegraph" && f != "chrome" &&
      f != "pprof" && f != "perfetto") {
    return Fail(
        MakeError("--format: unknown format '{}' (expected table, json, folded, "
                  "flamegraph, chrome, pprof or perfetto)",
                  f));
  }
  if ((f == "pprof" || f == "perfetto") && flags.output.empty() && isatty(STDOUT_FILENO)) {
    return Fail(MakeError("--format {} writes binary data: give -o FILE", f));
  }
  if (!(flags.percent_limit >= 0 && flags.percent_limit <= 100)) {
    return Fail(MakeError("--percent-limit: {} is not a percentage", flags.percent_limit));
  }
  auto text =
      (f == "table" || f == "json") ? TableView(flags, f == "json") : WholeRecordingView(flags);
  if (!text) {
    return Fail(text.error());
  }
  auto out = Output::Open(flags.output);
  if (!out) {
    return Fail(out.error());
  }
  if (fwrite(text->data(), 1, text->size(), out->get()) != text->size() ||
      fflush(out->get()) != 0) {
    return Fail(MakeError("writing {}: {}", flags.output.empty() ? "stdout" : flags.output,
                          strerror(errno)));
  }
  return 0;
}

}  // namespace

void RegisterReport(CLI::App* app, std::function<int()>* run) {
  auto flags = std::make_shared<ReportFlags>();
  CLI::App* sub = app->add_subcommand("report", "Show a recording made by `cgotrace record`");
  sub->add_option("-i,--input", flags->input, "Recording file (default cgotrace.data)");
  sub->add_option("-o,--output", flags->output, "Write the report to this file instead of stdout");
  sub->add_option("--format", flags->format,
                  "table (default), json, folded, flamegraph (SVG), chrome (Trace Event JSON), "
                  "pprof (gzipped profile.proto) or perfetto (native Perfetto trace)");
  sub->add_option("--sort", flags->sort,
                  "Table rows by these keys, comma-separated: func (default), goid, tid, pid, "
                  "comm, binary");
  sub->add_option("--percent-limit", flags->percent_limit,
                  "Hide table rows under this percent of the total call time");
  sub->add_flag("--histogram", flags->histogram, "Add a latency histogram to every table row");
  sub->add_option("--weight", flags->weight,
                  "folded/flamegraph: time (default, ns in the frame) or calls");
  sub->add_option("--root", flags->root,
                  "folded/flamegraph root frame: goroutine (default, g17), thread (tid 1234), "
                  "process (comm/pid) or none");
  sub->add_option("--title", flags->title, "flamegraph: title");
  sub->callback([flags, run] { *run = [flags] { return RunReport(*flags); }; });
}

}  // namespace cgotrace::cli
