#include "redis_session/session.hpp"

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
  if (destroyed_) throw InvalidOptionsError("the session was destroyed; it cannot be changed");
}

void Session::set_json(std::string_view name, nlohmann::json value) {
  check_alive();
  detail::check_field(name);
  auto it = fields_.find(name);
  if (it != fields_.end() && it->second == value) return;  // no change, no write
  std::string key(name);
  erased_.erase(key);
  changed_.insert(key);
  fields_.insert_or_assign(std::move(key), std::move(value));
}

void Session::erase(std::string_view name) {
  check_alive();
  detail::check_field(name);
  auto it = fields_.find(name);
  if (it == fields_.end()) return;  // nothing to erase, nothing to write
  fields_.erase(it);
  changed_.erase(std::string(name));
  if (persisted_) erased_.insert(std::string(name));
}

void Session::forget_contents() noexcept {
  fields_.clear();
  changed_.clear();
  erased_.clear();
}

void Session::mark_destroyed() noexcept {
  forget_contents();
  destroyed_ = true;
}

void Session::start_fresh() noexcept {
  // Not even uncommitted changes are kept: they were made against data that
  // no longer exists.
  forget_contents();
  persisted_ = false;
  id_changed_ = true;
}

long long Session::increment(std::string_view name, long long by) {
  check_alive();
  detail::check_field(name);
  if (changed_.find(name) != changed_.end() || erased_.find(name) != erased_.end()) {
    // This request set or erased the field and commit will write that over
    // whatever the store holds, so adding there would be lost or start from
    // a stale value: add to the local value and keep it a pending change.
    const nlohmann::json* current = find(name);
    long long result = current != nullptr ? detail::checked_increment(*current, by, name) : by;
    set_json(name, result);
    return result;
  }
  return retry_with_new_id(
      id_,
      [&]() -> std::optional<long long> {
        std::optional<long long> value = store_->increment(id(), name, by, !persisted_);
        if (!value) {  // destroyed or expired by someone else meanwhile
          start_fresh();
          return std::nullopt;
        }
        if (!persisted_) id_changed_ = true;  // created just now: the client needs the cookie
        persisted_ = true;
        fields_.insert_or_assign(std::string(name), *value);
        changed_.erase(std::string(name));  // the store has it already
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
              return true;
            case RegenerateResult::gone:
              start_fresh();  // under `fresh`, which the store just found free
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
  mark_destroyed();
}

bool Session::save_changes() {
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
    mark_destroyed();
    return false;
  }
  changed_.clear();
  erased_.clear();
  if (!persisted_) id_changed_ = true;
  persisted_ = true;
  return true;
}

}  // namespace redis_session
