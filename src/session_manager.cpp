#include "redis_session/session_manager.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/session_id.hpp"

namespace redis_session {

// ---------------------------------------------------------------- Session

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

void Session::start_fresh() {
  // The old session is gone: keep nothing of it, not even uncommitted changes
  // (they were made against data that no longer exists).
  fields_.clear();
  changed_.clear();
  erased_.clear();
  persisted_ = false;
  id_ = generate_session_id();
  id_changed_ = true;
}

long long Session::increment(std::string_view name, long long by) {
  check_alive();
  detail::check_field(name);
  if (changed_.find(name) != changed_.end() || erased_.find(name) != erased_.end()) {
    // This request set or erased the field and commit will write that over
    // whatever the store holds, so adding there would be lost or start from
    // a stale value: add to the local value and keep it a pending change.
    long long current = 0;
    if (const nlohmann::json* v = find(name)) {
      bool fits = v->is_number_integer() &&
                  (!v->is_number_unsigned() ||
                   v->get<std::uint64_t>() <= static_cast<std::uint64_t>(std::numeric_limits<long long>::max()));
      if (!fits) {
        throw InvalidOptionsError("cannot increment session field '" + std::string(name) +
                                  "': it does not hold a 64-bit signed integer");
      }
      current = v->get<long long>();
    }
    long long result = 0;
    if (__builtin_add_overflow(current, by, &result)) {
      throw InvalidOptionsError("cannot increment session field '" + std::string(name) +
                                "': the result would overflow a 64-bit integer");
    }
    set_json(name, result);
    return result;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::optional<long long> value = store_->increment(id(), name, by, !persisted_);
    if (!value) {  // destroyed or expired by someone else meanwhile
      start_fresh();
      continue;
    }
    if (!persisted_) id_changed_ = true;  // created just now: the client needs the cookie
    persisted_ = true;
    fields_.insert_or_assign(std::string(name), *value);
    changed_.erase(std::string(name));  // the store has it already
    return *value;
  }
  throw InvalidOptionsError("session increment kept finding its session gone");
}

void Session::regenerate() {
  check_alive();
  if (!persisted_) {  // nothing stored under the old id: a new id is enough
    id_ = generate_session_id();
    id_changed_ = true;
    return;
  }
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string fresh = generate_session_id();
    switch (store_->regenerate(id_, fresh)) {
      case RegenerateResult::moved:
        id_ = std::move(fresh);
        id_changed_ = true;
        return;
      case RegenerateResult::gone:
        start_fresh();
        return;
      case RegenerateResult::exists:
        continue;  // a 128-bit collision: draw again
    }
  }
  throw InvalidOptionsError("session regenerate kept colliding with existing ids");
}

void Session::destroy() {
  if (destroyed_) return;
  if (persisted_) store_->destroy(id_);
  destroyed_ = true;
  fields_.clear();
  changed_.clear();
  erased_.clear();
}

// ---------------------------------------------------------------- cookies

namespace detail {

std::vector<std::string_view> cookie_values(std::string_view header, std::string_view name) {
  std::vector<std::string_view> out;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  while (!header.empty()) {
    auto semi = header.find(';');
    std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
    auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;
    if (trim(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    out.push_back(value);
  }
  return out;
}

}  // namespace detail

namespace {

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) return false;
    if (std::string_view("()<>@,;:\\\"/[]?={}").find(c) != std::string_view::npos) return false;
  }
  return true;
}

bool is_attribute_value(std::string_view s) {
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == ';') return false;
  }
  return true;
}

}  // namespace

void SessionManagerOptions::validate() const {
  auto bad = [](const std::string& why) { throw InvalidOptionsError("invalid session manager options: " + why); };
  if (!is_token(cookie.name)) bad("cookie.name must be a non-empty cookie token");
  if (cookie.path.empty() || cookie.path.front() != '/' || !is_attribute_value(cookie.path)) {
    bad("cookie.path must start with '/' and contain no ';' or control characters");
  }
  if (!is_attribute_value(cookie.domain)) bad("cookie.domain has ';' or control characters");
  if (cookie.same_site == SameSite::none && !cookie.secure) bad("SameSite=None requires secure cookies");
  if (cookie.max_age && cookie.max_age->count() <= 0) bad("cookie.max_age must be positive");
  if (max_cookie_header_bytes < 64) bad("max_cookie_header_bytes must be at least 64");
}

