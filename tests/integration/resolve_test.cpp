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
#include "support/redis_server.hpp"

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
  if (name == "once-silent.resolver.test") {  // silent the first time, then answers at once
    static std::atomic<int> calls{0};
    if (calls.fetch_add(1) == 0) {
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
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
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
// more), so threads piled up for as long as the outage lasted. Connects to
// a name whose lookup is still running now wait for that one.
TEST(Resolve, ConnectsToASilentNameShareOneLookup) {
  wait_for_silent_lookups(silent_lookups_started.load());  // none left from another test
  const int started = silent_lookups_started.load();
  std::atomic<int> timeouts{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 3; ++i) {  // 900 ms of tries, all within the one lookup's 3 s
        try {
          redis::Connection c(named("silent.resolver.test", 6379, 300ms));
        } catch (const TimeoutError&) {
          timeouts.fetch_add(1);
        }
      }
    });
  }
  for (std::thread& c : callers) c.join();
  EXPECT_EQ(timeouts.load(), 12);
  EXPECT_EQ(silent_lookups_started.load() - started, 1) << "lookups started for 12 connects";
  std::printf("[ figures ] silent resolver: 12 connects from 4 threads, %d lookup thread(s)\n",
              silent_lookups_started.load() - started);
  // Once it has ended, the next connect asks again.
  wait_for_silent_lookups(started + 1);
  EXPECT_THROW(redis::Connection(named("silent.resolver.test", 6379, 100ms)), TimeoutError);
  EXPECT_EQ(silent_lookups_started.load() - started, 2);
  wait_for_silent_lookups(started + 2);
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
