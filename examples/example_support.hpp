#pragma once
// What the store examples share, so each shows only its own subject: the
// Redis URL from the command line, a library error as a message and exit
// status 1, and the check that turns a result other than the documented one
// into exit status 1 too (ctest runs every example against a throwaway
// server, so a broken promise fails the build).

#include <cstdlib>
#include <iostream>
#include <string>

#include <redis_session/error.hpp>

namespace example {

// argv[1], or a local Redis.
inline std::string redis_url(int argc, char** argv) {
  return argc > 1 ? argv[1] : "redis://127.0.0.1:6379/0";
}

// body(url) with the URL from argv[1] or a local Redis; its return value is
// the exit status. A library error is printed with its code: exit status 1.
template <class Body>
int run(int argc, char** argv, Body body) {
  try {
    return body(redis_url(argc, argv));
  } catch (const redis_session::Error& e) {
    std::cerr << "error (" << e.code() << "): " << e.what() << "\n";
    return 1;
  }
}

inline void expect(bool ok, const char* what) {
  if (!ok) {
    std::cerr << "unexpected: " << what << "\n";
    std::exit(1);
  }
}

}  // namespace example
