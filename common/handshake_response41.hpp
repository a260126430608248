// HandshakeResponse41, the client's answer to the greeting (and the 32-byte SSLRequest that precedes
// it under TLS): parsed when a client logs in to myproxy, built when myproxy logs in to a backend.
// Payload only.  Parsing never allocates and never reads past the payload; the client is untrusted,
// so every length is checked against what remains.
#pragma once

#include "byte_reader.hpp"
#include "parse_result.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

namespace myproxy {

/* The SSLRequest is exactly the fixed part of a HandshakeResponse41. */
constexpr std::size_t SSL_REQUEST_LENGTH = 32;
/* More connection attributes than this make the packet malformed (libmariadb sends about 8). */
constexpr std::size_t MAX_CONNECT_ATTRS = 64;

struct ConnectAttr {
	std::string_view key;
	std::string_view value;
};

/* The connection attributes, a view of their block inside the payload.  Only parse_connect_attrs()
 * makes a non-empty one, after checking every pair, so iterating cannot fail. */
class ConnectAttrs {
	ByteSpan block;
	std::size_t pair_count = 0;

	ConnectAttrs(ByteSpan checked_block, std::size_t count) noexcept : block(checked_block), pair_count(count) {}
	friend ParseResult<ConnectAttrs> parse_connect_attrs(ByteSpan block) noexcept;

public:
	ConnectAttrs() noexcept = default;

	/* A forward iterator over the pairs; it decodes one pair at a time from the checked block. */
	class iterator {
		ByteSpan rest; /* from the current pair to the end of the block */
		ConnectAttr current;
		std::size_t current_size = 0;

		void decode() noexcept;

	public:
		using value_type = ConnectAttr;
		using difference_type = std::ptrdiff_t;

		iterator() noexcept = default;
		explicit iterator(ByteSpan from) noexcept : rest(from) { decode(); }
		const ConnectAttr &operator*() const noexcept { return current; }
		const ConnectAttr *operator->() const noexcept { return &current; }
		iterator &operator++() noexcept
		{
			rest = rest.subspan(current_size);
			decode();
			return *this;
		}
		iterator operator++(int) noexcept
		{
			iterator old = *this;
			++*this;
			return old;
		}
		/* Only iterators of one block compare meaningfully, by position. */
		bool operator==(const iterator &other) const noexcept { return rest.data() == other.rest.data(); }
	};

	iterator begin() const noexcept { return iterator(block); }
	iterator end() const noexcept { return iterator(block.subspan(block.size())); }
	std::size_t size() const noexcept { return pair_count; }
	bool empty() const noexcept { return pair_count == 0; }
	/* The block without its length prefix, for relaying the attributes unchanged. */
	ByteSpan bytes() const noexcept { return block; }
	/* The value of the first pair named @key. */
	std::optional<std::string_view> find(std::string_view key) const noexcept;
};

/* Checks a connection attribute block (the bytes after its lenenc total length): lenenc key/value
 * pairs that each lie inside the block, at most MAX_CONNECT_ATTRS of them. */
ParseResult<ConnectAttrs> parse_connect_attrs(ByteSpan block) noexcept;

struct HandshakeResponse41 {
	std::uint32_t capabilities = 0;
	std::uint32_t max_packet_size = 0;
	std::uint8_t character_set = 0;
	/* MariaDB's extended capabilities, as on the wire; 0 unless CLIENT_LONG_PASSWORD is clear. */
	std::uint32_t mariadb_capabilities = 0;
	/* A 32-byte payload with CLIENT_SSL: the client wants TLS first and sends the rest afterwards.
	 * The fields below are then empty. */
	bool is_ssl_request = false;
	std::string_view user;
	ByteSpan auth_response;
	/* Empty without CLIENT_CONNECT_WITH_DB (or when the client sent no name). */
	std::string_view database;
	/* Empty without CLIENT_PLUGIN_AUTH or when the client left the name out. */
	std::string_view auth_plugin_name;
	ConnectAttrs attrs;

	std::uint64_t all_capabilities() const noexcept
	{
		return std::uint64_t(mariadb_capabilities) << 32 | capabilities;
	}
};

/* Parses a HandshakeResponse41 or an SSLRequest.  CLIENT_PROTOCOL_41 is required (the 3.23-era
 * HandshakeResponse320 is an error).  The auth response is read as lenenc with
 * CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, with a 1-byte length with CLIENT_SECURE_CONNECTION, else
 * NUL-terminated.  Like mysqld, tolerates clients that announce a trailing field (database, plugin
 * name, attributes) but end the payload just before it: the field reads as empty.  A field that is
 * present must be complete: the database needs its NUL (mysqld insists too, and a name cut short
 * would select another schema); only the plugin name may run to the end without one, as in the
 * greeting.  Bytes after the attributes are ignored (MySQL 8 puts a zstd level there). */
ParseResult<HandshakeResponse41> parse_handshake_response41(ByteSpan payload) noexcept;

/* The fields HandshakeResponse41 and COM_CHANGE_USER both end with, each optional at the end of the
 * payload: the auth plugin name (with CLIENT_PLUGIN_AUTH) and the connection attributes (with
 * CLIENT_CONNECT_ATTRS).  Reads from @r; returns the error of a field that is present but broken. */
std::optional<ParseError> read_login_tail(ByteReader &r, std::uint32_t capabilities, std::string_view &auth_plugin_name,
					  ConnectAttrs &attrs) noexcept;

struct HandshakeResponse41Params {
	std::uint32_t capabilities = 0;
	std::uint32_t max_packet_size = 0;
	std::uint8_t character_set = 0;
	/* Sent only when CLIENT_LONG_PASSWORD is clear; must be 0 otherwise. */
	std::uint32_t mariadb_capabilities = 0;
	std::string_view user;
	ByteSpan auth_response;
	/* Each of these is sent only with its flag (CONNECT_WITH_DB, PLUGIN_AUTH, CONNECT_ATTRS) and
	 * must be empty without it. */
	std::string_view database;
	std::string_view auth_plugin_name;
	std::span<const ConnectAttr> attrs;
};

/* Appends a HandshakeResponse41's payload.  Returns false, appending nothing, when @params cannot be
 * encoded: no CLIENT_PROTOCOL_41; a NUL inside a NUL-terminated field; an auth response longer than
 * 255 bytes without CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, or one containing a NUL without
 * CLIENT_SECURE_CONNECTION either; more than MAX_CONNECT_ATTRS attributes; a field its flag would
 * drop. */
[[nodiscard]] bool build_handshake_response41(std::vector<std::uint8_t> &payload,
					      const HandshakeResponse41Params &params);

/* Appends the 32-byte SSLRequest for the same parameters (only the fixed part is used);
 * capabilities must include CLIENT_PROTOCOL_41 and CLIENT_SSL. */
[[nodiscard]] bool build_ssl_request(std::vector<std::uint8_t> &payload, const HandshakeResponse41Params &params);

} // namespace myproxy
