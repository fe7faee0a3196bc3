//! A fast fake OpenAI upstream for benchmarks: std-only HTTP/1.1 with keep-alive, one thread per
//! connection. Built with `rustc -O` by bench/build.sh (no cargo, no crates).
//!
//!   POST /v1/chat/completions   chat.completion JSON with usage; with `"stream":true` in the body,
//!                               SSE over chunked encoding: a role chunk, N content chunks (default 20),
//!                               a finish chunk, a usage chunk if `include_usage` is set, `[DONE]`.
//!   GET  /v1/models             a model list containing `fake-gpt`.
//!
//! Options: --host 127.0.0.1 --port 9001 --chunks 20 --delay-ms 0 (before the response)
//!          --chunk-interval-us 0 (between SSE events; 0 = no sleep, one write per event).
//! It never checks credentials: gateways forward whatever key they hold.

use std::env;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

struct Opts {
    host: String,
    port: u16,
    chunks: usize,
    delay: Duration,
    interval: Duration,
}

const WORDS: [&str; 20] = [
    "Hello", " there", "!", " This", " is", " a", " fake", " upstream", " answer", " used",
    " to", " measure", " gateway", " overhead", " without", " any", " real", " model", " behind", " it.",
];

fn parse_opts() -> Opts {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 9001,
        chunks: 20,
        delay: Duration::ZERO,
        interval: Duration::ZERO,
    };
    let args: Vec<String> = env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--host" => o.host = v,
            "--port" => o.port = v.parse().expect("--port"),
            "--chunks" => o.chunks = v.parse().expect("--chunks"),
            "--delay-ms" => o.delay = Duration::from_micros((v.parse::<f64>().expect("--delay-ms") * 1000.0) as u64),
            "--chunk-interval-us" => o.interval = Duration::from_micros(v.parse().expect("--chunk-interval-us")),
            "-h" | "--help" => {
                println!("fake_upstream [--host H] [--port P] [--chunks N] [--delay-ms F] [--chunk-interval-us N]");
                std::process::exit(0);
            }
            other => {
                eprintln!("unknown option {other}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    o
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn contains_any(hay: &[u8], needles: &[&[u8]]) -> bool {
    needles.iter().any(|n| find(hay, n).is_some())
}

/// The value of `"model":"..."` in the request body (no escapes expected), or `fake-gpt`.
fn model_of(body: &[u8]) -> String {
    for key in [&b"\"model\":\""[..], &b"\"model\": \""[..]] {
        if let Some(p) = find(body, key) {
            let rest = &body[p + key.len()..];
            if let Some(end) = rest.iter().position(|&c| c == b'"' || c == b'\\') {
                return String::from_utf8_lossy(&rest[..end]).into_owned();
            }
        }
    }
    "fake-gpt".into()
}

struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    close: bool,
}

/// Reads one request from `buf`+socket. Returns None on clean EOF.
fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<Request>> {
    let mut tmp = [0u8; 16384];
    let head_end = loop {
        if let Some(p) = find(buf, b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut tmp)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let first = lines.next().unwrap_or("");
    let mut parts = first.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let http10 = parts.next().unwrap_or("") == "HTTP/1.0";
    let mut clen = 0usize;
    let mut chunked = false;
    let mut close = http10;
    let mut expect = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let k = k.trim().to_ascii_lowercase();
            let v = v.trim().to_ascii_lowercase();
            match k.as_str() {
                "content-length" => clen = v.parse().unwrap_or(0),
                "transfer-encoding" => chunked = v.contains("chunked"),
                "connection" => close = v.contains("close") || (http10 && !v.contains("keep-alive")),
                "expect" => expect = v.contains("100-continue"),
                _ => {}
            }
        }
    }
    buf.drain(..head_end);
    if expect {
        s.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
    }
    let body = if chunked {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(p) = find(buf, b"\r\n") {
                    break p;
                }
                let n = s.read(&mut tmp)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&tmp[..n]);
            };
            let size_s = String::from_utf8_lossy(&buf[..line_end]).into_owned();
            let size = usize::from_str_radix(size_s.split(';').next().unwrap_or("0").trim(), 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            buf.drain(..line_end + 2);
            if size == 0 {
                // skip trailers until the empty line
                loop {
                    if let Some(p) = find(buf, b"\r\n") {
                        let empty = p == 0;
                        buf.drain(..p + 2);
                        if empty {
                            break;
                        }
                        continue;
                    }
                    let n = s.read(&mut tmp)?;
                    if n == 0 {
                        return Err(io::ErrorKind::UnexpectedEof.into());
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
                break body;
            }
            while buf.len() < size + 2 {
                let n = s.read(&mut tmp)?;
                if n == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                buf.extend_from_slice(&tmp[..n]);
            }
            body.extend_from_slice(&buf[..size]);
            buf.drain(..size + 2);
        }
    } else {
        while buf.len() < clen {
            let n = s.read(&mut tmp)?;
            if n == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            buf.extend_from_slice(&tmp[..n]);
        }
        buf.drain(..clen).collect()
    };
    Ok(Some(Request { method, path, body, close }))
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn respond(s: &mut TcpStream, status: &str, ctype: &str, body: &str, close: bool) -> io::Result<()> {
    let conn = if close { "close" } else { "keep-alive" };
    let out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: {conn}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(out.as_bytes())
}

fn usage_json(n: usize) -> String {
    format!(
        "{{\"prompt_tokens\":12,\"completion_tokens\":{n},\"total_tokens\":{},\
         \"prompt_tokens_details\":{{\"cached_tokens\":0,\"audio_tokens\":0}},\
         \"completion_tokens_details\":{{\"reasoning_tokens\":0,\"audio_tokens\":0,\
         \"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}}",
        12 + n
    )
}

fn chat(s: &mut TcpStream, o: &Opts, req: &Request, id: u64) -> io::Result<()> {
    let body = &req.body;
    let stream = contains_any(body, &[b"\"stream\":true", b"\"stream\": true"]);
    let include_usage = contains_any(body, &[b"\"include_usage\":true", b"\"include_usage\": true"]);
    let model = model_of(body);
    let created = now_s();
    if !o.delay.is_zero() {
        thread::sleep(o.delay);
    }
    if !stream {
        let mut content = String::new();
        for i in 0..o.chunks {
            content.push_str(WORDS[i % WORDS.len()]);
        }
        let out = format!(
            "{{\"id\":\"chatcmpl-fake{id}\",\"object\":\"chat.completion\",\"created\":{created},\
             \"model\":\"{model}\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\
             \"content\":\"{content}\",\"refusal\":null,\"annotations\":[]}},\"logprobs\":null,\
             \"finish_reason\":\"stop\"}}],\"usage\":{},\"service_tier\":\"default\",\
             \"system_fingerprint\":\"fp_fake\"}}",
            usage_json(o.chunks)
        );
        return respond(s, "200 OK", "application/json", &out, req.close);
    }
    let conn = if req.close { "close" } else { "keep-alive" };
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n\
         transfer-encoding: chunked\r\nconnection: {conn}\r\n\r\n"
    );
    let usage_null = if include_usage { ",\"usage\":null" } else { "" };
    let prefix = format!(
        "{{\"id\":\"chatcmpl-fake{id}\",\"object\":\"chat.completion.chunk\",\"created\":{created},\
         \"model\":\"{model}\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fake\",\"choices\":"
    );
    let mut events: Vec<String> = Vec::with_capacity(o.chunks + 4);
    events.push(format!(
        "{prefix}[{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\",\"refusal\":null}},\
         \"logprobs\":null,\"finish_reason\":null}}]{usage_null}}}"
    ));
    for i in 0..o.chunks {
        events.push(format!(
            "{prefix}[{{\"index\":0,\"delta\":{{\"content\":\"{}\"}},\"logprobs\":null,\"finish_reason\":null}}]{usage_null}}}",
            WORDS[i % WORDS.len()]
        ));
    }
    events.push(format!(
        "{prefix}[{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]{usage_null}}}"
    ));
    if include_usage {
        events.push(format!("{prefix}[],\"usage\":{}}}", usage_json(o.chunks)));
    }
    events.push("[DONE]".into());
    let mut first = true;
    for ev in &events {
        let data = format!("data: {ev}\n\n");
        let mut frame = if first { head.clone() } else { String::new() };
        first = false;
        frame.push_str(&format!("{:x}\r\n{data}\r\n", data.len()));
        s.write_all(frame.as_bytes())?;
        if !o.interval.is_zero() {
            thread::sleep(o.interval);
        }
    }
    s.write_all(b"0\r\n\r\n")
}

