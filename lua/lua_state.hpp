// The one owner of a lua_State (master and workers: a worker inherits the master's through fork()).
// Its allocator counts the Lua heap and refuses to grow past a limit, so a runaway script gets Lua's
// "not enough memory" error instead of exhausting the process.  Never runs Lua code itself beyond opening
// the standard libraries.
#pragma once

#include <cstddef>
#include <memory>

struct lua_State;

namespace myproxy {

class LuaState {
public:
	/* Lives on the heap so the pointer handed to lua_newstate() survives moves of LuaState. */
	struct Heap {
		std::size_t used = 0;
		std::size_t limit;
	};

	static constexpr std::size_t default_heap_limit = std::size_t(256) << 20;

	/* Creates the state and opens the standard libraries.  Throws std::bad_alloc when even that does
	 * not fit in heap_limit. */
	explicit LuaState(std::size_t heap_limit = default_heap_limit);
	~LuaState();

	LuaState(LuaState &&other) noexcept;
	LuaState &operator=(LuaState &&other) noexcept;
	LuaState(const LuaState &) = delete;
	LuaState &operator=(const LuaState &) = delete;

	lua_State *get() const noexcept { return L_; }

	std::size_t heap_used() const noexcept { return heap_->used; }
	std::size_t heap_limit() const noexcept { return heap_->limit; }
	/* A limit below heap_used() only makes every further allocation fail until the GC frees enough. */
	void set_heap_limit(std::size_t limit) noexcept { heap_->limit = limit; }

private:
	std::unique_ptr<Heap> heap_;
	lua_State *L_ = nullptr;
};

} // namespace myproxy
