#include "redis_cluster.hpp"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "redis_session/error.hpp"

namespace redis_session::test {
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int slot_total = 16384;

redis::ConnectionOptions options_for(const std::string& address) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) throw std::invalid_argument("not host:port: " + address);
  redis::ConnectionOptions o;
  o.host = address.substr(0, colon);
  o.port = static_cast<std::uint16_t>(std::stoi(address.substr(colon + 1)));
  o.client_name.clear();
  o.connect_timeout = 1000ms;
  o.command_timeout = 1000ms;
  return o;
}

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, sep)) {
    if (!part.empty() && part.back() == '\r') part.pop_back();
    parts.push_back(part);
  }
  return parts;
}

// "field:value" lines of INFO / CLUSTER INFO.
std::string info_field(const std::string& info, const std::string& field) {
  for (const std::string& line : split(info, '\n')) {
    if (line.compare(0, field.size() + 1, field + ":") == 0) return line.substr(field.size() + 1);
  }
  return {};
}

// A flat [k1, v1, k2, v2...] reply (SENTINEL MASTER / REPLICAS entries).
std::map<std::string, std::string> as_map(const redis::Reply& flat) {
  std::map<std::string, std::string> m;
  for (std::size_t i = 0; i + 1 < flat.elements.size(); i += 2) m[flat.elements[i].str] = flat.elements[i + 1].str;
  return m;
}

// Config files that redis-server fsyncs on every change (nodes.conf, a
// sentinel's config) go to tmpfs when there is one: on a machine busy with
// compilers, an fsync to disk can block a node for seconds, long enough for
// a cluster to declare it failed or for a sentinel to enter TILT mode and
// freeze a failover.
std::string fsync_free_base() { return ::access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : ""; }

std::string address_of(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

template <class Check>
void wait_until(std::chrono::milliseconds limit, const std::string& what, Check check) {
  const auto deadline = Clock::now() + limit;
  std::string last = "(not checked yet)";
  for (;;) {
    try {
      if (check(last)) return;
    } catch (const std::exception& e) {
      last = std::string("exception: ") + e.what();
    }
    if (Clock::now() >= deadline) {
      throw std::runtime_error("timed out after " + std::to_string(limit.count()) + " ms waiting for " + what +
                               "; last seen: " + last);
    }
    std::this_thread::sleep_for(20ms);
  }
}

}  // namespace

redis::Reply node_command(const std::string& address, std::initializer_list<std::string_view> args) {
  redis::Connection c(options_for(address));
  return c.command(args);
}

redis::Reply node_command(const std::string& address, const std::vector<std::string>& args) {
  redis::Connection c(options_for(address));
  redis::Request request;
  request.push(args);
  redis::Reply reply = std::move(c.execute(request).at(0));
  if (reply.is_error()) throw ServerError(reply.str);
  return reply;
}

long long set_replicated(const std::string& address, std::string_view key, std::string_view value, int replicas,
                         std::chrono::milliseconds limit) {
  redis::Connection c(options_for(address));
  c.command({"SET", key, value});
  c.set_command_timeout(limit + 1000ms);
  const std::string replicas_text = std::to_string(replicas), limit_text = std::to_string(limit.count());
  return c.command({"WAIT", replicas_text, limit_text}).integer;
}

// ------------------------------------------------------------------ ChildProcess

namespace {

ProcessOutput into_file(const std::string& path) {
  ProcessOutput o;
  o.file = path;
  o.stderr_too = true;
  return o;
}

}  // namespace

ChildProcess::ChildProcess(std::vector<std::string> argv)
    : process_(std::move(argv), into_file(dir_.path() + "/output")) {}

int ChildProcess::wait(std::chrono::milliseconds limit) {
  if (!process_.wait_for(limit)) {
    process_.kill();
    throw std::runtime_error("timed out after " + std::to_string(limit.count()) + " ms: " + command_line() + "\n" +
                             output());
  }
  if (process_.exec_failed()) {
    throw std::runtime_error("cannot run " + process_.argv().at(0) + " (not installed?): " + output());
  }
  return process_.status();
}

std::string ChildProcess::output() const {
  std::ifstream in(dir_.path() + "/output");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return all.size() > 6000 ? "..." + all.substr(all.size() - 6000) : all;
}

// ------------------------------------------------------------------ RedisCluster

