// The result object of db:execute() (metatable "myproxy.pg.result"), LuaSQL-like: fetch(), numrows(),
// numcols(), getcolnames(), affected_rows(), close().  A copy of the PGresult lives in one userdata in
// the Lua heap (so the heap cap counts it and the GC frees it): a header, the offsets of the column
// names, one (offset, length) pair per cell (length npos for NULL), then the bytes.  Values are
// strings, as PostgreSQL's text format gives them; NULL is nil.
#include "lua/lua_pg.hpp"

#include <lua.hpp>

#include <cstring>
#include <limits>

namespace myproxy {

namespace {

constexpr const char *result_metatable = "myproxy.pg.result";
constexpr std::size_t null_length = std::numeric_limits<std::size_t>::max();

struct Cell {
	std::size_t offset, length;
};

struct ResultHeader {
	std::size_t rows, columns, next_row;
	long long affected;
	bool closed;
};

/* The parts of the block behind the header. */
struct Layout {
	std::size_t *names;	/* columns + 1 offsets into bytes */
	Cell *cells;		/* rows * columns */
	char *bytes;
};

constexpr std::size_t align_up(std::size_t n) noexcept
{
	return (n + alignof(std::max_align_t) - 1) & ~(alignof(std::max_align_t) - 1);
}

Layout layout(ResultHeader *header) noexcept
{
	char *base = reinterpret_cast<char *>(header) + align_up(sizeof(ResultHeader));
	Layout l;
	l.names = reinterpret_cast<std::size_t *>(base);
	l.cells = reinterpret_cast<Cell *>(base + align_up(sizeof(std::size_t) * (header->columns + 1)));
	l.bytes = reinterpret_cast<char *>(l.cells + header->rows * header->columns);
	return l;
}

ResultHeader &check_result(lua_State *L)
{
	auto &header = *static_cast<ResultHeader *>(luaL_checkudata(L, 1, result_metatable));
	if (header.closed)
		luaL_error(L, "result is closed");
	return header;
}

/* (view) -> result: the copy, inside lua_pcall. */
int build_result(lua_State *L)
{
	const auto &view = *static_cast<const PgResultView *>(lua_touserdata(L, 1));
	const std::size_t rows = view.rows(), columns = view.columns();
	constexpr std::size_t max = std::numeric_limits<std::size_t>::max() / 4;
	if (columns != 0 && rows > max / columns / sizeof(Cell))
		return luaL_error(L, "result too large");
	std::size_t bytes = 0;
	for (std::size_t c = 0; c < columns; ++c)
		bytes += view.column_name(c).size();
	for (std::size_t r = 0; r < rows; ++r)
		for (std::size_t c = 0; c < columns; ++c)
			if (!view.is_null(r, c))
				bytes += view.value(r, c).size();
	const std::size_t size = align_up(sizeof(ResultHeader)) + align_up(sizeof(std::size_t) * (columns + 1)) +
				 sizeof(Cell) * rows * columns + bytes;
	auto *header = static_cast<ResultHeader *>(lua_newuserdatauv(L, size, 0));
	*header = ResultHeader{rows, columns, 0, view.affected_rows(), false};
	const Layout l = layout(header);
	std::size_t offset = 0;
	for (std::size_t c = 0; c < columns; ++c) {
		const std::string_view name = view.column_name(c);
		l.names[c] = offset;
		std::memcpy(l.bytes + offset, name.data(), name.size());
		offset += name.size();
	}
	l.names[columns] = offset;
	for (std::size_t r = 0; r < rows; ++r)
		for (std::size_t c = 0; c < columns; ++c) {
			Cell &cell = l.cells[r * columns + c];
			if (view.is_null(r, c)) {
				cell = {offset, null_length};
				continue;
			}
			const std::string_view value = view.value(r, c);
			cell = {offset, value.size()};
			std::memcpy(l.bytes + offset, value.data(), value.size());
			offset += value.size();
		}
	luaL_setmetatable(L, result_metatable);
	return 1;
}

void push_name(lua_State *L, const Layout &l, std::size_t column)
{
	lua_pushlstring(L, l.bytes + l.names[column], l.names[column + 1] - l.names[column]);
}

/* result:fetch([table [, mode]]) -> table | nil.  mode "a" (default, as upstream myproxy): keys are
 * column names; "n": column numbers from 1. */
int result_fetch(lua_State *L)
{
	ResultHeader &header = check_result(L);
	const char *mode = luaL_optstring(L, 3, "a");
	const bool numeric = std::strcmp(mode, "n") == 0;
	if (!numeric && std::strcmp(mode, "a") != 0)
		return luaL_argerror(L, 3, "mode must be \"n\" or \"a\"");
	if (header.next_row >= header.rows) {
		lua_pushnil(L);
		return 1;
	}
	if (lua_isnoneornil(L, 2)) {
		lua_settop(L, 1);
		lua_createtable(L, numeric ? int(header.columns) : 0, numeric ? 0 : int(header.columns));
	} else {
		luaL_checktype(L, 2, LUA_TTABLE);
		lua_settop(L, 2);
	}
	const Layout l = layout(&header);
	const std::size_t row = header.next_row++;
	for (std::size_t c = 0; c < header.columns; ++c) {
		if (numeric)
			lua_pushinteger(L, lua_Integer(c) + 1);
		else
			push_name(L, l, c);
		const Cell &cell = l.cells[row * header.columns + c];
		/* nil clears what a reused table held there. */
		if (cell.length == null_length)
			lua_pushnil(L);
		else
			lua_pushlstring(L, l.bytes + cell.offset, cell.length);
		lua_rawset(L, -3);
	}
	return 1;
}

int result_numrows(lua_State *L)
{
	lua_pushinteger(L, lua_Integer(check_result(L).rows));
	return 1;
}

int result_numcols(lua_State *L)
{
	lua_pushinteger(L, lua_Integer(check_result(L).columns));
	return 1;
}

int result_getcolnames(lua_State *L)
{
	ResultHeader &header = check_result(L);
	const Layout l = layout(&header);
	lua_createtable(L, int(header.columns), 0);
	for (std::size_t c = 0; c < header.columns; ++c) {
		push_name(L, l, c);
		lua_rawseti(L, -2, lua_Integer(c) + 1);
	}
	return 1;
}

int result_affected_rows(lua_State *L)
{
	ResultHeader &header = check_result(L);
	if (header.affected < 0)
		return 0;
	lua_pushinteger(L, lua_Integer(header.affected));
	return 1;
}

/* result:close() -> true, or false when it was closed already; its memory goes with the object. */
int result_close(lua_State *L)
{
	auto &header = *static_cast<ResultHeader *>(luaL_checkudata(L, 1, result_metatable));
	lua_pushboolean(L, !header.closed);
	header.closed = true;
	return 1;
}

int result_tostring(lua_State *L)
{
	auto &header = *static_cast<ResultHeader *>(luaL_checkudata(L, 1, result_metatable));
	lua_pushfstring(L, "pg result (%I rows, %I columns)", lua_Integer(header.rows), lua_Integer(header.columns));
	return 1;
}

const luaL_Reg result_methods[] = {
	{"fetch", result_fetch},
	{"numrows", result_numrows},
	{"numcols", result_numcols},
	{"getcolnames", result_getcolnames},
	{"affected_rows", result_affected_rows},
	{"close", result_close},
	{nullptr, nullptr},
};

} // namespace

void register_lua_pg_result(lua_State *L)
{
	if (luaL_newmetatable(L, result_metatable) != 0) {
		luaL_newlib(L, result_methods);
		lua_setfield(L, -2, "__index");
		lua_pushcfunction(L, result_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushliteral(L, "pg result");
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
}

bool push_pg_result(lua_State *L, const PgResultView &result) noexcept
{
	if (!lua_checkstack(L, 3))
		return false;
	lua_pushcfunction(L, build_result);
	lua_pushlightuserdata(L, const_cast<PgResultView *>(&result));
	if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
		lua_pop(L, 1);
		return false;
	}
	return true;
}

} // namespace myproxy
