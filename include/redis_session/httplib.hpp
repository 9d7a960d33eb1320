#pragma once
// Moved: the cpp-httplib adapter is redis_session/adapters/httplib.hpp, in
// namespace redis_session::adapters::httplib; redis_session::httplib_adapter
// still names it.
#include "redis_session/adapters/httplib.hpp"
