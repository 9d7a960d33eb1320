// RedisPoolStore on its own, without HTTP: create a session, load it,
// increment a counter, update and erase fields, rotate the id, destroy it.
// Each step prints what it did; a result other than the documented one
// exits 1 (ctest runs this against a throwaway server).
// Usage: store_basics [redis-url]
#include <redis_session/error.hpp>
#include <redis_session/redis_pool_store.hpp>
#include <redis_session/session_id.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <type_traits>

#include "example_support.hpp"

namespace {

using example::expect;

// SaveResult and RegenerateResult: done, or the session is gone, or the
// target id exists already.
template <class Result>
const char* to_string(Result r) {
  if (r == Result::gone) return "gone";
  if (r == Result::exists) return "exists";
  return std::is_same_v<Result, redis_session::SaveResult> ? "saved" : "moved";
}

std::string show(const std::optional<redis_session::Fields>& fields) {
  if (!fields) return "(no session)";
  nlohmann::json object = nlohmann::json::object();
  for (const auto& [name, value] : *fields) object[name] = value;
  return object.dump();
}

}  // namespace

int main(int argc, char** argv) {
  return example::run(argc, argv, [](const std::string& url) {
    using namespace redis_session;
    using namespace std::chrono_literals;
    RedisPoolStoreOptions options;
    options.url = url;
    options.key_namespace = "example:basics";
    options.expiry.idle_timeout = 30min;    // sliding: each load/save/increment restarts it
    options.expiry.absolute_lifetime = 8h;  // and a hard deadline however active
    options.pool.max_open = 4;
    RedisPoolStore store(options);  // validates; connects lazily on first use

    const std::string id = generate_session_id();
    std::cout << "new session id " << id << " (" << id.size() << " chars from the CSPRNG)\n";

    // A new session: create mode refuses to overwrite an existing id.
    SessionChanges create;
    create.mode = SessionChanges::Mode::create;
    create.set["user"] = "ann";
    create.set["cart"] = nlohmann::json::array({"apple", "pear"});
    SaveResult r = store.save(id, create);
    std::cout << "save(create user, cart)       -> " << to_string(r) << "\n";
    expect(r == SaveResult::saved, "create should save");
    expect(store.save(id, create) == SaveResult::exists, "a second create of the same id should be refused");

    std::cout << "load                          -> " << show(store.load(id)) << "\n";

    // Counters go straight to Redis (HINCRBY): exact under any concurrency.
    long long visits = 0;
    for (int i = 0; i < 3; ++i) visits = store.increment(id, "visits", 1, /*create=*/false).value_or(-1);
    std::cout << "increment(visits) x3          -> " << visits << "\n";
    expect(visits == 3, "three increments should give 3");

    // An update writes only the delta: one field set, one erased.
    SessionChanges update;
    update.set["theme"] = "dark";
    update.erase.push_back("cart");
    r = store.save(id, update);
    std::cout << "save(update theme, erase cart) -> " << to_string(r) << "\n";
    std::cout << "load                          -> " << show(store.load(id)) << "\n";

    // Log-in time: move the data to a fresh id; the old one dies at once.
    const std::string rotated = generate_session_id();
    const RegenerateResult moved = store.regenerate(id, rotated);
    std::cout << "regenerate -> " << rotated << ": " << to_string(moved) << "\n";
    expect(moved == RegenerateResult::moved, "regenerate should move");
    std::cout << "load(old id)                  -> " << show(store.load(id)) << "\n";
    std::cout << "load(new id)                  -> " << show(store.load(rotated)) << "\n";
    expect(!store.load(id) && store.load(rotated), "the data should live at the new id only");

    std::cout << "sessions in namespace         -> " << store.count() << "\n";

    const bool destroyed = store.destroy(rotated);
    std::cout << "destroy                       -> " << (destroyed ? "was alive" : "was not alive") << "\n";
    // Nothing resurrects a dead session: an update of it writes nothing.
    r = store.save(rotated, update);
    std::cout << "save(update) after destroy    -> " << to_string(r) << "\n";
    expect(r == SaveResult::gone, "an update of a destroyed session should be gone");
    expect(!store.increment(rotated, "visits", 1, /*create=*/false), "a non-creating increment should be gone");

    // Bad input is a typed error before any I/O.
    try {
      store.load("not a valid id!");
    } catch (const InvalidArgumentError& e) {
      std::cout << "load(\"not a valid id!\")        -> InvalidArgumentError: " << e.what() << "\n";
    }

    const PoolStats stats = store.pool().stats();
    std::cout << "pool: " << stats.open << " open, " << stats.acquires << " acquires, " << store.round_trips()
              << " round trips\n";
    return 0;
  });
}
