// Host names and connect_timeout. getaddrinfo() cannot be cancelled: a
// resolver that does not answer (glibc's defaults: 5 s per try, 2 tries per
// name server) used to hold Connection well past its connect deadline,
// because Asio's resolver waits for the lookup thread after a cancel.
//
// This executable defines getaddrinfo() itself, which takes the place of
// libc's for the whole process: names under `.resolver.test` behave as
// described below, every other name goes to the real one.

#include <dlfcn.h>
#include <netdb.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis/connection.hpp"
#include "support/elapsed.hpp"
#include "support/redis_server.hpp"
#include "support/sanitizers.hpp"

#ifdef REDIS_SESSION_TSAN
// The fork test's child starts a lookup thread in a child of a
// multi-threaded process, which TSan refuses by default.
extern "C" const char* __tsan_default_options() {
  return "die_after_fork=0";
}
#endif

namespace {

using namespace std::chrono_literals;

std::atomic<int> silent_lookups_started{0};
std::atomic<int> silent_lookups_done{0};

}  // namespace

extern "C" int getaddrinfo(const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** res) {
  using Real = int (*)(const char*, const char*, const struct addrinfo*, struct addrinfo**);
  static const Real real = reinterpret_cast<Real>(dlsym(RTLD_NEXT, "getaddrinfo"));
  const std::string_view name = node ? node : "";
  if (name == "silent.resolver.test") {  // a name server that never answers
    silent_lookups_started.fetch_add(1);
    std::this_thread::sleep_for(3s);
    silent_lookups_done.fetch_add(1);
    return EAI_AGAIN;
  }
  // Silent the first time (a lost reply), then answers at once.
  if (name == "once-silent.resolver.test" || name == "lossy.resolver.test") {
    static std::atomic<int> once_silent_calls{0};
    static std::atomic<int> lossy_calls{0};
    if ((name == "lossy.resolver.test" ? lossy_calls : once_silent_calls).fetch_add(1) == 0) {
      std::this_thread::sleep_for(3s);
      return EAI_AGAIN;
    }
    return real("127.0.0.1", service, hints, res);
  }
  if (name == "slow.resolver.test") {  // answers, late but in time
    std::this_thread::sleep_for(300ms);
    return real("127.0.0.1", service, hints, res);
  }
  if (name == "unknown.resolver.test") return EAI_NONAME;
  return real(node, service, hints, res);
}

namespace redis_session {
namespace {

using Clock = std::chrono::steady_clock;

long long ms_since(Clock::time_point start) {
  return test::since(start).count();
}

redis::ConnectionOptions named(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  redis::ConnectionOptions o;
  o.host = host;
  o.port = port;
  o.connect_timeout = timeout;
  return o;
}

void wait_for_silent_lookups(int count) {
  const auto until = Clock::now() + 10s;
  while (silent_lookups_done.load() < count && Clock::now() < until) std::this_thread::sleep_for(10ms);
  EXPECT_GE(silent_lookups_done.load(), count);
  std::this_thread::sleep_for(50ms);  // past the thread's last store
}

TEST(Resolve, ASilentResolverIsBoundedByConnectTimeout) {
  const int before = silent_lookups_done.load();
  const auto start = Clock::now();
  try {
    redis::Connection c(named("silent.resolver.test", 6379, 300ms));
    FAIL() << "connected through a resolver that never answers";
  } catch (const TimeoutError& e) {
    const long long took = ms_since(start);
    std::printf("[ figures ] silent resolver: TimeoutError after %lld ms (connect_timeout 300 ms): %s\n", took,
                e.what());
    EXPECT_GE(took, 290);
    EXPECT_LT(took, 600) << "the deadline waited for getaddrinfo";
    EXPECT_NE(std::string(e.what()).find("resolving"), std::string::npos) << e.what();
  }
  // The lookup still finishes on its own thread, and frees what it holds.
  wait_for_silent_lookups(before + 1);
}

// A pool retries its connects while the name server is silent: each used
// to leave one more thread blocked in getaddrinfo (for glibc's 10 s and
// more), so threads piled up for as long as the outage lasted. A connect
// now waits for the name's latest lookup while that is younger than half its
// connect_timeout, asks again after that, and never runs more than 4
// lookups of one name at once.
TEST(Resolve, ConnectsToASilentNameRunAtMostFourLookups) {
  wait_for_silent_lookups(silent_lookups_started.load());  // none left from another test
  const int started = silent_lookups_started.load();
  std::atomic<int> timeouts{0};
  std::atomic<int> other_errors{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 6; ++i) {  // about 1.8 s of tries, all before the first lookup's 3 s are up
        try {
          redis::Connection c(named("silent.resolver.test", 6379, 300ms));
        } catch (const TimeoutError&) {
          timeouts.fetch_add(1);
        } catch (const Error&) {
          other_errors.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& c : callers) c.join();
  const int lookups = silent_lookups_started.load() - started;
  std::printf("[ figures ] silent resolver: 24 connects from 4 threads over 6 rounds, %d lookup threads\n", lookups);
  EXPECT_EQ(timeouts.load(), 24);
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_EQ(lookups, 4) << "one lookup a round until the cap of 4";
  wait_for_silent_lookups(started + lookups);
}

// One lost reply from the name server must not fail every connect to the
// name until glibc gives up on it: the next connect asks again.
TEST(Resolve, ALookupOlderThanTheConnectTimeoutIsAskedAgain) {
  test::RedisServer server;
  EXPECT_THROW(redis::Connection(named("lossy.resolver.test", server.port(), 300ms)), TimeoutError);
  const auto start = Clock::now();
  redis::Connection c(named("lossy.resolver.test", server.port(), 300ms));
  EXPECT_TRUE(c.ping());
  EXPECT_LT(ms_since(start), 250);
  std::this_thread::sleep_for(2800ms);  // the first lookup ends before the process does
}

// A child forked while a lookup runs has no thread to finish it: its own
// connects to that name must not wait for it.
TEST(Resolve, AChildForkedDuringALookupLooksUpAgain) {
  test::RedisServer server;
  EXPECT_THROW(redis::Connection(named("once-silent.resolver.test", server.port(), 100ms)), TimeoutError);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    int code = 1;
    try {
      redis::Connection c(named("once-silent.resolver.test", server.port(), 1000ms));
      code = c.ping() ? 0 : 2;
    } catch (const TimeoutError&) {
      code = 3;  // waited for the parent's lookup
    } catch (...) {
      code = 4;
    }
    ::_exit(code);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "3: the child waited for a lookup that ran in its parent";
  std::this_thread::sleep_for(3100ms);  // the parent's lookup ends before the process does
}

TEST(Resolve, ASlowAnswerWithinTheDeadlineConnects) {
  test::RedisServer server;
  const auto start = Clock::now();
  redis::Connection c(named("slow.resolver.test", server.port(), 2000ms));
  EXPECT_GE(ms_since(start), 290);
  EXPECT_TRUE(c.ping());
}

TEST(Resolve, ANameIsResolvedAndConnected) {
  test::RedisServer server;
  redis::Connection c(named("localhost", server.port(), 2000ms));
  EXPECT_EQ(c.command({"ECHO", "hi"}).str, "hi");
}

TEST(Resolve, AnUnknownNameIsAConnectError) {
  try {
    redis::Connection c(named("unknown.resolver.test", 6379, 2000ms));
    FAIL() << "connected to a name that does not exist";
  } catch (const ConnectError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown.resolver.test"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace redis_session
