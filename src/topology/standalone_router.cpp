// One server: every slot is the one node, and nothing ever moves.

#include <utility>

#include "routers.hpp"

namespace redis_session::detail {
namespace {

class StandaloneRouter final : public Router {
 public:
  explicit StandaloneRouter(std::shared_ptr<ConnectionPool> pool)
      : node_(std::make_shared<Node>(Node{"", std::move(pool)})) {}
  std::shared_ptr<Node> node_for(std::uint16_t) override { return node_; }
  std::vector<std::shared_ptr<Node>> primaries() override { return {node_}; }

 private:
  std::shared_ptr<Node> node_;
};

}  // namespace

std::unique_ptr<Router> make_standalone_router(std::shared_ptr<ConnectionPool> pool) {
  return std::make_unique<StandaloneRouter>(std::move(pool));
}

}  // namespace redis_session::detail
