// The "myproxy.action" userdata and take_lua_action() (see lua_action.hpp).  The userdata holds a
// LuaAction, whose strings and vectors need their destructor: __gc runs it.  take_lua_action() is called
// by the worker outside any Lua call, so it recognises the metatable by a registry pointer key (raw
// accesses only: no allocation, no metamethod, nothing that can raise).
#include "lua/lua_action.hpp"

#include <lua.hpp>

#include <iterator>
#include <new>

namespace myproxy {

namespace {

/* Its address is the registry key under which the action metatable is kept a second time. */
const char action_metatable_key = 0;

constexpr const char *action_names[] = {"client:connect()", "client:err()", "client:init_db()"};
static_assert(std::size(action_names) == std::variant_size_v<LuaAction>);

LuaAction *to_action(lua_State *L, int idx) noexcept
{
	if (lua_type(L, idx) != LUA_TUSERDATA || lua_getmetatable(L, idx) == 0)
		return nullptr;
	lua_rawgetp(L, LUA_REGISTRYINDEX, &action_metatable_key);
	const bool same = lua_rawequal(L, -1, -2) != 0;
	lua_pop(L, 2);
	return same ? static_cast<LuaAction *>(lua_touserdata(L, idx)) : nullptr;
}

int action_gc(lua_State *L)
{
	if (LuaAction *action = to_action(L, 1))
		action->~LuaAction();
	return 0;
}

int action_tostring(lua_State *L)
{
	const LuaAction *action = to_action(L, 1);
	lua_pushfstring(L, "myproxy.action: %s", action != nullptr ? action_names[action->index()] : "?");
	return 1;
}

/* "nil or client:err()", "client:connect() or client:err()", "nil, client:init_db() or client:err()" */
std::string expected_values(const ActionRules &rules)
{
	std::vector<const char *> names;
	if (rules.nil_allowed)
		names.push_back("nil");
	/* connect and init_db before err: the forwarding choice first, refusal last. */
	for (std::size_t i : {std::size_t(0), std::size_t(2), std::size_t(1)})
		if ((rules.allowed & (1u << i)) != 0)
			names.push_back(action_names[i]);
	std::string text;
	for (std::size_t i = 0; i < names.size(); ++i) {
		if (i > 0)
			text += i + 1 == names.size() ? " or " : ", ";
		text += names[i];
	}
	return text;
}

std::string wrong_value(const ActionRules &rules, const std::string &got)
{
	return std::string(rules.callback) + " must return " + expected_values(rules) + ", got " + got;
}

} // namespace

ActionResult take_lua_action(lua_State *L, int idx, const ActionRules &rules)
{
	if (lua_checkstack(L, 2) == 0)
		return std::string(rules.callback) + ": out of Lua stack while reading its return value";
	const int type = lua_type(L, idx);
	if (type == LUA_TNIL || type == LUA_TNONE) {
		if (rules.nil_allowed)
			return ActionResult();
		return wrong_value(rules, "nil");
	}
	const LuaAction *action = to_action(L, idx);
	if (action == nullptr)
		return wrong_value(rules, std::string("a ") + lua_typename(L, type));
	if ((rules.allowed & (1u << action->index())) == 0)
		return wrong_value(rules, action_names[action->index()]);
	return LuaAction(*action);
}

void register_lua_action(lua_State *L)
{
	if (luaL_newmetatable(L, lua_action_metatable) == 0) {
		lua_pop(L, 1);
		return;
	}
	static const luaL_Reg methods[] = {
		{"__gc", action_gc},
		{"__tostring", action_tostring},
		{nullptr, nullptr},
	};
	luaL_setfuncs(L, methods, 0);
	/* An action is opaque to scripts: they return it, nothing else. */
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_rawsetp(L, LUA_REGISTRYINDEX, &action_metatable_key);
}

LuaAction &push_lua_action(lua_State *L, std::size_t alternative)
{
	void *block = lua_newuserdatauv(L, sizeof(LuaAction), 0);
	/* Default constructors of these alternatives do not allocate, so nothing here throws. */
	LuaAction *action;
	switch (alternative) {
	case 0:
		action = new (block) LuaAction(std::in_place_index<0>);
		break;
	case 1:
		action = new (block) LuaAction(std::in_place_index<1>);
		break;
	default:
		action = new (block) LuaAction(std::in_place_index<2>);
		break;
	}
	/* From here __gc destroys it, whatever happens next. */
	luaL_setmetatable(L, lua_action_metatable);
	return *action;
}

} // namespace myproxy
