// The one wipe of secrets (see secret.hpp).  libsodium's sodium_memzero: a write the optimiser may
// not remove even when the buffer is freed right after.
#include "common/secret.hpp"

#include <sodium.h>

namespace myproxy {

void wipe_secret(void *data, std::size_t size) noexcept
{
	if (data != nullptr && size > 0)
		sodium_memzero(data, size);
}

void wipe(SecretBytes &secret) noexcept
{
	wipe_secret(secret.data(), secret.size());
	SecretBytes().swap(secret);
}

} // namespace myproxy