int ClusterNode::slot_count() const {
  int n = 0;
  for (const auto& [first, last] : slots) n += last - first + 1;
  return n;
}

RedisCluster::RedisCluster(RedisClusterOptions options)
    : options_(std::move(options)), conf_dir_(fsync_free_base()) {
  const int total = options_.primaries * (1 + options_.replicas_per_primary);
  if (options_.primaries < 3) throw std::invalid_argument("redis-cli --cluster create needs 3 primaries at least");
  for (int i = 0; i < total; ++i) {
    // The bus port is ours to choose (Redis 7: --cluster-port), so it never
    // lands at port + 10000 beyond 65535 or on a taken port; if it was taken
    // meanwhile, the node fails to start and we try another.
    const std::string nodes_conf = conf_dir_.path() + "/nodes-" + std::to_string(i) + ".conf";
    for (int attempt = 0;; ++attempt) {
      ::unlink(nodes_conf.c_str());  // what a failed attempt left
      RedisServerOptions o;
      o.args = {"--cluster-enabled", "yes",
                "--cluster-config-file", nodes_conf,
                "--cluster-node-timeout", std::to_string(options_.node_timeout.count()),
                "--cluster-port", std::to_string(free_port()),
                // A replica must be able to take over whatever its link did,
                // and sync at once rather than after the 5 s diskless delay.
                "--cluster-replica-validity-factor", "0",
                "--cluster-allow-replica-migration", "no",
                "--repl-diskless-sync-delay", "0"};
      o.args.insert(o.args.end(), options_.args.begin(), options_.args.end());
      try {
        servers_.push_back(std::make_unique<RedisServer>(o));
        break;
      } catch (const std::runtime_error&) {
        if (attempt == 4) throw;
      }
    }
  }
  std::vector<std::string> argv = {"redis-cli", "--cluster", "create"};
  for (int i = 0; i < total; ++i) argv.push_back(address(static_cast<std::size_t>(i)));
  argv.insert(argv.end(), {"--cluster-replicas", std::to_string(options_.replicas_per_primary), "--cluster-yes"});
  ChildProcess create(argv);
  if (create.wait(60s) != 0) {
    throw std::runtime_error("redis-cli --cluster create failed:\n" + create.output());
  }
  wait_healthy();
}

RedisCluster::~RedisCluster() = default;

std::string RedisCluster::address(std::size_t i) const { return address_of(servers_.at(i)->port()); }

std::size_t RedisCluster::index_of(const std::string& address) const {
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (this->address(i) == address) return i;
  }
  throw std::invalid_argument("no cluster node at " + address);
}

std::vector<std::string> RedisCluster::seeds() const {
  std::vector<std::string> s;
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i]->running()) s.push_back(address(i));
  }
  return s;
}

std::string RedisCluster::any_running() const {
  for (std::size_t i = 0; i < servers_.size(); ++i) {
    if (servers_[i]->running()) return address(i);
  }
  throw std::runtime_error("no cluster node is running");
}

redis::Reply RedisCluster::command(std::size_t i, std::initializer_list<std::string_view> args) const {
  return node_command(address(i), args);
}

std::vector<ClusterNode> RedisCluster::nodes(const std::string& via) const {
  const redis::Reply reply = node_command(via.empty() ? any_running() : via, {"CLUSTER", "NODES"});
  std::vector<ClusterNode> result;
  for (const std::string& line : split(reply.str, '\n')) {
    const std::vector<std::string> f = split(line, ' ');
    if (f.size() < 8) continue;
    ClusterNode n;
    n.id = f[0];
    n.address = f[1].substr(0, f[1].find('@'));
    const std::string& flags = f[2];
    n.primary = flags.find("master") != std::string::npos;
    n.failed = flags.find("fail") != std::string::npos || flags.find("handshake") != std::string::npos ||
               flags.find("noaddr") != std::string::npos || f[7] != "connected";
    if (f[3] != "-") n.primary_id = f[3];
    for (std::size_t k = 8; k < f.size(); ++k) {
      const std::string& s = f[k];
      if (s.empty() || s[0] == '[') continue;  // a slot being migrated or imported
      const std::size_t dash = s.find('-');
      if (dash == std::string::npos) {
        n.slots.emplace_back(std::stoi(s), std::stoi(s));
      } else {
        n.slots.emplace_back(std::stoi(s.substr(0, dash)), std::stoi(s.substr(dash + 1)));
      }
    }
    result.push_back(std::move(n));
  }
  return result;
}

