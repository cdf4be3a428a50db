//! `workbench metrics --iface IF [--listen ADDR | --once]`: the probe's Prometheus metrics
//! (workbench_kernel::metrics) over HTTP at `/metrics`, read from the kernel at every scrape, or
//! printed once. The server is the agent's (agent/http.rs), a few lines over std's TcpListener
//! rather than an HTTP crate: a worker thread per connection, each request cut off 2 s after it
//! began (not per read: a client sending a byte now and then holds nothing for long), at most
//! 4 connections from one address and 16 in all, one kernel read at a time (a scrape waits at
//! most 5 s for it, then gets a 503). `workbench agent` serves the same text on its
//! `metrics_listen`.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use color_eyre::eyre::{eyre, Result};

use crate::agent::http::{Handler, OneAtATime, Reply, Server, METRICS_TYPE};
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

/// How long a scrape waits for another one's kernel read before it gets a 503.
const RENDER_WAIT: Duration = Duration::from_secs(5);

/// `/metrics`, rendered by `render` one scrape at a time.
struct Scrape<F> {
    render: F,
    one: OneAtATime,
}

impl<F: Fn() -> Result<String> + Send + Sync + 'static> Handler for Scrape<F> {
    fn reply(&self, path: &str) -> Reply {
        if path != "/metrics" {
            return Reply::text("404 Not Found", "only /metrics is served\n");
        }
        let Some(_turn) = self.one.enter(RENDER_WAIT) else {
            return Reply::text(
                "503 Service Unavailable",
                "busy: another scrape has been reading the kernel for 5 s; try again\n",
            );
        };
        match (self.render)() {
            Ok(text) => Reply {
                status: "200 OK",
                content_type: METRICS_TYPE,
                body: text,
            },
            Err(e) => {
                eprintln!("metrics: {e}");
                Reply::text("500 Internal Server Error", format!("{e}\n"))
            }
        }
    }
}

fn log(msg: String) {
    eprintln!("metrics: {msg}");
}

/// Serves `render` at http://ADDR/metrics on threads of their own; the address it listens on.
fn serve<F>(listen: SocketAddr, render: F) -> Result<String>
where
    F: Fn() -> Result<String> + Send + Sync + 'static,
{
    let server = Server::bind(listen)
        .map_err(|e| eyre!("metrics: {e}"))?
        .logging_to(log);
    let addr = server.local_addr();
    server
        .spawn(Arc::new(Scrape {
            render,
            one: OneAtATime::default(),
        }))
        .map_err(|e| eyre!("metrics: {e}"))?;
    Ok(addr)
}

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
    let iface = args.iface.clone();
    let addr = serve(args.listen, move || render(&iface))?;
    eprintln!("metrics: serving http://{addr}/metrics for {}", args.iface);
    let deadline = args.duration_s.map(|s| Instant::now() + Duration::from_secs(s));
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if deadline.is_some_and(|d| Instant::now() >= d) || workbench_kernel::lifecycle::stop_requested() {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::net::TcpStream;

    fn get(addr: &str, path: &str) -> (String, Duration) {
        let started = Instant::now();
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").expect("send");
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        (reply, started.elapsed())
    }

    #[test]
    fn a_trickling_client_does_not_delay_another_scrape() {
        let addr = serve("127.0.0.1:0".parse().expect("address"), || {
            Ok("workbench_flows 1\n".to_string())
        })
        .expect("serve");
        // One byte every 1 s: under any per-read timeout, for as long as it likes.
        let trickler = {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut c = TcpStream::connect(&addr).expect("connect");
                let started = Instant::now();
                for b in b"GET /metrics HTTP/1.1\r\n" {
                    if c.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
                started.elapsed()
            })
        };
        std::thread::sleep(Duration::from_millis(300));
        let (reply, took) = get(&addr, "/metrics");
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.ends_with("workbench_flows 1\n"), "{reply}");
        assert!(took < Duration::from_secs(1), "a second scrape took {took:?}");
        let (reply, _) = get(&addr, "/nope");
        assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
        // The trickler is cut off at the request time (its writes fail soon after).
        let held = trickler.join().expect("trickler");
        assert!(held < Duration::from_secs(6), "the trickler held on for {held:?}");
    }
}
