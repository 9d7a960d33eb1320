#include "redis_session/detail/router.hpp"

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <utility>

#include "redis_session/error.hpp"

namespace redis_session::detail {

using redis::Connection;
using redis::ConnectionOptions;
using redis::Reply;
using Clock = std::chrono::steady_clock;

std::string endpoint_of(std::string_view host, std::uint16_t port) {
  std::string out = host.find(':') != std::string_view::npos ? "[" + std::string(host) + "]" : std::string(host);
  return out + ":" + std::to_string(port);
}

std::shared_ptr<Node> Router::redirected(std::uint16_t, std::string_view endpoint, bool) {
  throw ProtocolError("redirection to " + std::string(endpoint) + " from a server that is not in a cluster");
}

namespace {

ConnectionOptions at(const ConnectionOptions& base, const std::string& endpoint) {
  ConnectionOptions o = base;
  auto [host, port] = redis::parse_host_port(endpoint);
  o.host = std::move(host);
  o.port = port;
  o.unix_path.clear();
  return o;
}

// The sentinels, ROLE and SENTINEL REPLICAS speak of "host:port", while
// ConnectionOptions::endpoint() (and so Connection::endpoint()) reads
// "rediss://host:port" under TLS. SentinelRouter keys its masters by the
// plain address, whichever form it is given.
std::string address_of(std::string_view endpoint) {
  constexpr std::string_view tls = "rediss://";
  if (endpoint.substr(0, tls.size()) == tls) endpoint.remove_prefix(tls.size());
  return std::string(endpoint);
}

// ---------------------------------------------------------------- one server

class StandaloneRouter final : public Router {
 public:
  explicit StandaloneRouter(std::shared_ptr<ConnectionPool> pool)
      : node_(std::make_shared<Node>(Node{"", std::move(pool)})) {}
  std::shared_ptr<Node> node_for(std::uint16_t) override { return node_; }
  std::vector<std::shared_ptr<Node>> primaries() override { return {node_}; }

 private:
  std::shared_ptr<Node> node_;
};

// ---------------------------------------------------------------- sentinel

// One pool whose connections go to whichever server the sentinels name as
// the master. Every new connection asks the sentinels first and checks ROLE,
// so a reconnect follows a failover; a watcher thread asks every
// watch_interval too, because connections to a demoted master keep working
// (and accepting writes that are lost) until Sentinel reconfigures it. When
// the answer changes, the idle connections to the old master are dropped and
// busy ones are closed when they come back (is_broken).
//
// The sentinels name the new master only after they have seen the promoted
// replica report its new role, up to a second after it stopped replicating;
// what the old master accepts meanwhile is lost. So the watcher also asks the
// replicas for their ROLE: one that says "master" while the sentinels still
// name another is being promoted, and the store sends nothing to the old
// master (the fence) until a sentinel names the new one, for at most
// promotion_fence. A master the store has left is not followed again (a
// sentinel that has not heard of the failover yet still names it) until it
// has been seen as a replica, or for a minute.
class SentinelRouter final : public Router {
 public:
  SentinelRouter(ConnectionOptions base, redis::SentinelOptions sentinel, PoolOptions pool_options)
      : base_(std::move(base)), sentinel_(std::move(sentinel)) {
    retry_window = sentinel_.retry_window;
    retry_backoff = sentinel_.retry_backoff;
    PoolHooks<Connection> hooks;
    hooks.create = [this] { return connect_master(); };
    hooks.validate = [this](Connection& c) { return c.ping() && writable(c.endpoint()); };
    hooks.is_broken = [this](const Connection& c) { return c.broken() || !writable(c.endpoint()); };
    node_ = std::make_shared<Node>(
        Node{"sentinel:" + sentinel_.master_name, std::make_shared<ConnectionPool>(std::move(hooks), pool_options)});
    watcher_ = std::thread([this] { watch(); });
  }
  ~SentinelRouter() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    watcher_.join();
    node_->pool->close();
  }

  std::shared_ptr<Node> node_for(std::uint16_t) override { return node_; }
  std::vector<std::shared_ptr<Node>> primaries() override { return {node_}; }

