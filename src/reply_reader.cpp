#include "redis_session/detail/reply_reader.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <string>

#include "redis_session/error.hpp"

namespace redis_session::redis {

const char* to_string(Reply::Type type) noexcept {
  switch (type) {
    case Reply::Type::string: return "string";
    case Reply::Type::array: return "array";
    case Reply::Type::integer: return "integer";
    case Reply::Type::nil: return "nil";
    case Reply::Type::status: return "status";
    case Reply::Type::error: return "error";
  }
  return "unknown";
}

}  // namespace redis_session::redis

namespace redis_session::detail {
namespace {

using redis::Reply;

// The reader's privdata: limits, and why a callback refused (hiredis only
// knows "out of memory" when an object function returns null).
struct Context {
  ReplyLimits limits;
  const char* refusal = nullptr;
};

Reply::Type type_of(int hiredis_type) {
  switch (hiredis_type) {
    case REDIS_REPLY_STRING: return Reply::Type::string;
    case REDIS_REPLY_ARRAY: return Reply::Type::array;
    case REDIS_REPLY_INTEGER: return Reply::Type::integer;
    case REDIS_REPLY_STATUS: return Reply::Type::status;
    case REDIS_REPLY_ERROR: return Reply::Type::error;
    default: return Reply::Type::nil;
  }
}

// Children live inside their parent's element vector (sized once when the
// array header is read, so the addresses are stable); only a root reply is
// heap-allocated, and hiredis frees only roots through free_object.
Reply* place(const redisReadTask* task) {
  if (task->parent != nullptr) {
    auto* parent = static_cast<Reply*>(task->parent->obj);
    return &parent->elements[static_cast<std::size_t>(task->idx)];
  }
  return new (std::nothrow) Reply();
}

Context& context_of(const redisReadTask* task) { return *static_cast<Context*>(task->privdata); }

void* create_string(const redisReadTask* task, char* data, size_t len) {
  Context& ctx = context_of(task);
  if (len > ctx.limits.max_reply_bytes) {
    ctx.refusal = "bulk string longer than the reply size limit";
    return nullptr;
  }
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = type_of(task->type);
  r->str.assign(data, len);
  return r;
}

void* create_array(const redisReadTask* task, int elements) {
  Context& ctx = context_of(task);
  if (elements < 0) {
    ctx.refusal = "negative array length";
    return nullptr;
  }
  if (static_cast<std::size_t>(elements) > ctx.limits.max_elements) {
    ctx.refusal = "array longer than the element limit";
    return nullptr;
  }
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = Reply::Type::array;
  r->elements.resize(static_cast<std::size_t>(elements));
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = Reply::Type::integer;
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) {
  Reply* r = place(task);
  if (r == nullptr) return nullptr;
  r->type = Reply::Type::nil;
  return r;
}

void free_object(void* obj) { delete static_cast<Reply*>(obj); }

redisReplyObjectFunctions object_functions = {create_string, create_array, create_integer, create_nil,
                                              free_object};

}  // namespace

struct ReplyReader::State {
  Context context;
  redisReader* reader = nullptr;

  [[noreturn]] void fail() {
    std::string why = context.refusal != nullptr ? context.refusal : reader->errstr;
    throw ProtocolError("invalid reply from the server: " + why);
  }
};

ReplyReader::ReplyReader(ReplyLimits limits) : state_(std::make_unique<State>()) {
  state_->context.limits = limits;
  state_->reader = redisReaderCreateWithFunctions(&object_functions);
  if (state_->reader == nullptr) throw std::bad_alloc();
  state_->reader->privdata = &state_->context;
}

ReplyReader::~ReplyReader() { redisReaderFree(state_->reader); }

void ReplyReader::feed(const char* data, std::size_t size) {
  redisReader* r = state_->reader;
  if (r->err != 0) state_->fail();
  std::size_t buffered = r->len - r->pos;
  if (buffered + size > state_->context.limits.max_reply_bytes) {
    throw ProtocolError("invalid reply from the server: reply larger than " +
                        std::to_string(state_->context.limits.max_reply_bytes) + " bytes");
  }
  if (redisReaderFeed(r, data, size) != REDIS_OK) state_->fail();
}

std::optional<redis::Reply> ReplyReader::next() {
  void* obj = nullptr;
  if (redisReaderGetReply(state_->reader, &obj) != REDIS_OK) state_->fail();
  if (obj == nullptr) return std::nullopt;
  std::unique_ptr<Reply> owned(static_cast<Reply*>(obj));
  return std::move(*owned);
}

bool ReplyReader::has_partial() const noexcept {
  const redisReader* r = state_->reader;
  return r->len > r->pos || r->ridx >= 0;
}

}  // namespace redis_session::detail
