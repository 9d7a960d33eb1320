#pragma once
// The storage contract every session store implements with the same
// semantics (RedisPoolStore for production, MemoryStore in process). A store
// deals in one session's fields; it knows nothing of cookies or HTTP.
//
// Semantics that every implementation guarantees:
// - Each operation is atomic on its own, and concurrent operations on one
//   session never lose a write to a different field.
// - A session is alive from its creating save()/increment() until destroy(),
//   regenerate() away from it, or expiry. Expiry: the session dies after
//   idle_timeout without a load/save/touch/increment, and (when
//   absolute_lifetime is set) at created + absolute_lifetime however active.
// - Nothing resurrects a dead session: an update-mode save() and a
//   non-creating increment() of a dead session report "gone" and write nothing.
//   (A create-mode save() may take a dead id again: that is a new, empty
//   session. Session ids come from a CSPRNG, so in practice it never happens.)
// - exists(), count() and for_each_id() only look: they do not slide expiry.
// - A failed operation (typed exception) writes nothing.
// - Ids must be 1 to 256 characters of [A-Za-z0-9_.-]; field names must be
//   non-empty, at most 1024 bytes, and not start with a NUL byte (reserved for
//   the store's own metadata). Anything else throws InvalidArgumentError
//   before any I/O, as does a value the codec cannot encode.
// - Failures are typed exceptions (see error.hpp); nothing is swallowed.
//
// Thread safety: every member function may be called concurrently.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace redis_session {

// One session's fields by name.
using Fields = std::map<std::string, nlohmann::json, std::less<>>;

// What a commit writes: only what changed.
struct SessionChanges {
  enum class Mode : std::uint8_t {
    create,  // a new session: refused (SaveResult::exists) if the id is taken
    update,  // an existing session: refused (SaveResult::gone) if it is dead
  };
  Mode mode = Mode::update;
  Fields set;                      // fields to write, with their new values
  std::vector<std::string> erase;  // fields to remove; a field in both ends up removed
};

enum class SaveResult : std::uint8_t {
  saved,   // written, expiry slid
  gone,    // update of a destroyed or expired session: nothing written
  exists,  // create with an id that is taken: nothing written
};

enum class RegenerateResult : std::uint8_t {
  moved,   // the data lives at the new id; the old id is dead
  gone,    // the old session is dead: nothing moved
  exists,  // the new id is taken: nothing moved
};

// Expiry policy shared by all stores.
struct ExpiryOptions {
  // Sliding: a session unused this long dies. Bounded by default: a store
  // never keeps sessions forever.
  std::chrono::milliseconds idle_timeout{std::chrono::hours(24)};
  // Absolute: a session dies at creation + this, however active. Unset: none.
  std::optional<std::chrono::milliseconds> absolute_lifetime;

  void validate() const;  // throws InvalidOptionsError
};

class SessionStore {
 public:
  virtual ~SessionStore() = default;

  // The session's fields ({} for a live session with none), or nullopt when
  // absent or expired. Slides the idle expiry in the same round trip.
  virtual std::optional<Fields> load(std::string_view id) = 0;

  // Writes changes.set and removes changes.erase in one atomic step, slides
  // the expiry. See SessionChanges::Mode for create versus update.
  virtual SaveResult save(std::string_view id, const SessionChanges& changes) = 0;

  // Adds `by` to an integer field (absent: 0) atomically and returns the new
  // value. A dead session: creates it when `create`, else nullopt (gone).
  // A field holding a non-integer, or an overflow: SessionStateError (an
  // InvalidArgumentError); nothing written.
  virtual std::optional<long long> increment(std::string_view id, std::string_view field, long long by,
                                             bool create) = 0;

  // Kills the session. True if it was alive.
  virtual bool destroy(std::string_view id) = 0;

  // Slides the idle expiry. True if the session is alive.
  virtual bool touch(std::string_view id) = 0;

  virtual bool exists(std::string_view id) = 0;

  // Moves the session to new_id atomically (fixation defence); the old id is
  // dead afterwards. Creation time and thus the absolute deadline move along.
  // A taken new_id is checked first: exists wins over gone.
  virtual RegenerateResult regenerate(std::string_view old_id, std::string_view new_id) = 0;

  // Live sessions of this store (this namespace only). Approximate under
  // concurrent change, like any scan.
  virtual std::size_t count() = 0;
  // Calls `f` once with the id of every live session (see count()), holding
  // no lock, so `f` may use the store.
  virtual void for_each_id(const std::function<void(std::string_view)>& f) = 0;
  // Destroys every session of this store (only this namespace); returns how many.
  virtual std::size_t clear() = 0;

  std::vector<std::string> ids() {
    std::vector<std::string> out;
    for_each_id([&](std::string_view id) { out.emplace_back(id); });
    return out;
  }
};

namespace detail {

// The id and field-name rules above, shared by every store.
bool is_store_id(std::string_view id) noexcept;
void check_id(std::string_view id);
void check_field(std::string_view field);

}  // namespace detail

}  // namespace redis_session
