// Helpers for the exporter's end-to-end tests: start `cgotrace exporter` on
// a kernel-chosen loopback port, fetch and parse its exposition, and run a
// real Prometheus server scraping it. Built on harness.h (processes, temp
// dirs); every process started here dies with its Process object.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "harness.h"

namespace cgotrace::e2e {

// A running `cgotrace exporter --listen 127.0.0.1:0 ...`.
struct RunningExporter {
  Process proc;
  int port = 0;
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port) + "/metrics"; }
};

// Starts the exporter (prefix: e.g. {"unshare", ...} to wrap it, may be
// empty) with `args` after "exporter --listen 127.0.0.1:0", and waits for its
// "serving metrics on" line. Fails the test (port stays 0) otherwise.
RunningExporter StartExporter(const TempDir& dir, const std::string& name,
                              const std::vector<std::string>& args,
                              const std::vector<std::string>& prefix = {});

// An exporter (`args`, e.g. --all-go) in a private PID namespace (unshare
// --pid --fork --mount-proc --kill-child), started and waiting for Go
// processes. `pid` is the exporter itself, unshare's one child; 0 when it
// did not get there (the failure is recorded).
struct NamespacedExporter {
  RunningExporter ex;
  pid_t pid = 0;
};
NamespacedExporter StartExporterInPidNamespace(const TempDir& dir,
                                               const std::vector<std::string>& args);

// GET `url` with curl; nullopt (and *error) on any failure.
std::optional<std::string> HttpGet(const TempDir& dir, const std::string& url, std::string* error);

// Sample lines of a text exposition: "name{labels}" -> value.
std::map<std::string, double> ParseExposition(const std::string& text);

// Fetches and parses the exporter's metrics; empty map on failure.
std::map<std::string, double> Scrape(const TempDir& dir, const RunningExporter& ex);

// The call-count series of the cgocalls fixture's fast_add in `binary`.
std::string FastCountKey(const std::string& binary);

// Value of a sample, or `fallback` when absent.
double SampleOr(const std::map<std::string, double>& samples, const std::string& key,
                double fallback);

// Polls `pred` every 100 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& pred, Duration timeout);

// Scrapes every 100 ms until every sample of `want` has its value (absent
// samples never do) or `timeout` passes; true when it got there. *last,
// when given, is the last scrape.
bool WaitForSamples(const TempDir& dir, const RunningExporter& ex,
                    const std::map<std::string, double>& want, Duration timeout,
                    std::map<std::string, double>* last = nullptr);
// The same for one sample.
bool WaitForSample(const TempDir& dir, const RunningExporter& ex, const std::string& key,
                   double value, Duration timeout, std::map<std::string, double>* last = nullptr);

// The copied fixture: a private executable file, so --binary and --all-go
// series of this test cannot mix with fixture runs of concurrent tests.
std::string PrivateCopy(const TempDir& dir, const std::string& fixture, const std::string& name);

// Direct children of `pid` (from /proc/PID/task/PID/children).
std::vector<pid_t> ChildrenOf(pid_t pid);

// A Prometheus server on a free loopback port scraping one target every
// second, with its TSDB in `dir`.
class PrometheusServer {
 public:
  // Fails the test if /usr/bin/prometheus does not become ready in time.
  void Start(const TempDir& dir, int target_port);
  int port() const { return port_; }
  const Process& process() const { return proc_; }

  // Instant query through the HTTP API; the "result" array, or nullopt with
  // *error.
  std::optional<Json> Query(const TempDir& dir, const std::string& promql, std::string* error);

 private:
  Process proc_;
  int port_ = 0;
};

// A TCP port on 127.0.0.1 free at the time of the call.
int FreeLoopbackPort();

}  // namespace cgotrace::e2e
