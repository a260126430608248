// The Lua PostgreSQL client `pg` (pg:new(), db:execute(), db:listen(), result objects,
// pg:encode_array(), pg:decode_array()).  lua/ knows no libpq: at the top level of config.lua
// (master) pg:new() only records the connection; a worker implements PgDriver on its event loop
// and installs it after the fork, and db:execute() suspends the calling callback's coroutine until
// the driver completes the query (CallbackRun::complete()).  Worker side from the driver on.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

struct lua_State;

namespace myproxy {

class AsyncOperation;
class CallbackRun;

/* The most parameters one query may have (PostgreSQL's own protocol limit). */
inline constexpr int pg_max_params = 65535;

/* What a worker offers the Lua bindings: its PostgreSQL connections. */
class PgDriver {
public:
	/* Sends or queues @sql with @nparams text parameters (@values[i] null for NULL; copied
	 * before this returns) on connection @database, for the suspended-to-be callback @waiter.
	 * @nparams -1 (no params table): the simple protocol, which allows several statements.
	 * Returns the operation the callback waits for; it later pushes the results on
	 * waiter.thread() and calls waiter.complete().  When the query cannot even be queued (the
	 * connection is down, out of memory) returns nullptr with a message in @error. */
	virtual AsyncOperation *execute(unsigned database, CallbackRun &waiter, const char *sql, int nparams,
					const char *const *values, char *error, std::size_t error_size) noexcept = 0;
	/* db:listen() ran in the worker: LISTEN on @channel from now on (and after reconnects). */
	virtual void listen(unsigned database, const char *channel) noexcept = 0;

protected:
	~PgDriver() = default;
};

/* Installs the global `pg` and the metatables of its objects (a Lua C function: run it
 * protected).  Call it on the state config.lua runs in. */
int open_lua_pg(lua_State *L);

/* The worker's driver (nullptr removes it).  Once a driver is set, pg:new() is refused: it
 * belongs to the top level of config.lua.  Never raises. */
void set_lua_pg_driver(lua_State *L, PgDriver *driver) noexcept;

struct PgDatabaseConfig {
	std::string conninfo;
	/* Empty: leave search_path alone. */
	std::string schema;
	/* The channels db:listen() named at the top level. */
	std::vector<std::string> channels;
};

/* The pg:new() calls of config.lua, in order (index = database number).  Throws
 * std::bad_alloc; never raises. */
std::vector<PgDatabaseConfig> lua_pg_databases(lua_State *L);

/* Pushes the db:listen() handler of @channel on @database; false (nothing pushed) when there
 * is none.  Never raises. */
bool push_lua_pg_listener(lua_State *L, unsigned database, std::string_view channel) noexcept;

/* One query's result as the driver sees it (a PGresult behind it); row and column numbers
 * from 0. */
class PgResultView {
public:
	virtual std::size_t rows() const noexcept = 0;
	virtual std::size_t columns() const noexcept = 0;
	virtual std::string_view column_name(std::size_t column) const noexcept = 0;
	virtual bool is_null(std::size_t row, std::size_t column) const noexcept = 0;
	virtual std::string_view value(std::size_t row, std::size_t column) const noexcept = 0;
	/* Rows an INSERT, UPDATE, DELETE, ... affected (PQcmdTuples), -1 when none was reported. */
	virtual long long affected_rows() const noexcept = 0;

protected:
	~PgResultView() = default;
};

/* Pushes a result object holding a copy of @result (in the Lua heap).  @L must be able to run a
 * protected call (the worker's main state, not a suspended coroutine: lua_xmove() the value over).
 * Never raises: false (nothing pushed) when the heap is full. */
bool push_pg_result(lua_State *L, const PgResultView &result) noexcept;

/* Sets the pg conninfo check config.lua's pg:new() applies (e.g. libpq's PQconninfoParse and the
 * rule that workers cannot resolve host names), or none.  The function fills @error and returns
 * false for a bad conninfo. */
using PgConninfoCheck = bool (*)(const char *conninfo, char *error, std::size_t error_size);
void set_pg_conninfo_check(PgConninfoCheck check) noexcept;

/* For the result object (lua_pg_result.cpp) and the arrays (lua_pg_array.cpp). */
void register_lua_pg_result(lua_State *L);
int lua_pg_encode_array(lua_State *L);
int lua_pg_decode_array(lua_State *L);
/* A Lua number as PostgreSQL reads it back exactly (integers without a fraction, floats with
 * enough digits, Infinity/NaN spelled its way); returns the length written to @buffer (>= 32). */
std::size_t format_pg_number(lua_State *L, int index, char *buffer, std::size_t size) noexcept;

} // namespace myproxy
