// Length-encoded integers and strings; see lenenc.hpp.
#include "lenenc.hpp"

namespace myproxy {

std::uint64_t read_lenenc_int(ByteReader &r, const char *what) noexcept
{
	const std::uint8_t first = r.u8(what);
	if (first < 0xFB)
		return first;
	switch (first) {
	case 0xFC:
		/* A longer form than needed is not canonical, but servers accept it, and so do we. */
		return r.u16(what);
	case 0xFD:
		return r.u24(what);
	case 0xFE:
		return r.u64(what);
	default: /* 0xFB (NULL) or 0xFF */
		r.fail(what);
		return 0;
	}
}

std::string_view read_lenenc_string(ByteReader &r, const char *what) noexcept
{
	const std::uint64_t length = read_lenenc_int(r, what);
	if (!r.ok())
		return {};
	if (length > r.remaining()) {
		r.fail(what);
		return {};
	}
	return r.string(std::size_t(length), what);
}

std::optional<std::string_view> read_lenenc_string_or_null(ByteReader &r, const char *what) noexcept
{
	if (r.ok() && r.remaining() > 0 && r.peek(what) == LENENC_NULL) {
		r.u8(what);
		return std::nullopt;
	}
	return read_lenenc_string(r, what);
}

std::size_t lenenc_int_size(std::uint64_t value) noexcept
{
	if (value < 0xFB)
		return 1;
	if (value <= 0xFFFF)
		return 3;
	if (value <= 0xFFFFFF)
		return 4;
	return 9;
}

void write_lenenc_int(ByteWriter &w, std::uint64_t value)
{
	if (value < 0xFB) {
		w.u8(std::uint8_t(value));
	} else if (value <= 0xFFFF) {
		w.u8(0xFC);
		w.u16(std::uint16_t(value));
	} else if (value <= 0xFFFFFF) {
		w.u8(0xFD);
		w.u24(std::uint32_t(value));
	} else {
		w.u8(0xFE);
		w.u64(value);
	}
}

void write_lenenc_string(ByteWriter &w, std::string_view s)
{
	write_lenenc_int(w, s.size());
	w.string(s);
}

} // namespace myproxy
