#include "redis_session/session.hpp"

#include <iterator>
#include <optional>
#include <string>
#include <utility>

#include "redis_session/detail/checked_increment.hpp"
#include "redis_session/error.hpp"
#include "redis_session/session_id.hpp"

namespace redis_session {
namespace {

// An id that is taken, or whose session died meanwhile, is replaced; a
// fresh 128-bit id that fails again is a store breaking its contract, not
// bad luck, so the tries are few.
constexpr int id_tries = 3;

// Runs `attempt` until it returns a value, drawing a new id into `id` after
// each nullopt (the id it used did not do), at most id_tries times in all.
template <class Attempt>
auto retry_with_new_id(std::string& id, Attempt attempt, const char* failure) {
  for (int tries = 1;; ++tries) {
    if (auto done = attempt()) return *std::move(done);
    if (tries == id_tries) throw InvalidOptionsError(failure);
    id = generate_session_id();
  }
}

}  // namespace

const std::string& Session::id() const {
  if (id_.empty()) id_ = generate_session_id();
  return id_;
}

void Session::check_alive() const {
  if (destroyed_) throw SessionStateError("the session was destroyed; it cannot be changed (start_new() begins another)");
}

void Session::load() const {
  std::optional<Fields> stored = store_->load(id_);
  if (!stored) {
    found_dead();
    return;
  }
  touched_ = true;
  // The store's fields, with this request's pending writes over them; a
  // write that changes nothing after all is no longer pending.
  for (auto it = erased_.begin(); it != erased_.end();) {
    it = stored->erase(*it) == 0 ? erased_.erase(it) : std::next(it);
  }
  for (auto it = changed_.begin(); it != changed_.end();) {
    nlohmann::json& mine = fields_.find(*it)->second;
    auto theirs = stored->find(*it);
    if (theirs != stored->end() && theirs->second == mine) {
      it = changed_.erase(it);
      continue;
    }
    stored->insert_or_assign(*it, std::move(mine));
    ++it;
  }
  fields_ = std::move(*stored);
  complete_ = true;
}

void Session::found_dead() const {
  if (complete_) {
    forget_contents();
  } else {
    erased_.clear();  // nothing to erase in a new session
    for (auto it = fields_.begin(); it != fields_.end();) {
      it = changed_.find(it->first) == changed_.end() ? fields_.erase(it) : std::next(it);
    }
  }
  id_.clear();  // the old id stays dead: the caller's retry, or first use, draws another
  persisted_ = false;
  complete_ = true;
  id_changed_ = true;
}

void Session::set_json(std::string_view name, nlohmann::json value) {
  check_alive();
  detail::check_field(name);
  auto it = fields_.find(name);
  // Only a complete view can tell "no change": unloaded, the write is kept.
  if (complete_ && it != fields_.end() && it->second == value) return;  // no change, no write
  std::string key(name);
  erased_.erase(key);
  changed_.insert(key);
  fields_.insert_or_assign(std::move(key), std::move(value));
}

void Session::erase(std::string_view name) {
  check_alive();
  detail::check_field(name);
  auto it = fields_.find(name);
  if (it != fields_.end()) {
    fields_.erase(it);
    changed_.erase(std::string(name));
  } else if (complete_) {
    return;  // nothing to erase, nothing to write
  }
  if (persisted_) erased_.insert(std::string(name));
}

void Session::forget_contents() const noexcept {
  fields_.clear();
  changed_.clear();
  erased_.clear();
}

void Session::mark_destroyed() noexcept {
  forget_contents();
  complete_ = true;  // nothing left to load: a read must not ask the store about the id just killed
  destroyed_ = true;
}

long long Session::increment(std::string_view name, long long by) {
  check_alive();
  detail::check_field(name);
  if (changed_.find(name) != changed_.end() || erased_.find(name) != erased_.end()) {
    // This request set or erased the field and commit will write that over
    // whatever the store holds, so adding there would be lost or start from
    // a stale value: add to the local value and keep it a pending change.
    // (Such a field's value is known without loading.)
    auto current = fields_.find(name);
    long long result = current != fields_.end() ? detail::checked_increment(current->second, by, name) : by;
    set_json(name, result);
    return result;
  }
  return retry_with_new_id(
      id_,
      [&]() -> std::optional<long long> {
        std::optional<long long> value = store_->increment(id(), name, by, !persisted_);
        if (!value) {  // dead: destroyed or expired by someone else, or before this request came
          found_dead();
          return std::nullopt;
        }
        if (!persisted_) id_changed_ = true;  // created just now: the client needs the cookie
        persisted_ = true;
        touched_ = true;
        fields_.insert_or_assign(std::string(name), *value);
        return value;
      },
      "session increment kept finding its session gone");
}

void Session::regenerate() {
  check_alive();
  std::string fresh = generate_session_id();
  if (persisted_) {  // else nothing is stored under the old id: a new id is enough
    retry_with_new_id(
        fresh,
        [&]() -> std::optional<bool> {
          switch (store_->regenerate(id_, fresh)) {
            case RegenerateResult::moved:
              touched_ = true;
              return true;
            case RegenerateResult::gone:
              found_dead();  // continues under `fresh`, which the store just found free
              return true;
            case RegenerateResult::exists:
              break;  // a 128-bit collision: draw again
          }
          return std::nullopt;
        },
        "session regenerate kept colliding with existing ids");
  }
  id_ = std::move(fresh);
  id_changed_ = true;
}

void Session::destroy() {
  if (destroyed_) return;
  if (persisted_) store_->destroy(id_);
  clear_cookie_ = clear_cookie_ || had_cookie_ || persisted_ || id_changed_;
  mark_destroyed();
}

void Session::start_new() {
  destroy();  // leaves nothing to load (forget_contents)
  destroyed_ = false;
  id_.clear();
  persisted_ = false;
  touched_ = false;
  id_changed_ = false;
}

Session::Saved Session::save_changes() {
  while (dirty()) {
    SessionChanges changes;
    changes.mode = persisted_ ? SessionChanges::Mode::update : SessionChanges::Mode::create;
    for (const std::string& name : changed_) changes.set.emplace(name, fields_.at(name));
    changes.erase.assign(erased_.begin(), erased_.end());
    const SaveResult saved = retry_with_new_id(
        id_,
        [&]() -> std::optional<SaveResult> {
          SaveResult result = store_->save(id(), changes);
          if (result != SaveResult::exists) return result;
          id_changed_ = true;  // a create hit a taken id (a 128-bit collision): another id
          return std::nullopt;
        },
        "session save kept colliding with existing ids");
    if (saved == SaveResult::gone) {
      if (complete_) {  // read alive by this request, killed while it ran
        clear_cookie_ = true;
        mark_destroyed();
        return Saved::dropped;
      }
      found_dead();  // never read: a new session with only this request's writes
      continue;
    }
    changed_.clear();
    erased_.clear();
    if (!persisted_) id_changed_ = true;
    persisted_ = true;
    touched_ = true;
    return Saved::written;
  }
  return Saved::nothing;
}

}  // namespace redis_session
