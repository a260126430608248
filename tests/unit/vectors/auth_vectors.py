#!/usr/bin/python3
# Computes the test vectors of tests/unit/check_auth_plugins.cpp independently of myproxy's code:
# hashlib for caching_sha2_password, RFC 8032's pure-Python Ed25519 arithmetic (below, checked
# against RFC 8032's test 1) for MariaDB's client_ed25519, and python3-cryptography for RSA-OAEP.
# Run once; the values were pasted into the test.  Needs python3 and python3-cryptography.
import hashlib
import sys

# --- caching_sha2_password: XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) + nonce)) -----------------
def sha256(b):
    return hashlib.sha256(b).digest()

nonce20 = bytes(range(1, 21))
for pw in [b"password", b"secret"]:
    s1 = sha256(pw)
    s2 = sha256(s1)
    scramble = bytes(a ^ b for a, b in zip(s1, sha256(s2 + nonce20)))
    print("sha2", pw.decode(), "stored", s2.hex(), "scramble", scramble.hex())

# --- Ed25519 (RFC 8032, section 6), with SHA512(password) in place of SHA512(seed) ----------------
p = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
d = -121665 * pow(121666, p - 2, p) % p
def inv(x): return pow(x, p - 2, p)
def add(P, Q):
    A, B = (P[1] - P[0]) * (Q[1] - Q[0]) % p, (P[1] + P[0]) * (Q[1] + Q[0]) % p
    C, D = 2 * P[3] * Q[3] * d % p, 2 * P[2] * Q[2] % p
    E, F, G, H = B - A, D - C, D + C, B + A
    return (E * F % p, G * H % p, F * G % p, E * H % p)
def mul(s, P):
    Q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            Q = add(Q, P)
        P = add(P, P)
        s >>= 1
    return Q
def recover_x(y, sign):
    x2 = (y * y - 1) * inv(d * y * y + 1)
    x = pow(x2, (p + 3) // 8, p)
    if (x * x - x2) % p != 0:
        x = x * pow(2, (p - 1) // 4, p) % p
    if (x & 1) != sign:
        x = p - x
    return x
gy = 4 * inv(5) % p
gx = recover_x(gy, 0)
G = (gx, gy, 1, gx * gy % p)
def compress(P):
    zi = inv(P[2])
    x, y = P[0] * zi % p, P[1] * zi % p
    return int.to_bytes(y | ((x & 1) << 255), 32, "little")
def sha512_int(b):
    return int.from_bytes(hashlib.sha512(b).digest(), "little")
def sign(secret, msg):
    h = hashlib.sha512(secret).digest()
    a = int.from_bytes(h[:32], "little")
    a &= (1 << 254) - 8
    a |= 1 << 254
    A = compress(mul(a, G))
    r = sha512_int(h[32:] + msg) % L
    R = compress(mul(r, G))
    k = sha512_int(R + A + msg) % L
    S = (r + k * a) % L
    return A, R + int.to_bytes(S, 32, "little")

# RFC 8032 test 1: seed 9d61..., empty message.
A, sig = sign(bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"), b"")
assert A.hex() == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
assert sig.hex().startswith("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155")
nonce32 = bytes(range(1, 33))
for pw in [b"secret", b"a much longer password than thirty-two bytes, of course"]:
    A, sig = sign(pw, nonce32)
    print("ed25519", pw.decode(), "public", A.hex(), "signature", sig.hex())

# --- RSA-OAEP of (password + NUL) XOR nonce, decrypted by myproxy with a committed test key ---------
if len(sys.argv) > 1:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    key = serialization.load_pem_private_key(open(sys.argv[1], "rb").read(), None)
    masked = bytes(c ^ nonce20[i % 20] for i, c in enumerate(b"secret\0"))
    ct = key.public_key().encrypt(masked, padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None))
    print("rsa ciphertext", ct.hex())
