#pragma once
// The body of the SessionStore conformance suite (see store_conformance_test.cpp
// for what it proves and how to add a store). Shared by every file that runs
// it on some stores: include it after defining, in namespace redis_session's
// anonymous namespace, `StoreTypes` (a ::testing::Types<> of traits structs).
// It defines the typed suite StoreConformanceTest over those types, so each
// including file is one test program.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "redis_session/error.hpp"
#include "redis_session/session_store.hpp"
#include "support/messages.hpp"
#include "support/session_changes.hpp"

namespace redis_session {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

template <class Traits>
class StoreConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { Traits::set_up_suite(); }
  static void TearDownTestSuite() { Traits::tear_down_suite(); }
};

struct StoreNames {
  template <class Traits>
  static std::string GetName(int) {
    return Traits::name;
  }
};

TYPED_TEST_SUITE(StoreConformanceTest, StoreTypes, StoreNames);

// ---- helpers ---------------------------------------------------------------

// A fresh, valid session id: the running test's name plus a process-wide
// counter, so no two sessions of a run share an id even on a shared server.
std::string new_id() {
  static std::atomic<std::uint64_t> counter{0};
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string id = info != nullptr ? info->name() : "test";
  for (char& c : id) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
    if (!ok) c = '_';
  }
  id.resize(std::min<std::size_t>(id.size(), 200));
  return id + "." + std::to_string(counter.fetch_add(1));
}

ExpiryOptions idle_expiry(std::chrono::milliseconds idle,
                          std::optional<std::chrono::milliseconds> absolute_lifetime = std::nullopt) {
  ExpiryOptions expiry;
  expiry.idle_timeout = idle;
  expiry.absolute_lifetime = absolute_lifetime;
  return expiry;
}

std::chrono::milliseconds since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// Short, printable rendering for failure messages (values may be 100 KB).
std::string preview(const json& value) {
  std::string text = value.dump(-1, ' ', true, json::error_handler_t::replace);
  if (text.size() > 120) text = text.substr(0, 120) + "... (" + std::to_string(text.size()) + " bytes)";
  return text;
}

// Integers compare by mathematical value whatever their signedness (a store
// may hand back 5 stored as signed as unsigned, as nlohmann's parser does);
// nlohmann's own == would call UINT64_MAX equal to -1.
bool same_integer(const json& a, const json& b) {
  auto split = [](const json& v) {
    if (v.is_number_unsigned()) return std::make_pair(false, v.get<std::uint64_t>());
    const auto s = v.get<std::int64_t>();
    return std::make_pair(s < 0, static_cast<std::uint64_t>(s));
  };
  return split(a) == split(b);
}

// Equal values of the same JSON kind: unlike nlohmann's ==, a double never
// equals an integer, so 2.0 must come back as a double.
bool same_json(const json& a, const json& b) {
  if (a.is_number_integer() && b.is_number_integer()) return same_integer(a, b);
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
      if (!same_json(a[i], b[i])) return false;
    }
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (auto it = a.begin(); it != a.end(); ++it) {
      auto other = b.find(it.key());
      if (other == b.end() || !same_json(it.value(), *other)) return false;
    }
    return true;
  }
  if (a.is_number_float()) {
    // Bitwise, so -0.0 stays -0.0.
    const double x = a.get<double>();
    const double y = b.get<double>();
    return x == y && std::signbit(x) == std::signbit(y);
  }
  return a == b;
}

::testing::AssertionResult same_fields(const Fields& expected, const std::optional<Fields>& actual) {
  if (!actual) return ::testing::AssertionFailure() << "the session is absent (load returned nullopt)";
  for (const auto& [name, value] : expected) {
    auto it = actual->find(name);
    if (it == actual->end()) return ::testing::AssertionFailure() << "field " << preview(json(name)) << " is missing";
    if (!same_json(value, it->second)) {
      return ::testing::AssertionFailure()
             << "field " << preview(json(name)) << ": expected " << preview(value) << ", got " << preview(it->second);
    }
  }
  for (const auto& field : *actual) {
    if (expected.find(field.first) == expected.end()) {
      return ::testing::AssertionFailure()
             << "unexpected field " << preview(json(field.first)) << " = " << preview(field.second);
    }
  }
  return ::testing::AssertionSuccess();
}

// Runs body(0..n-1) on n threads released together, so they really race.
// An exception on any thread is rethrown here (and fails the test).
template <class Body>
void race(int n, Body body) {
  std::atomic<int> ready{0};
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(n));
  std::vector<std::thread> threads;
  threads.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.fetch_add(1);
      while (ready.load() < n) std::this_thread::yield();
      try {
        body(i);
      } catch (...) {
        errors[static_cast<std::size_t>(i)] = std::current_exception();
      }
    });
  }
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

using test::creating;
using test::message_of;
using test::updating;

// ---- values round-trip -------------------------------------------------------