fn serve(mut s: TcpStream, o: Arc<Opts>, counter: Arc<AtomicU64>) {
    let _ = s.set_nodelay(true);
    let mut buf = Vec::with_capacity(16384);
    loop {
        let req = match read_request(&mut s, &mut buf) {
            Ok(Some(r)) => r,
            _ => return,
        };
        let id = counter.fetch_add(1, Ordering::Relaxed);
        let path = req.path.split('?').next().unwrap_or("");
        let res = match (req.method.as_str(), path) {
            ("POST", "/v1/chat/completions") | ("POST", "/chat/completions") => chat(&mut s, &o, &req, id),
            ("GET", "/v1/models") | ("GET", "/models") => respond(
                &mut s,
                "200 OK",
                "application/json",
                "{\"object\":\"list\",\"data\":[{\"id\":\"fake-gpt\",\"object\":\"model\",\"created\":1700000000,\"owned_by\":\"bench\"}]}",
                req.close,
            ),
            ("GET", "/health") => respond(&mut s, "200 OK", "text/plain", "ok", req.close),
            _ => respond(
                &mut s,
                "404 Not Found",
                "application/json",
                "{\"error\":{\"message\":\"not found\",\"type\":\"invalid_request_error\",\"param\":null,\"code\":\"not_found\"}}",
                req.close,
            ),
        };
        if res.is_err() || req.close {
            return;
        }
    }
}

fn main() {
    let o = Arc::new(parse_opts());
    let listener = TcpListener::bind((o.host.as_str(), o.port)).expect("bind");
    eprintln!("fake_upstream listening on http://{}:{}/v1", o.host, o.port);
    let counter = Arc::new(AtomicU64::new(0));
    for conn in listener.incoming() {
        match conn {
            Ok(s) => {
                let o = o.clone();
                let c = counter.clone();
                let _ = thread::Builder::new().stack_size(256 * 1024).spawn(move || serve(s, o, c));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}
