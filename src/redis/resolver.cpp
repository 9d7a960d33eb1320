// Host name lookups with a deadline. getaddrinfo() cannot be cancelled, and
// Asio's resolver waits for its lookup thread after a cancel, so a name
// server that does not answer held the caller past connect_timeout (10 s and
// more with glibc's defaults). The lookup runs on a thread of its own, which
// the caller stops waiting for at the deadline; the thread ends, and frees
// what it found, whenever getaddrinfo returns. A connect to a name whose
// latest lookup started less than half its connect_timeout ago waits for that
// one (many connects at once share one lookup); an older one is presumed lost
// (one dropped UDP reply costs glibc 5 s: the retry right after a timed-out
// connect asks again) and the name is asked again, with at most
// max_lookups_per_name running: a pool that retries its connects while the
// name server is silent does not pile up threads.

#include "resolver.hpp"

#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

namespace redis_session::detail {

namespace asio = boost::asio;

namespace {

constexpr std::size_t max_lookups_per_name = 4;

struct Lookup {
  Clock::time_point started = Clock::now();
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  int status = 0;
  int system_errno = 0;
  std::vector<asio::ip::tcp::endpoint> found;
};

// The lookups running, by "host port", oldest first. Never destroyed (a
// lookup thread may outlive main); a child after fork() starts with none,
// as its parent's lookup threads did not come with it.
struct Lookups {
  std::mutex mutex;
  std::map<std::string, std::vector<std::shared_ptr<Lookup>>> running;

  static Lookups& get() {
    static Lookups* const lookups = [] {
      auto* l = new Lookups;
      ::pthread_atfork([] { get().mutex.lock(); }, [] { get().mutex.unlock(); },
                       [] {
                         Lookups& c = get();
                         c.running.clear();
                         c.mutex.unlock();
                       });
      return l;
    }();
    return *lookups;
  }
};

// A finished lookup: connects from now on do not wait for it.
void forget(const std::string& name, const std::shared_ptr<Lookup>& lookup) {
  Lookups& lookups = Lookups::get();
  std::lock_guard<std::mutex> lock(lookups.mutex);
  auto it = lookups.running.find(name);
  if (it == lookups.running.end()) return;
  std::vector<std::shared_ptr<Lookup>>& running = it->second;
  running.erase(std::remove(running.begin(), running.end(), lookup), running.end());
  if (running.empty()) lookups.running.erase(it);
}

std::shared_ptr<Lookup> start_lookup(const std::string& host, std::uint16_t port, std::chrono::milliseconds fresh) {
  using tcp = asio::ip::tcp;
  Lookups& lookups = Lookups::get();
  std::string name = host + " " + std::to_string(port);
  std::lock_guard<std::mutex> registry_lock(lookups.mutex);
  std::vector<std::shared_ptr<Lookup>>& running = lookups.running[name];
  if (!running.empty() && (Clock::now() - running.back()->started < fresh || running.size() >= max_lookups_per_name)) {
    return running.back();
  }
  auto lookup = std::make_shared<Lookup>();
  running.push_back(lookup);
  try {
    std::thread([lookup, host, port, name] {
      addrinfo hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_protocol = IPPROTO_TCP;
      hints.ai_flags = AI_NUMERICSERV;
      addrinfo* list = nullptr;
      const int status = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &list);
      const int system_errno = errno;
      std::vector<tcp::endpoint> found;
      for (const addrinfo* a = status == 0 ? list : nullptr; a; a = a->ai_next) {
        tcp::endpoint e;
        if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) || a->ai_addrlen > e.capacity()) continue;
        std::memcpy(e.data(), a->ai_addr, a->ai_addrlen);
        e.resize(a->ai_addrlen);
        found.push_back(e);
      }
      if (list) ::freeaddrinfo(list);
      forget(name, lookup);
      std::lock_guard<std::mutex> lock(lookup->mutex);
      lookup->status = status;
      lookup->system_errno = system_errno;
      lookup->found = std::move(found);
      lookup->done = true;
      lookup->done_cv.notify_all();
    }).detach();
  } catch (const std::system_error&) {
    running.pop_back();
    if (running.empty()) lookups.running.erase(name);
    throw;
  }
  return lookup;
}

}  // namespace

std::vector<asio::ip::tcp::endpoint> resolve(const std::string& host, std::uint16_t port,
                                             std::chrono::milliseconds fresh, Clock::time_point deadline,
                                             const IoContext& ctx) {
  std::shared_ptr<Lookup> lookup;
  try {
    lookup = start_lookup(host, port, fresh);
  } catch (const std::system_error& e) {
    throw ConnectError("resolving " + ctx.endpoint + " failed: no thread for the lookup: " + e.what());
  }
  std::unique_lock<std::mutex> lock(lookup->mutex);
  if (!lookup->done_cv.wait_until(lock, deadline, [&] { return lookup->done; })) ctx.timed_out("resolving");
  if (lookup->status != 0) {
    throw ConnectError(
        "resolving " + ctx.endpoint + " failed: " +
        (lookup->status == EAI_SYSTEM ? std::strerror(lookup->system_errno) : ::gai_strerror(lookup->status)));
  }
  if (lookup->found.empty()) throw ConnectError("resolving " + ctx.endpoint + " failed: no IPv4 or IPv6 address");
  return lookup->found;
}

}  // namespace redis_session::detail