TYPED_TEST(StoreConformanceTest, RoundTripsEveryJsonType) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  const Fields values{
      {"null", nullptr},
      {"true", true},
      {"false", false},
      {"int", 42},
      {"zero", 0},
      {"negative", -42},
      {"int64_max", std::numeric_limits<std::int64_t>::max()},
      {"int64_min", std::numeric_limits<std::int64_t>::min()},
      {"unsigned", 7u},
      {"uint64_max", std::numeric_limits<std::uint64_t>::max()},
      {"double", 3.25},
      {"negative_double", -0.1},
      {"whole_double", 2.0},
      {"negative_zero", -0.0},
      {"tiny_double", 5e-324},
      {"huge_double", 1.7976931348623157e308},
      {"string", "hello"},
      {"empty_string", ""},
      {"numeric_string", "42"},
      {"negative_numeric_string", "-7"},
      {"unicode", "gr\u00fc\u00dfe, \u4e16\u754c, \U0001F36A"},
      {"array", json::array({1, "two", 3.5, nullptr, false, json::array({json::object()})})},
      {"nested", json{{"a", {{"b", json::array({1, 2, {{"c", "d"}}})}}}, {"e", nullptr}}},
      {"empty_object", json::object()},
      {"empty_array", json::array()},
  };
  ASSERT_EQ(store->save(id, creating(values)), SaveResult::saved);
  EXPECT_TRUE(same_fields(values, store->load(id)));
  // And again after an update that changes every value's type.
  Fields swapped;
  for (const auto& [name, value] : values) swapped[name] = value.is_string() ? json(1) : json("was " + name);
  ASSERT_EQ(store->save(id, updating(swapped)), SaveResult::saved);
  EXPECT_TRUE(same_fields(swapped, store->load(id)));
  ASSERT_EQ(store->save(id, updating(values)), SaveResult::saved);
  EXPECT_TRUE(same_fields(values, store->load(id)));
}

TYPED_TEST(StoreConformanceTest, RoundTripsBinaryishStringsAndFieldNames) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  std::string controls;
  for (int c = 1; c < 32; ++c) controls += static_cast<char>(c);
  controls += '\x7f';
  std::string ascii;
  for (int c = 0; c < 128; ++c) ascii += static_cast<char>(c);
  const std::string pattern("ab\0\"\\\n\r\t{}:,\x01", 13);
  std::string big(100 * 1024, ' ');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = pattern[i % pattern.size()];

  const Fields values{
      {"nul", std::string("a\0b\0", 4)},
      {"only_nul", std::string(1, '\0')},
      {"crlf", "line1\r\nline2\r\n"},
      {"controls", controls},
      {"ascii", ascii},
      {"quotes", "\"'`\\{}[]:,"},
      {"json_lookalike", "{\"a\":1}"},
      {"big", big},
      // Field names may hold any bytes but a leading NUL.
      {"with space", 1},
      {std::string("x\0y", 3), 2},
      {"colon:star*brace{}", 3},
      {"\u00fcn\u00efc\u00f6d\u00e9", 4},
      {std::string(1024, 'n'), 5},
  };
  ASSERT_EQ(store->save(id, creating(values)), SaveResult::saved);
  EXPECT_TRUE(same_fields(values, store->load(id)));
}

// ---- load and save -------------------------------------------------------------

TYPED_TEST(StoreConformanceTest, LoadOfAbsentIdIsNullopt) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  EXPECT_FALSE(store->load(id).has_value());
  EXPECT_FALSE(store->exists(id));  // load does not create
  EXPECT_EQ(store->count(), 0u);
}

TYPED_TEST(StoreConformanceTest, LiveEmptySessionLoadsAsEmptyFields) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  ASSERT_EQ(store->save(id, creating()), SaveResult::saved);
  const std::optional<Fields> loaded = store->load(id);
  ASSERT_TRUE(loaded.has_value()) << "a live session with no fields must load as {}, not nullopt";
  EXPECT_TRUE(loaded->empty());
  EXPECT_TRUE(store->exists(id));
  EXPECT_EQ(store->count(), 1u);
  EXPECT_EQ(store->save(id, updating()), SaveResult::saved);
}

TYPED_TEST(StoreConformanceTest, ErasingEveryFieldKeepsTheSessionAlive) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  ASSERT_EQ(store->save(id, creating({{"a", 1}, {"b", 2}})), SaveResult::saved);
  ASSERT_EQ(store->save(id, updating({}, {"a", "b"})), SaveResult::saved);
  EXPECT_TRUE(same_fields({}, store->load(id)));
  EXPECT_TRUE(store->exists(id));
  EXPECT_EQ(store->save(id, updating({{"c", 3}})), SaveResult::saved);
  EXPECT_TRUE(same_fields({{"c", 3}}, store->load(id)));
}

TYPED_TEST(StoreConformanceTest, SaveWritesOnlyTheChanges) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  ASSERT_EQ(store->save(id, creating({{"keep", "k"}, {"change", 1}, {"drop", true}})), SaveResult::saved);
  // Set and erase in one save; erasing a field that never existed is fine.
  ASSERT_EQ(store->save(id, updating({{"change", "now a string"}, {"add", json::array({1})}}, {"drop", "never"})),
            SaveResult::saved);
  EXPECT_TRUE(same_fields({{"keep", "k"}, {"change", "now a string"}, {"add", json::array({1})}}, store->load(id)));
  // Another session is untouched by all of this.
  const std::string other = new_id();
  ASSERT_EQ(store->save(other, creating({{"keep", "other"}})), SaveResult::saved);
  ASSERT_EQ(store->save(id, updating({}, {"keep"})), SaveResult::saved);
  EXPECT_TRUE(same_fields({{"keep", "other"}}, store->load(other)));
  EXPECT_TRUE(same_fields({{"change", "now a string"}, {"add", json::array({1})}}, store->load(id)));
}

TYPED_TEST(StoreConformanceTest, CreateOfTakenIdReportsExistsAndWritesNothing) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  ASSERT_EQ(store->save(id, creating({{"a", 1}})), SaveResult::saved);
  EXPECT_EQ(store->save(id, creating({{"a", 2}, {"b", 2}})), SaveResult::exists);
  EXPECT_EQ(store->save(id, creating()), SaveResult::exists);
  EXPECT_TRUE(same_fields({{"a", 1}}, store->load(id)));
}

