// The compatibility-matrix binary list shared by the unit test
// (tests/unit/binary/matrix_analysis_test.cpp) and the e2e test
// (tests/e2e/binary/matrix_test.cpp).
//
// One binary per line, '#' starts a comment:
//   <go version> <mode> <arch> <path> [checks]
//   go1.17.13 pie amd64 go1.17.13/pie/cgocalls
// `path` is absolute or relative to the list's directory. `checks` is an
// optional comma-separated subset of launch,attach,inspect (the default is
// every check that applies: live tracing for amd64 binaries, inspect for all,
// the refusal for versions before go1.17).
//
// Which list: $CGOTRACE_MATRIX_LIST when set (scripts/matrix.sh), else the
// quick subset CMake builds (CGOTRACE_MATRIX_QUICK_LIST). A list that cannot
// be read, or a malformed line, is reported through List::error, and the
// tests fail on it: nothing is skipped quietly.
//
// When $CGOTRACE_MATRIX_RESULTS is set, every matrix test appends
// "<version> <mode> <arch> <check> PASS|FAIL" to it, which is how
// scripts/matrix.sh builds docs/compatibility.md.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef CGOTRACE_MATRIX_QUICK_LIST
#error "CGOTRACE_MATRIX_QUICK_LIST must be defined by the build"
#endif

namespace cgotrace::matrix {

struct Entry {
  std::string version;  // exact toolchain version, e.g. "go1.17.13"
  std::string mode;     // default, stripped, pie, extlink, static, race, trimpath, v3, cxxlib
  std::string arch;     // amd64, arm64
  std::string path;     // absolute
  std::set<std::string> checks;
  int minor = -1;  // 17 for go1.17.13

  // go1.16 and older: cgotrace must refuse the binary.
  bool Supported() const { return minor >= 17; }
  bool Live() const { return arch == "amd64" && Supported(); }
  bool Has(const std::string& check) const { return checks.count(check) != 0; }
  // The program: cgocalls, or cxxcalls (the C++ library fixture).
  std::string Program() const { return path.substr(path.find_last_of('/') + 1); }
  // A GoogleTest-safe name: go1_17_13_pie_amd64.
  std::string Name() const {
    std::string n = version + "_" + mode + "_" + arch;
    for (char& c : n) {
      if (!isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return n;
  }
  std::string Describe() const { return version + " " + mode + " " + arch + " (" + path + ")"; }
};

// Names the entry in GoogleTest messages instead of dumping its bytes.
inline void PrintTo(const Entry& e, std::ostream* os) { *os << e.Describe(); }

struct List {
  std::string source;  // the file read
  std::string error;   // why the list is unusable; empty if fine
  std::vector<Entry> entries;
};

inline int MinorOf(const std::string& version) {
  int major = 0, minor = -1;
  if (sscanf(version.c_str(), "go%d.%d", &major, &minor) != 2 || major != 1) return -1;
  return minor;
}

inline List LoadList() {
  List list;
  const char* env = std::getenv("CGOTRACE_MATRIX_LIST");
  list.source = env != nullptr && *env != '\0' ? env : CGOTRACE_MATRIX_QUICK_LIST;
  std::ifstream in(list.source);
  if (!in) {
    list.error = "cannot read the matrix list " + list.source +
                 (env ? " ($CGOTRACE_MATRIX_LIST)" : " (built by CMake: ninja matrix_fixtures)");
    return list;
  }
  const std::string dir = list.source.substr(0, list.source.find_last_of('/') + 1);
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (auto hash = line.find('#'); hash != std::string::npos) line.resize(hash);
    std::istringstream fields(line);
    Entry e;
    std::string checks;
    if (!(fields >> e.version)) continue;  // blank or comment
    if (!(fields >> e.mode >> e.arch >> e.path)) {
      list.error = list.source + ":" + std::to_string(line_no) + ": expected 4 or 5 fields";
      return list;
    }
    fields >> checks;
    e.minor = MinorOf(e.version);
    if (e.minor < 0 || (e.arch != "amd64" && e.arch != "arm64")) {
      list.error = list.source + ":" + std::to_string(line_no) + ": bad version or arch";
      return list;
    }
    if (e.path[0] != '/') e.path = dir + e.path;
    if (checks.empty()) {
      if (e.Live()) e.checks = {"launch", "attach"};
      e.checks.insert("inspect");
    } else {
      std::istringstream cs(checks);
      for (std::string c; std::getline(cs, c, ',');) e.checks.insert(c);
    }
    list.entries.push_back(e);
  }
  if (list.entries.empty()) list.error = list.source + " lists no binaries";
  return list;
}

// The list, read once per test binary.
inline const List& TheList() {
  static const List list = LoadList();
  return list;
}

// Entries that have a check (all entries for check == "").
inline std::vector<Entry> EntriesWith(const std::string& check, bool (Entry::*pred)() const) {
  std::vector<Entry> out;
  for (const Entry& e : TheList().entries) {
    if ((check.empty() || e.Has(check)) && (pred == nullptr || (e.*pred)())) out.push_back(e);
  }
  return out;
}

// Appends one result line for scripts/matrix.sh; a no-op unless
// $CGOTRACE_MATRIX_RESULTS is set. One write(2) per line with O_APPEND, so
// lines from concurrent test processes never interleave.
inline void RecordResult(const Entry& e, const std::string& check, bool passed) {
  const char* path = std::getenv("CGOTRACE_MATRIX_RESULTS");
  if (path == nullptr || *path == '\0') return;
  const std::string line = e.version + " " + e.mode + " " + e.arch + " " + check + " " +
                           (passed ? "PASS" : "FAIL") + "\n";
  int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!write(fd, line.data(), line.size());
  close(fd);
}

}  // namespace cgotrace::matrix