  void refresh() noexcept override {
    try {
      follow(resolve());
    } catch (const std::exception&) {
      // No sentinel answered: the next connect tries again and reports it.
    }
  }

 private:
  std::unique_ptr<Connection> connect_master() {
    {
      std::lock_guard lock(mutex_);
      if (!fenced_by_.empty()) {
        throw ConnectError("failover of '" + sentinel_.master_name + "' under way: " + fenced_by_ +
                           " is being promoted; no writes to " + master_ + " meanwhile");
      }
    }
    ConnectionOptions options = resolve();
    follow(options);
    auto connection = std::make_unique<Connection>(options);
    Reply role = connection->command({"ROLE"});
    if (!role.is_array() || role.elements.empty() || role.elements[0].str != "master") {
      // Sentinels are still promoting the replica, or were told about a
      // failover this server has not seen yet: not a place to write.
      throw ConnectError(options.endpoint() + ", named master '" + sentinel_.master_name +
                         "' by the sentinels, is not a master (ROLE: " +
                         (role.is_array() && !role.elements.empty() ? role.elements[0].str : "?") + ")");
    }
    return connection;
  }

  bool writable(const std::string& endpoint) const {
    std::lock_guard lock(mutex_);
    return address_of(endpoint) == master_ && fenced_by_.empty();
  }

  // Every watch_interval: asks the sentinels for the master (one is enough
  // without the fence; with it, all of them, their failover state, and the
  // ROLE of the replicas and of the masters left behind), then follows.
  void watch() {
    std::map<std::string, std::unique_ptr<Connection>> connections;  // by "sentinel <address>" / data endpoint
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      std::vector<std::string> order = sentinel_.sentinels;
      lock.unlock();
      look(order, connections);
      lock.lock();
      wake_.wait_for(lock, sentinel_.watch_interval, [this] { return stopping_; });
    }
  }