TYPED_TEST(StoreConformanceTest, UpdateOfDeadSessionIsGoneAndNeverResurrects) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string never = new_id();
  EXPECT_EQ(store->save(never, updating({{"a", 1}})), SaveResult::gone);
  EXPECT_EQ(store->save(never, updating()), SaveResult::gone);
  EXPECT_FALSE(store->exists(never));

  const std::string id = new_id();
  ASSERT_EQ(store->save(id, creating({{"a", 1}})), SaveResult::saved);
  ASSERT_TRUE(store->destroy(id));
  EXPECT_EQ(store->save(id, updating({{"b", 2}})), SaveResult::gone);
  EXPECT_EQ(store->save(id, updating({}, {"a"})), SaveResult::gone);
  EXPECT_EQ(store->save(id, updating()), SaveResult::gone);
  EXPECT_FALSE(store->load(id).has_value());
  EXPECT_FALSE(store->exists(id));
  EXPECT_EQ(store->count(), 0u);

  // A create may take the id again, and starts from nothing.
  ASSERT_EQ(store->save(id, creating({{"c", 3}})), SaveResult::saved);
  EXPECT_TRUE(same_fields({{"c", 3}}, store->load(id)));
}

// ---- increment ------------------------------------------------------------------

TYPED_TEST(StoreConformanceTest, ConcurrentIncrementsLandExactly) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  constexpr int threads = 16;
  constexpr int per_thread = 1000;
  constexpr long long total = static_cast<long long>(threads) * per_thread;
  std::vector<std::vector<long long>> seen(threads);

  // All threads create the session at once, then keep adding.
  race(threads, [&](int t) {
    auto& mine = seen[static_cast<std::size_t>(t)];
    for (int i = 0; i < per_thread; ++i) mine.push_back(store->increment(id, "n", 1, true).value_or(-1));
  });
  // Each increment returned its own new value: together exactly 1..total.
  std::vector<long long> all;
  for (const auto& mine : seen) all.insert(all.end(), mine.begin(), mine.end());
  std::sort(all.begin(), all.end());
  ASSERT_EQ(all.size(), static_cast<std::size_t>(total));
  for (long long i = 0; i < total; ++i) ASSERT_EQ(all[static_cast<std::size_t>(i)], i + 1);
  EXPECT_TRUE(same_fields({{"n", total}}, store->load(id)));

  race(threads, [&](int) {
    for (int i = 0; i < per_thread; ++i) store->increment(id, "n", -2, false);
  });
  EXPECT_TRUE(same_fields({{"n", -total}}, store->load(id)));
}

TYPED_TEST(StoreConformanceTest, IncrementWithoutCreateOnDeadSessionCreatesNothing) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  EXPECT_EQ(store->increment(id, "n", 1, false), std::nullopt);
  EXPECT_FALSE(store->exists(id));
  EXPECT_FALSE(store->load(id).has_value());

  ASSERT_EQ(store->save(id, creating({{"n", 5}})), SaveResult::saved);
  ASSERT_TRUE(store->destroy(id));
  EXPECT_EQ(store->increment(id, "n", 1, false), std::nullopt);
  EXPECT_FALSE(store->exists(id));
  EXPECT_FALSE(store->load(id).has_value());
  EXPECT_EQ(store->count(), 0u);
}

TYPED_TEST(StoreConformanceTest, IncrementWithCreateCreatesTheSession) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  EXPECT_EQ(store->increment(id, "n", 5, true), std::optional<long long>(5));
  EXPECT_TRUE(store->exists(id));
  EXPECT_TRUE(same_fields({{"n", 5}}, store->load(id)));
  EXPECT_EQ(store->increment(id, "n", 5, true), std::optional<long long>(10));

  // On a live session an absent field starts from 0, create or not.
  const std::string other = new_id();
  ASSERT_EQ(store->save(other, creating({{"a", "x"}})), SaveResult::saved);
  EXPECT_EQ(store->increment(other, "b", -3, false), std::optional<long long>(-3));
  EXPECT_TRUE(same_fields({{"a", "x"}, {"b", -3}}, store->load(other)));
}

TYPED_TEST(StoreConformanceTest, IncrementOfNonIntegerFieldThrows) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  const Fields values{
      {"secret_string", "s3cr3t-value"},
      {"numeric_string", "5"},
      {"double", 1.5},
      {"whole_double", 2.0},
      {"bool", true},
      {"null", nullptr},
      {"array", json::array({1})},
      {"object", {{"a", 1}}},
  };
  ASSERT_EQ(store->save(id, creating(values)), SaveResult::saved);
  for (const auto& field : values) {
    SCOPED_TRACE(field.first);
    EXPECT_THROW(store->increment(id, field.first, 1, false), SessionStateError);
    EXPECT_THROW(store->increment(id, field.first, 1, true), SessionStateError);
  }
  const std::string message = message_of([&] { store->increment(id, "secret_string", 1, false); });
  EXPECT_NE(message.find("secret_string"), std::string::npos) << message;
  EXPECT_EQ(message.find("s3cr3t"), std::string::npos) << "the message must not show the value: " << message;
  EXPECT_TRUE(same_fields(values, store->load(id)));
}

