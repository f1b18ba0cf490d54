// cgotrace: trace cgo calls of live Go programs. main() only parses flags;
// each subcommand lives in its own file over cgotrace_core.
#include <fmt/format.h>

#include <map>
#include <string>
#include <vector>

#include "commands.h"
#include "common.h"

namespace cgotrace::cli {
namespace {
std::map<CLI::App*, std::vector<std::string>*>& CommandSinks() {
  static std::map<CLI::App*, std::vector<std::string>*> sinks;
  return sinks;
}
}  // namespace

void SetCommandSink(CLI::App* sub, std::vector<std::string>* dest) { CommandSinks()[sub] = dest; }

bool DeliverCommand(CLI::App* chosen, std::vector<std::string> command) {
  auto it = CommandSinks().find(chosen);
  if (it == CommandSinks().end()) {
    return false;
  }
  *it->second = std::move(command);
  return true;
}

}  // namespace cgotrace::cli

namespace {

int Main(int argc, char** argv) {
  using namespace cgotrace::cli;  // NOLINT(google-build-using-namespace)
  // Split at the first "--": what follows is the command to launch, passed
  // through verbatim (its own flags must not be parsed as ours).
  std::vector<std::string> args;
  std::vector<std::string> command;
  bool has_separator = false;
  for (int i = 1; i < argc; ++i) {
    if (!has_separator && std::string(argv[i]) == "--") {
      has_separator = true;
      continue;
    }
    (has_separator ? command : args).emplace_back(argv[i]);
  }

  CLI::App app{"cgotrace: see every cgo call of live Go programs", "cgotrace"};
  app.set_version_flag("--version", std::string("cgotrace ") + CGOTRACE_VERSION);
  app.require_subcommand(1);
  std::function<int()> run;
  RegisterTrace(&app, &run);
  RegisterStat(&app, &run);
  RegisterInspect(&app, &run);
  RegisterExporter(&app, &run);
  RegisterRecord(&app, &run);
  RegisterReport(&app, &run);
#ifdef CGOTRACE_SAMPLING
  RegisterTop(&app, &run);
  RegisterProfile(&app, &run);
#endif

  const std::string first = args.empty() ? std::string() : args.front();
  try {
    std::reverse(args.begin(), args.end());  // CLI11 parses a reversed vector
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string what = e.what();
    if (what.find("subcommand") != std::string::npos) {
      // CLI11 says only that one is required; name what was typed instead.
      if (!first.empty() && !first.starts_with("-")) {
        what = fmt::format("unknown subcommand '{}'", first);
      }
      what += " (trace, stat, inspect, record, report, exporter, top, profile)";
    }
    fmt::print(stderr, "cgotrace: {}\n", what);
    return kExitUsage;
  }
  if (has_separator) {
    CLI::App* chosen = app.get_subcommands().empty() ? nullptr : app.get_subcommands().front();
    if (command.empty()) {
      fmt::print(stderr, "cgotrace: nothing to launch after '--'\n");
      return kExitUsage;
    }
    if (chosen == nullptr || !DeliverCommand(chosen, command)) {
      fmt::print(stderr, "cgotrace: '{}' does not launch commands\n",
                 chosen ? chosen->get_name() : "");
      return kExitUsage;
    }
  }
  return run ? run() : kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  // cgotrace_core reports errors as Results; an exception here is a bug or
  // an allocation failure, and still gets the one-line error convention.
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    fmt::print(stderr, "cgotrace: internal error: {}\n", e.what());
  } catch (...) {
    fmt::print(stderr, "cgotrace: internal error\n");
  }
  return cgotrace::cli::kExitFailure;
}
