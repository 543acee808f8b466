//! The part of a VNC (RFB, RFC 6143) client that typing a boot command needs: the version
//! handshake (3.3, 3.7 or 3.8), the "None" security type or, with a password, "VNC
//! Authentication" (DES of the server's challenge), a shared ClientInit, and key events.
//! Nothing is read after the server's init message: no screen updates are asked for.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connected VNC session.
pub struct Vnc {
    stream: TcpStream,
    /// The desktop's name, from the server.
    pub desktop: String,
}

/// Security type "None".
const SECURITY_NONE: u8 = 1;
/// Security type "VNC Authentication".
const SECURITY_VNC: u8 = 2;

/// The answer to a VNC Authentication challenge: each 8-byte half DES-encrypted with the
/// password (its first 8 bytes, zero-padded) as the key, each key byte's bits reversed.
fn vnc_auth_response(password: &str, challenge: &[u8; 16]) -> [u8; 16] {
    use des::cipher::{BlockCipherEncrypt, KeyInit};
    let mut key = [0u8; 8];
    for (k, b) in key.iter_mut().zip(password.bytes()) {
        *k = b.reverse_bits();
    }
    let cipher = des::Des::new(&key.into());
    let mut out = *challenge;
    for half in out.chunks_exact_mut(8) {
        let block: &mut [u8; 8] = half.try_into().expect("8 bytes");
        cipher.encrypt_block(block.into());
    }
    out
}