TYPED_TEST(StoreConformanceTest, IncrementOverflowThrowsAndChangesNothing) {
  constexpr long long max = std::numeric_limits<long long>::max();
  constexpr long long min = std::numeric_limits<long long>::min();
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  ASSERT_EQ(store->save(id, creating({{"max", max}, {"min", min}})), SaveResult::saved);
  EXPECT_THROW(store->increment(id, "max", 1, false), SessionStateError);
  EXPECT_THROW(store->increment(id, "max", max, false), SessionStateError);
  EXPECT_THROW(store->increment(id, "min", -1, false), SessionStateError);
  EXPECT_THROW(store->increment(id, "min", min, false), SessionStateError);
  EXPECT_TRUE(same_fields({{"max", max}, {"min", min}}, store->load(id)));
  // The extremes themselves are fine.
  EXPECT_EQ(store->increment(id, "max", -1, false), std::optional<long long>(max - 1));
  EXPECT_EQ(store->increment(id, "max", 1, false), std::optional<long long>(max));
  EXPECT_EQ(store->increment(id, "up", max, false), std::optional<long long>(max));
  EXPECT_THROW(store->increment(id, "up", 1, false), SessionStateError);
  EXPECT_EQ(store->increment(id, "down", min, false), std::optional<long long>(min));
  EXPECT_EQ(store->increment(id, "min", max, false), std::optional<long long>(-1));
  EXPECT_TRUE(same_fields({{"max", max}, {"min", -1}, {"up", max}, {"down", min}}, store->load(id)));

  // An unsigned value beyond the signed range cannot be a starting point.
  const Fields huge{{"huge", std::numeric_limits<std::uint64_t>::max()}};
  ASSERT_EQ(store->save(id, updating(huge)), SaveResult::saved);
  EXPECT_THROW(store->increment(id, "huge", -1, false), SessionStateError);
  EXPECT_TRUE(same_fields(huge, Fields{{"huge", store->load(id).value().at("huge")}}));
}

TYPED_TEST(StoreConformanceTest, IncrementOfSavedIntegerValue) {
  constexpr long long max = std::numeric_limits<long long>::max();
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  ASSERT_EQ(store->save(id, creating({{"n", 41}, {"neg", -5}, {"u", 7u}, {"big", max - 1}, {"zero", 0}})),
            SaveResult::saved);
  EXPECT_EQ(store->increment(id, "n", 1, false), std::optional<long long>(42));
  EXPECT_EQ(store->increment(id, "neg", 10, false), std::optional<long long>(5));
  EXPECT_EQ(store->increment(id, "u", 1, false), std::optional<long long>(8));
  EXPECT_EQ(store->increment(id, "big", 1, false), std::optional<long long>(max));
  EXPECT_EQ(store->increment(id, "zero", -1, false), std::optional<long long>(-1));
  EXPECT_TRUE(same_fields({{"n", 42}, {"neg", 5}, {"u", 8}, {"big", max}, {"zero", -1}}, store->load(id)));
  // An incremented value can be overwritten by a save, and incremented again.
  ASSERT_EQ(store->save(id, updating({{"n", 100}})), SaveResult::saved);
  EXPECT_EQ(store->increment(id, "n", 1, false), std::optional<long long>(101));
}

// ---- races on one session ---------------------------------------------------------

TYPED_TEST(StoreConformanceTest, ConcurrentWritersOnDifferentFieldsBothPersist) {
  auto store = TypeParam::make(ExpiryOptions{});
  for (int trial = 0; trial < 1000; ++trial) {
    const std::string id = new_id();
    ASSERT_EQ(store->save(id, creating({{"base", trial}})), SaveResult::saved);
    SaveResult results[2] = {SaveResult::gone, SaveResult::gone};
    race(2, [&](int t) { results[t] = store->save(id, updating({{"writer" + std::to_string(t), trial}})); });
    ASSERT_EQ(results[0], SaveResult::saved) << "trial " << trial;
    ASSERT_EQ(results[1], SaveResult::saved) << "trial " << trial;
    ASSERT_TRUE(same_fields({{"base", trial}, {"writer0", trial}, {"writer1", trial}}, store->load(id)))
        << "trial " << trial;
  }
}

TYPED_TEST(StoreConformanceTest, SaveRacingDestroyNeverResurrects) {
  auto store = TypeParam::make(ExpiryOptions{});
  for (int trial = 0; trial < 1000; ++trial) {
    const std::string id = new_id();
    ASSERT_EQ(store->save(id, creating({{"a", 1}, {"n", 0}})), SaveResult::saved);
    bool destroyed = false;
    SaveResult saved = SaveResult::exists;
    std::optional<long long> incremented;
    race(3, [&](int t) {
      if (t == 0) destroyed = store->destroy(id);
      if (t == 1) saved = store->save(id, updating({{"b", 2}}));
      if (t == 2) incremented = store->increment(id, "n", 1, false);
    });
    // Whatever the order, the destroy found the session alive, and anything
    // after it was refused: the session stays dead.
    ASSERT_TRUE(destroyed) << "trial " << trial;
    ASSERT_TRUE(saved == SaveResult::saved || saved == SaveResult::gone) << "trial " << trial;
    ASSERT_TRUE(!incremented || *incremented == 1) << "trial " << trial;
    ASSERT_FALSE(store->load(id).has_value()) << "trial " << trial << ": a late write resurrected the session";
    ASSERT_FALSE(store->exists(id)) << "trial " << trial;
  }
  EXPECT_EQ(store->count(), 0u);
}

// ---- regenerate ---------------------------------------------------------------------

