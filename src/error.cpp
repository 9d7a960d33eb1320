#include "redis_session/error.hpp"

namespace redis_session {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "redis_session"; }

  std::string message(int value) const override {
    switch (static_cast<Errc>(value)) {
      case Errc::pool_timeout: return "timed out waiting for a pooled connection";
      case Errc::pool_closed: return "the connection pool is closed";
      case Errc::connect_failed: return "could not connect to the server";
      case Errc::auth_failed: return "authentication failed";
      case Errc::timeout: return "the operation timed out";
      case Errc::io_error: return "the connection failed or was closed";
      case Errc::protocol_error: return "invalid reply from the server";
      case Errc::server_error: return "the server returned an error";
      case Errc::decode_error: return "stored data could not be decoded";
      case Errc::invalid_options: return "invalid option";
      case Errc::value_too_large: return "value exceeds the configured maximum size";
      case Errc::invalid_argument: return "invalid argument";
    }
    return "unknown redis_session error";
  }
};

}  // namespace

const std::error_category& error_category() noexcept {
  static const Category category;
  return category;
}

}  // namespace redis_session
