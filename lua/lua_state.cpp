// LuaState: a lua_State with a counting, capped allocator (see lua_state.hpp).  The allocator is called
// by Lua from deep inside the VM: it must never throw and never call back into Lua.
#include "lua/lua_state.hpp"

#include <lua.hpp>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <utility>

namespace myproxy {

namespace {

void *capped_alloc(void *ud, void *ptr, std::size_t osize, std::size_t nsize) noexcept
{
	auto *heap = static_cast<LuaState::Heap *>(ud);
	/* Without a block, osize tells the object type, not a size. */
	const std::size_t old = ptr != nullptr ? osize : 0;
	if (nsize == 0) {
		std::free(ptr);
		heap->used -= old;
		return nullptr;
	}
	/* Shrinking must never fail (Lua relies on it); growing stops at the limit, and Lua turns the
	 * nullptr into an emergency collection and then "not enough memory". */
	if (nsize > old) {
		const std::size_t grow = nsize - old;
		if (heap->used > heap->limit || grow > heap->limit - heap->used)
			return nullptr;
	}
	void *block = std::realloc(ptr, nsize);
	if (block == nullptr)
		return nullptr;
	heap->used = heap->used - old + nsize;
	return block;
}

int report_panic(lua_State *L)
{
	const char *message = lua_tostring(L, -1);
	std::fprintf(stderr, "myproxy: unprotected Lua error: %s\n", message != nullptr ? message : "(not a string)");
	return 0; /* Lua aborts */
}

int open_standard_libraries(lua_State *L)
{
	luaL_openlibs(L);
	return 0;
}

} // namespace

LuaState::LuaState(std::size_t heap_limit) : heap_(std::make_unique<Heap>())
{
	heap_->limit = heap_limit;
	L_ = lua_newstate(capped_alloc, heap_.get());
	if (L_ == nullptr)
		throw std::bad_alloc();
	lua_atpanic(L_, report_panic);
	/* A worker holds a few live objects per session (the client object) and makes garbage with
	 * every login (handshake_response tables, strings, actions), which dies young.  In Lua's
	 * default incremental mode a cycle starts only once the heap has doubled, so about as much
	 * garbage as live data stays resident: 190 bytes per idle session at 10,000 sessions.  The
	 * generational mode collects young garbage in minor cycles at no more CPU (a pause of 100
	 * saved as much but made a loop of login-like garbage over 10,000 live objects 15 times
	 * slower; doc/performance.md, "Memory per idle connection"). */
	lua_gc(L_, LUA_GCGEN, 0, 0);
	/* luaL_openlibs() raises on allocation failure; only a protected call turns that into a status. */
	lua_pushcfunction(L_, open_standard_libraries);
	if (lua_pcall(L_, 0, 0, 0) != LUA_OK) {
		lua_close(L_);
		L_ = nullptr;
		throw std::bad_alloc();
	}
}

LuaState::~LuaState()
{
	if (L_ != nullptr)
		lua_close(L_);
}

LuaState::LuaState(LuaState &&other) noexcept : heap_(std::move(other.heap_)), L_(std::exchange(other.L_, nullptr))
{
}

LuaState &LuaState::operator=(LuaState &&other) noexcept
{
	if (this != &other) {
		if (L_ != nullptr)
			lua_close(L_);
		heap_ = std::move(other.heap_);
		L_ = std::exchange(other.L_, nullptr);
	}
	return *this;
}

} // namespace myproxy
