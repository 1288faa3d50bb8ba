//! An HTTP/1.1 proxy on 127.0.0.1 between oci-audit and an S3 server, which the tests
//! control: it records every request (method, target, range) and injects faults into
//! the ones that match (an error status, or a body cut short after so many bytes).
//!
//! Each request goes upstream on a connection of its own (`Connection: close`), so a
//! response ends where the upstream closes; the client's connection is kept alive as
//! the client asks. SigV4 signs the Host header, which passes through unchanged.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request as the proxy saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub range: Option<String>,
    /// The status the proxy answered itself, if it injected one.
    pub injected: Option<u16>,
}

/// What to do to requests that match.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer with this status (and an S3 error body) instead of forwarding.
    Status { code: u16, s3_code: &'static str },
    /// Forward, but close the connection after this many bytes of the response body.
    Cut { after: usize },
    /// Answer with this status and these extra header lines ("Name: value\r\n" each) and
    /// an empty body instead of forwarding (a 429 with Retry-After, a 503).
    Reply { code: u16, headers: String },
    /// Forward, with this header set in the response (added, or replacing its value).
    Header { name: &'static str, value: String },
    /// Forward after this many milliseconds (a slow answer).
    Delay { ms: u64 },
}

#[derive(Clone, Debug)]
struct Rule {
    method: Option<&'static str>,
    contains: String,
    fault: Fault,
    /// How many more requests it applies to (`usize::MAX`: all).
    times: usize,
}

#[derive(Default)]
struct State {
    seen: Vec<Seen>,
    rules: Vec<Rule>,
    /// Requests being held back by a `Delay` now, and the most there ever were at once.
    in_flight: usize,
    max_in_flight: usize,
}

/// One request held back by a `Delay`: counted in flight until it is dropped.
struct Busy<'a>(&'a Mutex<State>);

impl<'a> Busy<'a> {
    fn new(state: &'a Mutex<State>) -> Busy<'a> {
        let mut s = state.lock().unwrap();
        s.in_flight += 1;
        s.max_in_flight = s.max_in_flight.max(s.in_flight);
        Busy(state)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Ok(mut s) = self.0.lock() {
            s.in_flight -= 1;
        }
    }
}

/// The proxy; it runs until the test process ends (its threads only block on sockets).
pub struct Proxy {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream_port`.
    pub fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || serve(client, upstream_port, &state));
            }
        });
        Proxy { port, state }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Applies `fault` to the next `times` requests whose target contains `contains` (and
    /// whose method is `method`, if given).
    pub fn inject(&self, method: Option<&'static str>, contains: &str, fault: Fault, times: usize) {
        self.state.lock().unwrap().rules.push(Rule {
            method,
            contains: contains.to_owned(),
            fault,
            times,
        });
    }

    /// Forgets the faults and the record.
    pub fn reset(&self) {
        let mut state = self.state.lock().unwrap();
        state.rules.clear();
        state.seen.clear();
        state.max_in_flight = state.in_flight;
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// The most requests held back by a `Delay` at once since the last reset: how many
    /// the client had in flight together.
    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }
}

/// A request head: its lines, without the blank line that ends it.
fn read_head(reader: &mut impl BufRead) -> Option<Vec<String>> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Some(lines);
        }
        lines.push(line);
    }
}

fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines.iter().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn serve(client: TcpStream, upstream_port: u16, state: &Mutex<State>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut client = client;
    while let Some(head) = read_head(&mut reader) {
        let mut parts = head[0].split(' ');
        let method = parts.next().unwrap_or("").to_owned();
        let target = parts.next().unwrap_or("").to_owned();
        let length: usize = header(&head, "content-length").map_or(0, |v| v.parse().unwrap_or(0));
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let fault = {
            let mut state = state.lock().unwrap();
            let fault = state.rules.iter_mut().find_map(|rule| {
                let applies = rule.times > 0
                    && rule.method.is_none_or(|m| m == method)
                    && target.contains(&rule.contains);
                applies.then(|| {
                    rule.times = rule.times.saturating_sub(1);
                    rule.fault.clone()
                })
            });
            state.seen.push(Seen {
                method: method.clone(),
                target: target.clone(),
                range: header(&head, "range").map(str::to_owned),
                injected: match &fault {
                    Some(Fault::Status { code, .. } | Fault::Reply { code, .. }) => Some(*code),
                    _ => None,
                },
            });
            fault
        };
        if let Some(Fault::Reply { code, headers }) = &fault {
            let answer = format!("HTTP/1.1 {code} Injected\r\n{headers}Content-Length: 0\r\n\r\n");
            if client.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        if let Some(Fault::Delay { ms }) = &fault {
            // Counted while held back only: a client thread waits for this answer, so
            // two of its requests never overlap here, and the count is exact (a response
            // still being copied as the client sends its next request is not counted).
            let _busy = Busy::new(state);
            std::thread::sleep(std::time::Duration::from_millis(*ms));
        }
        if let Some(Fault::Status { code, s3_code }) = fault {
            let body = if method == "HEAD" {
                String::new()
            } else {
                format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{s3_code}</Code>\
                     <Message>injected by the test proxy</Message></Error>"
                )
            };
            let answer = format!(
                "HTTP/1.1 {code} Injected\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                if method == "HEAD" { 0 } else { body.len() }
            );
            if client.write_all(answer.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
            return;
        };
        let mut request = String::new();
        for line in &head {
            if !line.to_ascii_lowercase().starts_with("connection:") {
                request.push_str(line);
                request.push_str("\r\n");
            }
        }
        request.push_str("Connection: close\r\n\r\n");
        if upstream.write_all(request.as_bytes()).is_err() || upstream.write_all(&body).is_err() {
            return;
        }
        match fault {
            Some(Fault::Cut { after }) => {
                let mut upstream = BufReader::new(upstream);
                let Some(response) = read_head(&mut upstream) else {
                    return;
                };
                let mut text = response.join("\r\n");
                text.push_str("\r\n\r\n");
                let mut part = vec![0; after];
                let _ = client.write_all(text.as_bytes());
                if upstream.read_exact(&mut part).is_ok() {
                    let _ = client.write_all(&part);
                }
                let _ = client.shutdown(Shutdown::Both);
                return;
            }
            Some(Fault::Header { name, value }) => {
                let mut upstream = BufReader::new(upstream);
                let Some(response) = read_head(&mut upstream) else {
                    return;
                };
                let mut text = String::new();
                for line in &response {
                    let named = line
                        .split_once(':')
                        .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(name));
                    if !named {
                        text.push_str(line);
                        text.push_str("\r\n");
                    }
                }
                text.push_str(&format!("{name}: {value}\r\n\r\n"));
                if client.write_all(text.as_bytes()).is_err()
                    || std::io::copy(&mut upstream, &mut client).is_err()
                {
                    return;
                }
            }
            _ => {
                if std::io::copy(&mut upstream, &mut client).is_err() {
                    return;
                }
            }
        }
    }
}
