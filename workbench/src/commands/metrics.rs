//! `workbench metrics --iface IF [--listen ADDR | --once]`: the probe's Prometheus metrics
//! (workbench_kernel::metrics) over HTTP at `/metrics`, read from the kernel at every scrape, or
//! printed once. The server is a few lines over std's TcpListener rather than an HTTP crate: it
//! answers one GET at a time on a scrape interval of seconds, and an async runtime would be the
//! largest dependency of the binary for that. `workbench agent` (issue 15 item 2) is meant to serve
//! the same text on its `metrics_listen`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use clap::Args;
use color_eyre::eyre::{eyre, Result};

use workbench_kernel::metrics;

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The interface the probe is attached to (`workbench probe attach --iface IF`).
    #[arg(long, value_parser = crate::argcheck::iface)]
    pub iface: String,
    /// Serve the metrics at http://ADDR/metrics (port 0: any free port, said on stderr).
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub listen: SocketAddr,
    /// Print the metrics once on stdout and exit, instead of serving them.
    #[arg(long, conflicts_with = "listen")]
    pub once: bool,
    /// Stop serving after this many seconds (default: until interrupted).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub duration_s: Option<u64>,
}

/// Prometheus' text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

pub fn run(args: MetricsArgs) -> Result<()> {
    let render =
        |iface: &str| -> Result<String> { Ok(metrics::encode_snapshot(&metrics::snapshot(iface)?)?) };
    if args.once {
        let text = render(&args.iface)?;
        std::io::stdout().lock().write_all(text.as_bytes())?;
        return Ok(());
    }
    // Fail before serving when the probe is not there (a clear error, not a server of 500s).
    render(&args.iface)?;
    workbench_kernel::lifecycle::install()?;
    let listener = TcpListener::bind(args.listen)
        .map_err(|e| eyre!("metrics: cannot listen on {}: {e}", args.listen))?;
    listener.set_nonblocking(true)?;
    eprintln!(
        "metrics: serving http://{}/metrics for {}",
        listener.local_addr()?,
        args.iface
    );
    let deadline = args.duration_s.map(|s| Instant::now() + Duration::from_secs(s));
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                if let Err(e) = answer(stream, &args.iface, &render) {
                    eprintln!("metrics: request from {peer}: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(eyre!("metrics: accepting a connection: {e}")),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) || workbench_kernel::lifecycle::stop_requested() {
            return Ok(());
        }
    }
}

/// Reads one request's head and answers it: `GET /metrics` with the metrics, anything else with
/// 404 or 405; a failed read of the kernel with 500 and the reason.
fn answer(mut stream: TcpStream, iface: &str, render: &dyn Fn(&str) -> Result<String>) -> Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let first = String::from_utf8_lossy(&head);
    let mut words = first.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (status, content_type, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => match render(iface) {
            Ok(text) => ("200 OK", CONTENT_TYPE, text),
            Err(e) => {
                eprintln!("metrics: {e}");
                ("500 Internal Server Error", "text/plain", format!("{e}\n"))
            }
        },
        ("GET", _) => (
            "404 Not Found",
            "text/plain",
            "only /metrics is served\n".to_string(),
        ),
        _ => ("405 Method Not Allowed", "text/plain", "only GET\n".to_string()),
    };
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(reply.as_bytes())?;
    Ok(())
}
