#pragma once
// One request's view of one session: typed access to its fields (any type
// with nlohmann::json's to_json/from_json), with change tracking so that
// SessionManager::commit() writes only what changed. It knows nothing of Redis
// or HTTP; increment(), regenerate() and destroy() go to the store at once.
//
// Thread safety: none; a Session belongs to the request that opened it.
// Lifetime: must not outlive the SessionManager (and store) that opened it.

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "redis_session/error.hpp"
#include "redis_session/session_store.hpp"

namespace redis_session {

class SessionManager;

namespace detail {

// nlohmann converts any number to any arithmetic type (3.7 -> 3, -1 ->
// 4294967295u, 1e30 -> int is undefined behaviour); a typed session read
// must instead report a value that is not a T.
template <class T>
bool number_fits(const nlohmann::json& v) {
  if constexpr (!std::is_arithmetic_v<T> || std::is_same_v<T, bool>) {
    return true;  // nlohmann's own type check is exact for these
  } else if constexpr (std::is_integral_v<T>) {
    if (v.is_number_unsigned()) {
      return v.get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<T>::max());
    }
    if (!v.is_number_integer()) return false;
    const auto i = v.get<std::int64_t>();
    if constexpr (std::is_signed_v<T>) {
      return i >= std::numeric_limits<T>::min() && i <= std::numeric_limits<T>::max();
    } else {
      return i >= 0 && static_cast<std::uint64_t>(i) <= std::numeric_limits<T>::max();
    }
  } else {
    if (!v.is_number()) return false;
    if constexpr (std::numeric_limits<T>::max() < std::numeric_limits<double>::max()) {
      if (v.is_number_float()) {
        const auto d = v.get<double>();
        return !std::isfinite(d) || std::fabs(d) <= static_cast<double>(std::numeric_limits<T>::max());
      }
    }
    return true;
  }
}

}  // namespace detail

class Session {
 public:
  // Move-only: two copies committing would each write the same changes.
  Session(Session&&) noexcept = default;
  Session& operator=(Session&&) noexcept = default;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // The session id; a new session gets its id (from the CSPRNG) on first use.
  // Opened lazily, it is the cookie's id until a read or write finds that
  // session dead; the session then continues under a new id.
  const std::string& id() const;
  // True until the session exists in the store (nothing committed yet).
  // A read: opened lazily, it loads the session.
  bool is_new() const {
    ensure_loaded();
    return !persisted_;
  }
  bool destroyed() const noexcept { return destroyed_; }

  // Reads. Opened lazily (SessionManagerOptions::load), the first read loads
  // the session in one round trip, sliding its expiry; store failures throw.
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  // The raw value, or null when absent.
  const nlohmann::json* find(std::string_view name) const {
    ensure_loaded();
    auto it = fields_.find(name);
    return it == fields_.end() ? nullptr : &it->second;
  }
  // The value converted to T; nullopt when absent. A value that is not a T
  // throws DecodeError naming the field; for an integer T that includes a
  // fractional number or one out of T's range (2.5 or -1 as unsigned).
  template <class T>
  std::optional<T> get(std::string_view name) const {
    const nlohmann::json* v = find(name);
    if (v == nullptr) return std::nullopt;
    if (detail::number_fits<T>(*v)) {
      try {
        return v->get<T>();
      } catch (const nlohmann::json::exception&) {
        // not a T: reported below, as for a number out of T's range
      }
    }
    throw DecodeError("session field '" + std::string(name) + "' does not hold the requested type");
  }
  template <class T>
  T get_or(std::string_view name, T fallback) const {
    std::optional<T> v = get<T>(name);
    return v ? std::move(*v) : std::move(fallback);
  }
  // get_or("user", "guest") reads as a string, not as a const char*.
  std::string get_or(std::string_view name, const char* fallback) const {
    return get_or<std::string>(name, std::string(fallback));
  }
  const Fields& fields() const {
    ensure_loaded();
    return fields_;
  }

  // Writes, kept until commit(). None of them loads the session: a request
  // that only writes costs the one save at commit. A bad field name throws
  // InvalidArgumentError; a destroyed session, SessionStateError.
  template <class T>
  void set(std::string_view name, T&& value) {
    set_json(name, nlohmann::json(std::forward<T>(value)));
  }
  void set_json(std::string_view name, nlohmann::json value);
  void erase(std::string_view name);

  // Adds `by` in the store right away (exact under any concurrency; one round
  // trip, no load) and returns the new value. A session that turns out dead
  // (destroyed or expired by another request) continues as a fresh one with
  // a new id: nothing of the old one comes back. A field this request already
  // set or erased is incremented locally instead (commit would overwrite the
  // store's value anyway) and written at commit like the set. Not an integer,
  // or an overflow: SessionStateError; nothing written.
  long long increment(std::string_view name, long long by = 1);

  // A new id for the same data (call it on login: fixation defence). The old
  // id is dead at once; commit() sends the new cookie.
  void regenerate();

  // Kills the session in the store at once; commit() clears the cookie.
  // Changing a destroyed session throws SessionStateError, until
  // start_new().
  void destroy();

  // Continues as a new, empty session (logout, then a flash message): the
  // current one is destroyed first if it is alive, and its id stays dead.
  // The new session gets a new id, and a cookie at commit() once it holds
  // something; if it never does, commit() clears the old cookie.
  void start_new();

  // Changes not yet committed.
  bool dirty() const noexcept { return !changed_.empty() || !erased_.empty(); }

 private:
  friend class SessionManager;
  // `complete`: fields_ holds the whole session (false: opened lazily, not
  // yet loaded; fields_ then holds only what this request wrote).
  Session(SessionStore& store, std::string id, bool persisted, Fields fields, bool had_cookie, bool complete = true)
      : store_(&store),
        id_(std::move(id)),
        fields_(std::move(fields)),
        persisted_(persisted),
        complete_(complete),
        had_cookie_(had_cookie) {}
  void check_alive() const;
  // Loads a lazily opened session on its first read, keeping this request's
  // pending writes over what the store holds.
  void ensure_loaded() const {
    if (!complete_) load();
  }
  void load() const;
  // The store found the session dead. Read by this request (complete_), it
  // died while the request ran: everything goes, even pending changes, made
  // against data that no longer exists. Never read: it was dead all along,
  // as if open() had found it so; it continues as a new session that holds
  // only this request's writes.
  void found_dead() const;
  // Drops every value and pending change.
  void forget_contents() const noexcept;
  void mark_destroyed() noexcept;
  enum class Saved : std::uint8_t { written, nothing, dropped };
  // commit()'s write: one save of the pending changes (a new session whose
  // id turns out taken gets another). `dropped` when a session this request
  // read died meanwhile: it is then destroyed, its changes dropped rather
  // than resurrecting it.
  Saved save_changes();

  SessionStore* store_;
  // The store's view, which a lazy read may still change (hence mutable).
  mutable std::string id_;  // empty until first needed, for a new session
  mutable Fields fields_;
  mutable std::set<std::string, std::less<>> changed_;  // set since open or the last commit
  mutable std::set<std::string, std::less<>> erased_;
  mutable bool persisted_;      // exists in the store (as far as this request knows)
  mutable bool complete_;       // fields_ is the whole session (loaded, or new)
  mutable bool touched_ = false;  // a round trip this request slid the expiry
  mutable bool id_changed_ = false;  // the client must get a cookie: new id, regenerated, or replaced
  bool had_cookie_;          // the client sent a cookie of ours (valid or not)
  bool destroyed_ = false;
  bool clear_cookie_ = false;  // an id the client holds was destroyed: its cookie must go
};

}  // namespace redis_session