  // A field of a reply that is a flat list of names and values.
  static std::string field_of(const Reply& map, std::string_view name) {
    for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2) {
      if (map.elements[i].str == name) return map.elements[i + 1].str;
    }
    return {};
  }

  void look(const std::vector<std::string>& order, std::map<std::string, std::unique_ptr<Connection>>& connections) {
    const bool fencing = sentinel_.promotion_fence.count() > 0;
    std::vector<ConnectionOptions> named;  // each answering sentinel's master, in order
    std::vector<std::string> reasons;      // to hold writes back
    std::vector<std::string> over;         // reasons seen to be over
    std::vector<std::string> targets;      // data nodes to ask for ROLE
    std::set<std::string> used;
    bool listed = false;
    for (const std::string& address : order) {
      const std::string name = "sentinel " + address;
      used.insert(name);
      std::unique_ptr<Connection>& c = connections[name];
      try {
        if (!c || c->broken()) c = std::make_unique<Connection>(sentinel_options(address));
        ConnectionOptions master;
        if (ask(*c, master)) named.push_back(std::move(master));
        if (!fencing) {
          if (named.empty()) continue;
          break;
        }
        const std::string flags = field_of(c->command({"SENTINEL", "MASTER", sentinel_.master_name}), "flags");
        (flags.find("failover_in_progress") != std::string::npos ? reasons : over)
            .push_back(name + " reports a failover in progress");
        if (listed) continue;
        Reply replicas = c->command({"SENTINEL", "REPLICAS", sentinel_.master_name});
        listed = replicas.is_array();
        for (const Reply& entry : replicas.elements) {
          const std::string ip = field_of(entry, "ip");
          const std::string port = field_of(entry, "port");
          const std::string state = field_of(entry, "flags");
          if (ip.empty() || port.empty() || state.find("s_down") != std::string::npos ||
              state.find("disconnected") != std::string::npos) {
            continue;
          }
          targets.push_back(endpoint_of(ip, redis::parse_host_port("x:" + port).second));
        }
      } catch (const Error&) {
        c.reset();  // again next time
      }
    }
    {
      // The masters left behind, fence or not: one the sentinels have turned
      // into a replica may be named master again (a failback), and must be
      // followable then, not only once left_ forgets it after a minute.
      std::lock_guard lock(mutex_);
      for (const auto& [endpoint, since] : left_) targets.push_back(endpoint);
    }
    std::sort(targets.begin(), targets.end());
    targets.erase(std::unique(targets.begin(), targets.end()), targets.end());

    std::vector<std::string> claimants;  // say "master"
    std::vector<std::string> replicas_now;
    for (const std::string& endpoint : targets) {
      used.insert(endpoint);
      std::unique_ptr<Connection>& c = connections[endpoint];
      try {
        if (!c || c->broken()) c = std::make_unique<Connection>(probe_options(endpoint));
        Reply role = c->command({"ROLE"});
        if (!role.is_array() || role.elements.empty()) continue;
        (role.elements[0].str == "master" ? claimants : replicas_now).push_back(endpoint);
      } catch (const Error&) {
        c.reset();
      }
    }
    for (auto it = connections.begin(); it != connections.end();) {
      it = used.count(it->first) != 0 ? std::next(it) : connections.erase(it);
    }

    bool raised = false;
    bool fenced = false;
    {
      std::lock_guard lock(mutex_);
      const Clock::time_point now = Clock::now();
      for (const std::string& endpoint : replicas_now) {
        left_.erase(endpoint);
        ignored_.erase("replica " + endpoint + " says it is a master");
      }
      for (const std::string& reason : over) ignored_.erase(reason);
      for (auto it = left_.begin(); it != left_.end();) {
        it = now - it->second > std::chrono::minutes(1) ? left_.erase(it) : std::next(it);
      }
      for (const std::string& endpoint : claimants) {
        // Without the fence the masters left behind are asked only to learn
        // when they have become replicas.
        if (fencing && endpoint != master_ && left_.count(endpoint) == 0) {
          reasons.push_back("replica " + endpoint + " says it is a master");
        }
      }
      reasons.erase(std::remove_if(reasons.begin(), reasons.end(),
                                   [&](const std::string& r) { return ignored_.count(r) != 0; }),
                    reasons.end());
      if (reasons.empty()) {
        fenced_by_.clear();
      } else if (fenced_by_.empty()) {
        fenced_by_ = reasons.front();
        fenced_since_ = now;
        raised = true;
      } else if (now - fenced_since_ >= sentinel_.promotion_fence) {
        // No sentinel named a new master in time: not a failover after all.
        ignored_.insert(reasons.begin(), reasons.end());
        fenced_by_.clear();
      }
      fenced = !fenced_by_.empty();
    }
    if (raised) node_->pool->drop_idle();
    // While fenced, a sentinel that names another master than ours knows of
    // the failover (the one leading it names the promoted replica first); one
    // that names a master we left has not heard of it yet.
    for (std::size_t i = 0; i < named.size() && (i == 0 || fenced); ++i) {
      if (followable(named[i].endpoint()) && follow(named[i])) break;
    }
  }

  ConnectionOptions sentinel_options(const std::string& address) const {
    ConnectionOptions options;
    auto [host, port] = redis::parse_host_port(address);
    options.host = host;
    options.port = port;
    options.username = sentinel_.username;
    options.password = sentinel_.password;
    options.client_name = base_.client_name;
    options.connect_timeout = sentinel_.sentinel_timeout;
    options.command_timeout = sentinel_.sentinel_timeout;
    return options;
  }

  // A data node, for ROLE only: the data nodes' credentials and TLS, the
  // sentinels' (short) timeouts.
  ConnectionOptions probe_options(const std::string& endpoint) const {
    ConnectionOptions options = at(base_, endpoint);
    options.connect_timeout = sentinel_.sentinel_timeout;
    options.command_timeout = sentinel_.sentinel_timeout;
    return options;
  }

  // SENTINEL get-master-addr-by-name; false when this sentinel does not know it.
  bool ask(Connection& sentinel, ConnectionOptions& master) const {
    Reply r = sentinel.command({"SENTINEL", "get-master-addr-by-name", sentinel_.master_name});
    if (!r.is_array() || r.elements.size() != 2) return false;
    master = base_;
    master.host = r.elements[0].str;
    master.port = redis::parse_host_port("x:" + r.elements[1].str).second;
    master.unix_path.clear();
    return true;
  }

  // Asks the sentinels in order; the first that names a master the store
  // may follow moves to the front.
  ConnectionOptions resolve() {
    std::vector<std::string> order;
    {
      std::lock_guard lock(mutex_);
      order = sentinel_.sentinels;
    }
    std::string last_error = "no answer";
    for (const std::string& address : order) {
      try {
        Connection connection(sentinel_options(address));
        ConnectionOptions master;
        if (!ask(connection, master)) {
          last_error = address + " does not know master '" + sentinel_.master_name + "'";
          continue;
        }
        if (!followable(master.endpoint())) {
          last_error = address + " still names " + master.endpoint() + ", the master before a failover";
          continue;
        }
        promote(address);
        return master;
      } catch (const Error& e) {
        last_error = address + ": " + e.what();
      }
    }
    throw ConnectError("no sentinel (of " + std::to_string(order.size()) + ") named a master for '" +
                       sentinel_.master_name + "'; last: " + last_error);
  }

  void promote(const std::string& address) {
    std::lock_guard lock(mutex_);
    auto it = std::find(sentinel_.sentinels.begin(), sentinel_.sentinels.end(), address);
    if (it != sentinel_.sentinels.end()) std::rotate(sentinel_.sentinels.begin(), it, it + 1);
  }

  bool followable(const std::string& endpoint) const {
    std::lock_guard lock(mutex_);
    return left_.count(address_of(endpoint)) == 0;
  }

  // True when the master changed.
  bool follow(const ConnectionOptions& master) {
    std::string endpoint = address_of(master.endpoint());
    {
      std::lock_guard lock(mutex_);
      if (endpoint == master_ || left_.count(endpoint) != 0) return false;
      if (!master_.empty()) left_[master_] = Clock::now();
      master_ = std::move(endpoint);
      fenced_by_.clear();
    }
    node_->pool->drop_idle();
    return true;
  }

  const ConnectionOptions base_;
  mutable std::mutex mutex_;
  redis::SentinelOptions sentinel_;  // sentinels reordered under mutex_
  std::string master_;               // address_of() the master, "host:port"; under mutex_
  std::map<std::string, Clock::time_point> left_;  // masters followed away from (address_of), and when; under mutex_
  std::string fenced_by_;            // why writes are held back (empty: they are not); under mutex_
  Clock::time_point fenced_since_;   // under mutex_
  std::set<std::string> ignored_;    // reasons that lasted past promotion_fence unconfirmed; under mutex_
  bool stopping_ = false;            // under mutex_
  std::condition_variable wake_;
  std::shared_ptr<Node> node_;
  std::thread watcher_;
};