TYPED_TEST(StoreConformanceTest, RegenerateKeepsDataAndKillsTheOldId) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string old_id = new_id();
  const std::string new_session_id = new_id();
  const Fields data{{"user", "alice"}, {"n", 1}, {"cart", json::array({1, 2})}};
  ASSERT_EQ(store->save(old_id, creating(data)), SaveResult::saved);
  ASSERT_EQ(store->regenerate(old_id, new_session_id), RegenerateResult::moved);

  EXPECT_TRUE(same_fields(data, store->load(new_session_id)));
  EXPECT_FALSE(store->load(old_id).has_value());
  EXPECT_FALSE(store->exists(old_id));
  EXPECT_EQ(store->save(old_id, updating({{"late", true}})), SaveResult::gone);
  EXPECT_EQ(store->increment(old_id, "n", 1, false), std::nullopt);
  EXPECT_FALSE(store->touch(old_id));
  EXPECT_FALSE(store->destroy(old_id));
  EXPECT_EQ(store->regenerate(old_id, new_id()), RegenerateResult::gone);
  EXPECT_FALSE(store->load(old_id).has_value());
  EXPECT_EQ(store->count(), 1u);
  EXPECT_EQ(store->ids(), std::vector<std::string>{new_session_id});

  // The new id is an ordinary live session.
  EXPECT_EQ(store->save(new_session_id, updating({{"n", 2}})), SaveResult::saved);
  EXPECT_EQ(store->increment(new_session_id, "n", 1, false), std::optional<long long>(3));
  EXPECT_TRUE(same_fields({{"user", "alice"}, {"n", 3}, {"cart", json::array({1, 2})}}, store->load(new_session_id)));
}

TYPED_TEST(StoreConformanceTest, RegenerateToTakenIdReportsExistsAndMovesNothing) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string a = new_id();
  const std::string b = new_id();
  ASSERT_EQ(store->save(a, creating({{"x", 1}})), SaveResult::saved);
  ASSERT_EQ(store->save(b, creating({{"y", 2}})), SaveResult::saved);
  EXPECT_EQ(store->regenerate(a, b), RegenerateResult::exists);
  EXPECT_TRUE(same_fields({{"x", 1}}, store->load(a)));
  EXPECT_TRUE(same_fields({{"y", 2}}, store->load(b)));
  EXPECT_EQ(store->count(), 2u);
  // The old session takes writes as before (a cluster store marks it as
  // moving while it copies it, and must take the mark off again).
  EXPECT_EQ(store->save(a, updating({{"z", 3}})), SaveResult::saved);
  EXPECT_EQ(store->increment(a, "x", 1, false), std::optional<long long>(2));
  EXPECT_EQ(store->regenerate(a, new_id()), RegenerateResult::moved);
}

TYPED_TEST(StoreConformanceTest, RegenerateOfDeadSessionIsGone) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string never = new_id();
  const std::string target = new_id();
  EXPECT_EQ(store->regenerate(never, target), RegenerateResult::gone);
  EXPECT_FALSE(store->exists(target));

  const std::string destroyed = new_id();
  ASSERT_EQ(store->save(destroyed, creating({{"a", 1}})), SaveResult::saved);
  ASSERT_TRUE(store->destroy(destroyed));
  EXPECT_EQ(store->regenerate(destroyed, target), RegenerateResult::gone);
  EXPECT_FALSE(store->exists(target));
  EXPECT_FALSE(store->exists(destroyed));

  // A taken new id is reported first, even when the old one is dead.
  const std::string taken = new_id();
  ASSERT_EQ(store->save(taken, creating({{"t", 1}})), SaveResult::saved);
  EXPECT_EQ(store->regenerate(never, taken), RegenerateResult::exists);
  EXPECT_TRUE(same_fields({{"t", 1}}, store->load(taken)));
  EXPECT_EQ(store->count(), 1u);
}

// 300 times: a session created with `initial` is regenerated while
// `other(from)` runs on its old id at the same moment; the move must win,
// the old id must be dead, and check(to, trial) judges what arrived.
template <class Other, class Check>
void race_regenerate(SessionStore& store, const Fields& initial, Other other, Check check) {
  for (int trial = 0; trial < 300; ++trial) {
    const std::string from = new_id();
    const std::string to = new_id();
    ASSERT_EQ(store.save(from, creating(initial)), SaveResult::saved);
    RegenerateResult moved = RegenerateResult::gone;
    race(2, [&](int t) {
      if (t == 0) moved = store.regenerate(from, to);
      if (t == 1) other(from);
    });
    ASSERT_EQ(moved, RegenerateResult::moved) << "trial " << trial;
    check(to, trial);
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_FALSE(store.exists(from)) << "trial " << trial;
  }
}

TYPED_TEST(StoreConformanceTest, RegenerateRacingSaveLosesNothing) {
  auto store = TypeParam::make(ExpiryOptions{});
  SaveResult saved = SaveResult::exists;
  race_regenerate(
      *store, {{"a", 1}},
      [&](const std::string& from) {
        saved = store->save(from, updating({{"b", 2}}));
      },
      [&](const std::string& to, int trial) {
        // A save that landed before the move travelled with it; one after it was refused.
        if (saved == SaveResult::saved) {
          ASSERT_TRUE(same_fields({{"a", 1}, {"b", 2}}, store->load(to))) << "trial " << trial;
        } else {
          ASSERT_EQ(saved, SaveResult::gone) << "trial " << trial;
          ASSERT_TRUE(same_fields({{"a", 1}}, store->load(to))) << "trial " << trial;
        }
      });
}

TYPED_TEST(StoreConformanceTest, RegenerateRacingIncrementLosesNothing) {
  auto store = TypeParam::make(ExpiryOptions{});
  std::optional<long long> counted;
  race_regenerate(
      *store, {{"n", 1}}, [&](const std::string& from) { counted = store->increment(from, "n", 1, false); },
      [&](const std::string& to, int trial) {
        // An acknowledged increment travelled with the move; one after it found no session.
        const long long expected = counted ? 2 : 1;
        if (counted) {
          ASSERT_EQ(*counted, 2) << "trial " << trial;
        }
        ASSERT_TRUE(same_fields({{"n", expected}}, store->load(to))) << "trial " << trial;
      });
}

