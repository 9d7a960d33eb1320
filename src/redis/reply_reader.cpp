#include "redis_session/detail/reply_reader.hpp"

#include <hiredis/hiredis.h>
#include <hiredis/read.h>

#include <algorithm>
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
  // What the reply being decoded holds so far. The buffered-bytes check in
  // feed() alone does not bound it: decoded elements outlive their bytes.
  std::size_t reply_bytes = 0;
  std::size_t reply_elements = 0;
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

Context& context_of(const redisReadTask* task) { return *static_cast<Context*>(task->privdata); }

// Charges one element of `bytes` to the reply's budget; false when over it.
bool charge(Context& ctx, bool nested, std::size_t bytes) {
  ctx.reply_bytes += bytes;
  if (ctx.reply_bytes > ctx.limits.max_reply_bytes) {
    ctx.refusal = "reply larger than the reply size limit";
    return false;
  }
  if (nested && ++ctx.reply_elements > ctx.limits.max_elements) {
    ctx.refusal = "reply has more elements than the element limit";
    return false;
  }
  return true;
}

// Children are appended to their parent's element vector as they arrive, so
// a header that merely declares a huge array costs nothing until elements
// come. Growing is safe: hiredis only keeps pointers to the ancestors of the
// element being built, and an ancestor's own vector is not growing then.
// Only a root reply is heap-allocated; hiredis frees only roots.
// These run inside hiredis's C code, so nothing may throw out of them.
Reply* place(const redisReadTask* task, std::size_t bytes) noexcept {
  Context& ctx = context_of(task);
  if (!charge(ctx, task->parent != nullptr, bytes)) return nullptr;
  try {
    if (task->parent != nullptr) {
      auto* parent = static_cast<Reply*>(task->parent->obj);
      return &parent->elements.emplace_back();
    }
    return new Reply();
  } catch (const std::bad_alloc&) {
    ctx.refusal = "out of memory";
    return nullptr;
  }
}

void* create_string(const redisReadTask* task, char* data, size_t len) {
  Context& ctx = context_of(task);
  if (len > ctx.limits.max_reply_bytes) {
    ctx.refusal = "bulk string longer than the reply size limit";
    return nullptr;
  }
  Reply* r = place(task, len);
  if (r == nullptr) return nullptr;
  r->type = type_of(task->type);
  try {
    r->str.assign(data, len);
  } catch (const std::bad_alloc&) {
    ctx.refusal = "out of memory";
    if (task->parent == nullptr) delete r;  // a child stays owned by its parent
    return nullptr;
  }
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
  Reply* r = place(task, 0);
  if (r == nullptr) return nullptr;
  r->type = Reply::Type::array;
  try {
    r->elements.reserve(std::min<std::size_t>(static_cast<std::size_t>(elements), 64));
  } catch (const std::bad_alloc&) {
    ctx.refusal = "out of memory";
    return nullptr;
  }
  return r;
}

void* create_integer(const redisReadTask* task, long long value) {
  Reply* r = place(task, 0);
  if (r == nullptr) return nullptr;
  r->type = Reply::Type::integer;
  r->integer = value;
  return r;
}

void* create_nil(const redisReadTask* task) {
  Reply* r = place(task, 0);
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
    // The chunk is dropped, so the stream is out of step from here on: stay failed.
    state_->context.refusal = "reply larger than the reply size limit";
    r->err = REDIS_ERR_PROTOCOL;
    throw ProtocolError("invalid reply from the server: reply larger than " +
                        std::to_string(state_->context.limits.max_reply_bytes) + " bytes");
  }
  if (redisReaderFeed(r, data, size) != REDIS_OK) state_->fail();
}

std::optional<redis::Reply> ReplyReader::next() {
  void* obj = nullptr;
  if (redisReaderGetReply(state_->reader, &obj) != REDIS_OK) state_->fail();
  if (obj == nullptr) return std::nullopt;
  state_->context.reply_bytes = 0;
  state_->context.reply_elements = 0;
  std::unique_ptr<Reply> owned(static_cast<Reply*>(obj));
  return std::move(*owned);
}

bool ReplyReader::has_partial() const noexcept {
  const redisReader* r = state_->reader;
  // next() on an empty buffer leaves ridx at 0 with no type byte read yet.
  return r->len > r->pos || (r->ridx >= 0 && r->rstack[0].type >= 0);
}

}  // namespace redis_session::detail
