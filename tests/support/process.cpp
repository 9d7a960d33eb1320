#include "process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <thread>

namespace redis_session::test {

Process::Process(std::vector<std::string> argv, ProcessOutput output) : argv_(std::move(argv)) {
  if (argv_.empty()) throw std::invalid_argument("Process: empty argv");
  // Everything the child needs is made before fork(): between fork and exec
  // only async-signal-safe calls are allowed.
  std::vector<std::string> args = argv_;
  std::vector<char*> cargv;
  for (auto& a : args) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  const std::string failed = "redis_session tests: cannot run " + argv_[0] + " (is it installed?)\n";
  int out = output.fd;
  bool close_out = false;
  if (!output.file.empty()) {
    out = ::open(output.file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) throw std::runtime_error("Process: cannot create " + output.file);
    close_out = true;
  } else if (out < 0 && output.discard) {
    out = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    close_out = out >= 0;
  }
  const int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    if (devnull >= 0) ::dup2(devnull, 0);
    if (out >= 0) {
      ::dup2(out, 1);
      if (output.stderr_too) ::dup2(out, 2);
    }
    ::execvp(cargv[0], cargv.data());
    ssize_t ignored = ::write(2, failed.data(), failed.size());
    (void)ignored;
    ::_exit(127);
  }
  if (devnull >= 0) ::close(devnull);
  if (close_out) ::close(out);
  if (pid < 0) throw std::runtime_error("Process: fork failed for " + argv_[0]);
  pid_ = pid;
}

Process::~Process() {
  kill();
}

void Process::reaped(int wait_status) {
  pid_ = -1;
  exited_ = WIFEXITED(wait_status);
  status_ = exited_ ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
}

bool Process::running() {
  if (pid_ <= 0) return false;
  int wait_status = 0;
  if (::waitpid(pid_, &wait_status, WNOHANG) != pid_) return true;
  reaped(wait_status);
  return false;
}

bool Process::wait_for(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int Process::wait() {
  if (pid_ <= 0) return status_;
  int wait_status = 0;
  pid_t r = 0;
  do {
    r = ::waitpid(pid_, &wait_status, 0);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    reaped(wait_status);
  } else {
    pid_ = -1;  // not our child any more (ECHILD): nothing left to wait for
  }
  return status_;
}

void Process::stop(int signal) {
  if (pid_ <= 0) return;
  ::kill(pid_, signal);
  wait();
}

void Process::kill() {
  stop(SIGKILL);
}

std::string Process::how_it_ended() const {
  if (pid_ > 0 || status_ < 0) return "still running";
  return exited_ ? "exit " + std::to_string(status_) : "signal " + std::to_string(status_ - 128);
}

std::string Process::command_line() const {
  std::string line;
  for (const std::string& a : argv_) line += (line.empty() ? "" : " ") + a;
  return line;
}

}  // namespace redis_session::test
