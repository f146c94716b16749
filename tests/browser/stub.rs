//! A tiny fixed-page HTTP server on a loopback port, for the harness's own tests:
//! pages with the console's strict Content-Security-Policy, with and without
//! accessibility faults, one that opens a dialog, and a sign-in form whose POST
//! redirects (303) like the console's. Stops when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// The console's policy: no inline script, nothing from elsewhere.
pub const STRICT_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// One page: path, whether it is served with [`STRICT_CSP`], body. A body starting
/// with `303 ` is instead a redirect to the path after it.
pub type Page = (&'static str, bool, &'static str);

pub struct Stub {
    pub base: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Stub {
    pub fn start(pages: Vec<Page>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the stub server");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let base = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("stub addr").port()
        );
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => answer(stream, &pages),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Stub {
            base,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Stub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(mut stream: TcpStream, pages: &[Page]) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let response = match pages.iter().find(|(p, _, _)| *p == path) {
        Some((_, _, body)) if body.starts_with("303 ") => format!(
            "HTTP/1.1 303 See Other\r\nLocation: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            &body[4..]
        ),
        Some((_, csp, body)) => {
            let csp_line = if *csp {
                format!("Content-Security-Policy: {STRICT_CSP}\r\n")
            } else {
                String::new()
            };
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n{csp_line}\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
    };
    let _ = stream.write_all(response.as_bytes());
}
