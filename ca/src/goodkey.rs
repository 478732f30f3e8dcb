//! Boulder's `goodkey` checks of RSA moduli: a modulus with a small factor, one whose
//! primes are close enough for Fermat's method to factor it, and one with the ROCA
//! fingerprint (CVE-2017-15361, Infineon's flawed generator) are refused. The Debian
//! OpenSSL weak-key lists (2008) are not shipped: no maintained source is packaged.

use num_bigint::BigUint;

/// Primes up to 751, as Boulder checks (its product has a gcd of 1 with a sound key).
const SMALL_PRIMES_UP_TO: u32 = 751;
/// Rounds of Fermat's method; Boulder's production setting is 110.
const FERMAT_ROUNDS: u32 = 110;
/// The primes the ROCA fingerprint looks at (from the ROCA paper's detection tool).
const ROCA_PRIMES: [u32; 38] = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
    101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];

/// Refuses an RSA modulus (big-endian bytes) that a known method factors.
pub fn check_rsa_modulus(modulus: &[u8]) -> Result<(), String> {
    let n = BigUint::from_bytes_be(modulus);
    if let Some(p) = small_factor(&n) {
        return Err(format!("the RSA modulus is divisible by {p}"));
    }
    if fermat_factors(&n) {
        return Err(
            "the RSA key's primes are so close that Fermat's method factors the modulus".into(),
        );
    }
    if roca_fingerprint(&n) {
        return Err(
            "the RSA key has the ROCA fingerprint (CVE-2017-15361): it can be factored".into(),
        );
    }
    Ok(())
}

fn is_small_prime(p: u32) -> bool {
    p >= 2
        && (2..p)
            .take_while(|d| d * d <= p)
            .all(|d| !p.is_multiple_of(d))
}

fn small_factor(n: &BigUint) -> Option<u32> {
    (2..=SMALL_PRIMES_UP_TO)
        .filter(|p| is_small_prime(*p))
        .find(|p| (n % *p) == BigUint::ZERO)
}

/// Fermat: with a = ceil(sqrt(n)), n = a^2 - b^2 = (a - b)(a + b) as soon as a^2 - n
/// is a square, which happens within a few rounds when the primes are close.
fn fermat_factors(n: &BigUint) -> bool {
    let mut a = n.sqrt();
    if &a * &a < *n {
        a += 1u32;
    }
    for _ in 0..FERMAT_ROUNDS {
        let b2 = &a * &a - n;
        let b = b2.sqrt();
        if &b * &b == b2 {
            return true;
        }
        a += 1u32;
    }
    false
}

/// ROCA keys have both primes of the form k*M + (65537^a mod M), so the modulus is a
/// power of 65537 modulo each small prime of M. A sound key passes this for all 38
/// primes with negligible probability.
fn roca_fingerprint(n: &BigUint) -> bool {
    ROCA_PRIMES.iter().all(|&p| {
        let residue = (n % p).iter_u32_digits().next().unwrap_or(0);
        let g = 65537 % p;
        let mut x = 1u32;
        loop {
            if x == residue {
                return true;
            }
            x = x * g % p;
            if x == 1 {
                return false;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_factors_close_primes_and_the_roca_structure_are_found() {
        // 1000003 * 1000033: close primes; 751 * 1000003: a small factor.
        let close = BigUint::from(1_000_003u64 * 1_000_033);
        assert!(fermat_factors(&close));
        assert_eq!(small_factor(&BigUint::from(751u64 * 1_000_003)), Some(751));
        assert_eq!(small_factor(&close), None);
        // 65537^3 modulo every ROCA prime: a power of the generator everywhere.
        assert!(roca_fingerprint(&BigUint::from(65537u32).pow(3)));
        // 2 is not a power of 65537 modulo some of them.
        assert!(!roca_fingerprint(&BigUint::from(2u32)));
    }
}
