#pragma once
// The shared fixtures of the session layer's unit tests (session_test,
// session_manager_test, cookie_test): one with the default options, one that
// runs a suite in both load modes; and the Set-Cookie readers they use.

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "redis_session/session_id.hpp"
#include "redis_session/session_manager.hpp"
#include "redis_session/session_store.hpp"
#include "support/counting_store.hpp"
#include "support/session_changes.hpp"

namespace redis_session {

// How gtest names a LoadMode in its messages (found by ADL).
inline void PrintTo(LoadMode mode, std::ostream* out) { *out << (mode == LoadMode::lazy ? "lazy" : "eager"); }

}  // namespace redis_session

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
// request would have left them: the fixture of the session layer's tests,
// over any gtest base (testing::Test, or TestWithParam for LoadModeFixture).
template <class Base>
class BasicSessionFixture : public Base {
 protected:
  std::shared_ptr<CountingStore> store = std::make_shared<CountingStore>();

  SessionManager manager(SessionManagerOptions options = {}) { return SessionManager(store, std::move(options)); }

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

// The library's default options (lazy loading).
using SessionFixture = BasicSessionFixture<testing::Test>;

// Options that load lazily, for the tests of what only lazy loading does
// (it is the default too; these tests say so rather than rely on it).
inline SessionManagerOptions lazy_options() {
  SessionManagerOptions options;
  options.load = LoadMode::lazy;
  return options;
}

// Runs a suite once per LoadMode: every manager() it builds loads in the
// mode of the run, whatever other options the test gives. Instantiate with
// load_mode_name so the runs are called Lazy and Eager.
class LoadModeFixture : public BasicSessionFixture<testing::TestWithParam<LoadMode>> {
 protected:
  bool lazy() const { return GetParam() == LoadMode::lazy; }

  // `options` with this run's load mode.
  SessionManagerOptions with_mode(SessionManagerOptions options = {}) const {
    options.load = GetParam();
    return options;
  }
  SessionManager manager(SessionManagerOptions options = {}) {
    return BasicSessionFixture::manager(with_mode(std::move(options)));
  }

  // The store calls open() makes for a session that the cookie names:
  // one load when eager, none when lazy.
  int loads_at_open() const { return lazy() ? 0 : 1; }
};

inline std::string load_mode_name(const testing::TestParamInfo<LoadMode>& info) {
  return info.param == LoadMode::lazy ? "Lazy" : "Eager";
}

inline const auto both_load_modes = testing::Values(LoadMode::lazy, LoadMode::eager);

}  // namespace redis_session::test
