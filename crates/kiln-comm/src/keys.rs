//! Temporary SSH key pairs, made here so the private key never travels: builders import the
//! public half into the cloud (or the machine) and connect with the private half.

use crate::CommError;
use russh::keys::ssh_key::private::{KeypairData, RsaKeypair};
use russh::keys::{Algorithm, PrivateKey};

/// A generated key pair in OpenSSH formats.
pub struct KeyPair {
    /// The private key (OpenSSH PEM).
    pub private_openssh: String,
    /// The public key line: `type base64 comment`.
    pub public_openssh: String,
}

impl KeyPair {
    /// The base64 body of the public key: what identifies it in an authorized_keys line.
    pub fn public_body(&self) -> &str {
        public_body(&self.public_openssh)
    }
}

/// The second field of a public key line.
pub fn public_body(line: &str) -> &str {
    line.split_whitespace().nth(1).unwrap_or("")
}

/// Makes a key pair: `kind` `ed25519` (the default, also for "") or `rsa` with `bits`
/// (4096 by default; at least 2048), with `comment`.
pub fn generate(kind: &str, bits: Option<u32>, comment: &str) -> Result<KeyPair, CommError> {
    let mut rng = rand::rng();
    let bad = |e: russh::keys::ssh_key::Error| CommError::Failed(format!("generating a key: {e}"));
    let mut key = match kind {
        "" | "ed25519" => PrivateKey::random(&mut rng, Algorithm::Ed25519).map_err(bad)?,
        "rsa" => {
            let bits = bits.unwrap_or(4096);
            if bits < 2048 {
                return Err(CommError::Failed(format!(
                    "temporary_key_pair_bits must be at least 2048 for rsa, not {bits}"
                )));
            }
            let pair = RsaKeypair::random(&mut rng, bits as usize).map_err(bad)?;
            PrivateKey::new(KeypairData::from(pair), comment).map_err(bad)?
        }
        other => {
            return Err(CommError::Failed(format!(
                "temporary_key_pair_type must be \"ed25519\" or \"rsa\", not \"{other}\""
            )))
        }
    };
    key.set_comment(comment);
    let private_openssh = key
        .to_openssh(russh::keys::ssh_key::LineEnding::LF)
        .map_err(bad)?
        .to_string();
    let public_openssh = key.public_key().to_openssh().map_err(bad)?;
    Ok(KeyPair {
        private_openssh,
        public_openssh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_ed25519_and_rsa_pairs_that_parse() {
        for (kind, bits, prefix) in [("", None, "ssh-ed25519 "), ("rsa", Some(2048), "ssh-rsa ")] {
            let k = generate(kind, bits, "packer_test").unwrap();
            assert!(k.public_openssh.starts_with(prefix), "{}", k.public_openssh);
            assert!(k.public_openssh.ends_with(" packer_test"));
            let parsed = russh::keys::decode_secret_key(&k.private_openssh, None).unwrap();
            assert_eq!(parsed.public_key().to_openssh().unwrap(), k.public_openssh);
            assert!(!k.public_body().is_empty());
        }
        assert!(generate("rsa", Some(1024), "x").is_err());
        assert!(generate("dsa", None, "x").is_err());
    }
}
