// json.dump / json.parse (see lua_json.hpp).  nlohmann-json throws and its values own memory, while
// Lua errors longjmp: no Lua call that may raise runs while a C++ object with a destructor is alive
// in the same frame.  Reading a Lua value into JSON uses only calls that never raise; pushing a
// parsed value into Lua runs inside a protected call whose only C++ state is a pointer.
#include "lua/lua_json.hpp"

#include <nlohmann/json.hpp>

#include <lua.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>

namespace myproxy {

namespace {

using Json = nlohmann::json;

/* Tables on the way down, to tell a cycle from a shared subtable. */
struct DumpState {
	lua_State *L;
	int depth = 0;
	std::string problem;
};

bool to_json(DumpState &state, int idx, Json &out);

/* An array: keys exactly 1..n, n >= 1. */
bool is_array(lua_State *L, int idx, lua_Integer &length)
{
	length = static_cast<lua_Integer>(lua_rawlen(L, idx));
	if (length == 0)
		return false;
	lua_Integer count = 0;
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		++count;
		if (lua_type(L, -1) != LUA_TNUMBER || lua_isinteger(L, -1) == 0) {
			lua_pop(L, 1);
			return false;
		}
	}
	return count == length;
}

bool table_to_json(DumpState &state, int idx, Json &out)
{
	lua_State *L = state.L;
	if (++state.depth > json_depth_max) {
		state.problem = "nested deeper than " + std::to_string(json_depth_max) + " levels (or a cycle)";
		return false;
	}
	if (lua_checkstack(L, 4) == 0) {
		state.problem = "Lua stack exhausted";
		return false;
	}
	lua_Integer length;
	if (is_array(L, idx, length)) {
		out = Json::array();
		for (lua_Integer i = 1; i <= length; ++i) {
			lua_rawgeti(L, idx, i);
			Json element;
			const bool ok = to_json(state, lua_gettop(L), element);
			lua_pop(L, 1);
			if (!ok)
				return false;
			out.push_back(std::move(element));
		}
	} else {
		out = Json::object();
		lua_pushnil(L);
		while (lua_next(L, idx) != 0) {
			std::string key;
			if (lua_type(L, -2) == LUA_TSTRING) {
				std::size_t size;
				const char *text = lua_tolstring(L, -2, &size);
				key.assign(text, size);
			} else if (lua_type(L, -2) == LUA_TNUMBER && lua_isinteger(L, -2) != 0) {
				key = std::to_string(lua_tointeger(L, -2));
			} else {
				state.problem = std::string("a ") + lua_typename(L, lua_type(L, -2)) + " key";
				lua_pop(L, 2);
				return false;
			}
			Json element;
			if (!to_json(state, lua_gettop(L), element)) {
				lua_pop(L, 2);
				return false;
			}
			out[key] = std::move(element);
			lua_pop(L, 1);
		}
	}
	--state.depth;
	return true;
}

bool to_json(DumpState &state, int idx, Json &out)
{
	lua_State *L = state.L;
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		out = nullptr;
		return true;
	case LUA_TBOOLEAN:
		out = lua_toboolean(L, idx) != 0;
		return true;
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx) != 0) {
			out = static_cast<std::int64_t>(lua_tointeger(L, idx));
			return true;
		}
		if (!std::isfinite(lua_tonumber(L, idx))) {
			state.problem = "a number that JSON cannot write (NaN or infinite)";
			return false;
		}
		out = static_cast<double>(lua_tonumber(L, idx));
		return true;
	case LUA_TSTRING: {
		std::size_t size;
		const char *text = lua_tolstring(L, idx, &size);
		out = std::string(text, size);
		return true;
	}
	case LUA_TTABLE:
		return table_to_json(state, idx, out);
	default:
		state.problem = std::string("a ") + lua_typename(L, lua_type(L, idx)) + " value";
		return false;
	}
}

