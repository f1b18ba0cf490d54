#include "exporter_harness.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>

namespace cgotrace::e2e {

RunningExporter StartExporter(const TempDir& dir, const std::string& name,
                              const std::vector<std::string>& args,
                              const std::vector<std::string>& prefix) {
  std::vector<std::string> argv = prefix;
  for (const std::string& a : {CgotraceBin(), std::string("exporter"), std::string("--listen"),
                               std::string("127.0.0.1:0")}) {
    argv.push_back(a);
  }
  argv.insert(argv.end(), args.begin(), args.end());
  RunningExporter ex;
  ex.proc = Process::Start(argv, dir.File(name + ".out"), dir.File(name + ".err"));
  const std::string marker = "cgotrace: serving metrics on http://127.0.0.1:";
  auto line = ex.proc.WaitForLine(Stream::kStderr, marker, 30s);
  if (!line) {
    ADD_FAILURE() << "the exporter did not start serving: " << ex.proc.Describe();
    return ex;
  }
  ex.port = std::atoi(line->c_str() + marker.size());
  EXPECT_GT(ex.port, 0) << *line;
  return ex;
}

std::optional<std::string> HttpGet(const TempDir& dir, const std::string& url, std::string* error) {
  RunResult r = RunCommand({"curl", "-sS", "--fail", "--max-time", "10", url}, dir, 20s);
  if (!r.status.Ok()) {
    *error = "curl " + url + ": " + r.Describe();
    return std::nullopt;
  }
  return r.out;
}

std::map<std::string, double> ParseExposition(const std::string& text) {
  std::map<std::string, double> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    auto space = line.rfind(' ');
    if (space == std::string::npos) {
      continue;
    }
    out[line.substr(0, space)] = std::strtod(line.c_str() + space + 1, nullptr);
  }
  return out;
}

NamespacedExporter StartExporterInPidNamespace(const TempDir& dir,
                                               const std::vector<std::string>& args) {
  NamespacedExporter out{StartExporter(
      dir, "exporter", args, {"unshare", "--pid", "--fork", "--mount-proc", "--kill-child"})};
  if (out.ex.port <= 0) {
    ADD_FAILURE() << "the exporter did not serve: " << out.ex.proc.Describe();
    return out;
  }
  if (!out.ex.proc.WaitForLine(Stream::kStderr, "cgotrace: waiting for Go processes with cgo",
                               10s)) {
    ADD_FAILURE() << out.ex.proc.Describe();
    return out;
  }
  std::vector<pid_t> children = ChildrenOf(out.ex.proc.pid());
  if (children.size() != 1u) {
    ADD_FAILURE() << "unshare has " << children.size() << " children, not 1 (the exporter)";
    return out;
  }
  out.pid = children[0];
  return out;
}

std::map<std::string, double> Scrape(const TempDir& dir, const RunningExporter& ex) {
  std::string error;
  auto body = HttpGet(dir, ex.url(), &error);
  return body ? ParseExposition(*body) : std::map<std::string, double>{};
}

double SampleOr(const std::map<std::string, double>& samples, const std::string& key,
                double fallback) {
  auto it = samples.find(key);
  return it == samples.end() ? fallback : it->second;
}

bool WaitUntil(const std::function<bool()>& pred, Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (pred()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(100ms);
  }
}

std::string FastCountKey(const std::string& binary) {
  return R"(cgotrace_cgo_call_duration_seconds_count{binary=")" + binary +
         R"(",function="fast_add"})";
}

bool WaitForSamples(const TempDir& dir, const RunningExporter& ex,
                    const std::map<std::string, double>& want, Duration timeout,
                    std::map<std::string, double>* last) {
  std::map<std::string, double> samples;
  const bool got = WaitUntil(
      [&] {
        samples = Scrape(dir, ex);
        for (const auto& [key, value] : want) {
          auto it = samples.find(key);
          if (it == samples.end() || it->second != value) {
            return false;
          }
        }
        return true;
      },
      timeout);
  if (last != nullptr) {
    *last = std::move(samples);
  }
  return got;
}

bool WaitForSample(const TempDir& dir, const RunningExporter& ex, const std::string& key,
                   double value, Duration timeout, std::map<std::string, double>* last) {
  return WaitForSamples(dir, ex, {{key, value}}, timeout, last);
}

std::string PrivateCopy(const TempDir& dir, const std::string& fixture, const std::string& name) {
  const std::string dest = dir.File(name);
  std::error_code ec;
  std::filesystem::copy_file(Fixture(fixture), dest, ec);
  EXPECT_FALSE(ec) << "copy " << Fixture(fixture) << " -> " << dest << ": " << ec.message();
  chmod(dest.c_str(), 0755);
  return dest;
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/task/" + std::to_string(pid) + "/children");
  std::vector<pid_t> out;
  pid_t child;
  while (in >> child) {
    out.push_back(child);
  }
  return out;
}

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = 0;
  socklen_t len = sizeof(sa);
  int port = 0;
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len) == 0) {
    port = ntohs(sa.sin_port);
  }
  if (fd >= 0) {
    close(fd);
  }
  return port;
}

void PrometheusServer::Start(const TempDir& dir, int target_port) {
  const std::string config = dir.File("prometheus.yml");
  {
    std::ofstream out(config);
    out << "global:\n"
           "  scrape_interval: 1s\n"
           "  scrape_timeout: 1s\n"
           "scrape_configs:\n"
           "  - job_name: cgotrace\n"
           "    static_configs:\n"
           "      - targets: ['127.0.0.1:"
        << target_port << "']\n";
  }
  // A port taken between FreeLoopbackPort() and Prometheus' bind makes it
  // exit at once: try a few.
  for (int attempt = 0; attempt < 3; ++attempt) {
    port_ = FreeLoopbackPort();
    ASSERT_GT(port_, 0);
    proc_ = Process::Start(
        {"/usr/bin/prometheus", "--config.file=" + config,
         "--storage.tsdb.path=" + dir.File("tsdb"),
         "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=info"},
        dir.File("prometheus.out"), dir.File("prometheus.err"));
    const bool ready = WaitUntil(
        [&] {
          return !proc_.Running() ||
                 ReadFile(dir.File("prometheus.err"))
                         .find("Server is ready to receive web requests") != std::string::npos;
        },
        60s);
    if (ready && proc_.Running()) {
      return;
    }
    proc_.KillGroup();
  }
  FAIL() << "prometheus did not become ready: " << proc_.Describe();
}

std::optional<Json> PrometheusServer::Query(const TempDir& dir, const std::string& promql,
                                            std::string* error) {
  RunResult r = RunCommand({"curl", "-sS", "--fail", "--max-time", "10", "-G",
                            "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/query",
                            "--data-urlencode", "query=" + promql},
                           dir, 20s);
  if (!r.status.Ok()) {
    *error = "query " + promql + ": " + r.Describe();
    return std::nullopt;
  }
  auto doc = ParseJson(r.out, error);
  if (!doc) {
    return std::nullopt;
  }
  if (doc->value("status", "") != "success" || !doc->contains("data") ||
      !(*doc)["data"].contains("result")) {
    *error = "query " + promql + " failed: " + r.out;
    return std::nullopt;
  }
  return (*doc)["data"]["result"];
}

}  // namespace cgotrace::e2e
