// SessionManager::open on arbitrary Cookie headers, over a store that traps
// if anything but a well-formed session id reaches it. Every header must
// yield a session; nothing may throw.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "redis_session/memory_store.hpp"
#include "redis_session/session_id.hpp"
#include "redis_session/session_manager.hpp"

namespace {

class GuardedStore final : public redis_session::SessionStore {
 public:
  std::optional<redis_session::Fields> load(std::string_view id) override {
    if (!redis_session::is_valid_session_id(id)) __builtin_trap();
    return inner_.load(id);
  }
  redis_session::SaveResult save(std::string_view id, const redis_session::SessionChanges& c) override {
    return inner_.save(id, c);
  }
  std::optional<long long> increment(std::string_view id, std::string_view f, long long by, bool create) override {
    return inner_.increment(id, f, by, create);
  }
  bool destroy(std::string_view id) override { return inner_.destroy(id); }
  bool touch(std::string_view id) override { return inner_.touch(id); }
  bool exists(std::string_view id) override { return inner_.exists(id); }
  redis_session::RegenerateResult regenerate(std::string_view a, std::string_view b) override {
    return inner_.regenerate(a, b);
  }
  std::size_t count() override { return inner_.count(); }
  void for_each_id(const std::function<void(std::string_view)>& f) override { inner_.for_each_id(f); }
  std::size_t clear() override { return inner_.clear(); }

 private:
  redis_session::MemoryStore inner_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static redis_session::SessionManager manager(std::make_shared<GuardedStore>());
  const std::string header(reinterpret_cast<const char*>(data), size);
  redis_session::Session s = manager.open(header);
  if (!s.is_new() && !redis_session::is_valid_session_id(s.id())) __builtin_trap();
  return 0;
}