// ---------------------------------------------------------------- cluster

constexpr std::size_t slot_count = 16384;

}  // namespace

// CLUSTER SHARDS (Redis 7): per shard, "slots" [first, last, ...] and
// "nodes", each a flat list of name/value pairs. A shard may list more than
// one node with role "master": after a failover, newer servers keep the
// failed old primary in its shard (health "fail") beside the promoted one.
// The healthiest master serves the shard: "online", then any other state
// ("loading"), then "fail".
bool parse_shards(const Reply& r, bool tls, std::vector<SlotRange>& out) {
  if (!r.is_array()) return false;
  auto rank = [](const std::string& health) { return health == "online" ? 0 : health == "fail" ? 2 : 1; };
  for (const Reply& shard : r.elements) {
    if (!shard.is_array()) return false;
    const Reply* slots = nullptr;
    const Reply* nodes = nullptr;
    for (std::size_t i = 0; i + 1 < shard.elements.size(); i += 2) {
      if (shard.elements[i].str == "slots") slots = &shard.elements[i + 1];
      if (shard.elements[i].str == "nodes") nodes = &shard.elements[i + 1];
    }
    if (!slots || !nodes) return false;
    std::string endpoint;
    int best = 3;
    for (const Reply& node : nodes->elements) {
      std::map<std::string, const Reply*, std::less<>> field;
      for (std::size_t i = 0; i + 1 < node.elements.size(); i += 2) field[node.elements[i].str] = &node.elements[i + 1];
      auto role = field.find("role");
      if (role == field.end() || role->second->str != "master") continue;
      auto ip = field.find("ip");
      auto port = field.find(tls && field.count("tls-port") ? "tls-port" : "port");
      if (ip == field.end() || port == field.end() || !port->second->is_integer()) return false;
      auto health = field.find("health");
      const int score = health == field.end() ? 0 : rank(health->second->str);
      if (score >= best) continue;
      best = score;
      endpoint = endpoint_of(ip->second->str, static_cast<std::uint16_t>(port->second->integer));
    }
    if (endpoint.empty()) continue;  // a shard whose master is gone: its slots have no owner for now
    for (std::size_t i = 0; i + 1 < slots->elements.size(); i += 2) {
      out.push_back({slots->elements[i].integer, slots->elements[i + 1].integer, endpoint});
    }
  }
  return true;
}

