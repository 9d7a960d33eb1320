#include "redis_session/session_manager.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/session_id.hpp"

namespace redis_session {

SessionManager::SessionManager(std::shared_ptr<SessionStore> store, SessionManagerOptions options)
    : store_(std::move(store)), options_(std::move(options)) {
  if (!store_) throw InvalidOptionsError("invalid session manager options: no store");
  options_.validate();
  const CookieOptions& c = options_.cookie;
  attributes_ = "; Path=" + c.path;
  if (!c.domain.empty()) attributes_ += "; Domain=" + c.domain;
  if (c.secure) attributes_ += "; Secure";
  if (c.http_only) attributes_ += "; HttpOnly";
  attributes_ += c.same_site == SameSite::lax      ? "; SameSite=Lax"
                 : c.same_site == SameSite::strict ? "; SameSite=Strict"
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
  if (options_.load == LoadMode::lazy) {
    return Session(*store_, std::string(candidate), true, {}, true, /*complete=*/false);
  }
  std::optional<Fields> fields = store_->load(candidate);
  if (!fields) return Session(*store_, {}, false, {}, had_cookie);  // unknown or expired: a new id
  Session session(*store_, std::string(candidate), true, std::move(*fields), true);
  session.touched_ = true;
  return session;
}

CommitResult SessionManager::commit(Session& s) {
  CommitResult result;
  if (s.destroyed_) {
    if (s.clear_cookie_) result.set_cookie = clearing_cookie();
    return result;
  }
  switch (s.save_changes()) {
    case Session::Saved::dropped:  // destroyed or expired while this request ran
      result.set_cookie = clearing_cookie();
      return result;
    case Session::Saved::written:
      result.wrote = true;
      break;
    case Session::Saved::nothing:
      break;
  }
  if (s.persisted_ && (s.id_changed_ || (options_.cookie.max_age && s.touched_))) {
    result.set_cookie = cookie_for(s.id());
    s.id_changed_ = false;
    s.clear_cookie_ = false;  // the new cookie replaces the destroyed one
  } else if (s.clear_cookie_) {  // started anew after destroy(), and nothing kept
    result.set_cookie = clearing_cookie();
    s.clear_cookie_ = false;
  }
  return result;
}

}  // namespace redis_session
