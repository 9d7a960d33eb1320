// Smoke-test driver: starts a throwaway redis-server, runs the given program
// with every "{url}" argument replaced by the server's URL, and returns the
// program's exit status. Usage: with_redis_server PROGRAM [ARGS...]
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "support/redis_server.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: with_redis_server PROGRAM [ARGS...]\n";
    return 2;
  }
  redis_session::test::RedisServer server;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    for (auto pos = a.find("{url}"); pos != std::string::npos; pos = a.find("{url}")) a.replace(pos, 5, server.url());
    args.push_back(a);
  }
  std::vector<char*> cargs;
  for (auto& a : args) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::execv(cargs[0], cargs.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
