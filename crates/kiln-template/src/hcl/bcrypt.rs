//! `bcrypt(str, cost)`: a password hash in the Modular Crypt Format (`$2a$10$…`), as Go's
//! `bcrypt.GenerateFromPassword` makes it for Packer: a random 16-byte salt, the password with
//! its trailing NUL as the key, `2^cost` rounds of the expensive key schedule, then
//! "OrpheanBeholderScryDoubt" encrypted 64 times; salt and hash in bcrypt's own base64.

use blowfish::Blowfish;

/// Go's default cost, and the range it takes (below the least, the default is used).
pub const DEFAULT_COST: u32 = 10;
const MIN_COST: u32 = 4;
const MAX_COST: u32 = 31;

const ALPHABET: &[u8; 64] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// `bytes` in bcrypt's base64: its alphabet, no padding.
fn encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The hash of `password` with `salt` at `cost`: the 31 characters after the salt.
fn hash(password: &[u8], salt: &[u8; 16], cost: u32) -> String {
    // As C's bcrypt (and Go's, for compatibility): the key is the password and its NUL, of
    // which the key schedule reads the first 72 bytes.
    let mut key = password.to_vec();
    key.push(0);
    key.truncate(72);
    let mut bf = Blowfish::bc_init_state();
    bf.salted_expand_key(salt, &key);
    for _ in 0..1u64 << cost {
        bf.bc_expand_key(&key);
        bf.bc_expand_key(salt);
    }
    let text = b"OrpheanBeholderScryDoubt";
    let mut out = Vec::with_capacity(24);
    for block in text.chunks(8) {
        let mut lr = [
            u32::from_be_bytes(block[..4].try_into().expect("8-byte block")),
            u32::from_be_bytes(block[4..].try_into().expect("8-byte block")),
        ];
        for _ in 0..64 {
            lr = bf.bc_encrypt(lr);
        }
        out.extend_from_slice(&lr[0].to_be_bytes());
        out.extend_from_slice(&lr[1].to_be_bytes());
    }
    encode(&out[..23])
}

/// `password` hashed at `cost` with `salt`, as `$2a$COST$SALTHASH`.
pub fn with_salt(password: &str, cost: u32, salt: &[u8; 16]) -> Result<String, String> {
    let cost = if cost < MIN_COST { DEFAULT_COST } else { cost };
    if cost > MAX_COST {
        return Err(format!(
            "error occured generating password crypto/bcrypt: cost {cost} is outside allowed range ({MIN_COST},{MAX_COST})"
        ));
    }
    Ok(format!(
        "$2a${cost:02}${}{}",
        encode(salt),
        hash(password.as_bytes(), salt, cost)
    ))
}

/// `password` hashed at `cost` with a fresh random salt.
pub fn generate(password: &str, cost: u32) -> Result<String, String> {
    with_salt(password, cost, &rand::random())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The salt a `$2a$` hash carries.
    fn salt_of(h: &str) -> [u8; 16] {
        let chars: Vec<u8> = h.as_bytes()[7..29].to_vec();
        let mut bits = 0u64;
        let mut n = 0;
        let mut out = vec![];
        for c in chars {
            let v = ALPHABET.iter().position(|&a| a == c).unwrap() as u64;
            bits = (bits << 6) | v;
            n += 6;
            if n >= 8 {
                n -= 8;
                out.push((bits >> n) as u8);
                bits &= (1 << n) - 1;
            }
        }
        out[..16].try_into().unwrap()
    }

    #[test]
    fn hashes_match_gos_and_packers() {
        // Made by Packer 1.6.6 (a shell-local provisioner echoing `bcrypt(...)`).
        for (password, cost, made) in [
            (
                "hunter2",
                10,
                "$2a$10$P8wurYoEbeXPkxF/Hqx9/OfJ6XYQ.6ldZUZeJyHdCSHmct8v7gZk.",
            ),
            (
                "",
                4,
                "$2a$04$zrY9l6p63nprP5pRNmHYtOTn8XCRbwV80jiOaMuyV4RXZNrrEJ0S2",
            ),
            (
                "a",
                6,
                "$2a$06$7dFQxtQz4fVXZiHBV1mlouZxVHWhclQZiXLnw8YrPzKqkVMM91PQW",
            ),
        ] {
            assert_eq!(
                with_salt(password, cost, &salt_of(made)).unwrap(),
                made,
                "{password}"
            );
        }
        // OpenBSD's test vector.
        let known = "$2a$06$m0CrhHm10qJ3lXRY.5zDGO3rS2KdeeWLuGmsfGlMfOxih58VYVfxe";
        assert_eq!(with_salt("a", 6, &salt_of(known)).unwrap(), known);
    }

    #[test]
    fn salts_are_fresh_and_costs_as_go_takes_them() {
        let a = generate("pw", 4).unwrap();
        let b = generate("pw", 4).unwrap();
        assert_ne!(a, b);
        assert_eq!((a.len(), &a[..7]), (60, "$2a$04$"));
        assert!(generate("pw", 2).unwrap().starts_with("$2a$10$"));
        assert!(generate("pw", 32)
            .unwrap_err()
            .contains("outside allowed range"));
    }
}