// ---------------------------------------------------------------- SessionManager

SessionManager::SessionManager(std::shared_ptr<SessionStore> store, SessionManagerOptions options)
    : store_(std::move(store)), options_(std::move(options)) {
  if (!store_) throw InvalidOptionsError("invalid session manager options: no store");
  options_.validate();
  const CookieOptions& c = options_.cookie;
  attributes_ = "; Path=" + c.path;
  if (!c.domain.empty()) attributes_ += "; Domain=" + c.domain;
  if (c.secure) attributes_ += "; Secure";
  if (c.http_only) attributes_ += "; HttpOnly";
  attributes_ += c.same_site == SameSite::lax ? "; SameSite=Lax" : c.same_site == SameSite::strict ? "; SameSite=Strict"
                                                                                                  : "; SameSite=None";
}

std::string SessionManager::cookie_for(std::string_view id) const {
  std::string out = options_.cookie.name + "=" + std::string(id) + attributes_;
  if (options_.cookie.max_age) out += "; Max-Age=" + std::to_string(options_.cookie.max_age->count());
  return out;
}

std::string SessionManager::clearing_cookie() const {
  return options_.cookie.name + "=" + attributes_ + "; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT";
}

Session SessionManager::open(std::string_view cookie_header) {
  if (cookie_header.size() > options_.max_cookie_header_bytes) {
    return Session(*store_, {}, false, {}, true);  // never parsed, never passed on
  }
  std::vector<std::string_view> values = detail::cookie_values(cookie_header, options_.cookie.name);
  bool had_cookie = !values.empty();
  // Several different ids (cookie tossing from a sibling domain, say) are
  // ambiguous: trust none of them.
  std::string_view candidate;
  for (std::string_view v : values) {
    if (!is_valid_session_id(v)) continue;
    if (candidate.empty()) {
      candidate = v;
    } else if (candidate != v) {
      candidate = {};
      break;
    }
  }
  if (candidate.empty()) return Session(*store_, {}, false, {}, had_cookie);
  std::optional<Fields> fields = store_->load(candidate);
  if (!fields) return Session(*store_, {}, false, {}, had_cookie);  // unknown or expired: a new id
  return Session(*store_, std::string(candidate), true, std::move(*fields), true);
}

CommitResult SessionManager::commit(Session& s) {
  CommitResult result;
  if (s.destroyed_) {
    if (s.had_cookie_ || s.persisted_ || s.id_changed_) result.set_cookie = clearing_cookie();
    return result;
  }
  if (s.dirty()) {
    SessionChanges changes;
    changes.mode = s.persisted_ ? SessionChanges::Mode::update : SessionChanges::Mode::create;
    for (const std::string& name : s.changed_) changes.set.emplace(name, s.fields_.at(name));
    changes.erase.assign(s.erased_.begin(), s.erased_.end());
    for (int attempt = 0;; ++attempt) {
      SaveResult saved = store_->save(s.id(), changes);
      if (saved == SaveResult::saved) break;
      if (saved == SaveResult::gone) {
        // Destroyed or expired while this request ran: its changes die with
        // it rather than resurrect it.
        s.destroyed_ = true;
        s.fields_.clear();
        s.changed_.clear();
        s.erased_.clear();
        result.set_cookie = clearing_cookie();
        return result;
      }
      if (attempt == 2) throw InvalidOptionsError("session save kept colliding with existing ids");
      s.id_ = generate_session_id();  // create hit a taken id: a 128-bit collision
      s.id_changed_ = true;
    }
    result.wrote = true;
    s.changed_.clear();
    s.erased_.clear();
    bool was_new = !s.persisted_;
    s.persisted_ = true;
    if (was_new) s.id_changed_ = true;
  }
  if (s.persisted_ && (s.id_changed_ || options_.cookie.max_age)) {
    result.set_cookie = cookie_for(s.id());
    s.id_changed_ = false;
  }
  return result;
}

}  // namespace redis_session
