#pragma once
// Shared command line for benchmark programs: `--redis URL` names the server
// to use (without it, the program starts a throwaway redis-server of its
// own), `--quick` shortens the run to a smoke test (ctest uses it). Other
// arguments are left in argv for the program (e.g. Google Benchmark flags).

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "support/redis_server.hpp"

namespace redis_session::test {

struct BenchArgs {
  std::string redis_url;
  bool quick = false;
  std::vector<char*> rest;  // argv without our flags, argv[0] first

  static BenchArgs parse(int argc, char** argv) {
    BenchArgs a;
    a.rest.push_back(argv[0]);
    for (int i = 1; i < argc; ++i) {
      if (std::strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
        a.redis_url = argv[++i];
      } else if (std::strncmp(argv[i], "--redis=", 8) == 0) {
        a.redis_url = argv[i] + 8;
      } else if (std::strcmp(argv[i], "--quick") == 0) {
        a.quick = true;
      } else {
        a.rest.push_back(argv[i]);
      }
    }
    return a;
  }
};

// The server a benchmark talks to: the one named by --redis, or its own.
class BenchServer {
 public:
  explicit BenchServer(const std::string& url) {
    if (url.empty()) {
      own_ = std::make_unique<RedisServer>();
      url_ = own_->url();
    } else {
      url_ = url;
    }
  }
  const std::string& url() const { return url_; }

 private:
  std::unique_ptr<RedisServer> own_;
  std::string url_;
};

}  // namespace redis_session::test
