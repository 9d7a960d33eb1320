#pragma once
// The shared fixture of the session layer's unit tests (session_test,
// session_manager_test, cookie_test) and the Set-Cookie readers they use.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redis_session/session_id.hpp"
#include "redis_session/session_manager.hpp"
#include "redis_session/session_store.hpp"
#include "support/counting_store.hpp"
#include "support/session_changes.hpp"

namespace redis_session::test {

// A Set-Cookie value split at "; ": the first part is name=value.
inline std::vector<std::string> parts(std::string_view set_cookie) {
  std::vector<std::string> out;
  while (true) {
    auto pos = set_cookie.find("; ");
    out.emplace_back(set_cookie.substr(0, pos));
    if (pos == std::string_view::npos) break;
    set_cookie.remove_prefix(pos + 2);
  }
  return out;
}

inline bool has_part(std::string_view set_cookie, std::string_view part) {
  for (const std::string& p : parts(set_cookie)) {
    if (p == part) return true;
  }
  return false;
}

inline bool has_part_starting(std::string_view set_cookie, std::string_view prefix) {
  for (const std::string& p : parts(set_cookie)) {
    if (p.compare(0, prefix.size(), prefix) == 0) return true;
  }
  return false;
}

// The cookie value a Set-Cookie sets, checking that it names `name`.
inline std::string cookie_value(const std::string& set_cookie, std::string_view name = "sid") {
  std::string first = parts(set_cookie).front();
  std::string prefix = std::string(name) + "=";
  EXPECT_EQ(first.compare(0, prefix.size(), prefix), 0) << set_cookie;
  return first.substr(std::min(prefix.size(), first.size()));
}

inline bool contains_crlf_or_nul(std::string_view s) {
  return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos ||
         s.find('\0') != std::string_view::npos;
}

// A CountingStore, a manager over it, and sessions planted as an earlier
// request would have left them: the fixture of the session layer's tests.
class SessionFixture : public testing::Test {
 protected:
  std::shared_ptr<CountingStore> store = std::make_shared<CountingStore>();

  // The load mode every manager of the test uses (see ByLoadMode).
  virtual LoadMode load_mode() const { return LoadMode::lazy; }

  SessionManager manager(SessionManagerOptions options = {}) {
    options.load = load_mode();
    return SessionManager(store, std::move(options));
  }

  // A live session written straight into the store, as an earlier request
  // would have left it; the counters start from zero afterwards.
  std::string seed(const Fields& fields) {
    std::string id = generate_session_id();
    EXPECT_EQ(store->inner().save(id, creating(fields)), SaveResult::saved);
    store->reset();
    return id;
  }

  std::optional<Fields> stored(const std::string& id) { return store->inner().load(id); }
};

// The fixture run once per load mode (TEST_P, instantiated with
// by_load_mode): a behaviour test holds for lazy and eager loading alike;
// where the two differ (how many store calls, and when), the test says so.
class ByLoadMode : public SessionFixture, public testing::WithParamInterface<LoadMode> {
 protected:
  LoadMode load_mode() const override { return GetParam(); }
  bool lazy() const { return GetParam() == LoadMode::lazy; }
};

inline std::string load_mode_name(const testing::TestParamInfo<LoadMode>& info) {
  return info.param == LoadMode::lazy ? "Lazy" : "Eager";
}

}  // namespace redis_session::test