std::vector<ClusterNode> RedisCluster::primaries(const std::string& via) const {
  std::vector<ClusterNode> p;
  for (ClusterNode& n : nodes(via)) {
    if (n.primary && !n.failed && !n.slots.empty()) p.push_back(std::move(n));
  }
  std::sort(p.begin(), p.end(), [](const ClusterNode& a, const ClusterNode& b) { return a.slots < b.slots; });
  return p;
}

ClusterNode RedisCluster::node_by_id(const std::string& id) const {
  for (ClusterNode& n : nodes()) {
    if (n.id == id) return n;
  }
  throw std::runtime_error("no cluster node with id " + id);
}

ClusterNode RedisCluster::slot_owner(int slot) const {
  for (ClusterNode& n : nodes()) {
    if (!n.primary) continue;
    for (const auto& [first, last] : n.slots) {
      if (slot >= first && slot <= last) return n;
    }
  }
  throw std::runtime_error("slot " + std::to_string(slot) + " has no owner");
}

void RedisCluster::wait_healthy(std::chrono::milliseconds limit) const {
  wait_until(limit, "a healthy cluster", [&](std::string& last) {
    std::string reference;  // the slot map, as the first node sees it
    for (std::size_t i = 0; i < servers_.size(); ++i) {
      if (!servers_[i]->running()) continue;
      const std::string a = address(i);
      const std::string info = node_command(a, {"CLUSTER", "INFO"}).str;
      if (info_field(info, "cluster_state") != "ok" || info_field(info, "cluster_slots_assigned") != "16384" ||
          info_field(info, "cluster_slots_ok") != "16384") {
        last = a + " says " + info.substr(0, 200);
        return false;
      }
      const std::string raw = node_command(a, {"CLUSTER", "NODES"}).str;
      if (raw.find('[') != std::string::npos) {
        last = a + " has a slot migrating or importing:\n" + raw;
        return false;
      }
      std::vector<std::string> map;
      for (const ClusterNode& n : nodes(a)) {
        if (n.failed && n.slots.empty()) continue;  // a killed node
        const bool running = std::any_of(servers_.begin(), servers_.end(), [&](const auto& s) {
          return s->running() && address_of(s->port()) == n.address;
        });
        if (n.failed || !running) {
          last = a + " sees " + n.address + " failed or unknown:\n" + raw;
          return false;
        }
        if (!n.primary) continue;
        std::string entry = n.id + ":";
        for (const auto& [first, last_slot] : n.slots) {
          entry += std::to_string(first) + "-" + std::to_string(last_slot) + ",";
        }
        map.push_back(entry);
      }
      std::sort(map.begin(), map.end());
      std::string joined;
      for (const std::string& e : map) joined += e + " ";
      if (reference.empty()) {
        reference = joined;
      } else if (joined != reference) {
        last = a + " disagrees on the slot map: " + joined + " vs " + reference;
        return false;
      }
      const std::string repl = node_command(a, {"INFO", "replication"}).str;
      if (info_field(repl, "role") == "slave" && info_field(repl, "master_link_status") != "up") {
        last = a + " is a replica whose link is not up:\n" + repl;
        return false;
      }
    }
    return true;
  });
}

std::unique_ptr<ChildProcess> RedisCluster::reshard_async(const std::string& from, const std::string& to,
                                                          int slots) const {
  return std::make_unique<ChildProcess>(std::vector<std::string>{
      "redis-cli", "--cluster", "reshard", any_running(), "--cluster-from", from, "--cluster-to", to,
      "--cluster-slots", std::to_string(slots), "--cluster-yes"});
}

void RedisCluster::reshard(const std::string& from, const std::string& to, int slots,
                           std::chrono::milliseconds limit) const {
  // redis-cli refuses to reshard while the nodes disagree (say, right after
  // the previous reshard, before its new epoch has spread).
  wait_healthy(limit);
  std::unique_ptr<ChildProcess> child = reshard_async(from, to, slots);
  if (child->wait(limit) != 0) throw std::runtime_error(child->command_line() + " failed:\n" + child->output());
}

