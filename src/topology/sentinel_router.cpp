// A Sentinel-watched primary: one pool whose connections follow the master
// the sentinels name. The decisions are sentinel_decision.cpp's; this file
// asks the servers and carries the answers out.

#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <utility>

#include "redis_session/detail/sentinel_decision.hpp"
#include "redis_session/error.hpp"
#include "routers.hpp"

namespace redis_session::detail {
namespace {

using redis::Connection;
using redis::ConnectionOptions;
using redis::Reply;
namespace decide = sentinel;

// Every new connection asks the sentinels first and checks ROLE, so a
// reconnect follows a failover; a watcher thread asks every watch_interval
// too, because connections to a demoted master keep working (and accepting
// writes that are lost) until Sentinel reconfigures it. When the answer
// changes, the idle connections to the old master are dropped and busy ones
// are closed when they come back (is_broken). The watcher also asks the
// replicas and the masters left behind for their ROLE, for the promotion
// fence (see sentinel_decision.hpp).
class SentinelRouter final : public Router {
 public:
  SentinelRouter(ConnectionOptions base, redis::SentinelOptions sentinel, PoolOptions pool_options)
      : base_(std::move(base)), sentinel_(std::move(sentinel)) {
    retry_window = sentinel_.retry_window;
    retry_backoff = sentinel_.retry_backoff;
    state_.sentinels = sentinel_.sentinels;
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
  using Connections = std::map<std::string, std::unique_ptr<Connection>>;  // by "sentinel <address>" / data endpoint

  std::unique_ptr<Connection> connect_master() {
    {
      std::lock_guard lock(mutex_);
      decide::Action held = decide::before_connect(state_, sentinel_.master_name);
      if (held.kind != decide::Action::Kind::use) throw ConnectError(held.message);
    }
    ConnectionOptions options = resolve();
    follow(options);
    auto connection = std::make_unique<Connection>(options);
    decide::Action role =
        decide::on_role(decide::parse_role(connection->command({"ROLE"})), options.endpoint(), sentinel_.master_name);
    if (role.kind != decide::Action::Kind::use) throw ConnectError(role.message);
    return connection;
  }

  bool writable(const std::string& endpoint) const {
    std::lock_guard lock(mutex_);
    return decide::writable(state_, endpoint);
  }

  // Every watch_interval: asks the sentinels for the master (one is enough
  // without the fence; with it, all of them, their failover state, and the
  // ROLE of the replicas and of the masters left behind), then follows.
  void watch() {
    Connections connections;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      std::vector<std::string> order = state_.sentinels;
      lock.unlock();
      look(order, connections);
      lock.lock();
      wake_.wait_for(lock, sentinel_.watch_interval, [this] { return stopping_; });
    }
  }

  // A connection of the watcher's, made again when it broke.
  static Connection& reuse(Connections& connections, const std::string& name, const ConnectionOptions& options) {
    std::unique_ptr<Connection>& c = connections[name];
    if (!c || c->broken()) c = std::make_unique<Connection>(options);
    return *c;
  }

