#pragma once
// SessionChanges as the tests of stores write them: a creating save, an
// updating save.

#include <string>
#include <utility>
#include <vector>

#include "redis_session/session_store.hpp"

namespace redis_session::test {

inline SessionChanges creating(Fields set = {}) {
  SessionChanges changes;
  changes.mode = SessionChanges::Mode::create;
  changes.set = std::move(set);
  return changes;
}

inline SessionChanges updating(Fields set = {}, std::vector<std::string> erase = {}) {
  SessionChanges changes;
  changes.mode = SessionChanges::Mode::update;
  changes.set = std::move(set);
  changes.erase = std::move(erase);
  return changes;
}

}  // namespace redis_session::test
