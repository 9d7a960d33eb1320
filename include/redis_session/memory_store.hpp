#pragma once
// MemoryStore: the SessionStore contract kept in process memory, for
// single-process deployments and for tests that should not need a Redis
// server. Semantics match RedisPoolStore's (see session_store.hpp); only the
// data's home differs: it lives as long as the store and is never persisted.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "redis_session/codec.hpp"
#include "redis_session/detail/checked_increment.hpp"
#include "redis_session/detail/field_codec.hpp"
#include "redis_session/error.hpp"
#include "redis_session/session_store.hpp"

namespace redis_session {

// Options of a MemoryStore. MemoryStore's constructor validates them and
// throws InvalidOptionsError naming the first bad field.
struct MemoryStoreOptions {
  // Idle timeout and absolute lifetime, as for every store.
  ExpiryOptions expiry;
  // The largest value a save() accepts, measured as RedisPoolStore measures
  // it: the bytes a store keeps for the value (an integer's decimal text,
  // anything else encoded by `codec`). A save with a larger value throws
  // ValueTooLargeError, one with a value `codec` cannot encode
  // InvalidOptionsError; neither writes anything. 1 byte to 512 MiB (Redis's
  // own string limit), so a program behaves the same on either store.
  std::size_t max_value_bytes = 1024 * 1024;
  // Only measures values (MemoryStore keeps the values themselves): set it to
  // the RedisPoolStore's codec for the same limits.
  Codec codec = json_codec();
  // Independent lock domains: operations on ids in different shards never
  // wait for each other. 1 to 1024.
  std::size_t shards = 16;
};

// A thread-safe in-process SessionStore. Sessions are spread over
// `shards` maps by a hash of their id, each map behind its own mutex, so
// requests for different sessions rarely contend. Expiry runs on
// std::chrono::steady_clock; an expired session reads as absent everywhere
// and its memory is reclaimed lazily: when its id is next used, by count(),
// for_each_id() and clear(), and by an occasional sweep of a shard when
// sessions are created in it (amortised O(1) per creation, so a store under
// churn does not grow without bound).
//
// Thread safety: every member function may be called concurrently (the
// SessionStore contract). No lock is held while for_each_id()'s callback
// runs, so the callback may use the store. load() returns a copy; callers
// never share a value with the store.
// Lifetime: the sessions die with the store, which must outlive every call
// into it.
class MemoryStore final : public SessionStore {
 public:
  explicit MemoryStore(MemoryStoreOptions options = {})
      : options_(validated(std::move(options))), shards_(std::make_unique<Shard[]>(options_.shards)) {}

  MemoryStore(const MemoryStore&) = delete;
  MemoryStore& operator=(const MemoryStore&) = delete;

  const MemoryStoreOptions& options() const noexcept { return options_; }

  std::optional<Fields> load(std::string_view id) override {
    detail::check_id(id);
    Locked session(*this, id);
    if (!session.use()) return std::nullopt;
    return session.it->second.fields;
  }

  SaveResult save(std::string_view id, const SessionChanges& changes) override {
    detail::check_id(id);
    for (const auto& field : changes.set) detail::check_field(field.first);
    for (const auto& field : changes.erase) detail::check_field(field);
    for (const auto& field : changes.set) check_size(field.first, field.second);

    // Copied before locking, so the lock is held only for relinking map
    // nodes, which cannot throw: a save is applied whole or not at all.
    // Declared before the lock: the old values swapped into it are freed
    // after unlocking.
    Fields staged = changes.set;
    Locked session(*this, id);
    if (changes.mode == SessionChanges::Mode::create) {
      if (session.live()) return SaveResult::exists;
      session.create();  // may throw; nothing is visible yet
    } else if (!session.live()) {
      return SaveResult::gone;
    }
    apply(session.it->second.fields, staged, changes.erase);
    session.use();
    return SaveResult::saved;
  }

  std::optional<long long> increment(std::string_view id, std::string_view field, long long by, bool create) override {
    detail::check_id(id);
    detail::check_field(field);
    // The field's node is allocated up front so that a created session can
    // never be left without its field by a failed allocation.
    Fields staged;
    staged.emplace(std::string(field), nlohmann::json(by));
    Locked session(*this, id);
    if (!session.live()) {
      if (!create) return std::nullopt;
      session.create();
    }
    Fields& fields = session.it->second.fields;
    long long result = by;
    auto found = fields.find(field);
    if (found == fields.end()) {
      fields.insert(staged.extract(staged.begin()));
    } else {
      result = detail::checked_increment(found->second, by, field);  // throws before anything changes
      found->second = result;
    }
    session.use();
    return result;
  }

