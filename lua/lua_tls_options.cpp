// TLS contexts and options in config.lua (see lua_tls_options.hpp).  Lua raises with longjmp, so the
// loaders keep to C data: paths and messages in fixed buffers, the SSL_CTX in its userdata box from
// the moment it exists (the box's __gc frees it when an error unwinds past it).
#include "lua/lua_tls_options.hpp"

#include <lua.hpp>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace myproxy {

namespace {

/* Their addresses are registry keys. */
const char loading_key = 0;
const char unverified_context_key = 0;

enum class ContextKind : unsigned char { server, ca, unverified };

struct ContextBox {
	SSL_CTX *context;
	ContextKind kind;
};

constexpr unsigned seen_ssl = 1u << 0;
constexpr unsigned seen_ca = 1u << 1;
constexpr unsigned seen_verify = 1u << 2;
constexpr unsigned seen_server_name = 1u << 3;

/* Longest ssl_server_name: a DNS name (253) or an IPv6 literal fits. */
constexpr std::size_t server_name_max = 253;

int context_gc(lua_State *L)
{
	auto *box = static_cast<ContextBox *>(luaL_checkudata(L, 1, lua_ssl_context_metatable));
	if (box->context != nullptr) {
		SSL_CTX_free(box->context);
		box->context = nullptr;
	}
	return 0;
}

int context_tostring(lua_State *L)
{
	const auto *box = static_cast<const ContextBox *>(luaL_checkudata(L, 1, lua_ssl_context_metatable));
	lua_pushstring(L, box->kind == ContextKind::ca ? "ssl_ca" : "ssl_context");
	return 1;
}

/* Pushes an empty box, pinned in the registry for the state's life: the worker's connections keep
 * raw pointers to the context. */
ContextBox &push_box(lua_State *L, ContextKind kind)
{
	auto *box = static_cast<ContextBox *>(lua_newuserdatauv(L, sizeof(ContextBox), 0));
	box->context = nullptr;
	box->kind = kind;
	luaL_setmetatable(L, lua_ssl_context_metatable);
	lua_pushvalue(L, -1);
	luaL_ref(L, LUA_REGISTRYINDEX);
	return *box;
}

/* OpenSSL's reason for the first error of the queue (the cause; later ones say "PEM lib"), for
 * "ssl_cert '/path': reason". */
const char *openssl_reason()
{
	const unsigned long code = ERR_peek_error();
	const char *reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
	return reason != nullptr ? reason : "unknown OpenSSL error";
}

[[noreturn]] void raise_file_error(lua_State *L, const char *option, const char *path, const char *reason)
{
	char message[512];
	std::snprintf(message, sizeof(message), "%s '%s': %s", option, path, reason);
	ERR_clear_error();
	luaL_error(L, "%s", message);
	__builtin_unreachable();
}

/* A readable regular file, or raise with strerror: OpenSSL's "system library" texts say less. */
void check_readable(lua_State *L, const char *option, const char *path)
{
	std::FILE *file = std::fopen(path, "r");
	if (file == nullptr)
		raise_file_error(L, option, path, std::strerror(errno));
	std::fclose(file);
}

SSL_CTX *new_context(lua_State *L, bool server)
{
	SSL_CTX *context = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	if (context == nullptr) {
		ERR_clear_error();
		luaL_error(L, "SSL_CTX_new() failed");
	}
	SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
	SSL_CTX_set_options(context, SSL_OP_NO_RENEGOTIATION);
	return context;
}

bool loading(lua_State *L)
{
	lua_rawgetp(L, LUA_REGISTRYINDEX, &loading_key);
	const bool allowed = lua_toboolean(L, -1) != 0;
	lua_pop(L, 1);
	return allowed;
}

/* Adds the certificates (and CRLs) of one PEM file; the number of certificates, or -1 when the file
 * cannot be read or parsed. */
int add_pem_file(X509_STORE *store, const char *path)
{
	BIO *bio = BIO_new_file(path, "r");
	if (bio == nullptr)
		return -1;
	STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(bio, nullptr, nullptr, nullptr);
	BIO_free(bio);
	if (infos == nullptr)
		return -1;
	int count = 0;
	for (int i = 0; i < sk_X509_INFO_num(infos); ++i) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);
		if (info->x509 != nullptr && X509_STORE_add_cert(store, info->x509) == 1)
			++count;
		if (info->crl != nullptr)
			X509_STORE_add_crl(store, info->crl);
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	return count;
}

/* Loads every certificate of @path (a PEM file, or every PEM file in a directory, read now: OpenSSL's
 * lazy CApath lookup would open files in the sandboxed worker) into @context's store. */
