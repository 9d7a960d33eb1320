#pragma once
// A gtest fixture whose suite shares one redis-server: started before the
// suite's first test, stopped after its last. Tests of one suite use keys of
// their own.

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
