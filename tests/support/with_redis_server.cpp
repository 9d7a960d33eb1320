// Smoke-test driver: starts a throwaway redis-server, runs the given program
// with every "{url}" argument replaced by the server's URL, and returns the
// program's exit status. Usage: with_redis_server PROGRAM [ARGS...]
#include <iostream>
#include <string>
#include <vector>

#include "support/process.hpp"
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
  redis_session::test::Process program(args);  // its output is ours: ctest shows it
  program.wait();
  return program.exited_normally() ? program.status() : 1;
}
