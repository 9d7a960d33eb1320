// A custom Codec: session values as MessagePack, sealed with AES-256-GCM
// (OpenSSL), so what sits in Redis is neither readable nor forgeable without
// the key. Then a migration: a deployment that used the default JSON codec
// switches to the sealed one without logging anyone out, because the JSON
// codec stays as a fallback for reading values written before the switch.
// Usage: custom_serializer [redis-url]
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <redis_session/codec.hpp>
#include <redis_session/error.hpp>
#include <redis_session/redis/connection.hpp>
#include <redis_session/redis_pool_store.hpp>
#include <redis_session/session_id.hpp>

#include <array>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include "example_support.hpp"

namespace {

using example::expect;

using Key = std::array<unsigned char, 32>;

// Stored form: "gcm1:" + 12-byte random nonce + ciphertext + 16-byte tag.
// The prefix names the format (a later "gcm2:" can live beside it) and makes
// sure the output is never a plain decimal integer, which the store reserves
// for counters. The field's value is sealed, not its name.
constexpr std::string_view prefix = "gcm1:";
constexpr std::size_t nonce_bytes = 12;
constexpr std::size_t tag_bytes = 16;

struct CtxDeleter {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxDeleter>;

Ctx new_ctx() {
  Ctx ctx(EVP_CIPHER_CTX_new());
  if (!ctx) throw std::bad_alloc();
  return ctx;
}

int to_int(std::size_t n) {
  if (n > 64u * 1024 * 1024) throw std::length_error("value too large to seal");
  return static_cast<int>(n);
}

std::string seal(const Key& key, const std::string& plain) {
  std::string out(prefix);
  out.resize(prefix.size() + nonce_bytes + plain.size() + tag_bytes);
  auto* nonce = reinterpret_cast<unsigned char*>(out.data() + prefix.size());
  auto* cipher = nonce + nonce_bytes;
  if (RAND_bytes(nonce, static_cast<int>(nonce_bytes)) != 1) throw std::runtime_error("RAND_bytes failed");
  Ctx ctx = new_ctx();
  int n = 0;
  if (EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
      EVP_EncryptUpdate(ctx.get(), cipher, &n, reinterpret_cast<const unsigned char*>(plain.data()),
                        to_int(plain.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), cipher + n, &n) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_bytes), cipher + plain.size()) != 1) {
    throw std::runtime_error("AES-GCM encryption failed");
  }
  return out;
}

// Throws on anything that is not our format or fails authentication; the
// store then tries the fallback codecs, and reports DecodeError if none fits.
std::string open_sealed(const Key& key, std::string_view bytes) {
  if (bytes.substr(0, prefix.size()) != prefix || bytes.size() < prefix.size() + nonce_bytes + tag_bytes) {
    throw std::invalid_argument("not a gcm1 value");
  }
  bytes.remove_prefix(prefix.size());
  const auto* nonce = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* cipher = nonce + nonce_bytes;
  const std::size_t cipher_size = bytes.size() - nonce_bytes - tag_bytes;
  std::array<unsigned char, tag_bytes> tag{};
  std::copy_n(cipher + cipher_size, tag_bytes, tag.begin());
  std::string plain(cipher_size, '\0');
  Ctx ctx = new_ctx();
  int n = 0;
  if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &n, cipher, to_int(cipher_size)) !=
          1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_bytes), tag.data()) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + n, &n) != 1) {
    throw std::invalid_argument("gcm1 value failed authentication");
  }
  return plain;
}

// The codec: MessagePack inside, sealed outside. Stateless apart from the
// key it captures, so stores may call it from many threads at once.
redis_session::Codec sealed_msgpack_codec(const Key& key) {
  return {"msgpack+aes-256-gcm",
          [key](const nlohmann::json& value) {
            std::string packed;
            nlohmann::json::to_msgpack(value, packed);
            return seal(key, packed);
          },
          [key](std::string_view bytes) { return nlohmann::json::from_msgpack(open_sealed(key, bytes)); }};
}

std::string printable(const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out.size() > 60 ? out.substr(0, 60) + "... (" + std::to_string(bytes.size()) + " bytes)" : out;
}

}  // namespace

int main(int argc, char** argv) {
  return example::run(argc, argv, [](const std::string& url) {
    using namespace redis_session;
    // In production the key comes from a secret store, never from the source.
    Key key{};
    for (std::size_t i = 0; i < key.size(); ++i) key[i] = static_cast<unsigned char>(i * 7 + 1);

    // Yesterday's deployment: the default JSON codec.
    RedisPoolStoreOptions old_options;
    old_options.url = url;
    old_options.key_namespace = "example:codec";
    RedisPoolStore old_store(old_options);

    const std::string id = generate_session_id();
    SessionChanges create;
    create.mode = SessionChanges::Mode::create;
    create.set["user"] = "ann";
    create.set["prefs"] = {{"theme", "dark"}, {"lang", "en"}};
    expect(old_store.save(id, create) == SaveResult::saved, "the JSON store should create the session");
    old_store.increment(id, "visits", 1, false);

    // Today's: sealed MessagePack for writes, JSON still readable.
    RedisPoolStoreOptions new_options = old_options;
    new_options.codec = sealed_msgpack_codec(key);
    new_options.fallback_codecs = {json_codec()};
    RedisPoolStore store(new_options);

    auto fields = store.load(id);
    expect(fields && fields->at("user") == "ann" && fields->at("visits") == 1,
           "the new codec should read the old JSON values through the fallback");
    std::cout << "loaded a session written as JSON: user=" << fields->at("user") << " prefs=" << fields->at("prefs")
              << " visits=" << fields->at("visits") << "\n";

    SessionChanges update;
    update.set["prefs"] = {{"theme", "light"}, {"lang", "de"}};  // rewritten: sealed from now on
    update.set["cart"] = nlohmann::json::array({"apple", "pear"});
    expect(store.save(id, update) == SaveResult::saved, "the update should save");
    store.increment(id, "visits", 1, false);  // counters stay decimal text, for HINCRBY

    // What Redis holds now, read around the store.
    redis::Connection conn(redis::parse_url(url));
    const std::string redis_key = "example:codec:" + id;
    for (const char* field : {"user", "prefs", "cart", "visits"}) {
      std::cout << "  HGET " << field << " -> " << printable(conn.command({"HGET", redis_key, field}).str) << "\n";
    }

    fields = store.load(id);
    expect(fields && fields->at("prefs").at("theme") == "light" && fields->at("visits") == 2,
           "the sealed values should read back");
    std::cout << "read back through the sealed codec: prefs=" << fields->at("prefs") << " cart=" << fields->at("cart")
              << " visits=" << fields->at("visits") << "\n";

    // A store without the key cannot read the sealed values: a typed error
    // that names the field, never the bytes.
    try {
      old_store.load(id);
      expect(false, "the JSON-only store should fail to decode sealed values");
    } catch (const DecodeError& e) {
      std::cout << "JSON-only store -> DecodeError: " << e.what() << "\n";
    }

    // Tampering is detected: flip one byte of a sealed value.
    std::string sealed = conn.command({"HGET", redis_key, "cart"}).str;
    sealed[sealed.size() / 2] = static_cast<char>(sealed[sealed.size() / 2] ^ 0x01);
    conn.command({"HSET", redis_key, "cart", sealed});
    try {
      store.load(id);
      expect(false, "a tampered value should fail to decode");
    } catch (const DecodeError& e) {
      std::cout << "tampered value -> DecodeError: " << e.what() << "\n";
    }

    store.destroy(id);
    return 0;
  });
}