std::size_t RedisCluster::kill_node(const std::string& id) {
  const ClusterNode node = node_by_id(id);
  const std::size_t i = index_of(node.address);
  killed_slots_[id] = node.slots;
  servers_[i]->kill();
  return i;
}

ClusterNode RedisCluster::wait_promotion(const std::string& old_id, std::chrono::milliseconds limit) const {
  const auto killed = killed_slots_.find(old_id);
  if (killed == killed_slots_.end() || killed->second.empty()) {
    throw std::invalid_argument("wait_promotion: " + old_id + " was not a primary killed by kill_node()");
  }
  const int slot = killed->second.front().first;
  const auto deadline = Clock::now() + limit;
  ClusterNode promoted;
  wait_until(limit, "a replica of " + old_id + " to take over its slots", [&](std::string& last) {
    const ClusterNode owner = slot_owner(slot);
    if (owner.id == old_id) {
      last = "slot " + std::to_string(slot) + " still belongs to the killed node";
      return false;
    }
    const std::string role = node_command(owner.address, {"ROLE"}).elements.at(0).str;
    if (role != "master") {
      last = owner.address + " holds slot " + std::to_string(slot) + " but has role " + role;
      return false;
    }
    promoted = owner;
    return true;
  });
  wait_healthy(std::max<std::chrono::milliseconds>(
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()), 1000ms));
  return promoted;
}

// ------------------------------------------------------------------ SentinelGroup

SentinelGroup::SentinelGroup(SentinelGroupOptions options)
    : options_(std::move(options)), conf_dir_(fsync_free_base()) {
  std::vector<std::string> common = {"--repl-diskless-sync-delay", "0"};
  // Every data node replicates over TLS: the replica from the start, the old
  // master once the sentinels turn it into a replica of the new one.
  if (options_.tls) common.insert(common.end(), {"--tls-replication", "yes"});
  RedisServerOptions master;
  master.tls = options_.tls;
  master.args = common;
  data_.push_back(std::make_unique<RedisServer>(master));
  RedisServerOptions replica = master;
  replica.args.insert(replica.args.end(), {"--replicaof", "127.0.0.1", std::to_string(data_port(0))});
  data_.push_back(std::make_unique<RedisServer>(replica));
  for (int i = 0; i < 3; ++i) {
    const std::string conf = conf_dir_.path() + "/sentinel" + std::to_string(i) + ".conf";
    {
      std::ofstream out(conf);
      const std::string& name = options_.master_name;
      out << "sentinel monitor " << name << " 127.0.0.1 " << data_port(0) << " 2\n"
          << "sentinel down-after-milliseconds " << name << " " << options_.down_after.count() << "\n"
          << "sentinel failover-timeout " << name << " " << options_.failover_timeout.count() << "\n"
          << "sentinel parallel-syncs " << name << " 1\n";
      if (options_.tls) {
        // A sentinel is a TLS client of the data nodes with tls-replication.
        const TlsMaterial& m = TlsMaterial::get();
        out << "tls-replication yes\n"
            << "tls-cert-file " << m.server_cert << "\n"
            << "tls-key-file " << m.server_key << "\n"
            << "tls-ca-cert-file " << m.ca_file << "\n";
      }
      if (!out) throw std::runtime_error("cannot write " + conf);
    }
    RedisServerOptions o;
    o.config_file = conf;
    o.args = {"--sentinel"};
    sentinels_.push_back(std::make_unique<RedisServer>(o));
    // TILT mode (entered when the sentinel's timer runs 2 s late, as it does
    // on a loaded machine) freezes a failover for 30 s: make it rarer and short.
    node_command(address_of(sentinels_.back()->port()),
                 {"SENTINEL", "DEBUG", "tilt-trigger", "10000", "tilt-period", "1000"});
  }
  wait_ready();
}

SentinelGroup::~SentinelGroup() = default;

std::vector<std::string> SentinelGroup::sentinels() const {
  std::vector<std::string> s;
  for (const auto& server : sentinels_) s.push_back(address_of(server->port()));
  return s;
}

std::uint16_t SentinelGroup::data_port(std::size_t i) const {
  return options_.tls ? data_.at(i)->tls_port() : data_.at(i)->port();
}

std::string SentinelGroup::data_address(std::size_t i) const { return address_of(data_port(i)); }