void load_ca(lua_State *L, SSL_CTX *context, const char *option, const char *path)
{
	X509_STORE *store = SSL_CTX_get_cert_store(context);
	struct stat st;
	if (stat(path, &st) < 0)
		raise_file_error(L, option, path, std::strerror(errno));
	int count = 0;
	if (S_ISDIR(st.st_mode)) {
		DIR *dir = opendir(path);
		if (dir == nullptr)
			raise_file_error(L, option, path, std::strerror(errno));
		while (const dirent *entry = readdir(dir)) {
			if (entry->d_name[0] == '.')
				continue;
			char file[4096];
			const int n = std::snprintf(file, sizeof(file), "%s/%s", path, entry->d_name);
			struct stat file_st;
			if (n < 0 || std::size_t(n) >= sizeof(file) || stat(file, &file_st) < 0 || !S_ISREG(file_st.st_mode))
				continue;
			/* Directories such as /etc/ssl/certs hold other files too: skip what is no PEM. */
			const int added = add_pem_file(store, file);
			if (added > 0)
				count += added;
		}
		closedir(dir);
		ERR_clear_error();
	} else {
		check_readable(L, option, path);
		count = add_pem_file(store, path);
		if (count < 0)
			raise_file_error(L, option, path, openssl_reason());
	}
	if (count == 0)
		raise_file_error(L, option, path, "no certificate found");
	ERR_clear_error();
}

/* mysql_ssl_ca(path) -> CA object for client:connect{ssl_ca = ...} */
int mysql_ssl_ca(lua_State *L)
{
	const char *path = luaL_checkstring(L, 1);
	if (!loading(L))
		return luaL_error(L, "mysql_ssl_ca() works only while config.lua is loading (workers cannot read "
				     "files)");
	ContextBox &box = push_box(L, ContextKind::ca);
	box.context = new_context(L, false);
	load_ca(L, box.context, "mysql_ssl_ca", path);
	return 1;
}

const char *check_string_option(lua_State *L, const char *key)
{
	if (lua_type(L, -1) != LUA_TSTRING)
		luaL_error(L, "option %s must be a string, got %s", key, luaL_typename(L, -1));
	std::size_t length;
	const char *value = lua_tolstring(L, -1, &length);
	if (length == 0 || std::strlen(value) != length)
		luaL_error(L, "option %s must be a non-empty string without NUL bytes", key);
	return value;
}

bool check_boolean_option(lua_State *L, const char *key)
{
	if (lua_type(L, -1) != LUA_TBOOLEAN)
		luaL_error(L, "option %s must be a boolean, got %s", key, luaL_typename(L, -1));
	return lua_toboolean(L, -1) != 0;
}

/* The string at field @key of the table at @arg, or nullptr when absent; pushes nothing. */
const char *field_string(lua_State *L, int arg, const char *key)
{
	lua_getfield(L, arg, key);
	const char *value = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : nullptr;
	/* The table keeps the string alive. */
	lua_pop(L, 1);
	return value;
}

} // namespace

void register_lua_tls(lua_State *L)
{
	if (luaL_newmetatable(L, lua_ssl_context_metatable) != 0) {
		lua_pushcfunction(L, context_gc);
		lua_setfield(L, -2, "__gc");
		lua_pushcfunction(L, context_tostring);
		lua_setfield(L, -2, "__tostring");
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "__metatable");
	}
	lua_pop(L, 1);
	lua_register(L, "mysql_ssl_ca", mysql_ssl_ca);

	/* ssl = true with ssl_verify_server_cert = false and no CA.  Created now, in the master: a
	 * worker must not initialise OpenSSL (it reads openssl.cnf). */
	ContextBox &box = push_box(L, ContextKind::unverified);
	box.context = new_context(L, false);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &unverified_context_key);
}

void set_lua_tls_loading(lua_State *L, bool allowed)
{
	lua_pushboolean(L, allowed ? 1 : 0);
	lua_rawsetp(L, LUA_REGISTRYINDEX, &loading_key);
}

bool read_lua_tls_listener_option(lua_State *L, int, LuaTlsListenerOptions &options)
{
	if (lua_type(L, -2) != LUA_TSTRING)
		return false;
	const char *key = lua_tostring(L, -2);
	if (std::strcmp(key, "ssl_cert") == 0 || std::strcmp(key, "ssl_key") == 0) {
		check_string_option(L, key);
		return true;
	}
	if (std::strcmp(key, "require_ssl") == 0) {
		options.require_ssl = check_boolean_option(L, key);
		return true;
	}
	return false;
}

