#pragma once
// Moved: the Boost.Beast adapter is redis_session/adapters/beast.hpp, in
// namespace redis_session::adapters::beast; redis_session::beast still names it.
#include "redis_session/adapters/beast.hpp"
