#include "call_engine.hpp"

#include "redis_session/detail/script_error.hpp"

namespace redis_session::detail {

using redis::Reply;
using redis::Request;

Reply CallEngine::first_reply(Link& link, const Request& request) {
  round_trips_.fetch_add(1, std::memory_order_relaxed);
  std::vector<Reply> replies;
  link.connection.execute(request, replies);
  return std::move(replies[link.asking ? 1 : 0]);
}

Reply CallEngine::first_reply(Link& link, std::initializer_list<std::string_view> argv) {
  Request request;
  link.push(request, argv);
  return first_reply(link, request);
}

Reply CallEngine::eval(Link& link, Script which, ScriptArgs& args) {
  const LuaScript& script = detail::script(which);
  Request request;
  link.push(request, args.command(script, false));
  Reply reply = first_reply(link, request);
  if (reply.is_error() && classify_script_error(reply.str) == ScriptErrorKind::no_script) {
    // The script cache is empty after a restart or failover; EVAL reloads it.
    request.clear();
    link.push(request, args.command(script, true));
    reply = first_reply(link, request);
  }
  return reply;
}

}  // namespace redis_session::detail
