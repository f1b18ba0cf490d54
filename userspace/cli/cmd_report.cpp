// cgotrace report: views of a recording (table, JSON, folded stacks, flame
// graph, Chrome trace). Needs no privileges.
#include <fmt/format.h>
#include <unistd.h>

#include <array>

#include "cgotrace/recording.h"
#include "commands.h"
#include "common.h"
#include "formats/chrome_trace.h"
#include "formats/perfetto_trace.h"
#include "formats/pprof.h"
#include "report/flamegraph.h"
#include "report/report.h"
#include "util/choice.h"
#include "util/format.h"

namespace cgotrace::cli {
namespace {

enum class ReportFormat { kTable, kJson, kFolded, kFlameGraph, kChrome, kPprof, kPerfetto };
constexpr std::array<Choice<ReportFormat>, 7> kReportFormats{
    {{"table", ReportFormat::kTable},
     {"json", ReportFormat::kJson},
     {"folded", ReportFormat::kFolded},
     {"flamegraph", ReportFormat::kFlameGraph},
     {"chrome", ReportFormat::kChrome},
     {"pprof", ReportFormat::kPprof},
     {"perfetto", ReportFormat::kPerfetto}}};

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

Result<std::string> WholeRecordingView(const ReportFlags& flags, ReportFormat format) {
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
  if (format == ReportFormat::kChrome) {
    return FormatChromeTrace(*rec);
  }
  if (format == ReportFormat::kPprof) {
    return PprofFromRecording(*rec);
  }
  if (format == ReportFormat::kPerfetto) {
    return FormatPerfettoTrace(*rec);
  }
  Profile profile = BuildProfile(*rec, ProfileOptions{*root, *weight});
  if (format == ReportFormat::kFolded) {
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
  auto format = ParseChoice<ReportFormat>("--format", flags.format, kReportFormats);
  if (!format) {
    return Usage(format.error());
  }
  const ReportFormat f = *format;
  if ((f == ReportFormat::kPprof || f == ReportFormat::kPerfetto) && flags.output.empty() &&
      isatty(STDOUT_FILENO)) {
    return Usage(MakeError("--format {} writes binary data: give -o FILE", flags.format));
  }
  if (!(flags.percent_limit >= 0 && flags.percent_limit <= 100)) {
    return Usage(MakeError("--percent-limit: {} is not a percentage", flags.percent_limit));
  }
  // Flag values first: a bad one is a usage error whatever the file holds.
  if (auto sort = ParseReportSort(flags.sort); !sort) {
    return Usage(sort.error());
  }
  if (auto root = ParseProfileRoot(flags.root); !root) {
    return Usage(root.error());
  }
  if (auto weight = ParseProfileWeight(flags.weight); !weight) {
    return Usage(weight.error());
  }
  auto text = (f == ReportFormat::kTable || f == ReportFormat::kJson)
                  ? TableView(flags, f == ReportFormat::kJson)
                  : WholeRecordingView(flags, f);
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