namespace {

// CLUSTER SLOTS (before Redis 7): [first, last, [ip, port, id...], replicas...].
bool parse_slots(const Reply& r, const std::string& asked_host, std::vector<SlotRange>& out) {
  if (!r.is_array()) return false;
  for (const Reply& range : r.elements) {
    if (!range.is_array() || range.elements.size() < 3 || !range.elements[2].is_array() ||
        range.elements[2].elements.size() < 2) {
      return false;
    }
    const Reply& master = range.elements[2];
    // An empty host means "the one you asked" (cluster-preferred-endpoint-type unknown-endpoint).
    std::string host = master.elements[0].str.empty() ? asked_host : master.elements[0].str;
    out.push_back({range.elements[0].integer, range.elements[1].integer,
                   endpoint_of(host, static_cast<std::uint16_t>(master.elements[1].integer))});
  }
  return true;
}

// One pool per primary; the slot map says which primary serves which slot.
// The map is learnt from CLUSTER SHARDS (CLUSTER SLOTS on older servers) of
// the first node that answers: known primaries first, then the seeds.
class ClusterRouter final : public Router {
 public:
  ClusterRouter(ConnectionOptions base, redis::ClusterOptions cluster, PoolOptions pool)
      : base_(std::move(base)), cluster_(std::move(cluster)), pool_options_(std::move(pool)), slots_(slot_count) {
    retry_window = cluster_.retry_window;
    retry_backoff = cluster_.retry_backoff;
    max_redirects = cluster_.max_redirects;
    is_cluster = true;
  }

  ~ClusterRouter() override {
    std::lock_guard lock(nodes_mutex_);
    for (auto& [endpoint, node] : nodes_) node->pool->close();
  }

  std::shared_ptr<Node> node_for(std::uint16_t slot) override {
    {
      std::shared_lock lock(map_mutex_);
      if (slots_[slot]) return slots_[slot];
    }
    refresh();
    std::shared_lock lock(map_mutex_);
    if (slots_[slot]) return slots_[slot];
    lock.unlock();
    std::string why;
    {
      std::lock_guard refreshing(refresh_mutex_);
      why = last_error_;
    }
    throw ConnectError("no node of the cluster serves slot " + std::to_string(slot) +
                       (why.empty() ? std::string() : " (" + why + ")"));
  }

  std::shared_ptr<Node> redirected(std::uint16_t slot, std::string_view endpoint, bool moved) override {
    std::shared_ptr<Node> node = node_at(std::string(endpoint));
    if (moved) {
      {
        std::unique_lock lock(map_mutex_);
        slots_[slot] = node;
      }
      // A MOVED rarely comes alone (resharding moves ranges, failover moves
      // every slot of a node): learn the whole map, at most every 100 ms.
      refresh_if_older(std::chrono::milliseconds(100));
    }
    return node;
  }

  void refresh() noexcept override { refresh_if_older(std::chrono::milliseconds(10)); }

  std::vector<std::shared_ptr<Node>> primaries() override {
    std::shared_lock lock(map_mutex_);
    std::vector<std::shared_ptr<Node>> out;
    for (const auto& node : slots_) {
      if (node && std::find(out.begin(), out.end(), node) == out.end()) out.push_back(node);
    }
    if (out.empty()) {
      lock.unlock();
      node_for(0);  // learn the map, or throw why not
      return primaries();
    }
    return out;
  }

