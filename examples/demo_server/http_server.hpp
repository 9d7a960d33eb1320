#pragma once
// The demo's HTTP/1.1 server over Boost.Beast: keep-alive, 100-continue,
// bounded header and body sizes (413 and 431 before a byte of an oversized
// body is read), a 400 for malformed requests, idle and slow-client
// timeouts, and a close that lets the client read the last response.
//
// Thread safety: one io_context may be run by many threads; each
// connection's handlers run on its own strand.
// Lifetime: the io_context, acceptor and App outlive the Listener and every
// Connection (the io_context is stopped and its threads joined first).

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>

#include "app.hpp"

namespace demo {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

constexpr std::size_t max_body_bytes = 64 * 1024;
constexpr std::size_t max_header_bytes = 16 * 1024;
// A keep-alive connection that sends nothing for this long is closed; so is
// one that takes this long to send a request or read a response.
constexpr std::chrono::seconds io_timeout{30};

// One client connection: read a request, answer it, repeat while keep-alive.
// Every handler of a connection runs on its strand.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, App& app) : stream_(std::move(socket)), app_(app) {}

  void start() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Connection::read, shared_from_this()));
  }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(max_header_bytes);
    parser_->body_limit(max_body_bytes);
    stream_.expires_after(io_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Connection::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec);
    // A Content-Length over body_limit already failed the header read
    // (body_limit: 413 in fail()), before any of the body was read.
    if (parser_->is_done()) return respond();
    const Request& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue")) {
      // curl waits for this before sending a body of more than 1 KiB.
      continue_.emplace(http::status::continue_, req.version());
      return http::async_write(stream_, *continue_,
                               beast::bind_front_handler(&Connection::on_continue, shared_from_this()));
    }
    read_body();
  }

  void on_continue(beast::error_code ec, std::size_t) {
    if (ec) return stream_.close();
    read_body();
  }

  void read_body() {
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Connection::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec);
    respond();
  }

  void respond() {
    const Request& req = parser_->get();
    res_ = {};
    res_.version(req.version());
    app_.handle(req, res_);
    res_.keep_alive(req.keep_alive());
    res_.prepare_payload();
    write();
  }

  // The request cannot be read: answer it and close.
  void reject(http::status status, const char* why) {
    res_ = {};
    res_.result(status);
    res_.set(http::field::content_type, "text/plain; charset=utf-8");
    res_.body() = why;
    res_.keep_alive(false);
    res_.prepare_payload();
    write();
  }

  void write() {
    http::async_write(stream_, res_, beast::bind_front_handler(&Connection::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return stream_.close();
    if (!res_.keep_alive()) return close();
    read();
  }

  void fail(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return reject(http::status::payload_too_large, "request body too large (at most 64 KiB)\n");
    }
    if (ec == http::error::header_limit) {
      return reject(http::status::request_header_fields_too_large, "request header too large\n");
    }
    const bool parse_error = ec.category() == beast::error_code(http::error::bad_target).category() &&
                             ec != http::error::end_of_stream && ec != http::error::partial_message;
    if (parse_error) return reject(http::status::bad_request, "malformed request\n");
    stream_.close();  // end of stream, timeout, reset: nobody to answer
  }

  // Closes after a response. A client may still be sending (a body we
  // refused, say): closing with unread bytes would reset the connection
  // and could destroy our response before the client reads it, so stop
  // sending, then read and discard until the client closes too (bounded).
  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    drain(0);
  }

  void drain(std::size_t drained) {
    if (drained > 1024 * 1024) return stream_.close();
    buffer_.clear();
    stream_.async_read_some(buffer_.prepare(16 * 1024),
                            [self = shared_from_this(), drained](beast::error_code ec, std::size_t n) {
                              if (ec) return self->stream_.close();
                              self->drain(drained + n);
                            });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  Response res_;
  App& app_;
};

class Listener {
 public:
  Listener(net::io_context& ioc, tcp::acceptor& acceptor, App& app) : ioc_(ioc), acceptor_(acceptor), app_(app) {}

  void accept() {
    acceptor_.async_accept(net::make_strand(ioc_), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Connection>(std::move(socket), app_)->start();
      } else if (ec == net::error::no_descriptors || ec == net::error::no_buffer_space) {
        // Out of file descriptors: pause rather than spin on the error.
        timer_.emplace(ioc_, std::chrono::milliseconds(50));
        return timer_->async_wait([this](beast::error_code) { accept(); });
      }
      accept();
    });
  }

 private:
  net::io_context& ioc_;
  tcp::acceptor& acceptor_;
  App& app_;
  std::optional<net::steady_timer> timer_;
};

}  // namespace demo
