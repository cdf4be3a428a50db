//! The agent's HTTP endpoint: `/metrics`, `/healthz`, `/readyz`. The same approach as
//! `workbench metrics --listen` (commands/metrics.rs): std's TcpListener, non-blocking, polled
//! by the agent's one loop between its other duties, one short request at a time. Answering
//! from the loop itself is what makes `/healthz` mean something: a loop that hangs stops
//! answering, and the kubelet's liveness probe restarts the pod.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

/// The most one request may take, reading and writing.
const REQUEST_TIME: Duration = Duration::from_secs(2);

/// Prometheus' text format.
pub const METRICS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub struct Reply {
    pub status: &'static str,
    pub content_type: &'static str,
    pub body: String,
}

impl Reply {
    pub fn text(status: &'static str, body: impl Into<String>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

pub struct Server {
    listener: TcpListener,
}

impl Server {
    pub fn bind(addr: SocketAddr) -> Result<Server, String> {
        let listener = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| format!("{addr}: {e}"))?;
        Ok(Server { listener })
    }

    pub fn local_addr(&self) -> String {
        self.listener
            .local_addr()
            .map_or_else(|_| "?".to_string(), |a| a.to_string())
    }

    /// Answers every connection waiting now; `route` maps a GET's path to the reply. Returns
    /// the failures (a client that went away), one line each, for the log.
    pub fn serve_waiting(&self, route: &mut dyn FnMut(&str) -> Reply) -> Vec<String> {
        let mut failures = Vec::new();
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(e) = answer(stream, route) {
                        failures.push(format!("request from {peer}: {e}"));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return failures,
                Err(e) => {
                    failures.push(format!("accepting a connection: {e}"));
                    return failures;
                }
            }
        }
    }
}

fn answer(mut stream: TcpStream, route: &mut dyn FnMut(&str) -> Reply) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    // Short, and for the whole request, not per read: the loop serves everything else too (a
    // client sending a byte now and then must not hold the event pump), and a probe's request
    // is one small packet.
    let deadline = std::time::Instant::now() + REQUEST_TIME;
    stream.set_write_timeout(Some(REQUEST_TIME))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let too_slow = || std::io::Error::new(std::io::ErrorKind::TimedOut, "no complete request within 2 s");
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(too_slow());
        }
        stream.set_read_timeout(Some(left))?;
        // A read timeout ends the read with EAGAIN (WouldBlock) on Linux.
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(too_slow())
            }
            Err(e) => return Err(e),
        };
        if n == 0 || head.len() > 16 * 1024 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let first = String::from_utf8_lossy(&head);
    let mut words = first.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let reply = match method {
        "GET" | "HEAD" => route(path.split('?').next().unwrap_or("")),
        _ => Reply::text("405 Method Not Allowed", "only GET\n"),
    };
    let mut out = format!(
        "HTTP/1.1 {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.content_type,
        reply.body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(reply.body.as_bytes());
    }
    stream.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_trickling_bytes_is_cut_off_at_the_request_time() {
        let server = Server::bind("127.0.0.1:0".parse().expect("address")).expect("bind");
        let addr = server.listener.local_addr().expect("local address");
        // One byte every 400 ms for 4 s: each read would finish within a per-read timeout.
        let client = std::thread::spawn(move || {
            let mut c = TcpStream::connect(addr).expect("connect");
            for _ in 0..10 {
                if c.write_all(b"G").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(400));
            }
        });
        std::thread::sleep(Duration::from_millis(100));
        let failures = server.serve_waiting(&mut |_| Reply::text("200 OK", "ok\n"));
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].contains("no complete request within 2 s"),
            "{failures:?}"
        );
        client.join().expect("client");
    }
}