  void look(const std::vector<std::string>& order, Connections& connections) {
    const bool fencing = sentinel_.promotion_fence.count() > 0;
    decide::Observations seen;
    std::vector<std::string> listed;  // replicas the sentinels list
    std::set<std::string> used;
    bool replicas_known = false;
    for (const std::string& address : order) {
      const std::string name = "sentinel " + address;
      used.insert(name);
      try {
        Connection& c = reuse(connections, name, sentinel_options(address));
        if (std::optional<ConnectionOptions> master = ask(c)) seen.named.push_back(master->endpoint());
        if (!fencing) {
          if (seen.named.empty()) continue;
          break;
        }
        const bool in_progress = decide::reports_failover(c.command({"SENTINEL", "MASTER", sentinel_.master_name}));
        (in_progress ? seen.in_progress : seen.quiet).push_back(address);
        if (replicas_known) continue;
        if (auto replicas = decide::parse_replicas(c.command({"SENTINEL", "REPLICAS", sentinel_.master_name}))) {
          replicas_known = true;
          listed.insert(listed.end(), replicas->begin(), replicas->end());
        }
      } catch (const Error&) {
        connections[name].reset();  // again next time
      }
    }
    std::vector<std::string> targets;
    {
      std::lock_guard lock(mutex_);
      targets = decide::role_targets(state_, std::move(listed));
    }
    for (const std::string& endpoint : targets) {
      used.insert(endpoint);
      try {
        std::optional<std::string> role =
            decide::parse_role(reuse(connections, endpoint, probe_options(endpoint)).command({"ROLE"}));
        if (role) (*role == "master" ? seen.claimants : seen.replicas).push_back(endpoint);
      } catch (const Error&) {
        connections[endpoint].reset();
      }
    }
    for (auto it = connections.begin(); it != connections.end();) {
      it = used.count(it->first) != 0 ? std::next(it) : connections.erase(it);
    }

    decide::WatchAction action;
    {
      std::lock_guard lock(mutex_);
      action = decide::on_watch(state_, seen, sentinel_.promotion_fence, std::chrono::steady_clock::now());
    }
    if (action.raised || action.followed) node_->pool->drop_idle();
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
    ConnectionOptions options = options_at(base_, endpoint);
    options.connect_timeout = sentinel_.sentinel_timeout;
    options.command_timeout = sentinel_.sentinel_timeout;
    return options;
  }

  // SENTINEL get-master-addr-by-name: the data node options of the master
  // it names, if it knows one.
  std::optional<ConnectionOptions> ask(Connection& sentinel) const {
    std::optional<decide::NamedMaster> named =
        decide::parse_master_addr(sentinel.command({"SENTINEL", "get-master-addr-by-name", sentinel_.master_name}));
    if (!named) return std::nullopt;
    ConnectionOptions master = base_;
    master.host = named->host;
    master.port = named->port;
    master.unix_path.clear();
    return master;
  }

  // Asks the sentinels in order; the first that names a master the store
  // may follow moves to the front.
  ConnectionOptions resolve() {
    std::vector<std::string> order;
    {
      std::lock_guard lock(mutex_);
      order = state_.sentinels;
    }
    std::string last_error = "no answer";
    for (const std::string& address : order) {
      try {
        Connection connection(sentinel_options(address));
        std::optional<ConnectionOptions> master = ask(connection);
        std::lock_guard lock(mutex_);
        decide::Action action =
            decide::on_named(state_, address, master ? std::optional<std::string>(master->endpoint()) : std::nullopt,
                             sentinel_.master_name);
        if (action.kind != decide::Action::Kind::use) {
          last_error = action.message;
          continue;
        }
        decide::promote(state_, address);
        return *master;
      } catch (const Error& e) {
        last_error = address + ": " + e.what();
      }
    }
    throw ConnectError(decide::none_named(order.size(), last_error, sentinel_.master_name).message);
  }

  void follow(const ConnectionOptions& master) {
    bool changed = false;
    {
      std::lock_guard lock(mutex_);
      changed = decide::follow(state_, master.endpoint(), std::chrono::steady_clock::now());
    }
    if (changed) node_->pool->drop_idle();
  }

  const ConnectionOptions base_;
  const redis::SentinelOptions sentinel_;
  mutable std::mutex mutex_;
  decide::State state_;    // under mutex_
  bool stopping_ = false;  // under mutex_
  std::condition_variable wake_;
  std::shared_ptr<Node> node_;
  std::thread watcher_;
};

}  // namespace

std::unique_ptr<Router> make_sentinel_router(ConnectionOptions base, redis::SentinelOptions sentinel,
                                             PoolOptions pool) {
  return std::make_unique<SentinelRouter>(std::move(base), std::move(sentinel), pool);
}

}  // namespace redis_session::detail