void finish_lua_tls_listener_options(lua_State *L, int arg, LuaTlsListenerOptions &options)
{
	const char *cert = field_string(L, arg, "ssl_cert");
	const char *key = field_string(L, arg, "ssl_key");
	if (cert == nullptr) {
		if (key != nullptr)
			luaL_error(L, "option ssl_key needs ssl_cert");
		if (options.require_ssl)
			luaL_error(L, "option require_ssl needs ssl_cert (and ssl_key)");
		return;
	}
	if (key == nullptr)
		key = cert; /* one PEM file with both */
	if (!loading(L))
		luaL_error(L, "TLS listeners can only be declared while config.lua is loading");
	ContextBox &box = push_box(L, ContextKind::server);
	box.context = new_context(L, true);
	check_readable(L, "ssl_cert", cert);
	if (SSL_CTX_use_certificate_chain_file(box.context, cert) != 1)
		raise_file_error(L, "ssl_cert", cert, openssl_reason());
	check_readable(L, "ssl_key", key);
	if (SSL_CTX_use_PrivateKey_file(box.context, key, SSL_FILETYPE_PEM) != 1) {
		const bool mismatch = ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH;
		char reason[300];
		std::snprintf(reason, sizeof(reason), "no usable private key in PEM format (%s)", openssl_reason());
		raise_file_error(L, "ssl_key", key, mismatch ? "the key does not match ssl_cert" : reason);
	}
	if (SSL_CTX_check_private_key(box.context) != 1)
		raise_file_error(L, "ssl_key", key, "the key does not match ssl_cert");
	ERR_clear_error();
	lua_pop(L, 1);
	options.context = box.context;
}

bool read_lua_tls_client_option(lua_State *L, int, LuaTlsClientOptions &options)
{
	if (lua_type(L, -2) != LUA_TSTRING)
		return false;
	const char *key = lua_tostring(L, -2);
	if (std::strcmp(key, "ssl") == 0) {
		options.ssl = check_boolean_option(L, key);
		options.seen |= seen_ssl;
	} else if (std::strcmp(key, "ssl_verify_server_cert") == 0) {
		options.verify = check_boolean_option(L, key);
		options.seen |= seen_verify;
	} else if (std::strcmp(key, "ssl_server_name") == 0) {
		const char *name = check_string_option(L, key);
		if (std::strlen(name) > server_name_max)
			luaL_error(L, "option ssl_server_name is longer than %d bytes", int(server_name_max));
		options.server_name = name;
		options.seen |= seen_server_name;
	} else if (std::strcmp(key, "ssl_ca") == 0) {
		if (lua_type(L, -1) != LUA_TSTRING && luaL_testudata(L, -1, lua_ssl_context_metatable) == nullptr)
			luaL_error(L, "option ssl_ca must be a mysql_ssl_ca() object or a path, got %s",
				   luaL_typename(L, -1));
		options.seen |= seen_ca;
	} else {
		return false;
	}
	return true;
}

void finish_lua_tls_client_options(lua_State *L, int arg, LuaTlsClientOptions &options, bool paths_allowed)
{
	if (!options.ssl) {
		if ((options.seen & (seen_ca | seen_verify | seen_server_name)) != 0)
			luaL_error(L, "the options ssl_ca, ssl_verify_server_cert and ssl_server_name need ssl = true");
		return;
	}
	lua_getfield(L, arg, "ssl_ca");
	if (lua_isnil(L, -1)) {
		if (options.verify)
			luaL_error(L, "ssl = true verifies the server's certificate: give ssl_ca (a CA loaded with "
				      "mysql_ssl_ca()) or set ssl_verify_server_cert = false");
		lua_rawgetp(L, LUA_REGISTRYINDEX, &unverified_context_key);
		options.context = static_cast<ContextBox *>(lua_touserdata(L, -1))->context;
		lua_pop(L, 2);
		return;
	}
	if (const auto *box = static_cast<ContextBox *>(luaL_testudata(L, -1, lua_ssl_context_metatable))) {
		if (box->kind != ContextKind::ca)
			luaL_error(L, "option ssl_ca must be a mysql_ssl_ca() object");
		options.context = box->context;
		lua_pop(L, 1);
		return;
	}
	const char *path = lua_tostring(L, -1);
	if (!paths_allowed || !loading(L))
		luaL_error(L, "option ssl_ca must be a CA loaded at startup with mysql_ssl_ca() (workers cannot "
			      "read files), got the string '%s'", path);
	ContextBox &box = push_box(L, ContextKind::ca);
	box.context = new_context(L, false);
	load_ca(L, box.context, "ssl_ca", path);
	options.context = box.context;
	lua_pop(L, 2);
}

} // namespace myproxy
