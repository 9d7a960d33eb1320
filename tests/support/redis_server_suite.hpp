#pragma once
// A GoogleTest fixture base: one throwaway redis-server shared by all the
// tests of a suite, started before the first and stopped after the last.
// Starting a server takes tens of milliseconds; a suite of many small tests
// shares one, each test keeping to keys of its own.
//
// Thread safety: server_ may be used from any test thread while the suite runs.

#include <gtest/gtest.h>

#include "support/redis_server.hpp"

namespace redis_session::test {

class RedisServerSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new RedisServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  static inline RedisServer* server_ = nullptr;
};

}  // namespace redis_session::test
