#pragma once
// A gtest fixture whose suite shares one redis-server: started before the
// suite's first test, stopped after its last. Starting a server takes tens of
// milliseconds; a suite of many small tests shares one, each test keeping to
// keys of its own.
//
// Thread safety: server_ may be used from any test thread while the suite runs.

#include <gtest/gtest.h>

#include "support/redis_server.hpp"

namespace redis_session::test {

// `Tls`: the server also listens for TLS (server_->tls_options()).
template <bool Tls>
class SharedRedisServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    RedisServerOptions options;
    options.tls = Tls;
    server_ = new RedisServer(options);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  static inline RedisServer* server_ = nullptr;
};

}  // namespace redis_session::test
