// The command-phase exchanges myproxy runs itself on top of the relay (worker side): COM_INIT_DB
// (config.lua's on_init_db may refuse or rename the schema) and COM_CHANGE_USER (the client's new
// credentials go through common/server_login and on_handshake_response again; the backend never
// sees them: it always gets a COM_CHANGE_USER of its own with the script's credentials and the
// client's character set, spoken by a common/client_login, so the session is reset by the server
// itself).  One exchange at a time, with the client held; the final reply reaches the client with
// the sequence id it expects.  It asks the session (Host) to run scripts and to end; it never
// touches a socket or the event loop itself.
#pragma once

#include "worker/session_script.hpp"

#include "common/byte_reader.hpp"
#include "common/client_login.hpp"
#include "common/mysql_errors.hpp"
#include "common/server_login.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace myproxy {

class BackendSide;
class Relay;
class SessionLog;
struct RelayEvent;

class CommandIntercept {
public:
	/* What the session does for the interceptions. */
	class Host {
	public:
		/* Runs @callback with @nargs values pushed; its outcome comes back through
		 * init_db_outcome() or change_user_outcome(). */
		virtual void run_callback(SessionCallback callback, int nargs) noexcept = 0;
		/* The session cannot go on: log @what, close. */
		virtual void relay_failed(const char *what) noexcept = 0;
		/* Sends @packet (framed) to the client, then closes. */
		virtual void finish_with(std::vector<std::uint8_t> packet) noexcept = 0;

	protected:
		~Host() = default;
	};

	/* All references must outlive the interception; @capabilities: what the client negotiated. */
	CommandIntercept(Relay &relay, ServerLogin &server_login, SessionScript &script, BackendSide &backend,
			 const SessionLog &log, Host &host, std::uint32_t capabilities) noexcept;
	~CommandIntercept() noexcept;

	CommandIntercept(const CommandIntercept &) = delete;
	CommandIntercept &operator=(const CommandIntercept &) = delete;

	/* The relay stopped at a client command it was told to intercept (others are forwarded). */
	void command(const RelayEvent &event);
	/* The relay captured the packet capture_next() asked for. */
	void captured(const RelayEvent &event);
	void init_db_outcome(CallbackOutcome &outcome);
	void change_user_outcome(CallbackOutcome &outcome);
	/* No exchange of ours runs. */
	bool idle() const noexcept { return step == Step::none; }

private:
	enum class Step : std::uint8_t {
		none,
		init_db_script,		/* on_init_db runs */
		change_user_password,	/* waiting for the client's cleartext password */
		change_user_script,	/* on_handshake_response runs again */
		backend_change_user,	/* COM_CHANGE_USER sent with the script's credentials (change_login) */
	};

	Relay &relay;
	ServerLogin &server_login;
	SessionScript &script;
	BackendSide &backend;
	const SessionLog &log;
	Host &host;
	std::uint32_t capabilities;
	Step step = Step::none;
	/* The next sequence id of the client's exchange in progress. */
	std::uint8_t client_sequence = 0;
	/* For the backend's COM_CHANGE_USER: the collation the client's packet names (the login's
	 * when it names none), and the backend user the script chose. */
	std::uint16_t pending_character_set = 0;
	std::string pending_user;
	/* The backend's side of COM_CHANGE_USER, with every plugin a login speaks. */
	std::unique_ptr<ClientLogin> change_login;

	std::vector<std::uint8_t> make_err(const ServerError &error, std::string_view message) const;
	bool answer_client(const ServerError &error, std::string_view message);
	void end_with_err(const ServerError &error, std::string_view message) noexcept;
	void backend_reply_to_client(ByteSpan packet);
	void end() noexcept;

	void init_db_command(const RelayEvent &event);
	void change_user_command(const RelayEvent &event);
	void change_user_status(ServerLoginStatus status, std::vector<std::uint8_t> &out);
	void run_change_user_script();
	void send_backend_change_user(const ConnectAction &connect);
	void change_user_reply(const RelayEvent &event);
};

} // namespace myproxy
