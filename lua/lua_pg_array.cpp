// pg:encode_array() and pg:decode_array(): the Lua side of common/pg_array.  The C++ work (walking
// the script's table into a std::string, parsing text into a tree) runs in noexcept helpers that
// use only Lua calls which cannot raise; building Lua values runs in lua_pcall; the C++ objects are
// gone before the Lua C function raises an error.
#include "lua/lua_pg.hpp"

#include "common/pg_array.hpp"

#include <lua.hpp>

#include <cstdio>
#include <new>
#include <string>

namespace myproxy {

namespace {

/* A bound on one (sub)array, so that {n = 1e12} is an error, not hours of "NULL,". */
constexpr lua_Integer array_elements_max = lua_Integer(1) << 24;

struct Problem {
	char text[160] = "";
};

/* Number of elements: t.n when it is an integer (decode_array() sets it, so NULLs at the end
 * survive a round trip), else the largest positive integer key.  Other keys are an error. */
bool element_count(lua_State *L, int table, lua_Integer &count, Problem &problem) noexcept
{
	count = -1;
	lua_Integer max = 0;
	lua_pushnil(L);
	while (lua_next(L, table) != 0) {
		if (lua_isinteger(L, -2) && lua_tointeger(L, -2) >= 1) {
			if (lua_tointeger(L, -2) > max)
				max = lua_tointeger(L, -2);
		} else if (lua_type(L, -2) == LUA_TSTRING && std::string_view(lua_tostring(L, -2)) == "n") {
			if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 0) {
				lua_pop(L, 2);
				std::snprintf(problem.text, sizeof(problem.text), "array field n must be a non-negative integer");
				return false;
			}
			count = lua_tointeger(L, -1);
		} else {
			lua_pop(L, 2);
			std::snprintf(problem.text, sizeof(problem.text), "array has a key that is no positive integer");
			return false;
		}
		lua_pop(L, 1);
	}
	if (count < 0)
		count = max;
	if (count > array_elements_max) {
		std::snprintf(problem.text, sizeof(problem.text), "array has more than %lld elements",
			      static_cast<long long>(array_elements_max));
		return false;
	}
	if (max > count) {
		std::snprintf(problem.text, sizeof(problem.text), "array has elements past its n");
		return false;
	}
	return true;
}

bool encode_table(lua_State *L, int table, unsigned depth, std::string &out, Problem &problem)
{
	if (depth > pg_array_max_depth) {
		std::snprintf(problem.text, sizeof(problem.text), "array nested too deeply (more than %u levels)", pg_array_max_depth);
		return false;
	}
	if (!lua_checkstack(L, 4)) {
		std::snprintf(problem.text, sizeof(problem.text), "stack overflow");
		return false;
	}
	lua_Integer count;
	if (!element_count(L, table, count, problem))
		return false;
	out.push_back('{');
	for (lua_Integer i = 1; i <= count; ++i) {
		if (i > 1)
			out.push_back(',');
		char buffer[64];
		switch (lua_rawgeti(L, table, i)) {
		case LUA_TNIL:
			out += "NULL";
			break;
		case LUA_TSTRING: {
			std::size_t length;
			const char *s = lua_tolstring(L, -1, &length);
			append_pg_array_value(out, std::string_view(s, length));
			break;
		}
		case LUA_TNUMBER:
			out.append(buffer, format_pg_number(L, -1, buffer, sizeof(buffer)));
			break;
		case LUA_TBOOLEAN:
			out.push_back(lua_toboolean(L, -1) ? '1' : '0');
			break;
		case LUA_TTABLE:
			if (!encode_table(L, lua_gettop(L), depth + 1, out, problem)) {
				lua_pop(L, 1);
				return false;
			}
			break;
		default:
			std::snprintf(problem.text, sizeof(problem.text), "array element %lld: %s cannot be an array element",
				      static_cast<long long>(i), luaL_typename(L, -1));
			lua_pop(L, 1);
			return false;
		}
		lua_pop(L, 1);
	}
	out.push_back('}');
	return true;
}

/* (string *) -> string */
int push_text(lua_State *L)
{
	const auto &text = *static_cast<const std::string *>(lua_touserdata(L, 1));
	lua_pushlstring(L, text.data(), text.size());
	return 1;
}

/* Leaves the encoded string on the stack, or returns false with @problem set. */
bool encode_to_lua(lua_State *L, int table, Problem &problem) noexcept
{
	const int top = lua_gettop(L);
	try {
		std::string out;
		if (!encode_table(L, table, 1, out, problem)) {
			lua_settop(L, top);
			return false;
		}
		lua_pushcfunction(L, push_text);
		lua_pushlightuserdata(L, &out);
		if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
			lua_pop(L, 1);
			std::snprintf(problem.text, sizeof(problem.text), "not enough memory");
			return false;
		}
		return true;
	} catch (const std::bad_alloc &) {
		lua_settop(L, top);
		std::snprintf(problem.text, sizeof(problem.text), "not enough memory");
		return false;
	}
}

void push_element_table(lua_State *L, const PgArrayElement &array)
{
	luaL_checkstack(L, 3, "array nested too deeply");
	lua_createtable(L, int(array.elements.size()), 1);
	lua_Integer i = 0;
	for (const PgArrayElement &element : array.elements) {
		++i;
		switch (element.kind) {
		case PgArrayElement::Kind::null:
			continue;
		case PgArrayElement::Kind::text:
			lua_pushlstring(L, element.text.data(), element.text.size());
			break;
		case PgArrayElement::Kind::array:
			push_element_table(L, element);
			break;
		}
		lua_rawseti(L, -2, i);
	}
	lua_pushinteger(L, i);
	lua_setfield(L, -2, "n");
}

/* (tree) -> table */
int build_tables(lua_State *L)
{
	const auto &root = *static_cast<const PgArrayElement *>(lua_touserdata(L, 1));
	push_element_table(L, root);
	return 1;
}

/* Leaves the table on the stack, or returns false with @problem set. */
bool decode_to_lua(lua_State *L, std::string_view text, Problem &problem) noexcept
{
	try {
		auto parsed = parse_pg_array(text);
		if (!parsed.ok()) {
			std::snprintf(problem.text, sizeof(problem.text), "%s (at byte %zu)", parsed.error().what,
				      parsed.error().offset);
			return false;
		}
		lua_pushcfunction(L, build_tables);
		lua_pushlightuserdata(L, &*parsed);
		if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
			lua_pop(L, 1);
			std::snprintf(problem.text, sizeof(problem.text), "not enough memory");
			return false;
		}
		return true;
	} catch (const std::bad_alloc &) {
		std::snprintf(problem.text, sizeof(problem.text), "not enough memory");
		return false;
	}
}

} // namespace

/* pg:encode_array(table) -> string */
int lua_pg_encode_array(lua_State *L)
{
	luaL_checktype(L, 2, LUA_TTABLE);
	lua_settop(L, 2);
	Problem problem;
	if (!encode_to_lua(L, 2, problem))
		return luaL_error(L, "pg:encode_array(): %s", problem.text);
	return 1;
}

/* pg:decode_array(string) -> table */
int lua_pg_decode_array(lua_State *L)
{
	std::size_t length;
	const char *text = luaL_checklstring(L, 2, &length);
	Problem problem;
	if (!decode_to_lua(L, std::string_view(text, length), problem))
		return luaL_error(L, "pg:decode_array(): %s", problem.text);
	return 1;
}

} // namespace myproxy
