#pragma once
// Which sanitizer this test binary was built with, for tests whose timing or
// fork() behaviour differs under one. GCC defines __SANITIZE_*__, clang
// answers __has_feature.

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define REDIS_SESSION_SANITIZED 1
#endif
#if defined(__SANITIZE_THREAD__)
#define REDIS_SESSION_TSAN 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define REDIS_SESSION_SANITIZED 1
#endif
#if __has_feature(thread_sanitizer)
#define REDIS_SESSION_TSAN 1
#endif
#endif

namespace redis_session::test {
// "sanitized" or "release", for the figures tests print.
#ifdef REDIS_SESSION_SANITIZED
inline constexpr const char* build_kind = "sanitized";
#else
inline constexpr const char* build_kind = "release";
#endif

// How many times longer the timing scenarios make their deadlines in a
// sanitized build: every step after a deadline (unwinding, closing, waking)
// runs several times slower there, and the tolerance stays 20% of the
// larger deadline.
#ifdef REDIS_SESSION_SANITIZED
inline constexpr int slowdown = 3;
#else
inline constexpr int slowdown = 1;
#endif
}  // namespace redis_session::test