impl Vnc {
    /// Connects to `addr` and does the handshake (with `password`, VNC Authentication).
    pub async fn connect(addr: &str, password: Option<&str>) -> Result<Vnc, String> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("Error connecting to VNC: {e}"))?;
        Self::handshake(stream, password)
            .await
            .map_err(|e| format!("Error handshaking with VNC: {e}"))
    }

    /// Answers the challenge of VNC Authentication; then the server's verdict.
    async fn authenticate(s: &mut TcpStream, password: &str, minor: u32) -> Result<(), String> {
        let io = |e: std::io::Error| e.to_string();
        let mut challenge = [0u8; 16];
        s.read_exact(&mut challenge).await.map_err(io)?;
        s.write_all(&vnc_auth_response(password, &challenge))
            .await
            .map_err(io)?;
        match s.read_u32().await.map_err(io)? {
            0 => Ok(()),
            _ if minor == 8 => Err(Self::reason(s).await),
            _ => Err("the server refused the VNC password".into()),
        }
    }

    async fn handshake(mut s: TcpStream, password: Option<&str>) -> Result<Vnc, String> {
        let io = |e: std::io::Error| e.to_string();
        let mut version = [0u8; 12];
        s.read_exact(&mut version).await.map_err(io)?;
        let text = String::from_utf8_lossy(&version).to_string();
        let minor = match text.strip_prefix("RFB 003.").map(|v| v.trim_end()) {
            Some(v) => v
                .parse::<u32>()
                .map_err(|_| format!("bad version {text:?}"))?,
            None => return Err(format!("not a VNC server (it said {:?})", text.trim_end())),
        };
        // Anything newer than 3.8 is answered as 3.8; 3.4–3.6 are 3.3 (RFC 6143 appendix).
        let minor = match minor {
            8.. => 8,
            7 => 7,
            _ => 3,
        };
        s.write_all(format!("RFB 003.00{minor}\n").as_bytes())
            .await
            .map_err(io)?;
        if minor == 3 {
            let kind = s.read_u32().await.map_err(io)?;
            if kind == 0 {
                return Err(Self::reason(&mut s).await);
            }
            match (kind, password) {
                (k, _) if k == u32::from(SECURITY_NONE) => {}
                (k, Some(p)) if k == u32::from(SECURITY_VNC) => {
                    Self::authenticate(&mut s, p, minor).await?
                }
                (k, None) if k == u32::from(SECURITY_VNC) => {
                    return Err("the server wants a VNC password, and none is set".into())
                }
                _ => {
                    return Err(format!(
                        "the server wants security type {kind}; kiln speaks None (1) and VNC Authentication (2)"
                    ))
                }
            }
        } else {
            let n = s.read_u8().await.map_err(io)?;
            if n == 0 {
                return Err(Self::reason(&mut s).await);
            }
            let mut kinds = vec![0u8; n.into()];
            s.read_exact(&mut kinds).await.map_err(io)?;
            match password {
                Some(p) if kinds.contains(&SECURITY_VNC) => {
                    s.write_all(&[SECURITY_VNC]).await.map_err(io)?;
                    Self::authenticate(&mut s, p, minor).await?;
                }
                _ if kinds.contains(&SECURITY_NONE) => {
                    s.write_all(&[SECURITY_NONE]).await.map_err(io)?;
                    if minor == 8 {
                        let result = s.read_u32().await.map_err(io)?;
                        if result != 0 {
                            return Err(Self::reason(&mut s).await);
                        }
                    }
                }
                Some(_) => {
                    return Err(format!(
                        "the server offers security types {kinds:?}, not VNC Authentication (2)"
                    ))
                }
                None => {
                    return Err(format!(
                        "the server offers security types {kinds:?}; without a password kiln speaks only None (1): is a VNC password set?"
                    ))
                }
            }
        }
        // ClientInit: shared, so a viewer someone has open stays connected.
        s.write_all(&[1]).await.map_err(io)?;
        // ServerInit: width, height, pixel format (16), the name's length and the name.
        let mut head = [0u8; 24];
        s.read_exact(&mut head).await.map_err(io)?;
        let len = u32::from_be_bytes([head[20], head[21], head[22], head[23]]);
        let mut name = vec![0u8; len.min(4096) as usize];
        s.read_exact(&mut name).await.map_err(io)?;
        Ok(Vnc {
            stream: s,
            desktop: String::from_utf8_lossy(&name).into_owned(),
        })
    }

    /// The server's reason for a refusal.
    async fn reason(s: &mut TcpStream) -> String {
        let Ok(len) = s.read_u32().await else {
            return "the server refused the connection".into();
        };
        let mut text = vec![0u8; len.min(4096) as usize];
        match s.read_exact(&mut text).await {
            Ok(_) => format!("the server refused: {}", String::from_utf8_lossy(&text)),
            Err(_) => "the server refused the connection".into(),
        }
    }

    /// Sends one key event: `keysym` pressed (`down`) or released.
    pub async fn key(&mut self, keysym: u32, down: bool) -> Result<(), String> {
        let mut msg = [4u8, u8::from(down), 0, 0, 0, 0, 0, 0];
        msg[4..].copy_from_slice(&keysym.to_be_bytes());
        self.stream
            .write_all(&msg)
            .await
            .map_err(|e| format!("sending a key over VNC: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server speaking RFB 3.8 with security None, recording the key events it gets.
    async fn server(offer: &'static [u8]) -> (String, tokio::task::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let task = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            s.write_all(b"RFB 003.008\n").await.unwrap();
            let mut v = [0u8; 12];
            s.read_exact(&mut v).await.unwrap();
            assert_eq!(&v, b"RFB 003.008\n");
            s.write_all(&[offer.len() as u8]).await.unwrap();
            s.write_all(offer).await.unwrap();
            let mut chosen = [0u8; 1];
            if s.read_exact(&mut chosen).await.is_err() {
                return vec![];
            }
            s.write_all(&0u32.to_be_bytes()).await.unwrap();
            let mut shared = [0u8; 1];
            s.read_exact(&mut shared).await.unwrap();
            assert_eq!(shared, [1]);
            let mut init = vec![0u8; 20];
            init[..2].copy_from_slice(&640u16.to_be_bytes());
            init.extend(4u32.to_be_bytes());
            init.extend(b"QEMU");
            s.write_all(&init).await.unwrap();
            let mut got = vec![];
            s.read_to_end(&mut got).await.unwrap();
            got
        });
        (addr, task)
    }

    #[tokio::test]
    async fn a_handshake_then_key_events_as_rfb_frames_them() {
        let (addr, task) = server(&[1, 2]).await;
        let mut v = Vnc::connect(&addr, None).await.unwrap();
        assert_eq!(v.desktop, "QEMU");
        v.key(0xFF0D, true).await.unwrap();
        v.key(0xFF0D, false).await.unwrap();
        drop(v);
        assert_eq!(
            task.await.unwrap(),
            vec![4, 1, 0, 0, 0, 0, 0xFF, 0x0D, 4, 0, 0, 0, 0, 0, 0xFF, 0x0D]
        );
    }

    #[test]
    fn the_challenge_is_answered_as_vnc_authentication_says() {
        // As `openssl enc -des-ecb` gives it with the bit-reversed key of "kilnpass".
        let got = vnc_auth_response("kilnpass", b"0123456789abcdef");
        let want: Vec<u8> = (0..16)
            .map(|i| {
                u8::from_str_radix(&"04b19789ebe9e29f22d973ecfec2b1ac"[2 * i..2 * i + 2], 16)
                    .unwrap()
            })
            .collect();
        assert_eq!(got.to_vec(), want);
        // Past 8 bytes the password does not count; a short one is padded with zeros.
        assert_eq!(vnc_auth_response("kilnpassword", b"0123456789abcdef"), got);
        assert_ne!(vnc_auth_response("kiln", b"0123456789abcdef"), got);
    }

    #[tokio::test]
    async fn a_server_that_wants_a_password_is_refused_with_why() {
        let (addr, task) = server(&[2]).await;
        let Err(e) = Vnc::connect(&addr, None).await else {
            panic!("connected to a password-only server");
        };
        assert!(e.contains("is a VNC password set?"), "{e}");
        task.await.unwrap();
    }
}
