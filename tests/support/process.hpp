#pragma once
// Test support: one child process (a redis-server, redis-cli, the demo, an
// example), started from an argv and reaped by its owner. The child dies with
// the thread that started it (PR_SET_PDEATHSIG), so a crashed test leaves no
// server behind; the destructor SIGKILLs and reaps what still runs. Its stdin
// is /dev/null; where its stdout (and stderr) go is chosen at the start.
//
// An exec that fails (program not installed) makes the child print why on
// stderr and exit 127: status() == 127, and exec_failed() says so.
//
// Thread safety: none; use each object from one thread at a time.

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "support/non_copyable.hpp"

namespace redis_session::test {

struct ProcessOutput {
  // stdout (and stderr with `stderr_too`) into this file, created or
  // truncated; empty: see `fd`.
  std::string file;
  // stdout into this descriptor (a pipe's write end, say; the caller keeps
  // and closes its own copy); -1 with no file: see `discard`.
  int fd = -1;
  // With neither file nor fd: stdout to /dev/null when set, else inherited.
  bool discard = false;
  // stderr goes where stdout goes; else it is inherited.
  bool stderr_too = false;
};

class Process : NonCopyable {
 public:
  // Starts argv[0], searched on PATH when it has no '/'. Throws when it
  // cannot fork or cannot open the output file.
  explicit Process(std::vector<std::string> argv, ProcessOutput output = {});
  ~Process();

  pid_t pid() const { return pid_; }  // -1 once reaped
  // True until it has exited or died of a signal (reaped on the way).
  bool running();
  // Waits at most `limit` for it to end; true when it has.
  bool wait_for(std::chrono::milliseconds limit);
  // Waits for the end, however long it takes; returns status().
  int wait();
  // Sends `signal`, then wait()s.
  void stop(int signal);
  void kill();  // stop(SIGKILL): the child dies mid-whatever

  // How it ended, once it has: the exit code, or 128 + the signal that
  // killed it (as a shell reports it); -1 while it runs.
  int status() const { return status_; }
  bool exited_normally() const { return exited_; }
  bool exec_failed() const { return exited_ && status_ == 127; }
  std::string how_it_ended() const;  // "exit 0", "signal 11", "still running"
  std::string command_line() const;  // argv joined by spaces, for messages
  const std::vector<std::string>& argv() const { return argv_; }

 private:
  void reaped(int wait_status);
  std::vector<std::string> argv_;
  pid_t pid_ = -1;
  int status_ = -1;
  bool exited_ = false;
};

}  // namespace redis_session::test
