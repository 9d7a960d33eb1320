// Request writes RESP itself, straight into its payload.

#include "redis_session/redis/request.hpp"

#include <charconv>
#include <cstring>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "redis_session/error.hpp"

namespace redis_session::redis {

namespace {

std::size_t decimal_digits(std::size_t n) noexcept {
  std::size_t digits = 1;
  for (; n >= 10; n /= 10) ++digits;
  return digits;
}

// Writes "<kind><n>\r\n", the RESP header of an array or a bulk string, of
// exactly 1 + decimal_digits(n) + 2 bytes.
char* put_header(char* out, char kind, std::size_t n) noexcept {
  *out++ = kind;
  out = std::to_chars(out, out + std::numeric_limits<std::size_t>::digits10 + 1, n).ptr;
  *out++ = '\r';
  *out++ = '\n';
  return out;
}

}  // namespace

// The same bytes as hiredis's redisFormatCommandArgv (tests/unit/request_test
// holds them equal), written straight into the payload: hiredis mallocs a
// buffer of its own and sprintf()s every length, about 900 instructions an
// argument, and its result had to be copied in.
Request& Request::push_argv(const std::string_view* args, std::size_t n) {
  if (n == 0) throw InvalidArgumentError("a Redis command needs at least one argument");
  std::size_t size = 1 + decimal_digits(n) + 2;
  for (std::size_t i = 0; i < n; ++i) size += 1 + decimal_digits(args[i].size()) + 2 + args[i].size() + 2;
  const std::size_t start = payload_.size();
  payload_.resize(start + size);
  char* out = put_header(payload_.data() + start, '*', n);
  for (std::size_t i = 0; i < n; ++i) {
    out = put_header(out, '$', args[i].size());
    if (!args[i].empty()) std::memcpy(out, args[i].data(), args[i].size());  // data() of an empty view may be null
    out += args[i].size();
    *out++ = '\r';
    *out++ = '\n';
  }
  ++count_;
  return *this;
}

Request& Request::push(std::initializer_list<std::string_view> args) {
  return push_argv(args.begin(), args.size());
}

Request& Request::push(const std::vector<std::string_view>& args) {
  return push_argv(args.data(), args.size());
}

Request& Request::push(const std::vector<std::string>& args) {
  std::vector<std::string_view> views(args.begin(), args.end());
  return push_argv(views.data(), views.size());
}

}  // namespace redis_session::redis
