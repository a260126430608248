// RSA key pairs; see rsa_key.hpp.  OpenSSL's EVP API only; the private key never leaves the EVP_PKEY.
#include "rsa_key.hpp"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

namespace myproxy {

namespace {

struct BioFree {
	void operator()(BIO *bio) const noexcept { BIO_free(bio); }
};

std::optional<RsaKeyPair> with_public_pem(EVP_PKEY *raw, std::string &problem)
{
	RsaKeyPair pair;
	pair.key.reset(raw, EVP_PKEY_free);
	std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
	if (!bio || PEM_write_bio_PUBKEY(bio.get(), raw) != 1) {
		problem = "cannot encode the RSA public key";
		return std::nullopt;
	}
	char *data = nullptr;
	const long length = BIO_get_mem_data(bio.get(), &data);
	pair.public_pem.assign(data, std::size_t(length));
	return pair;
}

} // namespace

std::optional<RsaKeyPair> generate_rsa_key_pair(int bits, std::string &problem)
{
	EVP_PKEY *key = EVP_RSA_gen(static_cast<unsigned int>(bits));
	if (key == nullptr) {
		problem = "RSA key generation failed";
		return std::nullopt;
	}
	return with_public_pem(key, problem);
}

std::optional<RsaKeyPair> parse_rsa_private_key(std::string_view pem, std::string &problem)
{
	std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), int(pem.size())));
	EVP_PKEY *key = bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr;
	if (key == nullptr) {
		problem = "not an unencrypted PEM private key";
		return std::nullopt;
	}
	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_bits(key) < 1024) {
		EVP_PKEY_free(key);
		problem = "not an RSA key of at least 1024 bits";
		return std::nullopt;
	}
	return with_public_pem(key, problem);
}

} // namespace myproxy
