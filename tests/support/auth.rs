//! What a registry's authentication needs in the tests: certificates made with the
//! `openssl` command (a CA and a server certificate for 127.0.0.1; a token-signing key),
//! and a small token server on 127.0.0.1 that answers the distribution token protocol
//! with RS256 JWTs the registry verifies against the signing certificate (`x5c`). It
//! checks Basic credentials, counts the tokens it issued, and runs until the test process
//! ends.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;

use super::registry::TOKEN_SERVICE;

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a certificate for 127.0.0.1 it signed (`server.pem`,
/// `server.key`), in `dir`.
pub struct Certificates {
    pub ca: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

pub fn certificates(dir: &Path) -> Certificates {
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-subj",
            "/CN=oci-audit test CA",
            "-days",
            "2",
        ],
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
        dir,
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
        dir,
    );
    Certificates {
        ca: dir.join("ca.pem"),
        certificate: dir.join("server.pem"),
        key: dir.join("server.key"),
    }
}

/// A token server: its realm URL, the certificate the registry trusts its tokens by, and
/// how many tokens it issued.
pub struct TokenServer {
    pub realm: String,
    pub bundle: PathBuf,
    issued: Arc<AtomicUsize>,
}

impl TokenServer {
    /// Issues tokens to `user:password` (Basic), for any scope asked.
    pub fn start(dir: &Path, user: &str, password: &str) -> TokenServer {
        openssl(
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "token.key",
                "-out",
                "token.pem",
                "-subj",
                "/CN=oci-audit test tokens",
                "-days",
                "2",
            ],
            dir,
        );
        openssl(
            &[
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                "token.key",
                "-outform",
                "DER",
                "-out",
                "token.der",
            ],
            dir,
        );
        openssl(
            &[
                "x509",
                "-in",
                "token.pem",
                "-outform",
                "DER",
                "-out",
                "token.crt.der",
            ],
            dir,
        );
        let key =
            ring::signature::RsaKeyPair::from_pkcs8(&std::fs::read(dir.join("token.der")).unwrap())
                .expect("an RSA key");
        let x5c = base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(dir.join("token.crt.der")).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let issued = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&issued);
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        let key = Arc::new(key);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let key = Arc::clone(&key);
                let (x5c, expected, counter) =
                    (x5c.clone(), expected.clone(), Arc::clone(&counter));
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    let mut head = Vec::new();
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let line = line.trim_end().to_owned();
                        if line.is_empty() {
                            break;
                        }
                        head.push(line);
                    }
                    let target = head[0].split(' ').nth(1).unwrap_or("").to_owned();
                    let authorized = head.iter().any(|l| {
                        l.split_once(':').is_some_and(|(k, v)| {
                            k.eq_ignore_ascii_case("authorization") && v.trim() == expected
                        })
                    });
                    let answer = if authorized {
                        counter.fetch_add(1, Ordering::SeqCst);
                        let token = sign(&key, &x5c, &scope_of(&target));
                        let body = format!("{{\"token\":\"{token}\",\"expires_in\":300}}");
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    };
                    let _ = stream.write_all(answer.as_bytes());
                });
            }
        });
        TokenServer {
            realm: format!("http://127.0.0.1:{port}/token"),
            bundle: dir.join("token.pem"),
            issued,
        }
    }

    /// Tokens issued so far.
    pub fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

/// The `scope` query parameter of a token request (percent-decoded), or "".
fn scope_of(target: &str) -> String {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix("scope="))
        .map(|v| {
            let mut out = Vec::new();
            let bytes = v.replace('+', " ").into_bytes();
            let mut i = 0;
            while i < bytes.len() {
                if bytes[i] == b'%' && i + 2 < bytes.len() {
                    let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                    out.push(u8::from_str_radix(hex, 16).unwrap());
                    i += 3;
                } else {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        })
        .unwrap_or_default()
}

/// An RS256 JWT granting `scope` (`repository:NAME:pull`, `registry:catalog:*`).
fn sign(key: &ring::signature::RsaKeyPair, x5c: &str, scope: &str) -> String {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = format!("{{\"typ\":\"JWT\",\"alg\":\"RS256\",\"x5c\":[\"{x5c}\"]}}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let access = match scope.splitn(3, ':').collect::<Vec<_>>()[..] {
        [kind, name, actions] => format!(
            "[{{\"type\":\"{kind}\",\"name\":\"{name}\",\"actions\":[{}]}}]",
            actions
                .split(',')
                .map(|a| format!("\"{a}\""))
                .collect::<Vec<_>>()
                .join(",")
        ),
        _ => "[]".to_owned(),
    };
    let claims = format!(
        "{{\"iss\":\"{TOKEN_SERVICE}\",\"sub\":\"alice\",\"aud\":\"{TOKEN_SERVICE}\",\"exp\":{},\"nbf\":{},\"iat\":{now},\"jti\":\"{now}-{}\",\"access\":{access}}}",
        now + 300,
        now - 10,
        rand_suffix()
    );
    let signing_input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut signature,
    )
    .unwrap();
    format!("{signing_input}.{}", b64(&signature))
}

fn rand_suffix() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    NEXT.fetch_add(1, Ordering::SeqCst)
}
