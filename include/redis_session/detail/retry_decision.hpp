#pragma once
// What the store's call engine does after one try of a call: the decision
// alone, as a pure function of what the try saw, so that every branch is
// unit-tested without a server (tests/unit/retry_decision_test.cpp). The
// engine (src/store/call_engine.hpp) carries it out: it owns the clock, the
// backoff and the router. Internal.

#include <cstdint>
#include <string_view>

namespace redis_session::detail {

enum class RetryAction : std::uint8_t {
  give_back,      // the reply is the caller's to interpret (a success, or an error not about the topology)
  rethrow,        // the connection error is the caller's
  follow_moved,   // MOVED: send again to `target`, the slot map is stale
  follow_ask,     // ASK: send again to `target`, after ASKING, this once
  retry,          // wait the backoff, then try again on the same map (TRYAGAIN)
  retry_refresh,  // wait the backoff, learn the topology again, then try again
};

struct RetryDecision {
  RetryAction action = RetryAction::give_back;
  std::string_view target;  // "host:port" of a redirect (a view into the reply)
};

// Where the call stands when a try has failed.
struct RetryContext {
  bool is_cluster = false;
  bool routed = true;  // sent to a key's slot (false: to one given node, as SCAN is)
  int redirects = 0;   // MOVED/ASK hops followed so far
  int max_redirects = 0;
  bool backoff_fits = false;  // another wait stays within the retry window
};

// After an error reply (`error_text` is the reply's text). Redirections and
// transient refusals were not executed, so they are safe to send again.
RetryDecision decide_after_error_reply(std::string_view error_text, const RetryContext& context) noexcept;

// After a connection error (unreachable, reset, timed out): after a failover
// another node may answer. A call that may have been applied (`sent`) is
// repeated only when repeating it changes nothing (`idempotent`); a refused
// login never is.
RetryDecision decide_after_connection_error(bool auth_failed, bool sent, bool idempotent,
                                            const RetryContext& context) noexcept;

// Where Redis moves the topology under a call: TRYAGAIN, CLUSTERDOWN,
// READONLY, MASTERDOWN, LOADING, NOREPLICAS (the first word of the error).
bool is_transient(std::string_view prefix) noexcept;

}  // namespace redis_session::detail