// ---- expiry (timings: "alive" checked well before a deadline, "dead" well after) ----

TYPED_TEST(StoreConformanceTest, IdleExpirySlidesOnEveryUse) {
  auto store = TypeParam::make(idle_expiry(600ms));
  const std::string id = new_id();
  const std::string unused = new_id();
  ASSERT_EQ(store->save(unused, creating({{"n", 0}})), SaveResult::saved);
  ASSERT_EQ(store->save(id, creating({{"n", 0}})), SaveResult::saved);
  // Each use comes 350 ms after the previous one: inside the 600 ms window
  // only because that previous use slid it; the chain outlives one window
  // several times over.
  std::this_thread::sleep_for(350ms);
  ASSERT_TRUE(store->touch(id)) << "350 ms after the create";
  std::this_thread::sleep_for(350ms);
  ASSERT_TRUE(store->load(id).has_value()) << "350 ms after the touch";
  std::this_thread::sleep_for(350ms);
  ASSERT_EQ(store->save(id, updating()), SaveResult::saved) << "350 ms after the load";
  std::this_thread::sleep_for(350ms);
  ASSERT_EQ(store->increment(id, "n", 1, false), std::optional<long long>(1)) << "350 ms after the save";
  std::this_thread::sleep_for(350ms);
  ASSERT_TRUE(store->exists(id)) << "350 ms after the increment";

  // Unused for 2.5 idle windows: dead to every operation. (The order
  // matters for stores that purge lazily: each check meets the expired
  // session before any other call could have cleaned it up.)
  std::this_thread::sleep_for(1500ms);
  EXPECT_FALSE(store->destroy(unused)) << "destroy of an expired session must report it dead";
  EXPECT_EQ(store->count(), 0u);
  EXPECT_FALSE(store->exists(id));
  EXPECT_FALSE(store->load(id).has_value());
  EXPECT_FALSE(store->touch(id));
  EXPECT_EQ(store->save(id, updating({{"late", true}})), SaveResult::gone);
  EXPECT_EQ(store->increment(id, "n", 1, false), std::nullopt);
  EXPECT_EQ(store->regenerate(id, new_id()), RegenerateResult::gone);
  EXPECT_TRUE(store->ids().empty());
  EXPECT_FALSE(store->destroy(id));
  // The id is free for a new session, which starts from nothing.
  ASSERT_EQ(store->save(id, creating()), SaveResult::saved);
  EXPECT_TRUE(same_fields({}, store->load(id)));
}

TYPED_TEST(StoreConformanceTest, ExistsCountAndIdsDoNotSlideExpiry) {
  auto store = TypeParam::make(idle_expiry(600ms));
  const std::string id = new_id();
  const Clock::time_point before_create = Clock::now();
  ASSERT_EQ(store->save(id, creating()), SaveResult::saved);
  const Clock::time_point created = Clock::now();
  std::this_thread::sleep_for(200ms);
  const bool alive = store->exists(id);
  const std::size_t counted = store->count();
  const std::size_t listed = store->ids().size();
  // Checked only when the calls above provably ran inside the idle window
  // (a stall of 250 ms or more on a loaded machine could push them past it).
  if (since(before_create) < 450ms) {
    EXPECT_TRUE(alive);
    EXPECT_EQ(counted, 1u);
    EXPECT_EQ(listed, 1u);
  }
  // 800 ms after the create, 200 ms past its idle deadline; had those calls
  // slid it, it would live until ~800 ms after them.
  std::this_thread::sleep_until(created + 800ms);
  EXPECT_TRUE(store->ids().empty());
  EXPECT_EQ(store->count(), 0u);
  EXPECT_EQ(store->clear(), 0u);
  EXPECT_FALSE(store->exists(id));
  EXPECT_FALSE(store->load(id).has_value());
}

