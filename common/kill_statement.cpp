// KILL statements and COM_PROCESS_KILL; see kill_statement.hpp.  The tokenizer follows the server's
// lexer only as far as a lone KILL needs: whitespace, the three comment forms, keywords without
// regard to case, a decimal integer.  Whatever it is unsure of, it refuses (the query then goes to
// the backend as the client wrote it, which is always safe).
#include "kill_statement.hpp"

#include "command_packet.hpp"
#include "mysql_packet.hpp"

#include <charconv>
#include <string>
#include <string_view>

namespace myproxy {

namespace {

class Tokens {
public:
	explicit Tokens(std::string_view text) noexcept : s(text) {}

	/* Skips whitespace and comments; false on an executable or unterminated comment. */
	bool skip_blanks() noexcept
	{
		while (pos < s.size()) {
			const char c = s[pos];
			if (is_space(c)) {
				++pos;
			} else if (c == '#') {
				skip_line();
			} else if (c == '-' && at("--") && (pos + 2 == s.size() || is_control_or_space(s[pos + 2]))) {
				skip_line();
			} else if (c == '/' && at("/*")) {
				/* The server runs what an executable comment (slash-star-bang,
				   slash-star-M-bang) holds: not a comment to us. */
				if (at("/*!") || at("/*M!"))
					return false;
				const std::size_t end = s.find("*/", pos + 2);
				if (end == std::string_view::npos)
					return false;
				pos = end + 2;
			} else {
				return true;
			}
		}
		return true;
	}

	/* The next word (letters, digits, '_', '$', bytes >= 0x80), or empty. */
	std::string_view word() noexcept
	{
		const std::size_t start = pos;
		while (pos < s.size() && is_word_char(s[pos]))
			++pos;
		return s.substr(start, pos - start);
	}

	std::string_view peek_word() const noexcept
	{
		std::size_t end = pos;
		while (end < s.size() && is_word_char(s[end]))
			++end;
		return s.substr(pos, end - pos);
	}

	bool take(char c) noexcept
	{
		if (pos < s.size() && s[pos] == c) {
			++pos;
			return true;
		}
		return false;
	}

	bool at_end() const noexcept { return pos == s.size(); }

	static bool is_word_char(char c) noexcept
	{
		const auto u = static_cast<unsigned char>(c);
		return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') || u == '_' ||
		       u == '$' || u >= 0x80;
	}

private:
	std::string_view s;
	std::size_t pos = 0;

	static bool is_space(char c) noexcept
	{
		return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
	}
	/* "-- " starts a comment only before a space or control character. */
	static bool is_control_or_space(char c) noexcept { return static_cast<unsigned char>(c) <= ' '; }
	bool at(std::string_view prefix) const noexcept { return s.substr(pos, prefix.size()) == prefix; }
	void skip_line() noexcept
	{
		const std::size_t end = s.find('\n', pos);
		pos = end == std::string_view::npos ? s.size() : end + 1;
	}
};

bool equals_keyword(std::string_view word, std::string_view keyword) noexcept
{
	if (word.size() != keyword.size())
		return false;
	for (std::size_t i = 0; i < word.size(); ++i) {
		char c = word[i];
		if (c >= 'a' && c <= 'z')
			c = char(c - 'a' + 'A');
		if (c != keyword[i])
			return false;
	}
	return true;
}

/* A decimal integer 1..2^32-1, digits only (a word such as 12abc or 0x1f is none). */
std::optional<std::uint32_t> parse_id(std::string_view word) noexcept
{
	if (word.empty() || word.size() > 20)
		return std::nullopt;
	std::uint64_t value = 0;
	const auto [end, error] = std::from_chars(word.data(), word.data() + word.size(), value);
	if (error != std::errc() || end != word.data() + word.size() || value == 0 || value > 0xffffffffull)
		return std::nullopt;
	return std::uint32_t(value);
}

std::optional<KillCommand> parse_statement(std::string_view text) noexcept
{
	Tokens t(text);
	KillCommand command;
	if (!t.skip_blanks() || !equals_keyword(t.word(), "KILL") || !t.skip_blanks())
		return std::nullopt;
	std::string_view next = t.peek_word();
	if (equals_keyword(next, "HARD") || equals_keyword(next, "SOFT")) {
		command.force = equals_keyword(next, "HARD") ? KillCommand::Force::hard : KillCommand::Force::soft;
		(void)t.word();
		if (!t.skip_blanks())
			return std::nullopt;
		next = t.peek_word();
	}
	if (equals_keyword(next, "CONNECTION") || equals_keyword(next, "QUERY")) {
		command.query = equals_keyword(next, "QUERY");
		(void)t.word();
		if (!t.skip_blanks())
			return std::nullopt;
	}
	const auto id = parse_id(t.word());
	if (!id || !t.skip_blanks())
		return std::nullopt;
	command.id = *id;
	if (t.take(';') && !t.skip_blanks())
		return std::nullopt;
	/* Checked last, on KILLs only: a NUL (in a comment) ends the statement for some servers. */
	if (!t.at_end() || text.find('\0') != std::string_view::npos)
		return std::nullopt;
	return command;
}

} // namespace

std::optional<KillCommand> parse_kill_command(ByteSpan payload) noexcept
{
	if (payload.empty())
		return std::nullopt;
	if (payload[0] == COM_PROCESS_KILL) {
		if (payload.size() != 5)
			return std::nullopt;
		ByteReader r(payload.subspan(1));
		const std::uint32_t id = r.u32("COM_PROCESS_KILL: id past end");
		if (!r.ok() || id == 0)
			return std::nullopt;
		KillCommand command;
		command.binary = true;
		command.id = id;
		return command;
	}
	if (payload[0] != COM_QUERY || payload.size() > kill_statement_max_payload)
		return std::nullopt;
	return parse_statement(ByteReader::as_string(payload.subspan(1)));
}

bool is_kill_command(ByteSpan payload) noexcept
{
	return parse_kill_command(payload).has_value();
}

void build_kill_command(std::vector<std::uint8_t> &out, const KillCommand &command, std::uint32_t thread_id)
{
	const std::size_t start = begin_packet(out);
	if (command.binary) {
		out.push_back(COM_PROCESS_KILL);
		for (int shift = 0; shift < 32; shift += 8)
			out.push_back(std::uint8_t(thread_id >> shift));
	} else {
		std::string text = "KILL ";
		if (command.force != KillCommand::Force::none)
			text += command.force == KillCommand::Force::hard ? "HARD " : "SOFT ";
		if (command.query)
			text += "QUERY ";
		text += std::to_string(thread_id);
		out.push_back(COM_QUERY);
		out.insert(out.end(), text.begin(), text.end());
	}
	std::uint8_t sequence_id = 0;
	finish_packet(out, start, sequence_id);
}

} // namespace myproxy