  bool destroy(std::string_view id) override {
    detail::check_id(id);
    const std::string key(id);
    Map::node_type doomed;  // declared before the lock: the session is freed after unlocking
    Shard& shard = shard_for(id);
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.map.find(key);
    if (it == shard.map.end()) return false;
    const bool alive = is_live(it->second, Clock::now());
    doomed = shard.map.extract(it);
    return alive;
  }

  bool touch(std::string_view id) override {
    detail::check_id(id);
    return Locked(*this, id).use();
  }

  bool exists(std::string_view id) override {
    detail::check_id(id);
    return Locked(*this, id).live();
  }

  // new_id taken -> exists; else old_id dead -> gone. So regenerating an id
  // to itself reports exists while it lives and gone once it is dead.
  RegenerateResult regenerate(std::string_view old_id, std::string_view new_id) override {
    detail::check_id(old_id);
    detail::check_id(new_id);
    const std::string old_key(old_id);
    std::string new_key(new_id);
    const std::size_t from = shard_index(old_id);
    const std::size_t to = shard_index(new_id);
    // Both shards stay locked for the whole move so no operation on either
    // id sees it half done; the lower index is always locked first, so two
    // regenerates crossing the same pair of shards cannot deadlock.
    std::unique_lock<std::mutex> first(shards_[std::min(from, to)].mutex);
    std::unique_lock<std::mutex> second;
    if (from != to) second = std::unique_lock<std::mutex>(shards_[std::max(from, to)].mutex);
    const Clock::time_point now = Clock::now();
    Map& old_map = shards_[from].map;
    Map& new_map = shards_[to].map;
    if (find_live(new_map, new_key, now) != new_map.end()) return RegenerateResult::exists;
    auto old_it = find_live(old_map, old_key, now);
    if (old_it == old_map.end()) return RegenerateResult::gone;
    // A pointer, not the iterator: inserting below may rehash (the same map
    // when both ids share a shard), which keeps references but not iterators.
    Entry* source = &old_it->second;
    // The only step that may throw comes first, while nothing has moved.
    Entry& target = new_map.try_emplace(std::move(new_key)).first->second;
    // The entry moves whole: the absolute deadline (creation time) comes along.
    target = std::move(*source);
    old_map.erase(old_key);
    slide(target, now);
    return RegenerateResult::moved;
  }

  std::size_t count() override {
    std::size_t total = 0;
    for (std::size_t i = 0; i < options_.shards; ++i) {
      Shard& shard = shards_[i];
      std::lock_guard<std::mutex> lock(shard.mutex);
      sweep(shard, Clock::now());
      total += shard.map.size();
    }
    return total;
  }

  // Entries in memory, expired ones not yet reclaimed included: what the
  // process pays for, where count() says what is alive. Reclaims nothing.
  std::size_t held() const {
    std::size_t total = 0;
    for (std::size_t i = 0; i < options_.shards; ++i) {
      std::lock_guard<std::mutex> lock(shards_[i].mutex);
      total += shards_[i].map.size();
    }
    return total;
  }

  void for_each_id(const std::function<void(std::string_view)>& f) override {
    std::vector<std::string> ids;
    for (std::size_t i = 0; i < options_.shards; ++i) {
      ids.clear();
      {
        Shard& shard = shards_[i];
        std::lock_guard<std::mutex> lock(shard.mutex);
        sweep(shard, Clock::now());
        ids.reserve(shard.map.size());
        for (const auto& entry : shard.map) ids.push_back(entry.first);
      }
      // Called unlocked: f may be slow or use this store.
      for (const std::string& id : ids) f(id);
    }
  }

  std::size_t clear() override {
    std::size_t total = 0;
    for (std::size_t i = 0; i < options_.shards; ++i) {
      Map doomed;  // declared before the lock: the sessions are freed after unlocking
      Shard& shard = shards_[i];
      std::lock_guard<std::mutex> lock(shard.mutex);
      const Clock::time_point now = Clock::now();
      for (const auto& entry : shard.map) total += is_live(entry.second, now) ? 1 : 0;
      doomed.swap(shard.map);
      shard.creates_since_sweep = 0;
      shard.sweep_after = min_sweep_interval;
    }
    return total;
  }

 private:
  using Clock = std::chrono::steady_clock;

  struct Entry {
    Fields fields;
    // The session dies at min(last use + idle_timeout, hard_deadline); kept
    // precomputed so a liveness check is one comparison.
    Clock::time_point deadline;
    // Creation + absolute_lifetime, or the clock's end when there is none.
    Clock::time_point hard_deadline;
  };

  using Map = std::unordered_map<std::string, Entry>;

  static constexpr std::size_t min_sweep_interval = 64;

  // Aligned so that two shards' mutexes never share a cache line.
  struct alignas(64) Shard {
    std::mutex mutex;
    Map map;
    std::size_t creates_since_sweep = 0;
    // The shard's size after its last sweep (at least min_sweep_interval):
    // counted against creations since, not against the size now, which
    // grows with every creation and would never be caught up with.
    std::size_t sweep_after = min_sweep_interval;
  };