TYPED_TEST(StoreConformanceTest, AbsoluteLifetimeEndsEvenAnActiveSession) {
  auto store = TypeParam::make(idle_expiry(1000ms, 500ms));
  const std::string id = new_id();
  const std::string unused = new_id();
  const Clock::time_point before_create = Clock::now();
  ASSERT_EQ(store->save(unused, creating()), SaveResult::saved);
  ASSERT_EQ(store->save(id, creating({{"a", 1}})), SaveResult::saved);
  const Clock::time_point created = Clock::now();
  int dead_checks = 0;
  // A load every 100 ms keeps the idle timer far from expiring.
  while (since(created) < 1100ms) {
    const Clock::time_point call_start = Clock::now();
    const bool alive = store->load(id).has_value();
    const Clock::time_point call_end = Clock::now();
    if (call_end - before_create < 300ms) {
      EXPECT_TRUE(alive) << "at " << since(before_create).count() << " ms";
    }
    if (call_start - created > 700ms) {
      EXPECT_FALSE(alive) << "at " << since(created).count() << " ms, past the 500 ms absolute lifetime";
      ++dead_checks;
    }
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_GT(dead_checks, 0);
  EXPECT_FALSE(store->touch(id));
  EXPECT_FALSE(store->exists(id));
  EXPECT_EQ(store->save(id, updating({{"late", true}})), SaveResult::gone);
  // Untouched since it was created, so nothing has looked at it since it expired.
  EXPECT_EQ(store->clear(), 0u) << "clear() must not count expired sessions";
}

TYPED_TEST(StoreConformanceTest, RegenerateKeepsTheAbsoluteDeadline) {
  auto store = TypeParam::make(idle_expiry(10000ms, 1000ms));
  const std::string from = new_id();
  const std::string to = new_id();
  ASSERT_EQ(store->save(from, creating({{"a", 1}})), SaveResult::saved);
  const Clock::time_point created = Clock::now();
  std::this_thread::sleep_for(600ms);
  ASSERT_EQ(store->regenerate(from, to), RegenerateResult::moved);
  EXPECT_TRUE(store->exists(to));
  // 1400 ms after the create: 400 ms past the deadline the session was born
  // with. A deadline restarted by the regenerate would still be ahead.
  std::this_thread::sleep_until(created + 1400ms);
  EXPECT_FALSE(store->exists(to));
  EXPECT_FALSE(store->load(to).has_value());
}

// ---- touch / exists / destroy -------------------------------------------------------

// `probe` (touch or exists) answers whether the session lives, through its
// whole life, and never brings one into being.
template <class Probe>
void expect_probe_follows_liveness(SessionStore& store, Probe probe) {
  const std::string id = new_id();
  EXPECT_FALSE(probe(id));
  EXPECT_FALSE(probe(id));
  EXPECT_FALSE(store.exists(id));
  EXPECT_FALSE(store.load(id).has_value());
  ASSERT_EQ(store.save(id, creating({{"a", 1}})), SaveResult::saved);
  EXPECT_TRUE(probe(id));
  EXPECT_TRUE(same_fields({{"a", 1}}, store.load(id)));
  ASSERT_TRUE(store.destroy(id));
  EXPECT_FALSE(probe(id));
  EXPECT_FALSE(store.load(id).has_value());
}

TYPED_TEST(StoreConformanceTest, TouchReportsLivenessAndCreatesNothing) {
  auto store = TypeParam::make(ExpiryOptions{});
  expect_probe_follows_liveness(*store, [&](const std::string& id) { return store->touch(id); });
}

TYPED_TEST(StoreConformanceTest, ExistsReportsLivenessAndCreatesNothing) {
  auto store = TypeParam::make(ExpiryOptions{});
  expect_probe_follows_liveness(*store, [&](const std::string& id) { return store->exists(id); });
  // A live session with no fields is as alive as any.
  const std::string empty = new_id();
  ASSERT_EQ(store->save(empty, creating()), SaveResult::saved);
  EXPECT_TRUE(store->exists(empty));
}

TYPED_TEST(StoreConformanceTest, DestroyReturnsTrueThenFalse) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string id = new_id();
  const std::string bystander = new_id();
  EXPECT_FALSE(store->destroy(id));
  ASSERT_EQ(store->save(id, creating({{"a", 1}})), SaveResult::saved);
  ASSERT_EQ(store->save(bystander, creating({{"b", 2}})), SaveResult::saved);
  EXPECT_TRUE(store->destroy(id));
  EXPECT_FALSE(store->destroy(id));
  EXPECT_FALSE(store->load(id).has_value());
  EXPECT_FALSE(store->exists(id));
  EXPECT_TRUE(same_fields({{"b", 2}}, store->load(bystander)));
  EXPECT_EQ(store->count(), 1u);
}

// ---- whole-store operations -----------------------------------------------------------

TYPED_TEST(StoreConformanceTest, CountIdsAndClearSeeTenThousandSessions) {
  constexpr int sessions = 10000;
  constexpr int writers = 4;
  auto store = TypeParam::make(ExpiryOptions{});
  EXPECT_EQ(store->count(), 0u);
  EXPECT_TRUE(store->ids().empty());
  EXPECT_EQ(store->clear(), 0u);

  std::vector<std::string> expected;
  expected.reserve(sessions);
  for (int i = 0; i < sessions; ++i) expected.push_back(new_id());
  std::atomic<int> failed_creates{0};
  race(writers, [&](int w) {
    for (int i = w; i < sessions; i += writers) {
      if (store->save(expected[static_cast<std::size_t>(i)], creating({{"i", i}})) != SaveResult::saved) {
        failed_creates.fetch_add(1);
      }
    }
  });
  ASSERT_EQ(failed_creates.load(), 0);

  EXPECT_EQ(store->count(), static_cast<std::size_t>(sessions));
  std::vector<std::string> listed = store->ids();
  // No concurrent change, so every live id exactly once.
  EXPECT_EQ(listed.size(), static_cast<std::size_t>(sessions));
  std::sort(listed.begin(), listed.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_TRUE(listed == expected) << "ids() is not the set of created sessions";

  EXPECT_EQ(store->clear(), static_cast<std::size_t>(sessions));
  EXPECT_EQ(store->count(), 0u);
  EXPECT_TRUE(store->ids().empty());
  EXPECT_FALSE(store->exists(expected.front()));
  EXPECT_FALSE(store->load(expected.back()).has_value());
  EXPECT_EQ(store->save(expected.front(), updating({{"late", true}})), SaveResult::gone);
  EXPECT_EQ(store->clear(), 0u);

  // The store is usable afterwards.
  ASSERT_EQ(store->save(expected.front(), creating()), SaveResult::saved);
  EXPECT_EQ(store->count(), 1u);
}

TYPED_TEST(StoreConformanceTest, ForEachIdCallbackMayUseTheStore) {
  auto store = TypeParam::make(ExpiryOptions{});
  std::set<std::string> created;
  for (int i = 0; i < 50; ++i) {
    const std::string id = new_id();
    ASSERT_EQ(store->save(id, creating()), SaveResult::saved);
    created.insert(id);
  }
  std::set<std::string> seen;
  store->for_each_id([&](std::string_view id) {
    seen.emplace(id);
    store->destroy(id);  // must neither deadlock nor disturb the iteration
  });
  EXPECT_TRUE(seen == created);
  EXPECT_EQ(store->count(), 0u);
}

// ---- argument validation ----------------------------------------------------------------

TYPED_TEST(StoreConformanceTest, InvalidIdsThrowForEveryOperation) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string good = new_id();
  ASSERT_EQ(store->save(good, creating({{"a", 1}})), SaveResult::saved);
  const std::string bad_ids[] = {
      "", "a b", "a*", "a:b", std::string(257, 'a'), "\n", "a\nb", std::string("a\0b", 3), "a/b", "{a}", "\u00e9",
  };
  for (const std::string& bad : bad_ids) {
    SCOPED_TRACE("id of " + std::to_string(bad.size()) + " bytes: " + preview(json(bad)));
    EXPECT_THROW(store->load(bad), InvalidArgumentError);
    EXPECT_THROW(store->save(bad, creating({{"a", 1}})), InvalidArgumentError);
    EXPECT_THROW(store->save(bad, creating()), InvalidArgumentError);
    EXPECT_THROW(store->save(bad, updating({{"a", 1}})), InvalidArgumentError);
    EXPECT_THROW(store->increment(bad, "n", 1, true), InvalidArgumentError);
    EXPECT_THROW(store->increment(bad, "n", 1, false), InvalidArgumentError);
    EXPECT_THROW(store->destroy(bad), InvalidArgumentError);
    EXPECT_THROW(store->touch(bad), InvalidArgumentError);
    EXPECT_THROW(store->exists(bad), InvalidArgumentError);
    EXPECT_THROW(store->regenerate(bad, new_id()), InvalidArgumentError);
    EXPECT_THROW(store->regenerate(good, bad), InvalidArgumentError);
  }
  try {
    store->load("a:b");
    ADD_FAILURE() << "no exception";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), make_error_code(Errc::invalid_argument));
  }
  // Nothing was created, moved or destroyed.
  EXPECT_EQ(store->count(), 1u);
  EXPECT_TRUE(same_fields({{"a", 1}}, store->load(good)));

  // The limits themselves are valid.
  const std::string longest(256, 'z');
  const std::string alphabet = "AZaz09_.-";
  EXPECT_EQ(store->save(longest, creating()), SaveResult::saved);
  EXPECT_EQ(store->save(alphabet, creating()), SaveResult::saved);
  EXPECT_TRUE(store->exists(longest));
  EXPECT_TRUE(store->exists(alphabet));
}

