#pragma once
// Load for the cluster and sentinel tests: threads that each own a few
// sessions and run load / save / increment on them, checking every answer
// against a model of what they were told was written. A call that fails
// leaves its session "uncertain" (it may or may not have been applied) until
// a later load shows the truth. Every failure is classified: a
// redis_session::Error (typed, counted by code) or anything else (untyped,
// always a test failure).

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/redis/topology.hpp"
#include "redis_session/session_store.hpp"

namespace redis_session::test {

using Clock = std::chrono::steady_clock;

inline long long ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// `count` valid session ids whose key "<ns>:<id>" hashes into [first, last].
inline std::vector<std::string> ids_in_slots(const std::string& ns, int first, int last, int count,
                                             const std::string& tag) {
  std::vector<std::string> ids;
  for (std::uint64_t i = 0; static_cast<int>(ids.size()) < count; ++i) {
    std::string id = tag + "-" + std::to_string(i);
    const int slot = redis::key_slot(ns + ":" + id);
    if (slot >= first && slot <= last) ids.push_back(std::move(id));
  }
  return ids;
}

// What happened, for the figures and the assertions.
struct LoadStats {
  std::mutex mutex;
  std::map<std::string, int> typed_errors;  // by error code message
  std::vector<std::string> samples;         // the first few messages
  int untyped_errors = 0;
  int mismatches = 0;                       // an answer that contradicts an acknowledged write
  std::vector<std::string> mismatch_samples;
  std::atomic<long long> ops{0};
  std::atomic<long long> errors{0};
  // Failed calls: start and end, and successes after, for windows.
  struct Failure {
    Clock::time_point start, end;
    std::string session;
  };
  std::vector<Failure> failures;

  void typed(const Error& e, Clock::time_point start, const std::string& session) {
    errors.fetch_add(1);
    std::lock_guard<std::mutex> lock(mutex);
    ++typed_errors[e.code().message()];
    if (samples.size() < 8) samples.push_back(e.what());
    failures.push_back({start, Clock::now(), session});
  }
  void untyped(const std::string& what, Clock::time_point start, const std::string& session) {
    errors.fetch_add(1);
    std::lock_guard<std::mutex> lock(mutex);
    ++untyped_errors;
    if (samples.size() < 8) samples.push_back("UNTYPED: " + what);
    failures.push_back({start, Clock::now(), session});
  }
  void mismatch(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex);
    ++mismatches;
    if (mismatch_samples.size() < 8) mismatch_samples.push_back(what);
  }
  std::string summary() {
    std::lock_guard<std::mutex> lock(mutex);
    std::string s;
    for (const auto& [code, n] : typed_errors) s += code + " x" + std::to_string(n) + "; ";
    if (untyped_errors > 0) s += "untyped x" + std::to_string(untyped_errors) + "; ";
    for (const std::string& m : samples) s += "\n  e.g. " + m;
    for (const std::string& m : mismatch_samples) s += "\n  mismatch: " + m;
    return s.empty() ? "none" : s;
  }
};

// One session as its owning thread believes it to be.
struct ModelSession {
  std::string id;
  long long n = 0;
  std::map<std::string, long long> fields;  // f0..f4
  bool uncertain = false;                   // a failed write may or may not have landed
  Clock::time_point last_success{};
};

// One acknowledged write, for checks against a node afterwards.
struct AckedWrite {
  std::string session;
  std::string field;
  long long value = 0;
  Clock::time_point start;  // when the call began
  bool increment = false;
};

// Runs op `i` of a thread on `s`: i % 3 picks load, save or increment.
// Returns true when the call succeeded.
inline bool run_op(SessionStore& store, ModelSession& s, long long i, LoadStats& stats,
                   std::vector<AckedWrite>* acked = nullptr) {
  const Clock::time_point start = Clock::now();
  try {
    switch (i % 3) {
      case 0: {
        const std::optional<Fields> loaded = store.load(s.id);
        if (!loaded) {
          stats.mismatch(s.id + ": load says absent");
          break;
        }
        ModelSession seen;
        for (const auto& [name, value] : *loaded) {
          if (!value.is_number_integer()) {
            stats.mismatch(s.id + ": field " + name + " is not an integer");
            continue;
          }
          if (name == "n") {
            seen.n = value.get<long long>();
          } else {
            seen.fields[name] = value.get<long long>();
          }
        }
        if (!s.uncertain && (seen.n != s.n || seen.fields != s.fields)) {
          stats.mismatch(s.id + ": load shows n=" + std::to_string(seen.n) + " expected " + std::to_string(s.n) +
                         ", " + std::to_string(seen.fields.size()) + " fields vs " +
                         std::to_string(s.fields.size()));
        }
        // The truth now, whatever we believed.
        s.n = seen.n;
        s.fields = seen.fields;
        s.uncertain = false;
        break;
      }
      case 1: {
        const std::string field = "f" + std::to_string(i % 5);
        SessionChanges changes;
        changes.mode = SessionChanges::Mode::update;
        changes.set[field] = i;
        const SaveResult r = store.save(s.id, changes);
        if (r != SaveResult::saved) {
          stats.mismatch(s.id + ": save answered " + std::to_string(static_cast<int>(r)));
          break;
        }
        s.fields[field] = i;
        if (acked != nullptr) acked->push_back({s.id, field, i, start, false});
        break;
      }
      default: {
        const std::optional<long long> v = store.increment(s.id, "n", 1, false);
        if (!v) {
          stats.mismatch(s.id + ": increment says the session is gone");
          break;
        }
        if (!s.uncertain && *v != s.n + 1) {
          stats.mismatch(s.id + ": increment returned " + std::to_string(*v) + " after " + std::to_string(s.n));
        }
        s.n = *v;
        if (acked != nullptr) acked->push_back({s.id, "n", *v, start, true});
        break;
      }
    }
    stats.ops.fetch_add(1);
    s.last_success = Clock::now();
    return true;
  } catch (const Error& e) {
    s.uncertain = true;
    stats.typed(e, start, s.id);
  } catch (const std::exception& e) {
    s.uncertain = true;
    stats.untyped(e.what(), start, s.id);
  }
  return false;
}

// Creates the sessions (n = 0, no other field), retrying nothing.
inline std::vector<ModelSession> create_sessions(SessionStore& store, const std::vector<std::string>& ids) {
  std::vector<ModelSession> sessions;
  for (const std::string& id : ids) {
    SessionChanges changes;
    changes.mode = SessionChanges::Mode::create;
    changes.set["n"] = 0;
    if (store.save(id, changes) != SaveResult::saved) throw std::runtime_error("could not create " + id);
    ModelSession s;
    s.id = id;
    s.last_success = Clock::now();
    sessions.push_back(std::move(s));
  }
  return sessions;
}

}  // namespace redis_session::test
