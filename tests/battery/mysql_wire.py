# A minimal MySQL client for the battery (tests/battery): raw packets over a socket, a login with
# mysql_clear_password (what myproxy asks for by default), COM_QUERY with a text result set.  It
# exists so the battery can open thousands of sessions from one process and send hostile bytes;
# it is test code, never used by the daemon.
import socket
import struct

CLIENT_LONG_PASSWORD = 0x1
CLIENT_PROTOCOL_41 = 0x200
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000
CLIENT_SSL = 0x800


class MysqlError(Exception):
    def __init__(self, code, sqlstate, message):
        super().__init__(f"ERROR {code} ({sqlstate}): {message}")
        self.code, self.sqlstate, self.message = code, sqlstate, message


class Closed(Exception):
    pass


def parse_err(payload):
    code = struct.unpack_from("<H", payload, 1)[0]
    if len(payload) > 3 and payload[3:4] == b"#":
        return MysqlError(code, payload[4:9].decode(errors="replace"), payload[9:].decode(errors="replace"))
    return MysqlError(code, "", payload[3:].decode(errors="replace"))


class Connection:
    def __init__(self, address, timeout=30):
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(address)
        self.buffer = b""
        self.seq = 0

    def _fill(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise Closed("closed by peer")
            self.buffer += chunk

    def read_physical(self):
        self._fill(4)
        length = int.from_bytes(self.buffer[:3], "little")
        self.seq = self.buffer[3]
        self._fill(4 + length)
        payload = self.buffer[4:4 + length]
        self.buffer = self.buffer[4 + length:]
        return length, payload

    def read_packet(self):
        parts = []
        while True:
            length, payload = self.read_physical()
            parts.append(payload)
            if length < 0xFFFFFF:
                return b"".join(parts)

    def send_packet(self, payload, seq):
        out = b""
        while True:
            chunk = payload[:0xFFFFFF]
            payload = payload[0xFFFFFF:]
            out += len(chunk).to_bytes(3, "little") + bytes([seq & 0xFF]) + chunk
            seq += 1
            if len(chunk) < 0xFFFFFF:
                break
        self.sock.sendall(out)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def login(address, user, password, timeout=30):
    c = Connection(address, timeout)
    greeting = c.read_packet()
    if greeting[:1] == b"\xff":
        raise parse_err(greeting)
    caps = CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
    auth = password.encode() + b"\0"
    response = struct.pack("<IIB23x", caps, 1 << 24, 33) + user.encode() + b"\0" + bytes([len(auth)]) + auth
    response += b"mysql_clear_password\0"
    c.send_packet(response, c.seq + 1)
    while True:
        answer = c.read_packet()
        if answer[:1] == b"\x00":
            return c
        if answer[:1] == b"\xff":
            c.close()
            raise parse_err(answer)
        if answer[:1] == b"\xfe":
            c.send_packet(auth, c.seq + 1)
            continue
        c.close()
        raise MysqlError(0, "", "unexpected login packet %r" % answer[:8])


def lenenc(payload, pos):
    first = payload[pos]
    if first < 0xFB:
        return first, pos + 1
    if first == 0xFB:
        return None, pos + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(payload[pos + 1:pos + 1 + size], "little"), pos + 1 + size


def send_query(c, sql):
    c.send_packet(b"\x03" + sql.encode(), 0)


def read_result(c):
    """Rows as lists of bytes (None for NULL); raises MysqlError on ERR."""
    first = c.read_packet()
    if first[:1] == b"\xff":
        raise parse_err(first)
    if first[:1] == b"\x00":
        return []
    columns, _ = lenenc(first, 0)
    for _ in range(columns):
        c.read_packet()
    c.read_packet()  # EOF after the column definitions
    rows = []
    while True:
        packet = c.read_packet()
        if packet[:1] == b"\xfe" and len(packet) < 9:
            return rows
        if packet[:1] == b"\xff":
            raise parse_err(packet)
        row, pos = [], 0
        for _ in range(columns):
            length, pos = lenenc(packet, pos)
            if length is None:
                row.append(None)
            else:
                row.append(packet[pos:pos + length])
                pos += length
        rows.append(row)


def query(c, sql):
    send_query(c, sql)
    return read_result(c)


def quit(c):
    try:
        c.send_packet(b"\x01", 0)
    except OSError:
        pass
    c.close()