TYPED_TEST(StoreConformanceTest, InvalidFieldNamesThrowAndWriteNothing) {
  auto store = TypeParam::make(ExpiryOptions{});
  const std::string live = new_id();
  ASSERT_EQ(store->save(live, creating({{"a", 1}})), SaveResult::saved);
  const std::string bad_names[] = {"", std::string("\0x", 2), std::string(1, '\0'), std::string(1025, 'f')};
  for (const std::string& bad : bad_names) {
    SCOPED_TRACE("field name of " + std::to_string(bad.size()) + " bytes");
    const std::string fresh = new_id();
    EXPECT_THROW(store->save(fresh, creating({{"ok", 1}, {bad, 2}})), InvalidArgumentError);
    SessionChanges create_erasing = creating({{"ok", 1}});
    create_erasing.erase.push_back(bad);
    EXPECT_THROW(store->save(fresh, create_erasing), InvalidArgumentError);
    EXPECT_THROW(store->increment(fresh, bad, 1, true), InvalidArgumentError);
    EXPECT_FALSE(store->exists(fresh)) << "a rejected call created the session";

    EXPECT_THROW(store->save(live, updating({{"ok", 1}, {bad, 2}})), InvalidArgumentError);
    EXPECT_THROW(store->save(live, updating({{"ok", 1}}, {"a", bad})), InvalidArgumentError);
    EXPECT_THROW(store->increment(live, bad, 1, false), InvalidArgumentError);
  }
  EXPECT_TRUE(same_fields({{"a", 1}}, store->load(live)));
  EXPECT_EQ(store->count(), 1u);
}

TYPED_TEST(StoreConformanceTest, ValueOverTheLimitThrowsAndWritesNothing) {
  auto store = TypeParam::make(ExpiryOptions{}, 1024);
  const std::string big(2000, 'x');
  const std::string fresh = new_id();
  EXPECT_THROW(store->save(fresh, creating({{"small", 1}, {"big", big}})), ValueTooLargeError);
  EXPECT_FALSE(store->exists(fresh)) << "a rejected create must not create the session";

  const std::string message = message_of([&] { store->save(fresh, creating({{"small", 1}, {"big", big}})); });
  EXPECT_NE(message.find("big"), std::string::npos) << "the message should name the field: " << message;
  EXPECT_EQ(message.find("xxxxxxxx"), std::string::npos) << "the message must not show the value";

  const std::string id = new_id();
  const Fields data{{"ok", std::string(500, 'o')}, {"n", 1}};
  ASSERT_EQ(store->save(id, creating(data)), SaveResult::saved);
  EXPECT_THROW(store->save(id, updating({{"n", 2}, {"big", big}}, {"ok"})), ValueTooLargeError);
  json many = json::array();
  for (int i = 0; i < 1000; ++i) many.push_back(i);  // over 1024 bytes as a whole
  EXPECT_THROW(store->save(id, updating({{"n", 3}, {"many", many}})), ValueTooLargeError);
  EXPECT_TRUE(same_fields(data, store->load(id))) << "no part of a rejected save may be written";

  // Values under the limit still go through.
  EXPECT_EQ(store->save(id, updating({{"n", 4}})), SaveResult::saved);
  EXPECT_EQ(store->increment(id, "n", 1, false), std::optional<long long>(5));
}

}  // namespace
}  // namespace redis_session
