// Secrets in memory (both processes): passwords, password hashes, scrambles, private keys.  One
// function wipes them (wipe_secret: sodium_memzero, which the compiler may not drop), and the types
// below call it on every buffer they give back, so a secret is gone when its owner goes, on every
// path.  Nothing here logs, copies or compares a secret.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

/* The one wipe: overwrites @size bytes at @data with zeros in a way the optimiser keeps. */
void wipe_secret(void *data, std::size_t size) noexcept;

/* An allocator that wipes every buffer it frees, the old ones of a growing container included. */
template<typename T>
struct WipingAllocator {
	using value_type = T;

	WipingAllocator() noexcept = default;
	template<typename U>
	WipingAllocator(const WipingAllocator<U> &) noexcept {}

	T *allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
	void deallocate(T *p, std::size_t n) noexcept {
		wipe_secret(p, n * sizeof(T));
		std::allocator<T>().deallocate(p, n);
	}

	template<typename U>
	bool operator==(const WipingAllocator<U> &) const noexcept { return true; }
};

/* Secret bytes of any length (a scramble, an auth response, a password's SHA1). */
using SecretBytes = std::vector<std::uint8_t, WipingAllocator<std::uint8_t>>;

/* A secret of fixed size on the stack or in an object (a hash stage, a key); wiped when it goes. */
template<std::size_t N>
struct SecretArray : std::array<std::uint8_t, N> {
	SecretArray() noexcept : std::array<std::uint8_t, N>{} {}
	SecretArray(const SecretArray &) = default;
	SecretArray &operator=(const SecretArray &) = default;
	~SecretArray() { wipe_secret(this->data(), N); }
};

/* A secret text (a password).  Short strings live inside the object, not in an allocation, so the
 * destructor wipes the object's own buffer as well. */
class SecretString {
	using String = std::basic_string<char, std::char_traits<char>, WipingAllocator<char>>;
	String text;

public:
	SecretString() noexcept = default;
	explicit SecretString(std::string_view value) : text(value) {}
	SecretString(const SecretString &other) : text(other.text) {}
	SecretString(SecretString &&other) noexcept : text(std::move(other.text)) { other.clear(); }
	SecretString &operator=(std::string_view value) {
		clear();
		text.assign(value);
		return *this;
	}
	SecretString &operator=(const SecretString &other) {
		if (this != &other)
			*this = other.view();
		return *this;
	}
	SecretString &operator=(SecretString &&other) noexcept {
		if (this != &other) {
			clear();
			text.swap(other.text);
			other.clear();
		}
		return *this;
	}
	~SecretString() { clear(); }

	std::string_view view() const noexcept { return text; }
	const char *c_str() const noexcept { return text.c_str(); }
	std::size_t size() const noexcept { return text.size(); }
	bool empty() const noexcept { return text.empty(); }

	/* Wipes the whole buffer (not only the characters in use) and leaves the string empty. */
	void clear() noexcept {
		wipe_secret(text.data(), text.capacity());
		text.clear();
	}
};

/* Wipes @secret and leaves it empty with no buffer: for a secret whose owner lives on. */
void wipe(SecretBytes &secret) noexcept;

/* For secrets in buffers that are not of the types above (an OpenSSL or Lua-owned buffer). */
inline void wipe(std::span<std::uint8_t> secret) noexcept
{
	wipe_secret(secret.data(), secret.size());
}

} // namespace myproxy
