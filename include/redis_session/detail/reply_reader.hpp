#pragma once
// Incremental RESP decoder: hiredis's redisReader does the parsing, our object
// functions build redis::Reply values directly. Bounded: a reply whose
// buffered bytes, string bytes or element count exceed the limits is a
// ProtocolError, never an abort or an unbounded allocation; a declared array
// length allocates nothing until its elements arrive. Nesting deeper
// than hiredis 0.14's 7 levels is a ProtocolError too.
//
// Thread safety: none; one reader per connection.

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "redis_session/redis/reply.hpp"

namespace redis_session::detail {

// Per reply. Together they bound a reply's memory: at most max_reply_bytes
// of string data and max_elements nested elements (of sizeof(Reply) each).
struct ReplyLimits {
  std::size_t max_reply_bytes = 512u * 1024 * 1024;  // buffered and string bytes; Redis's proto-max-bulk-len
  std::size_t max_elements = 1024u * 1024;           // elements inside arrays, at any depth
};

class ReplyReader {
 public:
  explicit ReplyReader(ReplyLimits limits = {});
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  // Appends bytes read from the wire. Throws ProtocolError when a limit is hit.
  void feed(const char* data, std::size_t size);

  // The next complete reply, or nullopt when more bytes are needed.
  // Throws ProtocolError on malformed input; the reader is unusable afterwards.
  std::optional<redis::Reply> next();

  // True while bytes of an incomplete reply are buffered.
  bool has_partial() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace redis_session::detail
