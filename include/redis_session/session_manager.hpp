#pragma once
// The framework-neutral middleware core: the request's Cookie header in, a
// Session out; at commit, one write of what changed and the Set-Cookie value
// to send, if any. Adapters (adapters/beast.hpp, adapters/httplib.hpp) are
// thin wrappers.
//
// Strict ids: an incoming id must have the exact shape of a generated one
// before it reaches the store, and an unknown or expired id is never adopted:
// the client gets a new session with a new id. A client never chooses its id.
//
// Thread safety: all member functions may be called concurrently.
// Lifetime: the store must outlive the manager and every Session it opened.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/session.hpp"
#include "redis_session/session_store.hpp"

namespace redis_session {

enum class SameSite { lax, strict, none };

struct CookieOptions {
  std::string name = "sid";
  std::string path = "/";
  std::string domain;       // empty: host-only cookie
  bool secure = false;      // set true behind HTTPS (SameSite=None requires it)
  bool http_only = true;    // page scripts cannot read the id
  SameSite same_site = SameSite::lax;
  // Unset: a browser-session cookie. Set: the cookie carries Max-Age (match
  // the store's idle timeout) and is re-sent on each request to slide it.
  std::optional<std::chrono::seconds> max_age;
};

// When open() loads a session that the cookie names.
enum class LoadMode : std::uint8_t {
  // On the first read (get, find, contains, fields, is_new): a request that
  // only writes (set, erase, increment, destroy) never loads, so `GET
  // /count` costs one round trip. Sliding expiry happens on each request
  // that reads or writes the session; one that does neither costs nothing.
  lazy,
  // In open(), one round trip for every request with a well-formed cookie.
  eager,
};

struct SessionManagerOptions {
  CookieOptions cookie;
  LoadMode load = LoadMode::lazy;
  // A Cookie header longer than this is ignored (the client gets a new
  // session); real ones are far shorter, attackers' may not be.
  std::size_t max_cookie_header_bytes = 8192;

  void validate() const;  // throws InvalidOptionsError
};

// What commit() did, for the adapter.
struct CommitResult {
  std::optional<std::string> set_cookie;  // the Set-Cookie header value to send
  bool wrote = false;                     // a save reached the store
};

class SessionManager {
 public:
  SessionManager(std::shared_ptr<SessionStore> store, SessionManagerOptions options = {});

  // Reads our cookie from a Cookie header value (empty: none). Lazy (the
  // default): no store round trip; the session loads on its first read.
  // Eager: one round trip when a well-formed id is present, none otherwise.
  // Store failures throw (typed).
  Session open(std::string_view cookie_header);

  // Nothing changed: no write. Changed: one save of only the changes (blind
  // writes to an id found dead: a second save, as a new session). Destroyed:
  // cookie cleared. New or regenerated: cookie set. With a max_age, the
  // cookie is re-sent whenever this request slid the store's expiry.
  CommitResult commit(Session& session);

  SessionStore& store() noexcept { return *store_; }
  const SessionManagerOptions& options() const noexcept { return options_; }

  // The Set-Cookie values this manager sends (exposed for adapters/tests).
  std::string cookie_for(std::string_view id) const;
  std::string clearing_cookie() const;

 private:
  std::shared_ptr<SessionStore> store_;
  SessionManagerOptions options_;
  std::string attributes_;  // "; Path=/; HttpOnly; SameSite=Lax..." built once
};

namespace detail {

// The values of every cookie called `name` in a Cookie header, in order.
// Tolerant of spacing; stops at malformed input rather than guessing.
std::vector<std::string_view> cookie_values(std::string_view header, std::string_view name);

}  // namespace detail

}  // namespace redis_session
