#include "redis_session/detail/retry_decision.hpp"

namespace redis_session::detail {

bool is_transient(std::string_view prefix) noexcept {
  return prefix == "TRYAGAIN" || prefix == "CLUSTERDOWN" || prefix == "READONLY" || prefix == "MASTERDOWN" ||
         prefix == "LOADING" || prefix == "NOREPLICAS";
}

RetryDecision decide_after_error_reply(std::string_view text, const RetryContext& context) noexcept {
  const std::string_view prefix = text.substr(0, text.find(' '));
  if (context.is_cluster && context.routed && (prefix == "MOVED" || prefix == "ASK")) {
    if (context.redirects + 1 > context.max_redirects) return {RetryAction::give_back, {}};
    const std::string_view target = text.substr(text.rfind(' ') + 1);
    return {prefix == "ASK" ? RetryAction::follow_ask : RetryAction::follow_moved, target};
  }
  if (is_transient(prefix) && context.backoff_fits) {
    // A slot being migrated (TRYAGAIN) is not a change of the map.
    return {prefix == "TRYAGAIN" ? RetryAction::retry : RetryAction::retry_refresh, {}};
  }
  return {RetryAction::give_back, {}};
}

RetryDecision decide_after_connection_error(bool auth_failed, bool sent, bool idempotent,
                                            const RetryContext& context) noexcept {
  if (auth_failed || (sent && !idempotent) || !context.backoff_fits) return {RetryAction::rethrow, {}};
  return {RetryAction::retry_refresh, {}};
}

}  // namespace redis_session::detail
