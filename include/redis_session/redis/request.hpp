#pragma once
// Commands for a Connection, encoded as RESP when they are pushed.
//
// Thread safety: a value type; a built request may be executed from several
// threads' connections at once, as long as nobody pushes to it meanwhile.

#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace redis_session::redis {

// One or more commands encoded once, sent in one write, answered in order.
// Binary-safe: arguments may hold NUL, CR and LF.
class Request {
 public:
  Request() = default;
  Request(std::initializer_list<std::string_view> args) { push(args); }

  Request& push(std::initializer_list<std::string_view> args);
  Request& push(const std::vector<std::string>& args);
  Request& push(const std::vector<std::string_view>& args);

  std::size_t size() const noexcept { return count_; }
  bool empty() const noexcept { return count_ == 0; }
  const std::string& payload() const noexcept { return payload_; }
  void clear() noexcept {
    payload_.clear();
    count_ = 0;
  }

 private:
  Request& push_argv(const std::string_view* args, std::size_t n);
  std::string payload_;
  std::size_t count_ = 0;
};

}  // namespace redis_session::redis
