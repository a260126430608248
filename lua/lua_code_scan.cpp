// The code scan (see lua_code_scan.hpp).  The walk runs inside lua_pcall() (a full heap or stack then
// ends it as a failure); the C++ parts that allocate catch their own std::bad_alloc, so nothing
// throws through Lua's frames.
#include "lua/lua_code_scan.hpp"

#include <lua.hpp>

#include <new>
#include <string>
#include <unordered_set>

namespace myproxy {

namespace {

/* Nesting the walk follows; deeper structures make it answer "mentioned". */
constexpr int max_depth = 200;

struct Scan {
	std::string_view word;
	std::unordered_set<const void *> seen;
	std::string dump;
	bool found = false;
	bool failed = false;

	bool done() const noexcept { return found || failed; }
};

int append_dump(lua_State *, const void *bytes, std::size_t size, void *userdata)
{
	auto &scan = *static_cast<Scan *>(userdata);
	try {
		scan.dump.append(static_cast<const char *>(bytes), size);
	} catch (const std::bad_alloc &) {
		scan.failed = true;
		return 1;
	}
	return 0;
}

bool first_visit(Scan &scan, const void *object) noexcept
{
	try {
		return scan.seen.insert(object).second;
	} catch (const std::bad_alloc &) {
		scan.failed = true;
		return false;
	}
}

/* The Lua function at @index: its compiled code, nested functions included, stripped. */
void scan_code(lua_State *L, Scan &scan, int index)
{
	scan.dump.clear();
	lua_pushvalue(L, index);
	lua_dump(L, append_dump, &scan, 1);
	lua_pop(L, 1);
	if (!scan.failed && scan.dump.find(scan.word) != std::string::npos)
		scan.found = true;
}

void visit(lua_State *L, Scan &scan, int depth);

/* A suspended (or finished) coroutine: the values on its stack, and the function and locals of
 * every level of its calls (what the debug interface shows). */
void visit_thread(lua_State *L, lua_State *thread, Scan &scan, int depth)
{
	const int values = lua_gettop(thread);
	for (int i = 1; !scan.done() && i <= values; ++i) {
		if (lua_checkstack(thread, 1) == 0) {
			scan.failed = true;
			return;
		}
		lua_pushvalue(thread, i);
		lua_xmove(thread, L, 1);
		visit(L, scan, depth);
	}
	lua_Debug level;
	for (int n = 0; !scan.done() && lua_getstack(thread, n, &level) != 0; ++n) {
		if (lua_checkstack(thread, 1) == 0) {
			scan.failed = true;
			return;
		}
		lua_getinfo(thread, "f", &level);
		lua_xmove(thread, L, 1);
		visit(L, scan, depth);
		for (int local = 1; !scan.done() && lua_getlocal(thread, &level, local) != nullptr; ++local) {
			lua_xmove(thread, L, 1);
			visit(L, scan, depth);
			if (lua_checkstack(thread, 1) == 0) {
				scan.failed = true;
				return;
			}
		}
	}
}

/* Visits the value on top of the stack and everything it reaches; pops it. */
void visit(lua_State *L, Scan &scan, int depth)
{
	const int type = lua_type(L, -1);
	const bool container =
		type == LUA_TTABLE || type == LUA_TFUNCTION || type == LUA_TUSERDATA || type == LUA_TTHREAD;
	if (scan.done() || !container || !first_visit(scan, lua_topointer(L, -1))) {
		lua_pop(L, 1);
		return;
	}
	if (depth > max_depth || lua_checkstack(L, 4) == 0) {
		scan.failed = true;
		lua_pop(L, 1);
		return;
	}
	const int self = lua_gettop(L);
	if (type == LUA_TTABLE) {
		lua_pushnil(L);
		while (!scan.done() && lua_next(L, self) != 0) {
			lua_pushvalue(L, -2);
			visit(L, scan, depth + 1);
			visit(L, scan, depth + 1);
		}
	} else if (type == LUA_TFUNCTION) {
		if (lua_iscfunction(L, self) == 0)
			scan_code(L, scan, self);
		for (int n = 1; !scan.done() && lua_getupvalue(L, self, n) != nullptr; ++n)
			visit(L, scan, depth + 1);
	} else if (type == LUA_TTHREAD) {
		lua_State *thread = lua_tothread(L, self);
		if (thread != L)
			visit_thread(L, thread, scan, depth + 1);
	} else {
		for (int n = 1; !scan.done() && lua_getiuservalue(L, self, n) != LUA_TNONE; ++n)
			visit(L, scan, depth + 1);
	}
	if (!scan.done() && lua_getmetatable(L, self) != 0)
		visit(L, scan, depth + 1);
	lua_settop(L, self - 1);
}

/* (scan) -> nothing */
int walk_registry(lua_State *L)
{
	auto &scan = *static_cast<Scan *>(lua_touserdata(L, 1));
	lua_pushvalue(L, LUA_REGISTRYINDEX);
	visit(L, scan, 0);
	return 0;
}

} // namespace

bool lua_code_mentions(lua_State *L, std::string_view word) noexcept
{
	Scan scan;
	scan.word = word;
	if (lua_checkstack(L, 2) == 0)
		return true;
	lua_pushcfunction(L, walk_registry);
	lua_pushlightuserdata(L, &scan);
	if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
		lua_pop(L, 1);
		return true;
	}
	return scan.found || scan.failed;
}

} // namespace myproxy
