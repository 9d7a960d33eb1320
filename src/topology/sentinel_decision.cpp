#include "redis_session/detail/sentinel_decision.hpp"

#include <algorithm>
#include <utility>

#include "redis_session/detail/slot_map.hpp"
#include "redis_session/redis/topology.hpp"

namespace redis_session::detail::sentinel {

using redis::Reply;

namespace {

// A field of a reply that is a flat list of names and values.
std::string field_of(const Reply& map, std::string_view name) {
  for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2) {
    if (map.elements[i].str == name) return map.elements[i + 1].str;
  }
  return {};
}

std::uint16_t port_of(const std::string& text) {
  return redis::parse_host_port("x:" + text).second;
}

bool has(const std::string& flags, std::string_view flag) {
  return flags.find(flag) != std::string::npos;
}

Action refuse(Action::Kind kind, Action::Why why, std::string message) {
  return Action{kind, why, std::move(message)};
}

}  // namespace

std::string address_of(std::string_view endpoint) {
  constexpr std::string_view tls = "rediss://";
  if (endpoint.substr(0, tls.size()) == tls) endpoint.remove_prefix(tls.size());
  return std::string(endpoint);
}

std::optional<NamedMaster> parse_master_addr(const Reply& r) {
  if (!r.is_array() || r.elements.size() != 2) return std::nullopt;
  return NamedMaster{r.elements[0].str, port_of(r.elements[1].str)};
}

bool reports_failover(const Reply& master) {
  return has(field_of(master, "flags"), "failover_in_progress");
}

std::optional<std::vector<std::string>> parse_replicas(const Reply& r) {
  if (!r.is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const Reply& entry : r.elements) {
    const std::string ip = field_of(entry, "ip");
    const std::string port = field_of(entry, "port");
    const std::string flags = field_of(entry, "flags");
    if (ip.empty() || port.empty() || has(flags, "s_down") || has(flags, "disconnected")) continue;
    out.push_back(endpoint_of(ip, port_of(port)));
  }
  return out;
}

std::optional<std::string> parse_role(const Reply& r) {
  if (!r.is_array() || r.elements.empty()) return std::nullopt;
  return r.elements[0].str;
}

std::string FenceReason::text() const {
  return kind == Kind::failover_in_progress ? "sentinel " + node + " reports a failover in progress"
                                            : "replica " + node + " says it is a master";
}

bool writable(const State& s, std::string_view endpoint) {
  return address_of(endpoint) == s.master && !s.fence;
}

bool followable(const State& s, std::string_view endpoint) {
  return s.left.count(address_of(endpoint)) == 0;
}

bool follow(State& s, std::string_view endpoint, Clock::time_point now) {
  std::string address = address_of(endpoint);
  if (address == s.master || s.left.count(address) != 0) return false;
  if (!s.master.empty()) s.left[s.master] = now;
  s.master = std::move(address);
  s.fence.reset();
  return true;
}

void promote(State& s, const std::string& address) {
  auto it = std::find(s.sentinels.begin(), s.sentinels.end(), address);
  if (it != s.sentinels.end()) std::rotate(s.sentinels.begin(), it, it + 1);
}

Action before_connect(const State& s, const std::string& master_name) {
  if (!s.fence) return {};
  return refuse(Action::Kind::hold, Action::Why::fenced,
                "failover of '" + master_name + "' under way: " + s.fence->text() +
                    " is being promoted; no writes to " + s.master + " meanwhile");
}

Action on_named(const State& s, const std::string& sentinel, const std::optional<std::string>& named,
                const std::string& master_name) {
  if (!named) {
    return refuse(Action::Kind::ask_next, Action::Why::unknown_master,
                  sentinel + " does not know master '" + master_name + "'");
  }
  if (!followable(s, *named)) {
    return refuse(Action::Kind::ask_next, Action::Why::stale_master,
                  sentinel + " still names " + *named + ", the master before a failover");
  }
  return {};
}

Action none_named(std::size_t asked, const std::string& last, const std::string& master_name) {
  return refuse(
      Action::Kind::fail, Action::Why::no_master_named,
      "no sentinel (of " + std::to_string(asked) + ") named a master for '" + master_name + "'; last: " + last);
}

Action on_role(const std::optional<std::string>& role, const std::string& endpoint, const std::string& master_name) {
  if (role == "master") return {};
  // Sentinels are still promoting the replica, or were told about a
  // failover this server has not seen yet: not a place to write.
  return refuse(Action::Kind::fail, Action::Why::not_a_master,
                endpoint + ", named master '" + master_name +
                    "' by the sentinels, is not a master (ROLE: " + role.value_or("?") + ")");
}

std::vector<std::string> role_targets(const State& s, std::vector<std::string> listed) {
  for (const auto& [endpoint, since] : s.left) listed.push_back(endpoint);
  std::sort(listed.begin(), listed.end());
  listed.erase(std::unique(listed.begin(), listed.end()), listed.end());
  return listed;
}

WatchAction on_watch(State& s, const Observations& seen, std::chrono::milliseconds promotion_fence,
                     Clock::time_point now) {
  using Kind = FenceReason::Kind;
  const bool fencing = promotion_fence.count() > 0;
  for (const std::string& endpoint : seen.replicas) {
    s.left.erase(endpoint);
    s.ignored.erase({Kind::replica_says_master, endpoint});
  }
  for (const std::string& sentinel : seen.quiet) s.ignored.erase({Kind::failover_in_progress, sentinel});
  for (auto it = s.left.begin(); it != s.left.end();) {
    it = now - it->second > left_for ? s.left.erase(it) : std::next(it);
  }

  std::vector<FenceReason> reasons;
  for (const std::string& sentinel : seen.in_progress) reasons.push_back({Kind::failover_in_progress, sentinel});
  for (const std::string& endpoint : seen.claimants) {
    // Without the fence the masters left behind are asked only to learn
    // when they have become replicas.
    if (fencing && endpoint != s.master && s.left.count(endpoint) == 0) {
      reasons.push_back({Kind::replica_says_master, endpoint});
    }
  }
  reasons.erase(
      std::remove_if(reasons.begin(), reasons.end(), [&](const FenceReason& r) { return s.ignored.count(r) != 0; }),
      reasons.end());

  WatchAction action;
  if (reasons.empty()) {
    s.fence.reset();
  } else if (!s.fence) {
    s.fence = reasons.front();
    s.fenced_since = now;
    action.raised = true;
  } else if (now - s.fenced_since >= promotion_fence) {
    // No sentinel named a new master in time: not a failover after all.
    s.ignored.insert(reasons.begin(), reasons.end());
    s.fence.reset();
  }
  const bool fenced = s.fence.has_value();
  for (std::size_t i = 0; i < seen.named.size() && (i == 0 || fenced); ++i) {
    if (follow(s, seen.named[i], now)) {
      action.followed = seen.named[i];
      break;
    }
  }
  return action;
}

}  // namespace redis_session::detail::sentinel
