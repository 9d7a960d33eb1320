// The example to start from: sessions in Redis for a Boost.Beast server.
// Each request opens its session from the Cookie header, reads or writes
// it, and commits it: one write of what changed, and a Set-Cookie (with
// Cache-Control: no-store and Vary: Cookie) only when the id is new or gone.
// A store failure is a 503 with Retry-After, never a crash and never a
// silent 200.
//
//   session_demo [--listen HOST:PORT] [--redis URL]
//     (defaults 127.0.0.1:8080 and redis://127.0.0.1:6379/0; port 0: any free port)
//
//   GET  /count   adds one to the session's counter and returns it
//   GET  /name    the name kept in the session (empty if none)
//   PUT  /name    keeps the request body (1 to 64 printable characters) as the name
//   POST /logout  destroys the session; the cookie is cleared
//
// One thread runs everything and store calls block it, which keeps the
// example short. examples/demo_server/ is the full server: many threads,
// size limits, timeouts, a page and metrics.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <redis_session/adapters/beast.hpp>
#include <redis_session/error.hpp>
#include <redis_session/redis_pool_store.hpp>
#include <redis_session/session_manager.hpp>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace rs = redis_session;
using tcp = net::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr const char* usage = "usage: session_demo [--listen HOST:PORT] [--redis URL]\n";

bool valid_name(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

Response text(const Request& req, http::status status, std::string body) {
  Response res{status, req.version()};
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::move(body);
  return res;
}

// The application: which route, then open, read or write, commit.
Response handle(rs::SessionManager& manager, const Request& req) {
  const beast::string_view target = req.target();
  const http::verb method = req.method();
  const bool count = target == "/count" && method == http::verb::get;
  const bool get_name = target == "/name" && method == http::verb::get;
  const bool put_name = target == "/name" && method == http::verb::put;
  const bool logout = target == "/logout" && method == http::verb::post;
  // A bad request is answered before the session is opened: it costs no
  // store round trip and writes nothing.
  if (!count && !get_name && !put_name && !logout) return text(req, http::status::not_found, "not found\n");
  if (put_name && !valid_name(req.body())) {
    return text(req, http::status::bad_request, "the name is 1 to 64 printable characters\n");
  }

  try {
    // One round trip when the request has a well-formed cookie, none otherwise.
    rs::Session session = rs::adapters::beast::open(manager, req);
    Response res = text(req, http::status::ok, "");
    if (count) {
      // Goes straight to the store: parallel requests lose no increments.
      res.body() = std::to_string(session.increment("count")) + "\n";
    } else if (get_name) {
      res.body() = session.get_or("name", "") + "\n";
    } else if (put_name) {
      session.set("name", req.body());
      res.result(http::status::no_content);
    } else {
      session.destroy();
      res.body() = "logged out\n";
    }
    rs::adapters::beast::commit(manager, session, res);
    return res;
  } catch (const rs::Error& e) {
    // A fresh response, so that nothing of a half-built one (a Set-Cookie,
    // say) goes out: 400 or 409 for what the request's own input caused (a
    // bad field name, changing a destroyed session), 503 for Redis down, a
    // timeout, the pool exhausted.
    Response res{http::status::service_unavailable, req.version()};
    rs::adapters::beast::fail(res, e);
    return res;
  }
}

// One client connection: read a request, answer it, repeat while keep-alive.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket socket, rs::SessionManager& manager) : stream_(std::move(socket)), manager_(manager) {}

  void read() {
    req_ = {};
    stream_.expires_after(std::chrono::seconds(30));  // an idle or slow client is dropped
    http::async_read(stream_, buffer_, req_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec) return;  // closed, timed out or malformed: the socket closes with the last reference
    res_ = handle(manager_, req_);
    res_.keep_alive(req_.keep_alive());
    res_.prepare_payload();
    http::async_write(stream_, res_,
                      [self = shared_from_this()](beast::error_code written, std::size_t) { self->on_write(written); });
  }

  void on_write(beast::error_code ec) {
    if (!ec && res_.keep_alive()) return read();
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  Request req_;
  Response res_;
  rs::SessionManager& manager_;
};

void accept(tcp::acceptor& acceptor, rs::SessionManager& manager) {
  acceptor.async_accept([&acceptor, &manager](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // the acceptor was closed: stopping
    if (!ec) std::make_shared<Connection>(std::move(socket), manager)->read();
    accept(acceptor, manager);
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8080";
  std::string url = "redis://127.0.0.1:6379/0";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << usage;
      return 0;
    }
    if ((arg == "--listen" || arg == "--redis") && i + 1 < argc) {
      (arg == "--listen" ? listen : url) = argv[++i];
    } else {
      std::cerr << "session_demo: bad argument '" << arg << "'\n" << usage;
      return 2;
    }
  }

  try {
    // The store: a pool of Redis connections. Bad options (a URL that is not
    // redis://, say) are an InvalidOptionsError here, before any I/O.
    rs::RedisPoolStoreOptions options;
    options.url = url;
    options.key_namespace = "example:demo";
    auto store = std::make_shared<rs::RedisPoolStore>(std::move(options));
    // The manager: cookie in, session out, and the Set-Cookie policy
    // (HttpOnly, SameSite=Lax, Path=/ by default).
    rs::SessionManager manager(store);

    net::io_context ioc;
    const auto colon = listen.rfind(':');
    if (colon == std::string::npos) throw rs::InvalidOptionsError("--listen wants HOST:PORT");
    const tcp::endpoint endpoint(net::ip::make_address(listen.substr(0, colon)),
                                 static_cast<unsigned short>(std::stoul(listen.substr(colon + 1))));
    tcp::acceptor acceptor(ioc, endpoint);
    accept(acceptor, manager);

    // Ctrl-C or SIGTERM: stop accepting, then stop.
    net::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int) {
      acceptor.close();
      ioc.stop();
    });

    const tcp::endpoint bound = acceptor.local_endpoint();
    const std::string base = "http://" + bound.address().to_string() + ":" + std::to_string(bound.port());
    std::cout << "session_demo listening on " << base << "\n"
              << "  curl -s -c /tmp/jar -b /tmp/jar " << base << "/count\n"
              << "  curl -s -c /tmp/jar -b /tmp/jar -X PUT -d ann " << base << "/name\n"
              << "  curl -s -c /tmp/jar -b /tmp/jar " << base << "/name" << std::endl;
    ioc.run();
    return 0;
  } catch (const rs::InvalidOptionsError& e) {
    std::cerr << "session_demo: " << e.what() << "\n" << usage;
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "session_demo: " << e.what() << "\n";
    return 1;
  }
}
