// The deploy/ manifests say what the exporter does: Kubernetes pods run it
// with the documented port and capabilities, Prometheus and Grafana use only
// metrics it serves, promtool accepts the alert rules.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "exporter/exporter.h"
#include "exporter_test_util.h"

namespace cgotrace {
namespace {

using test::CommandResult;
using test::KernelRows;
using test::Samples;
using test::Shell;
using ::testing::HasSubstr;

using Json = nlohmann::json;

std::string Deploy(const std::string& rel) {
  return std::string(CGOTRACE_SOURCE_DIR) + "/deploy/" + rel;
}

// Every YAML document of a file, through python3-yaml.
Json LoadYaml(const std::string& path) {
  CommandResult r = Shell(
      "python3 -c 'import json,sys,yaml; "
      "print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))' " +
      path);
  EXPECT_EQ(r.status, 0) << "python3 with the yaml module (Debian python3-yaml) parses " << path
                         << ": " << r.out;
  return r.status == 0 ? Json::parse(r.out) : Json::array();
}

const Json* FindKind(const Json& docs, const std::string& kind) {
  for (const Json& d : docs) {
    if (d.is_object() && d.value("kind", "") == kind) {
      return &d;
    }
  }
  return nullptr;
}

const Json* FindContainer(const Json& pod_spec, const std::string& name) {
  for (const Json& c : pod_spec["containers"]) {
    if (c.value("name", "") == name) {
      return &c;
    }
  }
  return nullptr;
}

// The cgotrace container: runs the exporter on the default port with the
// documented capabilities, and is not privileged.
void ExpectExporterContainer(const Json& pod, const Json& c) {
  SCOPED_TRACE(c.dump());
  const auto args = c["args"].get<std::vector<std::string>>();
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args[0], "exporter");
  EXPECT_THAT(args, ::testing::Contains("--all-go"));
  auto listen = std::find(args.begin(), args.end(), "--listen");
  ASSERT_NE(listen, args.end());
  ASSERT_NE(listen + 1, args.end());
  auto addr = ParseListenAddress(*(listen + 1));
  ASSERT_TRUE(addr) << addr.error().message;
  EXPECT_EQ(addr->port, kExporterDefaultPort);
  ASSERT_EQ(c["ports"].size(), 1u);
  EXPECT_EQ(c["ports"][0]["containerPort"].get<int>(), kExporterDefaultPort);
  const Json& sc = c["securityContext"];
  EXPECT_FALSE(sc.value("privileged", false));
  EXPECT_EQ(sc["capabilities"]["drop"], Json::array({"ALL"}));
  const auto add = sc["capabilities"]["add"].get<std::set<std::string>>();
  EXPECT_EQ(
      add, (std::set<std::string>{"SYS_ADMIN", "BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"}));
  const Json& ann = pod["metadata"]["annotations"];
  EXPECT_EQ(ann.value("prometheus.io/scrape", ""), "true");
  EXPECT_EQ(ann.value("prometheus.io/port", ""), std::to_string(kExporterDefaultPort));
  EXPECT_EQ(ann.value("prometheus.io/path", ""), "/metrics");
}

TEST(ExporterDeployTest, SidecarSharesTheProcessNamespace) {
  Json docs = LoadYaml(Deploy("kubernetes/sidecar.yaml"));
  const Json* dep = FindKind(docs, "Deployment");
  ASSERT_NE(dep, nullptr) << docs.dump();
  const Json& pod = (*dep)["spec"]["template"];
  EXPECT_EQ(pod["spec"].value("shareProcessNamespace", false), true);
  EXPECT_FALSE(pod["spec"].value("hostPID", false));
  const Json* c = FindContainer(pod["spec"], "cgotrace");
  ASSERT_NE(c, nullptr);
  ExpectExporterContainer(pod, *c);
  EXPECT_FALSE(pod["spec"].contains("volumes")) << "no hostPath mounts needed";
}

TEST(ExporterDeployTest, DaemonSetUsesTheHostPidNamespace) {
  Json docs = LoadYaml(Deploy("kubernetes/daemonset.yaml"));
  const Json* ds = FindKind(docs, "DaemonSet");
  ASSERT_NE(ds, nullptr) << docs.dump();
  const Json& pod = (*ds)["spec"]["template"];
  EXPECT_EQ(pod["spec"].value("hostPID", false), true);
  const Json* c = FindContainer(pod["spec"], "cgotrace");
  ASSERT_NE(c, nullptr);
  ExpectExporterContainer(pod, *c);
  EXPECT_EQ((*ds)["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"]);
}

TEST(ExporterDeployTest, ServiceMonitorScrapesTheDaemonSetPort) {
  Json docs = LoadYaml(Deploy("kubernetes/servicemonitor.yaml"));
  Json ds_docs = LoadYaml(Deploy("kubernetes/daemonset.yaml"));
  const Json* svc = FindKind(docs, "Service");
  const Json* sm = FindKind(docs, "ServiceMonitor");
  const Json* ds = FindKind(ds_docs, "DaemonSet");
  ASSERT_TRUE(svc && sm && ds);
  EXPECT_EQ((*svc)["spec"]["selector"], (*ds)["spec"]["template"]["metadata"]["labels"]);
  EXPECT_EQ((*svc)["spec"]["ports"][0]["port"].get<int>(), kExporterDefaultPort);
  EXPECT_EQ((*sm)["spec"]["endpoints"][0]["port"], (*svc)["spec"]["ports"][0]["name"]);
  EXPECT_EQ((*sm)["spec"]["selector"]["matchLabels"], (*svc)["metadata"]["labels"]);
  EXPECT_EQ((*sm)["metadata"]["namespace"], (*ds)["metadata"]["namespace"]);
  const Json* pm = FindKind(docs, "PodMonitor");
  Json side = LoadYaml(Deploy("kubernetes/sidecar.yaml"));
  ASSERT_TRUE(pm && FindKind(side, "Deployment"));
  const Json& labels = (*FindKind(side, "Deployment"))["spec"]["template"]["metadata"]["labels"];
  for (const auto& [k, v] : (*pm)["spec"]["selector"]["matchLabels"].items()) {
    EXPECT_EQ(labels.value(k, ""), v) << k;
  }
}

TEST(ExporterDeployTest, PromtoolAcceptsTheAlertRules) {
  CommandResult r = Shell("promtool check rules " + Deploy("prometheus/alerts.yml"));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("SUCCESS"));
}

