"""Writes a PKCS#10 request for a deliberately weak RSA-2048 key, for the CA's tests:
python weak_rsa.py close|small-factor|roca OUT.csr
- close: primes a random 400-bit distance apart (Fermat factors the modulus at once);
- small-factor: the modulus is 751 times a prime;
- roca: both primes k*M + 65537^a mod M, M the product of the primes to 167: the
  structure of the Infineon keys of CVE-2017-15361 that the ROCA fingerprint detects.
Needs `cryptography` 39 or later (the pkilint venv has it)."""
import sys, secrets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

def is_prime(n, rounds=32):
    if n < 2: return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0: return n == p
    d, s = n - 1, 0
    while d % 2 == 0: d //= 2; s += 1
    for _ in range(rounds):
        x = pow(secrets.randbelow(n - 3) + 2, d, n)
        if x in (1, n - 1): continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1: break
        else: return False
    return True

def next_prime(n):
    n |= 1
    while not is_prime(n): n += 2
    return n

def random_prime(bits):
    return next_prime(secrets.randbits(bits) | (3 << (bits - 2)))

E = 65537
ROCA_PRIMES = [3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73,
               79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167]

def roca_prime(bits):
    m = 1
    for p in ROCA_PRIMES: m *= p
    import math
    lo, hi = math.isqrt(2 ** (2 * bits - 1)) + 1, 2 ** bits  # so that p * q has 2 * bits bits
    while True:
        k = lo // m + 1 + secrets.randbelow((hi - lo) // m - 1)
        cand = k * m + pow(E, secrets.randbelow(10**6), m)
        if cand % 2 == 1 and is_prime(cand):
            return cand

kind, out = sys.argv[1], sys.argv[2]
while True:
    if kind == "close":
        p = random_prime(1024); q = next_prime(p + secrets.randbits(400))
    elif kind == "small-factor":
        p = 751; q = random_prime(2038)
    elif kind == "roca":
        p = roca_prime(1024); q = roca_prime(1024)
    n = p * q
    phi = (p - 1) * (q - 1)
    import math
    if n.bit_length() == 2048 and math.gcd(E, phi) == 1: break
d = pow(E, -1, phi)
key = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                            rsa.RSAPublicNumbers(E, n)).private_key(unsafe_skip_rsa_key_validation=True)
csr = (x509.CertificateSigningRequestBuilder()
       .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "weak")]))
       .sign(key, hashes.SHA256()))
open(out, "wb").write(csr.public_bytes(serialization.Encoding.PEM))
