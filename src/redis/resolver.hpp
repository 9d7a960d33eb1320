#pragma once
// Host name lookups bounded by the connect deadline. Private to src/redis/.

#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "deadline.hpp"

namespace redis_session::detail {

// The IPv4 and IPv6 addresses of `host`, by the deadline. A lookup younger
// than `fresh` for the same name is shared rather than asked again. Throws
// TimeoutError (through ctx) or ConnectError naming ctx.endpoint.
std::vector<boost::asio::ip::tcp::endpoint> resolve(const std::string& host, std::uint16_t port,
                                                    std::chrono::milliseconds fresh, Clock::time_point deadline,
                                                    const IoContext& ctx);

}  // namespace redis_session::detail
