#pragma once
// RedisPoolStore's call engine: runs one call (a closure that sends commands
// on a leased connection) on the node that serves it, following the topology
// as it moves. What to do after a failed try is detail::decide_after_*
// (retry_decision.hpp); this file carries it out: leases, backoff, the
// router's refresh and redirects, ASKING, and EVALSHA with its EVAL fallback.
// Internal to src/store.
//
// Thread safety: every member function may be called concurrently.
// Lifetime: holds references to the store's router and round-trip counter.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "redis_session/detail/lua_scripts.hpp"
#include "redis_session/detail/retry_decision.hpp"
#include "redis_session/detail/router.hpp"
#include "redis_session/error.hpp"
#include "redis_session/redis/connection.hpp"

namespace redis_session::detail {

// A leased connection, and whether each command on it must follow an ASKING
// (the call was redirected by ASK to a node importing the slot).
struct Link {
  redis::Connection& connection;
  bool asking;

  template <class Args>
  redis::Request& push(redis::Request& request, const Args& argv) const {
    if (asking) request.push({"ASKING"});
    return request.push(argv);
  }
  redis::Request& push(redis::Request& request, std::initializer_list<std::string_view> argv) const {
    if (asking) request.push({"ASKING"});
    return request.push(argv);
  }
};

// Where a call goes: the node of a key's slot, or one given node (SCAN).
struct Route {
  std::uint16_t slot = 0;
  std::shared_ptr<Node> node;

  static Route of(std::string_view key) { return {redis::key_slot(key), nullptr}; }
};

class CallEngine {
 public:
  CallEngine(Router& router, std::atomic<std::uint64_t>& round_trips) : router_(router), round_trips_(round_trips) {}

  // f(Link&) -> Reply, on the node of `route`, tried again as the header of
  // redis_pool_store.hpp says. Error replies that are not about the topology
  // are returned for the caller to interpret.
  template <class F>
  redis::Reply run(const Route& route, bool idempotent, F&& f);

  // One round trip; callers need only its first reply (a load's HGETALL, the
  // script's result, the single command's answer).
  redis::Reply first_reply(Link& link, const redis::Request& request);
  redis::Reply first_reply(Link& link, std::initializer_list<std::string_view> argv);
  // The script by EVALSHA, by EVAL when the server's script cache lacks it.
  redis::Reply eval(Link& link, Script which, ScriptArgs& args);

 private:
  template <class F>
  redis::Reply attempt(Node& node, bool idempotent, bool asking, bool& sent, F& f);

  Router& router_;
  std::atomic<std::uint64_t>& round_trips_;
};

// One try on one node. A connection that had worked before and fails before
// any byte of its reply was most likely closed by the server while it sat
// idle (restart, failover, timeout): an idempotent call gets one fresh
// connection, after the pool's other idle ones, as stale, are dropped.
// `sent` says whether anything may have reached the server.
template <class F>
redis::Reply CallEngine::attempt(Node& node, bool idempotent, bool asking, bool& sent, F& f) {
  sent = false;
  auto lease = node.pool->acquire();
  bool reused = lease->round_trips() > 0;
  try {
    sent = true;
    Link link{*lease, asking};
    return f(link);
  } catch (const IoError&) {
    if (!idempotent || !reused || !lease->failed_before_reply()) throw;
  }
  lease.reset();
  node.pool->drop_idle();
  sent = false;
  auto fresh = node.pool->acquire();
  sent = true;
  Link link{*fresh, asking};
  return f(link);
}

template <class F>
redis::Reply CallEngine::run(const Route& route, bool idempotent, F&& f) {
  const auto deadline = std::chrono::steady_clock::now() + router_.retry_window;
  auto backoff = router_.retry_backoff;
  RetryContext context;
  context.is_cluster = router_.is_cluster;
  context.routed = !route.node;
  context.max_redirects = router_.max_redirects;
  auto backoff_fits = [&] {
    return router_.retry_window.count() != 0 && std::chrono::steady_clock::now() + backoff <= deadline;
  };
  std::shared_ptr<Node> node = route.node;
  bool asking = false;
  for (;;) {
    redis::Reply reply;
    RetryDecision next;
    bool sent = false;
    try {
      if (!node) node = router_.node_for(route.slot);
      reply = attempt(*node, idempotent, asking, sent, f);
      if (!reply.is_error()) return reply;
      context.backoff_fits = backoff_fits();
      next = decide_after_error_reply(reply.str, context);
    } catch (const ConnectionError& e) {
      context.backoff_fits = backoff_fits();
      next = decide_after_connection_error(e.errc() == Errc::auth_failed, sent, idempotent, context);
      if (next.action == RetryAction::rethrow) throw;
    }
    switch (next.action) {
      case RetryAction::give_back:
      case RetryAction::rethrow:
        return reply;
      case RetryAction::follow_moved:
      case RetryAction::follow_ask:
        ++context.redirects;
        asking = next.action == RetryAction::follow_ask;
        node = router_.redirected(route.slot, next.target, !asking);
        continue;
      case RetryAction::retry:
      case RetryAction::retry_refresh:
        std::this_thread::sleep_for(backoff);
        backoff = std::min(backoff * 2, router_.retry_backoff * 8);
        if (next.action == RetryAction::retry_refresh) router_.refresh();
        if (context.routed) node.reset();
        asking = false;
        continue;
    }
  }
}

}  // namespace redis_session::detail