// Metric names the exporter serves, from a scrape of a populated aggregation.
std::set<std::string> ServedMetricNames() {
  ExporterMetrics m(10);
  m.SetKernelRows(KernelRows().Call("app", "f", 1000, 512, 300).Callback("app", "cb").rows());
  ExporterSelfStats self;
  self.binaries = {{"/app", "app", 0, 4, "", ""}};
  std::set<std::string> names;
  for (const auto& [sample, value] : Samples(RenderExpositionText(m.Collect(self)))) {
    names.insert(sample.substr(0, sample.find('{')));
  }
  return names;
}

// Every cgotrace_* name a query mentions must be one the exporter serves.
void ExpectKnownMetrics(const std::string& text, const std::string& where) {
  static const std::set<std::string> served = ServedMetricNames();
  static const std::regex name(R"(cgotrace_[a-z_]+)");
  int found = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), name); it != std::sregex_iterator();
       ++it) {
    ++found;
    EXPECT_TRUE(served.contains(it->str())) << where << " uses unknown metric " << it->str();
  }
  EXPECT_GT(found, 0) << where;
}

TEST(ExporterDeployTest, DashboardAndAlertsUseServedMetrics) {
  std::ifstream in(Deploy("grafana/cgotrace-dashboard.json"));
  ASSERT_TRUE(in) << Deploy("grafana/cgotrace-dashboard.json");
  Json dash = Json::parse(in, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(dash.is_discarded()) << "dashboard is not valid JSON";
  ASSERT_TRUE(dash["panels"].is_array());
  ASSERT_FALSE(dash["panels"].empty());
  for (const Json& panel : dash["panels"]) {
    for (const Json& target : panel["targets"]) {
      ExpectKnownMetrics(target["expr"].get<std::string>(), panel.value("title", "?"));
    }
  }
  Json rules = LoadYaml(Deploy("prometheus/alerts.yml"));
  ASSERT_EQ(rules.size(), 1u);
  for (const Json& group : rules[0]["groups"]) {
    for (const Json& rule : group["rules"]) {
      ExpectKnownMetrics(rule["expr"].get<std::string>(), rule.value("alert", "?"));
    }
  }
}

TEST(ExporterDeployTest, DockerfileAndSystemdUnitUseTheDefaultPort) {
  std::ifstream docker(Deploy("Dockerfile"));
  std::stringstream d;
  d << docker.rdbuf();
  const std::string port = std::to_string(kExporterDefaultPort);
  EXPECT_THAT(d.str(), HasSubstr("EXPOSE " + port));
  EXPECT_THAT(d.str(), HasSubstr("scripts/install-deps.sh"));
  EXPECT_THAT(d.str(), HasSubstr("scripts/build.sh"));
  std::ifstream unit(Deploy("systemd/cgotrace-exporter.service"));
  std::stringstream u;
  u << unit.rdbuf();
  EXPECT_THAT(u.str(), HasSubstr("ExecStart=/usr/local/bin/cgotrace exporter --listen :" + port));
  EXPECT_THAT(u.str(), HasSubstr("CapabilityBoundingSet=CAP_SYS_ADMIN CAP_BPF CAP_PERFMON "
                                 "CAP_SYS_PTRACE CAP_DAC_READ_SEARCH"));
}

}  // namespace
}  // namespace cgotrace
