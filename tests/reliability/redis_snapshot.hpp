#pragma once
// Test helper for the reliability suite: a snapshot of every key in a Redis
// database (type, DUMP bytes, absolute expiry time) and a readable diff of
// two snapshots, so a test can prove that "nothing else in Redis changed".
// PEXPIRETIME (Redis 7) gives the expiry as a point in time, so an untouched
// key compares equal however long the test took.
//
// Thread safety: none; one thread per Connection.

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/redis/connection.hpp"

namespace redis_session::test {

struct KeyState {
  std::string type;
  std::string dump;          // DUMP: the value's bytes, with an RDB version and checksum
  long long expire_at = -1;  // PEXPIRETIME: ms since the epoch, -1 for none
  bool operator==(const KeyState& o) const { return type == o.type && dump == o.dump && expire_at == o.expire_at; }
  bool operator!=(const KeyState& o) const { return !(*this == o); }
};

using Snapshot = std::map<std::string, KeyState>;

// Printable form of binary text: non-printable bytes as \xHH.
inline std::string printable(std::string_view s) {
  std::string out;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f && c != '\\') {
      out.push_back(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    }
  }
  return out;
}

inline Snapshot snapshot(redis::Connection& c) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  do {
    redis::Reply r = c.command({"SCAN", cursor, "COUNT", "1000"});
    cursor = r.elements.at(0).str;
    for (redis::Reply& k : r.elements.at(1).elements) keys.push_back(std::move(k.str));
  } while (cursor != "0");
  std::set<std::string> unique(keys.begin(), keys.end());
  Snapshot out;
  if (unique.empty()) return out;
  redis::Request request;
  for (const std::string& k : unique) {
    request.push({"TYPE", k});
    request.push({"DUMP", k});
    request.push({"PEXPIRETIME", k});
  }
  std::vector<redis::Reply> replies = c.execute(request);
  std::size_t i = 0;
  for (const std::string& k : unique) {
    KeyState s;
    s.type = replies[i].str;
    s.dump = replies[i + 1].str;
    s.expire_at = replies[i + 2].integer;
    i += 3;
    if (s.type == "none") continue;  // expired or deleted between SCAN and TYPE
    out.emplace(k, std::move(s));
  }
  return out;
}

// "" when equal outside `ignore`; otherwise one line per differing key.
inline std::string diff(const Snapshot& before, const Snapshot& after, const std::set<std::string>& ignore = {}) {
  std::string out;
  for (const auto& [key, state] : before) {
    if (ignore.count(key)) continue;
    auto it = after.find(key);
    if (it == after.end()) {
      out += "removed: " + printable(key) + "\n";
    } else if (it->second.type != state.type || it->second.dump != state.dump) {
      out += "content changed: " + printable(key) + " (" + state.type + " -> " + it->second.type + ")\n";
    } else if (it->second.expire_at != state.expire_at) {
      out += "expiry changed: " + printable(key) + " (" + std::to_string(state.expire_at) + " -> " +
             std::to_string(it->second.expire_at) + ")\n";
    }
  }
  for (const auto& [key, state] : after) {
    if (ignore.count(key) || before.count(key)) continue;
    out += "added: " + printable(key) + " (" + state.type + ")\n";
  }
  return out;
}

}  // namespace redis_session::test
