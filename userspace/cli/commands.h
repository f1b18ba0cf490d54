// Subcommand registration. Each Register* adds its subcommand to `app` and,
// when that subcommand is chosen, sets *run to the function main() calls.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace cgotrace::cli {

void RegisterTrace(CLI::App* app, std::function<int()>* run);
void RegisterStat(CLI::App* app, std::function<int()>* run);
void RegisterInspect(CLI::App* app, std::function<int()>* run);
void RegisterExporter(CLI::App* app, std::function<int()>* run);
void RegisterRecord(CLI::App* app, std::function<int()>* run);
void RegisterReport(CLI::App* app, std::function<int()>* run);
void RegisterTop(CLI::App* app, std::function<int()>* run);
void RegisterProfile(CLI::App* app, std::function<int()>* run);

// The words after "--" on the command line (the command to launch) are not
// parsed by CLI11; main() hands them to the chosen subcommand through this.
void SetCommandSink(CLI::App* sub, std::vector<std::string>* dest);
// Returns false when the chosen subcommand takes no command.
bool DeliverCommand(CLI::App* chosen, std::vector<std::string> command);

}  // namespace cgotrace::cli