/* (Json *) -> the Lua value; raises only on memory.  Recursion is bounded by the parser's depth. */
void push_json(lua_State *L, const Json &value)
{
	luaL_checkstack(L, 3, "json.parse");
	switch (value.type()) {
	case Json::value_t::null:
	case Json::value_t::discarded:
		lua_pushnil(L);
		break;
	case Json::value_t::boolean:
		lua_pushboolean(L, value.get<bool>() ? 1 : 0);
		break;
	case Json::value_t::number_integer:
		lua_pushinteger(L, static_cast<lua_Integer>(value.get<std::int64_t>()));
		break;
	case Json::value_t::number_unsigned: {
		const std::uint64_t n = value.get<std::uint64_t>();
		if (n <= static_cast<std::uint64_t>(LUA_MAXINTEGER))
			lua_pushinteger(L, static_cast<lua_Integer>(n));
		else
			lua_pushnumber(L, static_cast<lua_Number>(n));
		break;
	}
	case Json::value_t::number_float:
		lua_pushnumber(L, value.get<double>());
		break;
	case Json::value_t::string: {
		const auto &text = value.get_ref<const std::string &>();
		lua_pushlstring(L, text.data(), text.size());
		break;
	}
	case Json::value_t::array: {
		lua_createtable(L, static_cast<int>(std::min<std::size_t>(value.size(), 1 << 16)), 0);
		lua_Integer i = 0;
		for (const Json &element : value) {
			push_json(L, element);
			lua_rawseti(L, -2, ++i);
		}
		break;
	}
	case Json::value_t::object:
		lua_createtable(L, 0, static_cast<int>(std::min<std::size_t>(value.size(), 1 << 16)));
		for (auto it = value.begin(); it != value.end(); ++it) {
			lua_pushlstring(L, it.key().data(), it.key().size());
			push_json(L, it.value());
			lua_rawset(L, -3);
		}
		break;
	case Json::value_t::binary:
		lua_pushnil(L);
		break;
	}
}

int push_json_protected(lua_State *L)
{
	const auto *value = static_cast<const Json *>(lua_touserdata(L, 1));
	push_json(L, *value);
	return 1;
}

int push_string_protected(lua_State *L)
{
	const auto *text = static_cast<const std::string *>(lua_touserdata(L, 1));
	lua_pushlstring(L, text->data(), text->size());
	return 1;
}

/* A fixed buffer for messages that must outlive the C++ scope they come from. */
struct Message {
	char text[256] = "";
	void set(const std::string &what) { std::snprintf(text, sizeof(text), "%s", what.c_str()); }
};

/* json.parse(text) -> value | nil, message */
int json_parse(lua_State *L)
{
	std::size_t size;
	const char *text = luaL_checklstring(L, 1, &size);
	luaL_checkstack(L, 4, "json.parse");
	Message failure;
	int status = LUA_OK;
	if (size > json_text_max) {
		failure.set("JSON text longer than " + std::to_string(json_text_max) + " bytes");
	} else {
		try {
			const auto limit_depth = [](int depth, Json::parse_event_t, Json &) {
				/* depth counts from 0 at the outermost value. */
				if (depth >= json_depth_max)
					throw std::length_error("JSON nested deeper than " + std::to_string(json_depth_max) +
								" levels");
				return true;
			};
			const Json value = Json::parse(text, text + size, limit_depth);
			lua_pushcfunction(L, push_json_protected);
			lua_pushlightuserdata(L, const_cast<Json *>(&value));
			status = lua_pcall(L, 1, 1, 0);
		} catch (const std::exception &e) {
			failure.set(e.what());
		}
	}
	if (status != LUA_OK)
		return lua_error(L);
	if (failure.text[0] != '\0') {
		lua_pushnil(L);
		lua_pushstring(L, failure.text);
		return 2;
	}
	return 1;
}

/* json.dump(value) -> text */
int json_dump(lua_State *L)
{
	luaL_checkany(L, 1);
	lua_settop(L, 1);
	luaL_checkstack(L, 4, "json.dump");
	Message failure;
	int status = LUA_OK;
	{
		std::string text, problem;
		if (!lua_value_to_json(L, 1, text, problem)) {
			failure.set(problem);
		} else {
			lua_pushcfunction(L, push_string_protected);
			lua_pushlightuserdata(L, &text);
			status = lua_pcall(L, 1, 1, 0);
		}
	}
	if (status != LUA_OK)
		return lua_error(L);
	if (failure.text[0] != '\0')
		return luaL_error(L, "json.dump: %s", failure.text);
	return 1;
}

} // namespace

bool lua_value_to_json(lua_State *L, int idx, std::string &text, std::string &problem) noexcept
{
	try {
		DumpState state{L, 0, {}};
		const int top = lua_gettop(L);
		Json value;
		const bool ok = to_json(state, lua_absindex(L, idx), value);
		lua_settop(L, top);
		if (!ok) {
			problem = "cannot write " + state.problem;
			return false;
		}
		text = value.dump();
		if (text.size() > json_text_max) {
			problem = "JSON text longer than " + std::to_string(json_text_max) + " bytes";
			return false;
		}
		return true;
	} catch (const std::exception &e) {
		problem = e.what();
		return false;
	}
}

int open_lua_json(lua_State *L)
{
	static const luaL_Reg functions[] = {
		{"dump", json_dump},
		{"parse", json_parse},
		{nullptr, nullptr},
	};
	luaL_newlib(L, functions);
	lua_setglobal(L, "json");
	return 0;
}

} // namespace myproxy
