//! `rsadecrypt(ciphertext, privatekey)`: RSA PKCS #1 v1.5 decryption as Packer's: the
//! ciphertext in base64, the key a PEM "RSA PRIVATE KEY" (PKCS #1), not password-protected.

use base64::Engine;
use rsa::pkcs1::DecodeRsaPrivateKey;

/// The plaintext of `ciphertext` (base64) under `pem`.
pub fn decrypt(ciphertext: &str, pem: &str) -> Result<String, String> {
    // As Go's decoder: line breaks skipped, stray bits after the last character let pass.
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    let joined: String = ciphertext
        .chars()
        .filter(|c| !matches!(c, '\r' | '\n'))
        .collect();
    let data = lenient.decode(joined).map_err(|_| {
        format!("failed to decode input {ciphertext:?}: cipher text must be base64-encoded")
    })?;
    let der = pem_block(pem)?;
    let key = rsa::RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| {
        format!("failed to parse key: {e} (a PKCS #1 \"RSA PRIVATE KEY\" is needed)")
    })?;
    let plain = key
        .decrypt(rsa::Pkcs1v15Encrypt, &data)
        .map_err(|e| format!("failed to decrypt: {e}"))?;
    Ok(String::from_utf8_lossy(&plain).into_owned())
}

/// The bytes of the first PEM block in `text`; an encrypted one is refused as Packer does.
fn pem_block(text: &str) -> Result<Vec<u8>, String> {
    let none = || "failed to parse key: no key found".to_string();
    let start = text.find("-----BEGIN ").ok_or_else(none)?;
    let rest = &text[start..];
    let header_end = rest.find('\n').ok_or_else(none)?;
    let body = &rest[header_end + 1..];
    let end = body.find("-----END ").ok_or_else(none)?;
    let mut b64 = String::new();
    for line in body[..end].lines() {
        let line = line.trim();
        if line.contains(':') {
            // Headers (`Proc-Type: 4,ENCRYPTED`): an encrypted key is not one kiln reads.
            if line.starts_with("Proc-Type") && line.contains("ENCRYPTED") {
                return Err("failed to parse key: password protected keys are not supported. Please decrypt the key prior to use".into());
            }
            continue;
        }
        b64.push_str(line);
    }
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| none())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key made for this test (`openssl genrsa -traditional 1024`).
    const KEY: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIICWwIBAAKBgQDIUkFbyi0ydrxb/f8NAHYj5iX+xDPTey6mFtcGO2Umue9peQiS\n4u3qxFjJDR4FTN1Kvf2gQdIcK7pfbYFCzCay13gF5n1oRD8w8BZ68tzWg5nLUNll\npWFcMm3JxwHtNrlC4yMiqpnG189WP5agFlDzHM9VOqFU8XYD+yJu6tBHcwIDAQAB\nAoGAAopAd+h9YDlvM/9pf4G0/cmKS8uzGIhkVAjQGy0foDkVVxII0Mv91k89DPeU\nnN6Xo736/FA5WNAZIeKik/VAvFgO0i/EqgZIGrETElAL5cq1TljCcm3VHuvg3hX8\nLuXjOXiB9eHNspqBM6RNcWscdEqluvL9V2/Sqx0cFBot9FECQQDkuedAKelMmQn0\n987zd5jM7fg2AH61dOvv4tsPgAYf4egNevEHo8Fl0bmvhT2HzTHLunMQuH2aEoMe\n8LqjPrTLAkEA4DVDvmao4W3I93755q+IsbZIJgBGqJd9MuWDjnPEkHz7au88fdCe\nzFAgkPdJH/WdPfmXFS4GHb+iMwIygXeK+QJANnjv0iApJ8zqyiSabPF2upeSHYpQ\novaNmjv03+QlkUJD+bHl5WPik1U3W83nsYf07Agjjz/g6eiuwZejW217sQJAOrWX\n5J6rMER4MF6+f2qNh8Nshw7hcbohXZd96GpmGVOw3iKBG4zqWCPPM0adjlHZd+YI\natJfZaDNjz/PC9nKuQJAMZCK4k4Jj+Ksnixyh0bi0UuyxKiRRAMY1X6pKJvp4uIJ\nLfnYHCSaqUq+ZgY6/QeOr/1UWOp4+F15C/3UHgPeQA==\n-----END RSA PRIVATE KEY-----\n";
    /// "Pa55-w0rd" encrypted to it by `openssl pkeyutl -encrypt`; Packer 1.6.6's
    /// `rsadecrypt` of it gives the same.
    const CIPHERTEXT: &str = "OxOO5z0u0VIKCr54YWV/NkNniby5YVO/VaG9eNwIcnAQ/8J/Dqu0Rfp3HylRZ8IXuHQu4dQKtXj9CNXPGRSUGn1WheeOSB5BjFqtr2r1Lpz28xBmPJIxV2ULwJwfWPxxZMptb1s6Ew5mOxtj3jRW0uuPdC2lSFHtSiuRoBYSPSQ=";

    #[test]
    fn decrypts_as_packer_and_says_why_not() {
        assert_eq!(decrypt(CIPHERTEXT, KEY).unwrap(), "Pa55-w0rd");
        // As read from a file, with its newline.
        assert_eq!(
            decrypt(&format!("{CIPHERTEXT}\n"), KEY).unwrap(),
            "Pa55-w0rd"
        );
        assert!(decrypt("not base64!", KEY)
            .unwrap_err()
            .contains("base64-encoded"));
        assert!(decrypt(CIPHERTEXT, "no key")
            .unwrap_err()
            .contains("no key found"));
        let encrypted = KEY.replacen("\n", "\nProc-Type: 4,ENCRYPTED\n", 1);
        assert!(decrypt(CIPHERTEXT, &encrypted)
            .unwrap_err()
            .contains("password protected keys are not supported"));
        assert!(decrypt("AAAA", KEY)
            .unwrap_err()
            .contains("failed to decrypt"));
    }
}