  static MemoryStoreOptions validated(MemoryStoreOptions options) {
    options.expiry.validate();
    constexpr std::size_t max_value_limit = std::size_t{512} * 1024 * 1024;
    if (options.max_value_bytes < 1 || options.max_value_bytes > max_value_limit) {
      throw InvalidOptionsError("invalid store options: max_value_bytes must be between 1 byte and 512 MiB");
    }
    if (options.shards < 1 || options.shards > 1024) {
      throw InvalidOptionsError("invalid store options: shards must be between 1 and 1024");
    }
    if (!options.codec.serialize) throw InvalidOptionsError("invalid store options: codec needs serialize");
    return options;
  }

  std::size_t shard_index(std::string_view id) const noexcept {
    // Each shard's unordered_map buckets by the same std::hash; mixing the
    // bits (the murmur3 finaliser) first keeps the shard choice from
    // correlating with the bucket choice inside the shard.
    std::uint64_t h = std::hash<std::string_view>{}(id);
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return static_cast<std::size_t>(h % options_.shards);
  }

  Shard& shard_for(std::string_view id) const noexcept { return shards_[shard_index(id)]; }

  static bool is_live(const Entry& entry, Clock::time_point now) noexcept { return now < entry.deadline; }

  // One session's place under its shard's lock, held for this object's
  // lifetime; `it` is its live entry, or the map's end() when it is absent
  // or expired. The lock is taken before the clock is read, so a deadline
  // is never judged by a time older than the lock.
  struct Locked {
    Locked(MemoryStore& owner, std::string_view id)
        : store(owner),
          key(id),
          shard(owner.shard_for(id)),
          lock(shard.mutex),
          now(Clock::now()),
          it(find_live(shard.map, key, now)) {}

    bool live() const noexcept { return it != shard.map.end(); }
    // A use of a live session slides its idle deadline; false when it is not live.
    bool use() const noexcept {
      if (!live()) return false;
      store.slide(it->second, now);
      return true;
    }
    // The session must not be live; the key is moved into the new entry.
    void create() { it = store.create_entry(shard, std::move(key), now); }

    MemoryStore& store;
    std::string key;
    Shard& shard;
    std::lock_guard<std::mutex> lock;
    const Clock::time_point now;
    Map::iterator it;
  };

  // The session's entry, or end() when absent or expired; an expired entry
  // is erased on the way so that it reads as absent everywhere.
  static Map::iterator find_live(Map& map, const std::string& key, Clock::time_point now) {
    auto it = map.find(key);
    if (it != map.end() && !is_live(it->second, now)) {
      map.erase(it);
      return map.end();
    }
    return it;
  }

  void slide(Entry& entry, Clock::time_point now) const noexcept {
    entry.deadline = std::min<Clock::time_point>(now + options_.expiry.idle_timeout, entry.hard_deadline);
  }

  // The key must be absent (find_live() just said so).
  Map::iterator create_entry(Shard& shard, std::string key, Clock::time_point now) {
    // Sweeping once per shard-size creations keeps the cost amortised O(1)
    // while bounding the expired entries to about as many as live ones.
    if (++shard.creates_since_sweep >= shard.sweep_after) sweep(shard, now);
    Entry entry;
    entry.hard_deadline =
        options_.expiry.absolute_lifetime ? now + *options_.expiry.absolute_lifetime : Clock::time_point::max();
    slide(entry, now);
    return shard.map.emplace(std::move(key), std::move(entry)).first;
  }

  static void sweep(Shard& shard, Clock::time_point now) noexcept {
    for (auto it = shard.map.begin(); it != shard.map.end();) {
      it = is_live(it->second, now) ? std::next(it) : shard.map.erase(it);
    }
    shard.creates_since_sweep = 0;
    shard.sweep_after = std::max(shard.map.size(), min_sweep_interval);
  }

  // Moves staged's values into fields and removes `erase` (after the sets,
  // so a field named in both ends up absent). Only relinks nodes and swaps
  // values, so it cannot throw; replaced values are left in staged.
  static void apply(Fields& fields, Fields& staged, const std::vector<std::string>& erase) noexcept {
    for (auto it = staged.begin(); it != staged.end();) {
      auto found = fields.find(it->first);
      if (found != fields.end()) {
        found->second.swap(it->second);
        ++it;
      } else {
        auto next = std::next(it);
        fields.insert(staged.extract(it));
        it = next;
      }
    }
    for (const std::string& name : erase) fields.erase(name);
  }

  void check_size(const std::string& field, const nlohmann::json& value) const {
    detail::encode_field(options_.codec, options_.max_value_bytes, field, value);  // throws; the bytes are not kept
  }

  const MemoryStoreOptions options_;
  const std::unique_ptr<Shard[]> shards_;
};

}  // namespace redis_session