 private:
  // Concurrent callers wait for the one refresh in progress and use its map.
  void refresh_if_older(std::chrono::milliseconds age) noexcept {
    Clock::time_point asked = Clock::now();
    std::lock_guard refreshing(refresh_mutex_);
    if (last_refresh_ != Clock::time_point() && last_refresh_ + age > asked) return;
    try {
      std::vector<std::string> candidates;
      for (const auto& node : primaries_snapshot()) candidates.push_back(node->endpoint);
      for (const std::string& seed : cluster_.seeds) {
        if (std::find(candidates.begin(), candidates.end(), seed) == candidates.end()) candidates.push_back(seed);
      }
      for (const std::string& endpoint : candidates) {
        std::vector<SlotRange> ranges;
        if (!fetch(endpoint, ranges)) continue;
        install(ranges);
        last_refresh_ = Clock::now();
        last_error_.clear();
        return;
      }
    } catch (const std::exception& e) {
      last_error_ = e.what();
    }
    last_refresh_ = Clock::now();
  }

  std::vector<std::shared_ptr<Node>> primaries_snapshot() {
    std::shared_lock lock(map_mutex_);
    std::vector<std::shared_ptr<Node>> out;
    for (const auto& node : slots_) {
      if (node && std::find(out.begin(), out.end(), node) == out.end()) out.push_back(node);
    }
    return out;
  }

  // One node's view of the map, on a connection of its own (the pools may be
  // exhausted by the very calls waiting for this map).
  bool fetch(const std::string& endpoint, std::vector<SlotRange>& ranges) {
    try {
      ConnectionOptions options = at(base_, endpoint);
      Connection connection(options);
      Reply shards = connection.execute(redis::Request{"CLUSTER", "SHARDS"})[0];
      if (!shards.is_error()) return parse_shards(shards, base_.tls.enabled, ranges) && !ranges.empty();
      Reply slots = connection.execute(redis::Request{"CLUSTER", "SLOTS"})[0];
      if (slots.is_error()) {
        last_error_ = endpoint + ": " + slots.str;
        return false;
      }
      return parse_slots(slots, options.host, ranges) && !ranges.empty();
    } catch (const Error& e) {
      last_error_ = e.what();
      return false;
    }
  }

  void install(const std::vector<SlotRange>& ranges) {
    std::vector<std::shared_ptr<Node>> map(slot_count);
    for (const SlotRange& range : ranges) {
      if (range.first < 0 || range.last >= static_cast<long long>(slot_count) || range.first > range.last) continue;
      std::shared_ptr<Node> node = node_at(range.endpoint);
      for (long long s = range.first; s <= range.last; ++s) map[static_cast<std::size_t>(s)] = node;
    }
    std::unique_lock lock(map_mutex_);
    slots_.swap(map);
  }

  std::shared_ptr<Node> node_at(const std::string& endpoint) {
    std::lock_guard lock(nodes_mutex_);
    auto it = nodes_.find(endpoint);
    if (it != nodes_.end()) return it->second;
    auto node = std::make_shared<Node>(Node{endpoint, make_connection_pool(at(base_, endpoint), pool_options_)});
    nodes_.emplace(endpoint, node);
    return node;
  }

  const ConnectionOptions base_;
  const redis::ClusterOptions cluster_;
  const PoolOptions pool_options_;

  std::shared_mutex map_mutex_;
  std::vector<std::shared_ptr<Node>> slots_;  // under map_mutex_

  std::mutex nodes_mutex_;
  std::map<std::string, std::shared_ptr<Node>> nodes_;  // every node ever used; under nodes_mutex_

  std::mutex refresh_mutex_;
  Clock::time_point last_refresh_;  // under refresh_mutex_
  std::string last_error_;          // under refresh_mutex_
};

}  // namespace

std::unique_ptr<Router> make_router(const RouterConfig& c) {
  if (c.cluster) return std::make_unique<ClusterRouter>(c.connection, *c.cluster, c.pool);
  if (c.sentinel) return std::make_unique<SentinelRouter>(c.connection, *c.sentinel, c.pool);
  return std::make_unique<StandaloneRouter>(c.shared_pool ? c.shared_pool : make_connection_pool(c.connection, c.pool));
}

}  // namespace redis_session::detail
