#include "harness.h"

#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#ifndef CGOTRACE_BIN
#error "CGOTRACE_BIN must be defined by the build"
#endif
#ifndef CGOTRACE_FIXTURE_DIR
#error "CGOTRACE_FIXTURE_DIR must be defined by the build"
#endif

namespace cgotrace::e2e {
namespace {

// Short enough not to slow tests down, long enough not to burn a core that
// the tracer and the fixture need on a 2-core machine.
constexpr auto kPollInterval = 5ms;

std::string Tail(const std::string& s, size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

std::string Join(const std::vector<std::string>& argv) {
  std::string out;
  for (const auto& a : argv) {
    if (!out.empty()) out += ' ';
    out += a;
  }
  return out;
}

ExitStatus FromWaitStatus(int st) {
  ExitStatus s;
  if (WIFEXITED(st)) {
    s.exited = true;
    s.code = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    s.signal = WTERMSIG(st);
  }
  return s;
}

}  // namespace

std::string CgotraceBin() { return CGOTRACE_BIN; }

std::string Fixture(std::string_view name) {
  return std::string(CGOTRACE_FIXTURE_DIR) + "/" + std::string(name);
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/cgotrace-e2e.XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "mkdtemp(" << tmpl << "): " << std::strerror(errno);
    return;
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  if (std::getenv("CGOTRACE_E2E_KEEP") != nullptr) {
    std::fprintf(stderr, "keeping %s\n", path_.c_str());
    return;
  }
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ExitStatus::Describe() const {
  std::ostringstream os;
  if (timed_out) os << "timed out, then ";
  if (exited) {
    os << "exited " << code;
  } else {
    os << "killed by signal " << signal << " (" << strsignal(signal) << ")";
  }
  return os.str();
}

Process Process::Start(const std::vector<std::string>& argv, const std::string& stdout_path,
                       const std::string& stderr_path) {
  Process p;
  p.argv_ = argv;
  p.stdout_path_ = stdout_path;
  p.stderr_path_ = stderr_path;
  if (argv.empty()) {
    ADD_FAILURE() << "empty argv";
    return p;
  }

  // Everything the child needs is prepared before fork: only async-signal-safe
  // calls are allowed between fork and exec.
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int out = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  int errpipe[2];
  if (in < 0 || out < 0 || err < 0 || pipe2(errpipe, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "cannot set up I/O for " << Join(argv) << ": " << std::strerror(errno);
    for (int fd : {in, out, err}) {
      if (fd >= 0) close(fd);
    }
    return p;
  }
  const pid_t parent = getpid();

  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);  // parent died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    dup2(in, STDIN_FILENO);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execvp(cargv[0], cargv.data());
    int e = errno;
    (void)!write(errpipe[1], &e, sizeof e);
    _exit(127);
  }
  close(errpipe[1]);
  for (int fd : {in, out, err}) close(fd);
  if (pid < 0) {
    close(errpipe[0]);
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return p;
  }
  setpgid(pid, pid);  // also in the parent, so KillGroup works right away

  // The pipe closes on a successful exec (O_CLOEXEC); otherwise it carries
  // the exec errno.
  int exec_errno = 0;
  ssize_t n;
  do {
    n = read(errpipe[0], &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  close(errpipe[0]);
  if (n == sizeof exec_errno) {
    int st;
    waitpid(pid, &st, 0);
    ADD_FAILURE() << "cannot execute " << argv[0] << ": " << std::strerror(exec_errno);
    return p;
  }
  p.pid_ = pid;
  return p;
}

Process::Process(Process&& other) noexcept { *this = std::move(other); }

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    if (pid_ > 0) KillGroup();
    pid_ = std::exchange(other.pid_, -1);
    argv_ = std::move(other.argv_);
    stdout_path_ = std::move(other.stdout_path_);
    stderr_path_ = std::move(other.stderr_path_);
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

Process::~Process() {
  if (pid_ > 0) KillGroup();
}

bool Process::Running() {
  if (pid_ <= 0 || status_) return false;
  int st;
  pid_t r = waitpid(pid_, &st, WNOHANG);
  if (r == pid_) {
    status_ = FromWaitStatus(st);
    return false;
  }
  return r == 0;
}

std::optional<ExitStatus> Process::Wait(Duration timeout) {
  if (pid_ <= 0) {
    ExitStatus s;
    s.code = 127;
    s.exited = true;
    return s;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
  return status_;
}

ExitStatus Process::WaitOrKill(Duration timeout) {
  if (auto s = Wait(timeout)) return *s;
  KillGroup();
  ExitStatus s = status_.value_or(ExitStatus{});
  s.timed_out = true;
  status_ = s;
  return s;
}

void Process::Signal(int sig) {
  if (pid_ > 0 && Running()) kill(pid_, sig);
}

void Process::KillGroup() {
  if (pid_ <= 0) return;
  // The group may outlive its leader (e.g. a program launched by cgotrace),
  // so kill it even if the leader is gone.
  kill(-pid_, SIGKILL);
  if (!status_) {
    int st;
    if (waitpid(pid_, &st, 0) == pid_) status_ = FromWaitStatus(st);
  }
}

std::string Process::Stdout() const { return ReadFile(stdout_path_); }
std::string Process::Stderr() const { return ReadFile(stderr_path_); }

std::optional<std::string> Process::WaitForLine(Stream stream, std::string_view prefix,
                                                Duration timeout) {
  const std::string& path = stream == Stream::kStdout ? stdout_path_ : stderr_path_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    // Check liveness before reading, so a line written just before exit is
    // still seen.
    const bool running = Running();
    for (const auto& line : Lines(ReadFile(path))) {
      if (line.starts_with(prefix)) return line;
    }
    if (!running || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string Process::Describe() const {
  std::ostringstream os;
  os << "`" << Join(argv_) << "`";
  if (pid_ > 0) os << " (pid " << pid_ << ")";
  os << ": " << (status_ ? status_->Describe() : std::string("running"))
     << "\n  stdout: " << Tail(Stdout(), 1500) << "\n  stderr: " << Tail(Stderr(), 3000);
  return os.str();
}

std::string RunResult::Describe() const {
  return status.Describe() + "\n  stdout: " + Tail(out, 1500) + "\n  stderr: " + Tail(err, 3000);
}

RunResult RunCommand(const std::vector<std::string>& argv, const TempDir& dir, Duration timeout) {
  // Unique names so several runs can share a directory.
  static int counter = 0;
  const std::string stem = dir.File("run" + std::to_string(++counter));
  Process p = Process::Start(argv, stem + ".out", stem + ".err");
  RunResult r;
  r.status = p.WaitOrKill(timeout);
  r.out = p.Stdout();
  r.err = p.Stderr();
  return r;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

std::vector<std::string> Lines(std::string_view text) {
  std::vector<std::string> lines;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) {
      lines.emplace_back(text);
      break;
    }
    lines.emplace_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  return lines;
}

std::optional<Json> ParseJson(std::string_view text, std::string* error) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    if (error) *error = std::string(e.what()) + " in: " + Tail(std::string(text), 500);
    return std::nullopt;
  }
}

std::optional<std::vector<Json>> ReadJsonl(const std::string& path, std::string* error) {
  if (!FileExists(path)) {
    if (error) *error = path + " does not exist";
    return std::nullopt;
  }
  std::vector<Json> out;
  int lineno = 0;
  for (const auto& line : Lines(ReadFile(path))) {
    ++lineno;
    if (line.empty()) continue;
    std::string why;
    auto j = ParseJson(line, &why);
    if (!j || !j->is_object()) {
      if (error) *error = path + ":" + std::to_string(lineno) + ": not a JSON object: " + why;
      return std::nullopt;
    }
    out.push_back(std::move(*j));
  }
  return out;
}

bool WaitForFile(const std::string& path, Duration timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!FileExists(path)) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(kPollInterval);
  }
  return true;
}

pid_t DeadPid() {
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  int st;
  waitpid(pid, &st, 0);
  return pid;
}

std::string BpfUnavailableReason() {
  if (geteuid() != 0) {
    return "the BPF end-to-end tests must run as root (euid is " + std::to_string(geteuid()) + ")";
  }
  // The cheapest real BPF operation: if the kernel refuses to create a map,
  // it will refuse cgotrace's programs too.
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  long fd = syscall(__NR_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
  if (fd < 0) return std::string("bpf(BPF_MAP_CREATE) failed: ") + std::strerror(errno);
  close(static_cast<int>(fd));
  if (!FileExists("/sys/kernel/btf/vmlinux")) return "kernel BTF (/sys/kernel/btf/vmlinux) missing";
  return "";
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

}  // namespace cgotrace::e2e
