// GET of a 1 KB value: redis_session's Connection against hiredis's own
// blocking redisCommandArgv on a plain redisContext, same server, same run.
// Rounds alternate A B A B so drift on a shared machine hits both alike; the
// ratio is of the medians. Goal: ratio <= 1.10.

#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "redis_session/redis/connection.hpp"
#include "support/bench.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using namespace redis_session;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  auto args = test::BenchArgs::parse(argc, argv);
  test::BenchServer server(args.redis_url);
  redis::ConnectionOptions options = redis::parse_url(server.url());
  const int rounds = args.quick ? 3 : 15;
  const int per_round = args.quick ? 500 : 20000;
  const std::string key = "bench:connection:1k";
  const std::string value(1024, 'v');

  redis::Connection conn(options);
  conn.command({"SET", key, value});

  redisContext* ctx = options.unix_path.empty() ? redisConnect(options.host.c_str(), options.port)
                                                : redisConnectUnix(options.unix_path.c_str());
  if (ctx == nullptr || ctx->err != 0) {
    std::fprintf(stderr, "hiredis could not connect to %s\n", options.endpoint().c_str());
    return 1;
  }
  if (!options.password.empty()) {
    std::vector<const char*> av = {"AUTH"};
    std::vector<size_t> al = {4};
    if (!options.username.empty()) {
      av.push_back(options.username.c_str());
      al.push_back(options.username.size());
    }
    av.push_back(options.password.c_str());
    al.push_back(options.password.size());
    freeReplyObject(redisCommandArgv(ctx, static_cast<int>(av.size()), av.data(), al.data()));
  }
  if (options.db != 0) {
    std::string db = std::to_string(options.db);
    const char* av[] = {"SELECT", db.c_str()};
    size_t al[] = {6, db.size()};
    freeReplyObject(redisCommandArgv(ctx, 2, av, al));
  }

  const char* argv_get[] = {"GET", key.c_str()};
  const size_t len_get[] = {3, key.size()};
  auto run_hiredis = [&] {
    auto start = Clock::now();
    for (int i = 0; i < per_round; ++i) {
      auto* reply = static_cast<redisReply*>(redisCommandArgv(ctx, 2, argv_get, len_get));
      if (reply == nullptr || reply->type != REDIS_REPLY_STRING || reply->len != 1024) {
        std::fprintf(stderr, "hiredis GET failed\n");
        std::exit(1);
      }
      freeReplyObject(reply);
    }
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / per_round;
  };
  redis::Request get{"GET", key};
  std::vector<redis::Reply> replies;
  auto run_connection = [&] {
    auto start = Clock::now();
    for (int i = 0; i < per_round; ++i) {
      conn.execute(get, replies);
      if (replies[0].str.size() != 1024) {
        std::fprintf(stderr, "Connection GET failed\n");
        std::exit(1);
      }
    }
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / per_round;
  };

  run_hiredis();  // warm both paths up
  run_connection();
  std::vector<double> ours, theirs;
  for (int r = 0; r < rounds; ++r) {
    theirs.push_back(run_hiredis());
    ours.push_back(run_connection());
  }
  redisFree(ctx);
  double a = median(ours);
  double b = median(theirs);
  std::printf("GET 1KB via %s, %d rounds x %d, medians\n", options.endpoint().c_str(), rounds, per_round);
  std::printf("hiredis redisCommandArgv: %.2f us/op\n", b);
  std::printf("redis_session Connection: %.2f us/op\n", a);
  std::printf("connection GET 1KB: %.2f us vs hiredis %.2f us, goal <= 1.10, ratio=%.3f\n", a, b, a / b);
  return 0;
}
