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
  int mismatches = 0;  // an answer that contradicts an acknowledged write
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
          stats.mismatch(s.id + ": load shows n=" + std::to_string(seen.n) + " expected " + std::to_string(s.n) + ", " +
                         std::to_string(seen.fields.size()) + " fields vs " + std::to_string(s.fields.size()));
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

// `count` threads running `body(t, stop)` (t = 0..count-1), each until
// `stop`; stopped and joined by stop_and_join() or, should an assertion
// return early, at destruction.
class Workers {
 public:
  template <class Body>
  Workers(int count, Body body) {
    for (int t = 0; t < count; ++t) threads_.emplace_back([this, body, t] { body(t, stop_); });
  }
  ~Workers() { stop_and_join(); }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  void stop_and_join() {
    stop_ = true;
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// Waits (at most 10 s) until the load has made `n` calls.
inline void wait_for_ops(const std::atomic<long long>& ops, long long n) {
  const Clock::time_point begin = Clock::now();
  while (ops.load() < n && ms_between(begin, Clock::now()) < 10000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// How a store came through a failover sent at `sent`.
struct Recovery {
  long long recovery_ms = 0;  // `sent` -> first success after the last failed call (0: none failed; -1: no success)
  int failed_late = 0;        // failed calls started after `late`
};

inline Recovery recovery_of(const LoadStats& stats, const std::vector<Clock::time_point>& success_ends,
                            Clock::time_point sent, Clock::time_point late) {
  Recovery r;
  Clock::time_point last_error_end = sent;
  for (const LoadStats::Failure& f : stats.failures) {
    last_error_end = std::max(last_error_end, f.end);
    if (f.start > late) ++r.failed_late;
  }
  if (!stats.failures.empty()) {
    Clock::time_point recovered = Clock::time_point::max();
    for (const Clock::time_point& end : success_ends) {
      if (end > last_error_end) recovered = std::min(recovered, end);
    }
    r.recovery_ms = recovered == Clock::time_point::max() ? -1 : ms_between(sent, recovered);
  }
  return r;
}

}  // namespace redis_session::test
