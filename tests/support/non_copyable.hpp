#pragma once
// A base for the test fixtures that own a process, a socket, a thread or a
// directory: a copy would kill the same server twice or remove a directory
// from under the other copy, so there is only ever one.

namespace redis_session::test {

class NonCopyable {
 public:
  NonCopyable(const NonCopyable&) = delete;
  NonCopyable& operator=(const NonCopyable&) = delete;

 protected:
  NonCopyable() = default;
  ~NonCopyable() = default;
};

}  // namespace redis_session::test
