// client.cgroup: the table {path, xattr, parent} that also behaves as its path string, as the
// original manual describes it (tostring(), .., #, and the string methods: client.cgroup:find(s)),
// and whose xattr table takes a name without a dot as "user.NAME", as upstream does.  Worker side;
// built from what the master read at accept time.  Reads no file: the values are that snapshot.
#pragma once

#include <string>
#include <string_view>

struct lua_State;

namespace myproxy {

/* Pushes the cgroup table of @path (absolute, "/" for the root) with the xattrs of @xattr_blob (the
 * common/cgroup_xattrs encoding the master sent, level 0 = @path).  May raise (memory). */
void push_lua_cgroup(lua_State *L, std::string_view path, const std::string &xattr_blob);

} // namespace myproxy