redis::Reply SentinelGroup::data_command(const std::string& address,
                                         std::initializer_list<std::string_view> args) const {
  if (!options_.tls) return node_command(address, args);
  redis::ConnectionOptions o = options_for(address);
  o.tls.enabled = true;
  o.tls.ca_file = TlsMaterial::get().ca_file;
  redis::Connection c(o);
  return c.command(args);
}

std::size_t SentinelGroup::data_index_of(const std::string& address) const {
  for (std::size_t i = 0; i < data_.size(); ++i) {
    if (data_address(i) == address) return i;
  }
  throw std::invalid_argument("no data node at " + address);
}

std::string role_of(const std::string& address, std::chrono::milliseconds limit) {
  std::string role;
  wait_until(limit, "ROLE of " + address, [&](std::string&) {
    role = node_command(address, {"ROLE"}).elements.at(0).str;
    return true;
  });
  return role;
}

std::string SentinelGroup::master_address(std::size_t sentinel) const {
  const redis::Reply r = node_command(address_of(sentinels_.at(sentinel)->port()),
                                      {"SENTINEL", "get-master-addr-by-name", options_.master_name});
  if (!r.is_array() || r.elements.size() != 2) return {};
  return r.elements[0].str + ":" + r.elements[1].str;
}

std::string SentinelGroup::agreed_master() const {
  std::string agreed;
  for (std::size_t i = 0; i < sentinels_.size(); ++i) {
    const std::string m = master_address(i);
    if (m.empty() || (!agreed.empty() && m != agreed)) return {};
    agreed = m;
  }
  return agreed;
}

void SentinelGroup::wait_ready(std::chrono::milliseconds limit) const {
  wait_until(limit, "sentinels ready to fail over", [&](std::string& last) {
    const std::string master = agreed_master();
    if (master.empty()) {
      last = "the sentinels do not agree on the master";
      return false;
    }
    const std::string role = data_command(master, {"ROLE"}).elements.at(0).str;
    if (role != "master") {
      last = master + " has role " + role;
      return false;
    }
    for (const auto& s : sentinels_) {
      const std::string a = address_of(s->port());
      const auto m = as_map(node_command(a, {"SENTINEL", "MASTER", options_.master_name}));
      if (m.at("flags") != "master" || m.at("num-other-sentinels") != "2" || m.at("num-slaves") == "0") {
        last = a + ": flags=" + m.at("flags") + " num-other-sentinels=" + m.at("num-other-sentinels") +
               " num-slaves=" + m.at("num-slaves");
        return false;
      }
      bool good_replica = false;
      for (const redis::Reply& r : node_command(a, {"SENTINEL", "REPLICAS", options_.master_name}).elements) {
        const auto rm = as_map(r);
        if (rm.at("flags") == "slave" && rm.at("master-link-status") == "ok") good_replica = true;
      }
      if (!good_replica) {
        last = a + " knows no healthy replica yet";
        return false;
      }
    }
    return true;
  });
}

void SentinelGroup::failover(std::chrono::milliseconds limit) {
  wait_until(limit, "SENTINEL FAILOVER to be accepted", [&](std::string& last) {
    try {
      node_command(address_of(sentinels_.at(0)->port()), {"SENTINEL", "FAILOVER", options_.master_name});
      return true;
    } catch (const ServerError& e) {
      last = e.what();  // INPROG: the previous failover has not ended; NOGOODSLAVE: replica not known yet
      return false;
    }
  });
}

std::string SentinelGroup::wait_failover(const std::string& old_address, std::chrono::milliseconds limit) const {
  std::string result;
  try {
    wait_until_failover(old_address, limit, result);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + "\nsentinel 0's log ends:\n" + sentinels_.at(0)->log_tail());
  }
  return result;
}

void SentinelGroup::wait_until_failover(const std::string& old_address, std::chrono::milliseconds limit,
                                        std::string& result) const {
  wait_until(limit, "the sentinels to name a new master", [&](std::string& last) {
    const std::string master = agreed_master();
    if (master.empty() || master == old_address) {
      last = "sentinel 0 says " + master_address(0);
      return false;
    }
    const std::string role = data_command(master, {"ROLE"}).elements.at(0).str;
    if (role != "master") {
      last = master + " has role " + role;
      return false;
    }
    result = master;
    return true;
  });
}

}  // namespace redis_session::test
