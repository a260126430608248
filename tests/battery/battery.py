#!/usr/bin/env python3
# The abuse battery (issue 16): starts a throwaway mariadbd and the production myproxy (with its
# sandbox), then attacks it as a hostile local tenant and a demanding operator would.  Each check
# prints one line "PASS|FAIL name: figure".  Quick mode for scripts/test.sh (2,000 churn cycles, 2,000
# idle sessions), full mode by hand (100,000 and 10,000).  Run it through scripts/battery.sh, as root.
import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mysql_wire as wire  # noqa: E402

USER, PASSWORD = "bat", "bat-pw"
# Issue 13's bound on the memory of one idle proxied session (doc/performance.md).
IDLE_SESSION_BYTES_MAX = 4096
results = []
seen_errors = {}


def note_error(e):
    if isinstance(e, wire.MysqlError):
        seen_errors[e.code] = seen_errors.get(e.code, 0) + 1


def report(name, ok, figure):
    results.append((name, ok, figure))
    print(("PASS" if ok else "FAIL") + f" {name}: {figure}", flush=True)


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class MariaDB:
    def __init__(self, base, max_connections):
        self.dir = os.path.join(base, "mariadb")
        self.socket = os.path.join(self.dir, "mysqld.sock")
        os.makedirs(self.dir)
        subprocess.run(["mariadb-install-db", "--no-defaults", "--user=root", f"--datadir={self.dir}/data",
                        "--auth-root-authentication-method=socket", "--skip-test-db"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.log = open(os.path.join(self.dir, "log"), "w")
        self.process = subprocess.Popen(
            ["mariadbd", "--no-defaults", "--user=root", f"--datadir={self.dir}/data", f"--socket={self.socket}",
             "--skip-networking", f"--max-connections={max_connections}", "--open-files-limit=65535",
             "--thread-handling=one-thread-per-connection", f"--pid-file={self.dir}/pid",
             "--innodb-buffer-pool-size=16M", "--max-allowed-packet=1G"],
            stdout=self.log, stderr=subprocess.STDOUT)
        if not wait_for(lambda: os.path.exists(self.socket), 60):
            raise RuntimeError("mariadbd did not start")
        self.sql(f"CREATE USER '{USER}'@'localhost' IDENTIFIED BY '{PASSWORD}'; "
                 f"GRANT ALL ON *.* TO '{USER}'@'localhost'")

    def sql(self, text):
        subprocess.run(["mariadb", "--no-defaults", "-uroot", f"--socket={self.socket}", "-e", text], check=True)

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def rogue_backend(path):
    """A backend that logs anyone in, then answers every COM_QUERY with a LOCAL INFILE request."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(16)

    def serve(conn):
        c = wire.Connection.__new__(wire.Connection)
        c.sock, c.buffer, c.seq = conn, b"", 0
        try:
            caps = wire.CLIENT_LONG_PASSWORD | wire.CLIENT_PROTOCOL_41 | wire.CLIENT_SECURE_CONNECTION | \
                wire.CLIENT_PLUGIN_AUTH | wire.CLIENT_TRANSACTIONS
            greeting = b"\x0a" + b"10.11.99-MariaDB-rogue\0" + (7).to_bytes(4, "little") + b"abcdefgh\0" + \
                (caps & 0xFFFF).to_bytes(2, "little") + b"\x21" + b"\x02\x00" + (caps >> 16).to_bytes(2, "little") + \
                b"\x15" + b"\0" * 10 + b"ijklmnopqrst\0" + b"mysql_native_password\0"
            c.send_packet(greeting, 0)
            c.read_packet()
            c.send_packet(b"\x00\x00\x00\x02\x00\x00\x00", c.seq + 1)
            while True:
                packet = c.read_packet()
                if packet[:1] == b"\x01":
                    break
                c.send_packet(b"\xfb/etc/shadow", 1)
        except (wire.Closed, OSError):
            pass
        conn.close()

    def accept_loop():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return server


CONFIG = """
worker_processes = 2
connect_timeout = {connect_timeout}
drain_timeout = {drain_timeout}
max_sessions_per_uid = {max_sessions}
local backend = mysql_resolve('{backend}')
local rogue = mysql_resolve('{rogue}')
mysql_listen('{listen}', {{
  on_handshake_response = function(client, hr)
    if hr.user == 'loop' then while true do end end
    if hr.user == 'rogue' then return client:connect(rogue, hr) end
    if hr.user == 'patient' then
      hr.user = '{user}'
      return client:connect(backend, hr, {{read_timeout = 2}})
    end
    return client:connect(backend, hr)
  end,
}})
"""


class Proxy:
    def __init__(self, binary, base, name, backend, rogue, nofile=None, connect_timeout=3, drain_timeout=30,
                 max_sessions=16384):
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir)
        os.chmod(self.dir, 0o711)
        self.socket = os.path.join(self.dir, "proxy.sock")
        self.log_path = os.path.join(self.dir, "log")
        with open(os.path.join(self.dir, "config.lua"), "w") as f:
            f.write(CONFIG.format(connect_timeout=connect_timeout, drain_timeout=drain_timeout,
                                  max_sessions=max_sessions, backend=backend, rogue=rogue, listen=self.socket,
                                  user=USER))
        command = [binary, "--config", os.path.join(self.dir, "config.lua")]
        if nofile:
            command = ["prlimit", f"--nofile={nofile}:{nofile}", "--"] + command
        self.log = open(self.log_path, "w")
        # Its own process group, so the battery can signal the whole group.
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_for(lambda: "ready:" in self.text(), 30):
            raise RuntimeError(f"myproxy {name} did not start:\n{self.text()}")

    def text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def workers(self):
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as f:
                return [int(p) for p in f.read().split()]
        except OSError:
            return []

    def worker_rss_kb(self):
        total = 0
        for pid in self.workers():
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        return total

    def fd_count(self):
        return sum(len(os.listdir(f"/proc/{pid}/fd")) for pid in [self.process.pid] + self.workers())

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()


def session(proxy, user=USER, password=PASSWORD):
    return wire.login(proxy.socket, user, password)


def select_one(proxy):
    c = session(proxy)
    ok = wire.query(c, "SELECT 1") == [[b"1"]]
    wire.quit(c)
    return ok


# ---- the checks ---------------------------------------------------------------------------------

def check_hostile_handshakes(proxy):
    attacks = {
        "garbage": b"\x13\x37" * 50,
        "16 MiB header, then close": b"\xff\xff\xff\x01",
        "SSLRequest without TLS": (32).to_bytes(3, "little") + b"\x01" +
        (wire.CLIENT_PROTOCOL_41 | wire.CLIENT_SSL | wire.CLIENT_SECURE_CONNECTION).to_bytes(4, "little") + b"\0" * 28,
        "user name without end": (40).to_bytes(3, "little") + b"\x01" +
        (wire.CLIENT_PROTOCOL_41 | wire.CLIENT_SECURE_CONNECTION).to_bytes(4, "little") + b"\0" * 28 + b"x" * 8,
        "auth length past end": (40).to_bytes(3, "little") + b"\x01" +
        (wire.CLIENT_PROTOCOL_41 | wire.CLIENT_SECURE_CONNECTION).to_bytes(4, "little") + b"\0" * 28 + b"u\0\xff" + b"x" * 5,
    }
    outcomes = []
    ok = True
    for name, bytes_ in attacks.items():
        c = wire.Connection(proxy.socket, 10)
        c.read_packet()
        try:
            c.sock.sendall(bytes_)
            if name.startswith("16 MiB"):
                c.sock.shutdown(socket.SHUT_WR)
            answer = c.read_packet()
            if answer[:1] == b"\xff":
                e = wire.parse_err(answer)
                note_error(e)
                outcomes.append(f"{name}={e.code}")
                ok &= 1000 <= e.code < 2000
            else:
                outcomes.append(f"{name}=packet {answer[:1].hex()}")
                ok = False
        except (wire.Closed, OSError):
            outcomes.append(f"{name}=closed")
        c.close()
    ok &= select_one(proxy)
    report("hostile handshakes", ok, ", ".join(outcomes))


def check_big_relay(proxy):
    c = session(proxy)
    before = proxy.worker_rss_kb()
    size = 17 * 1024 * 1024
    rows = wire.query(c, f"SELECT REPEAT('x', {size})")
    peak = proxy.worker_rss_kb()
    # Back-pressure: 64 MiB the client does not read for 2 s; the worker may not buffer it.
    wire.send_query(c, f"SELECT REPEAT('y', {64 * 1024 * 1024})")
    time.sleep(2)
    stalled = proxy.worker_rss_kb()
    big = wire.read_result(c)
    wire.quit(c)
    ok = len(rows[0][0]) == size and len(big[0][0]) == 64 * 1024 * 1024
    grown = max(peak, stalled) - before
    report("16 MiB+ relay, memory flat", ok and grown < 8 * 1024,
           f"17 MiB row intact, worker RSS +{grown} kB")
    report("back-pressure", ok and stalled - before < 8 * 1024,
           f"64 MiB unread for 2 s: worker RSS +{stalled - before} kB")


def check_worker_kill(proxy):
    sessions = [session(proxy) for _ in range(20)]
    victim = proxy.workers()[0]
    t0 = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    respawned = wait_for(lambda: len(proxy.workers()) == 2 and victim not in proxy.workers() and
                         proxy.text().count("ready (respawned)") > check_worker_kill.respawns, 10)
    took = (time.monotonic() - t0) * 1000
    check_worker_kill.respawns = proxy.text().count("ready (respawned)")
    lost = 0
    for c in sessions:
        try:
            wire.query(c, "SELECT 1")
        except (wire.MysqlError, wire.Closed, OSError) as e:
            note_error(e)
            lost += 1
        wire.quit(c)
    penalized = "crash penalty: uid" in proxy.text()
    ok = respawned and 0 < lost < len(sessions) and select_one(proxy) and not penalized
    report("worker SIGKILL under load", ok,
           f"{lost}/{len(sessions)} sessions lost (its own), replaced in {took:.0f} ms, no crash penalty")


check_worker_kill.respawns = 0


def check_slowloris(proxy):
    c = wire.Connection(proxy.socket, 30)
    c.read_packet()
    t0 = time.monotonic()
    try:
        answer = c.read_packet()
        e = wire.parse_err(answer) if answer[:1] == b"\xff" else None
    except wire.Closed:
        e = None
    note_error(e)
    took = time.monotonic() - t0
    report("slowloris", e is not None and e.code == 1158, f"ERR {e.code if e else 'none'} after {took:.1f} s")


def check_lua_containment(proxy):
    try:
        session(proxy, "loop", "x")
        code = 0
    except wire.MysqlError as e:
        note_error(e)
        code = e.code
    ok = code == 1105 and select_one(proxy)
    report("Lua containment", ok, f"runaway callback: ERR {code}, worker goes on")


def check_rogue_infile(proxy):
    c = session(proxy, "rogue", "x")
    try:
        wire.query(c, "SELECT 1")
        code = 0
    except wire.MysqlError as e:
        note_error(e)
        code = e.code
    except wire.Closed:
        code = -1
    c.close()
    report("LOCAL INFILE from a rogue backend", code == 1158, f"client got ERR {code}")


def check_sighup(proxy):
    """Reloads under load: each SIGHUP starts a new generation of workers while the sessions stay on
    the one they started on; a HUP to the whole process group (systemctl kill -s HUP) reloads too
    and kills no worker, nor do TERM/INT sent to each worker; the first generation's workers exit
    once their sessions ended."""
    stop = threading.Event()
    failures = []

    def load():
        c = session(proxy)
        while not stop.is_set():
            try:
                wire.query(c, "SELECT SLEEP(0.01)")
            except Exception as e:  # noqa: BLE001
                failures.append(e)
                return
        wire.quit(c)

    first = set(proxy.workers())
    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    served = proxy.text().count("serves")
    for _ in range(3):
        os.kill(proxy.process.pid, signal.SIGHUP)
        time.sleep(0.5)
    os.killpg(proxy.process.pid, signal.SIGHUP)
    for w in proxy.workers():
        os.kill(w, signal.SIGTERM)
        os.kill(w, signal.SIGINT)
    # The last SIGHUP's generation took over.
    reloaded = wait_for(lambda: proxy.text().rfind("serves") > proxy.text().rfind("SIGHUP: reloading"), 30)
    time.sleep(1)
    stop.set()
    for t in threads:
        t.join()
    signalled = [line for line in proxy.text().splitlines()
                 if "killed by signal" in line and "(SIGKILL)" not in line]
    first_gone = wait_for(lambda: not first & set(proxy.workers()), 30)
    ok = not failures and reloaded and not signalled and first_gone and proxy.process.poll() is None
    report("SIGHUP under load and to the process group", ok,
           f"8 sessions, {len(failures)} failed; {proxy.text().count('serves') - served} generations "
           f"took over; {len(signalled)} workers killed by a signal; first generation "
           f"{'exited after its sessions' if first_gone else 'still running'}")


def check_fd_exhaustion(binary, base, backend, rogue):
    proxy = Proxy(binary, base, "fd", backend, rogue, nofile=256, connect_timeout=30)
    others = [session(proxy) for _ in range(10)]
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        # One hostile local user: connections that never log in, as many as it gets.
        os.setgid(65534)
        os.setuid(65534)
        codes = []
        conns = []
        for _ in range(400):
            try:
                c = wire.Connection(proxy.socket, 5)
                first = c.read_packet()
                conns.append(c)
                if first[:1] == b"\xff":
                    codes.append(wire.parse_err(first).code)
            except (wire.Closed, OSError):
                codes.append(-1)
        os.write(writer, " ".join(map(str, codes)).encode())
        os.close(writer)
        time.sleep(2)
        os._exit(0)
    os.close(writer)
    with os.fdopen(reader) as f:
        codes = [int(code) for code in f.read().split()]
    _, status = os.waitpid(pid, 0)
    for code in codes:
        if code > 0:
            note_error(wire.MysqlError(code, "", ""))
    refused_1040 = codes.count(1040)
    text = proxy.text()
    lost = 0
    for c in others:
        try:
            wire.query(c, "SELECT 1")
        except Exception as e:  # noqa: BLE001
            note_error(e)
            lost += 1
        wire.quit(c)
    refusals = text.count("refused: every worker at its fd limit") + text.count("within the reserve")
    exited = "exited with status 76" in text
    ok = lost == 0 and not exited and refused_1040 > 0 and select_one(proxy)
    proxy.stop()
    report("fd exhaustion by one uid", ok,
           f"RLIMIT_NOFILE 256, 400 stalled logins by uid 65534: {400 - len(codes)} held, {refused_1040} got"
           f" ERR 1040 ({refusals} log lines); other sessions lost {lost}/10; worker exit 76: {exited}")


def check_churn(proxy, cycles):
    baseline = proxy.fd_count()
    failures = 0
    t0 = time.monotonic()
    for _ in range(cycles):
        try:
            if not select_one(proxy):
                failures += 1
        except Exception as e:  # noqa: BLE001
            note_error(e)
            failures += 1
    took = time.monotonic() - t0
    wait_for(lambda: proxy.fd_count() <= baseline, 5)
    after = proxy.fd_count()
    report("connection churn", failures == 0 and after <= baseline,
           f"{cycles} cycles in {took:.0f} s, {failures} failed, fds {baseline} -> {after}")


def check_idle_memory(proxy, count):
    """Memory per idle proxied session in the workers (issue 13: under 4 KiB): the growth of their RSS
    over the last four fifths of @count logged-in sessions, so that what a worker allocates once (its
    first sessions' pools, tables that grow, shared library pages faulted in by the first login) does
    not count as a cost per session.  The figure counted from the first session is shown too."""
    warm = count // 5
    sessions = []
    start = proxy.worker_rss_kb()
    before = None
    try:
        for i in range(count):
            if i == warm:
                time.sleep(0.5)
                before = proxy.worker_rss_kb()
            sessions.append(session(proxy))
    except Exception as e:  # noqa: BLE001
        note_error(e)
    time.sleep(0.5)
    after = proxy.worker_rss_kb()
    per = (after - (before or after)) * 1024 / max(1, len(sessions) - warm)
    per_from_first = (after - start) * 1024 / max(1, len(sessions))
    alive = sum(1 for c in sessions[:: max(1, len(sessions) // 20)] if wire.query(c, "SELECT 1") == [[b"1"]])
    for c in sessions:
        wire.quit(c)
    report("idle-session memory", len(sessions) == count and 0 < per < IDLE_SESSION_BYTES_MAX,
           f"{len(sessions)}/{count} idle sessions, {per:.0f} bytes each in the workers "
           f"(over the last {count - warm}; bound {IDLE_SESSION_BYTES_MAX}; {per_from_first:.0f} counted from the "
           f"first), sampled {alive} alive")


def check_backend_death(proxy, mariadb):
    c = session(proxy)
    wire.send_query(c, "SELECT SLEEP(30)")
    time.sleep(0.5)
    os.kill(mariadb.process.pid, signal.SIGKILL)
    t0 = time.monotonic()
    try:
        wire.read_result(c)
        code = 0
    except wire.MysqlError as e:
        note_error(e)
        code = e.code
    except (wire.Closed, OSError):
        code = -1
    took = (time.monotonic() - t0) * 1000
    c.close()
    report("backend killed mid-query", code == 1927, f"client got ERR {code} after {took:.0f} ms")


def check_backend_stopped(proxy, mariadb):
    """A backend that stops answering (SIGSTOP, as a partition would look): read_timeout = 2 ends the
    waiting query with ERR 1158, and the other sessions are untouched once it runs again."""
    c = session(proxy, user="patient")
    wire.send_query(c, "SELECT SLEEP(1), 'late'")
    os.kill(mariadb.process.pid, signal.SIGSTOP)
    t0 = time.monotonic()
    try:
        wire.read_result(c)
        code = 0
    except wire.MysqlError as e:
        note_error(e)
        code = e.code
    except (wire.Closed, OSError):
        code = -1
    took = (time.monotonic() - t0) * 1000
    os.kill(mariadb.process.pid, signal.SIGCONT)
    c.close()
    logged = "(read_timeout)" in proxy.text()
    ok = code == 1158 and logged and select_one(proxy)
    report("backend stopped mid-query", ok, f"client got ERR {code} after {took:.0f} ms (read_timeout 2 s), "
           f"logged: {logged}")


def check_worker_stopped(proxy):
    """A worker that stops (SIGSTOP, a livelock) misses its heartbeat: after 2 s it gets no new clients
    (logins succeed again while it is still stopped), after 5 s it is killed and replaced."""
    victim = proxy.workers()[0]
    respawns = proxy.text().count("ready (respawned)")
    os.kill(victim, signal.SIGSTOP)
    t0 = time.monotonic()
    logins = failed = served_while_stopped = 0
    while time.monotonic() - t0 < 8 and victim in proxy.workers():
        try:
            # A short timeout: a login handed to the stopped worker must not hold up the next ones.
            c = wire.login(proxy.socket, USER, PASSWORD, timeout=1)
            wire.query(c, "SELECT 1")
            wire.quit(c)
            if time.monotonic() - t0 > 2.5 and victim in proxy.workers():
                served_while_stopped += 1
        except (wire.MysqlError, wire.Closed, OSError) as e:
            note_error(e)
            failed += 1
        logins += 1
        time.sleep(0.05)
    replaced = wait_for(lambda: victim not in proxy.workers() and len(proxy.workers()) == 2 and
                        proxy.text().count("ready (respawned)") > respawns, 15)
    took = time.monotonic() - t0
    check_worker_kill.respawns = proxy.text().count("ready (respawned)")
    ok = replaced and "missed its heartbeat" in proxy.text() and served_while_stopped > 0 and select_one(proxy)
    report("worker stopped (heartbeat)", ok, f"replaced after {took:.1f} s; {logins} logins meanwhile, "
           f"{failed} lost in its first 2 s, {served_while_stopped} served by the other worker after that")


def check_graceful_shutdown(binary, base, backend, rogue):
    proxy = Proxy(binary, base, "shutdown", backend, rogue, drain_timeout=30)
    idle = [session(proxy) for _ in range(3)]
    running = session(proxy)
    wire.send_query(running, "SELECT SLEEP(1), 'done'")
    time.sleep(0.2)
    t0 = time.monotonic()
    proxy.process.send_signal(signal.SIGTERM)
    try:
        rows = wire.read_result(running)
    except Exception as e:  # noqa: BLE001
        note_error(e)
        rows = []
    status = proxy.process.wait(60)
    took = time.monotonic() - t0
    for c in idle:
        c.close()
    ok = status == 0 and rows and rows[0][1] == b"done" and took < 10
    report("graceful shutdown", ok, f"3 idle + 1 running: exit {status} after {took:.1f} s (drain_timeout 30 s),"
           " running query finished")


def check_conformance():
    bad = {code: n for code, n in seen_errors.items() if not 1000 <= code < 2000}
    figure = ", ".join(f"{code}x{n}" for code, n in sorted(seen_errors.items()))
    report("error-code conformance", not bad and bool(seen_errors), f"codes seen: {figure}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--myproxy", required=True)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--idle-memory-only", type=int, metavar="SESSIONS",
                        help="run only the idle-session memory check, with SESSIONS sessions (a measurement)")
    args = parser.parse_args()
    churn, idle = (100000, 10000) if args.full else (2000, 2000)
    if args.idle_memory_only:
        idle = args.idle_memory_only
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    base = tempfile.mkdtemp(prefix="myproxy-battery.")
    os.chmod(base, 0o711)
    mariadb = proxy = None
    rogue_path = os.path.join(base, "rogue.sock")
    server = rogue_backend(rogue_path)
    os.chmod(rogue_path, 0o777)
    try:
        mariadb = MariaDB(base, idle + 200)
        os.chmod(mariadb.dir, 0o711)
        proxy = Proxy(args.myproxy, base, "main", mariadb.socket, rogue_path)
        if args.idle_memory_only:
            check_idle_memory(proxy, idle)
            return finish()
        check_hostile_handshakes(proxy)
        check_big_relay(proxy)
        check_slowloris(proxy)
        check_lua_containment(proxy)
        check_rogue_infile(proxy)
        check_sighup(proxy)
        check_worker_kill(proxy)
        check_fd_exhaustion(args.myproxy, base, mariadb.socket, rogue_path)
        check_churn(proxy, churn)
        check_idle_memory(proxy, idle)
        check_graceful_shutdown(args.myproxy, base, mariadb.socket, rogue_path)
        check_worker_stopped(proxy)
        check_backend_stopped(proxy, mariadb)
        check_backend_death(proxy, mariadb)
        check_conformance()
    finally:
        if proxy:
            proxy.stop()
        if mariadb:
            mariadb.stop()
        server.close()
        if os.environ.get("BATTERY_KEEP") is None:
            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"kept {base}")
    return finish()


def finish():
    failed = [name for name, ok, _ in results if not ok]
    print(f"battery: {len(results) - len(failed)}/{len(results)} passed" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
