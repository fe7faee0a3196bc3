//! Shared parts of the two load generators (open.rs, closed.rs): options, a blocking HTTP/1.1
//! keep-alive client that times the first body byte and the end of the response, and JSON output.
//! std only; `mod common;` from each generator.

#![allow(dead_code)]

use std::env;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

extern "C" {
    fn prctl(option: i32, arg2: u64, arg3: u64, arg4: u64, arg5: u64) -> i32;
}

/// Sleeps wake within ~1 µs of their target instead of the default 50 µs slack.
pub fn tight_timer_slack() {
    const PR_SET_TIMERSLACK: i32 = 29;
    unsafe {
        prctl(PR_SET_TIMERSLACK, 1, 0, 0, 0);
    }
}

#[repr(C)]
struct SchedParam {
    prio: i32,
}

extern "C" {
    fn sched_setscheduler(pid: i32, policy: i32, param: *const SchedParam) -> i32;
}

/// With `--rt`: this thread runs SCHED_FIFO so its wake-ups are not queued behind the fake upstream
/// sharing the core (the kernel's RT throttling still guards the machine). Needs root; a failure is ignored.
pub fn realtime_thread(on: bool) {
    if on {
        const SCHED_FIFO: i32 = 1;
        let p = SchedParam { prio: 10 };
        unsafe {
            sched_setscheduler(0, SCHED_FIFO, &p);
        }
    }
}

pub fn sleep_until(t: Instant) {
    loop {
        let now = Instant::now();
        if now >= t {
            return;
        }
        std::thread::sleep(t - now);
    }
}

pub struct Opts {
    pub host: String,
    pub port: u16,
    pub path: String,
    pub key: String,
    pub model: String,
    pub stream: bool,
    pub headers: Vec<String>,
    pub duration: f64,
    pub warmup: f64,
    pub grace: f64,
    pub connections: usize,
    pub rate: f64,
    pub label: String,
    pub out: Option<String>,
    pub timeout: f64,
    pub rt: bool,
}

pub fn usage_and_exit(name: &str, extra: &str) -> ! {
    eprintln!(
        "{name} --url http://127.0.0.1:9001/v1/chat/completions [--key K] [--model fake-gpt] [--stream]\n\
         \x20 [--header 'K: V']... [--duration S] [--warmup S] [--grace S] [--timeout S] [--label L] [--out FILE] [--rt]{extra}"
    );
    std::process::exit(2)
}

pub fn parse_opts(name: &str, extra: &str) -> Opts {
    let mut o = Opts {
        host: "127.0.0.1".into(),
        port: 9001,
        path: "/v1/chat/completions".into(),
        key: "sk-bench".into(),
        model: "fake-gpt".into(),
        stream: false,
        headers: Vec::new(),
        duration: 10.0,
        warmup: 1.0,
        grace: 5.0,
        connections: 0,
        rate: 0.0,
        label: String::new(),
        out: None,
        timeout: 30.0,
        rt: false,
    };
    let args: Vec<String> = env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "--stream" {
            o.stream = true;
            i += 1;
            continue;
        }
        if a == "--rt" {
            o.rt = true;
            i += 1;
            continue;
        }
        if a == "-h" || a == "--help" {
            usage_and_exit(name, extra);
        }
        let v = match args.get(i + 1) {
            Some(v) => v.clone(),
            None => usage_and_exit(name, extra),
        };
        match a {
            "--url" => {
                let rest = v.strip_prefix("http://").unwrap_or_else(|| usage_and_exit(name, extra));
                let (hp, path) = match rest.find('/') {
                    Some(p) => (&rest[..p], &rest[p..]),
                    None => (rest, "/v1/chat/completions"),
                };
                let (h, p) = hp.rsplit_once(':').unwrap_or((hp, "80"));
                o.host = h.to_string();
                o.port = p.parse().expect("port");
                o.path = path.to_string();
            }
            "--key" => o.key = v,
            "--model" => o.model = v,
            "--header" => o.headers.push(v),
            "--duration" => o.duration = v.parse().expect("--duration"),
            "--warmup" => o.warmup = v.parse().expect("--warmup"),
            "--grace" => o.grace = v.parse().expect("--grace"),
            "--timeout" => o.timeout = v.parse().expect("--timeout"),
            "--connections" | "--concurrency" | "-c" => o.connections = v.parse().expect("--connections"),
            "--rate" | "-r" => o.rate = v.parse().expect("--rate"),
            "--label" => o.label = v,
            "--out" => o.out = Some(v),
            _ => usage_and_exit(name, extra),
        }
        i += 2;
    }
    o
}

pub fn request_bytes(o: &Opts) -> Vec<u8> {
    let stream = if o.stream { ",\"stream\":true,\"stream_options\":{\"include_usage\":true}" } else { "" };
    let body = format!(
        "{{\"model\":\"{}\",\"messages\":[{{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"}},\
         {{\"role\":\"user\",\"content\":\"Say hello in about twenty tokens, please.\"}}],\
         \"max_tokens\":64,\"temperature\":0.7{stream}}}",
        o.model
    );
    let mut extra = String::new();
    for h in &o.headers {
        extra.push_str(h);
        extra.push_str("\r\n");
    }
    format!(
        "POST {} HTTP/1.1\r\nHost: {}:{}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n\
         Accept: */*\r\nUser-Agent: qiao-bench\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        o.path,
        o.host,
        o.port,
        o.key,
        body.len()
    )
    .into_bytes()
}

/// Sockets of all live connections, so the main thread can cut them at the hard deadline.
pub type Registry = Arc<Mutex<Vec<TcpStream>>>;

pub fn shutdown_all(reg: &Registry) {
    for s in reg.lock().unwrap().iter() {
        let _ = s.shutdown(Shutdown::Both);
    }
}

pub struct Conn {
    s: Option<TcpStream>,
    buf: Vec<u8>,
    start: usize,
    last_read: Instant,
    host: String,
    port: u16,
    timeout: Duration,
    reg: Registry,
}

pub struct Resp {
    pub status: u16,
    pub first_body: Instant,
    pub end: Instant,
    pub events: u32,
    pub done: bool,
    pub ok_body: bool,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if hay.len() < needle.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count(hay: &[u8], needle: &[u8]) -> u32 {
    let mut n = 0;
    let mut i = 0;
    while let Some(p) = find(&hay[i..], needle) {
        n += 1;
        i += p + needle.len();
    }
    n
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

impl Conn {
    pub fn new(o: &Opts, reg: Registry) -> Conn {
        Conn {
            s: None,
            buf: Vec::with_capacity(65536),
            start: 0,
            last_read: Instant::now(),
            host: o.host.clone(),
            port: o.port,
            timeout: Duration::from_secs_f64(o.timeout),
            reg,
        }
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        if self.s.is_none() {
            let s = TcpStream::connect((self.host.as_str(), self.port))?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(self.timeout))?;
            self.reg.lock().unwrap().push(s.try_clone()?);
            self.s = Some(s);
            self.buf.clear();
            self.start = 0;
        }
        Ok(self.s.as_mut().unwrap())
    }

    pub fn reset(&mut self) {
        if let Some(s) = self.s.take() {
            let _ = s.shutdown(Shutdown::Both);
        }
        self.buf.clear();
        self.start = 0;
    }

    fn avail(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    fn fill(&mut self) -> io::Result<()> {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        let mut tmp = [0u8; 32768];
        let n = self.s.as_mut().unwrap().read(&mut tmp)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.last_read = Instant::now();
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(())
    }

    fn line(&mut self) -> io::Result<Vec<u8>> {
        loop {
            if let Some(p) = find(self.avail(), b"\r\n") {
                let l = self.avail()[..p].to_vec();
                self.start += p + 2;
                return Ok(l);
            }
            self.fill()?;
        }
    }

    /// Sends one request and reads the whole response. Any error leaves the connection closed.
    pub fn roundtrip(&mut self, req: &[u8]) -> io::Result<Resp> {
        let r = self.roundtrip_inner(req);
        if r.is_err() {
            self.reset();
        }
        r
    }

    fn roundtrip_inner(&mut self, req: &[u8]) -> io::Result<Resp> {
        self.stream()?.write_all(req)?;
        // Status line and headers.
        let head_end = loop {
            if let Some(p) = find(self.avail(), b"\r\n\r\n") {
                break self.start + p + 4;
            }
            self.fill()?;
        };
        let head = String::from_utf8_lossy(&self.buf[self.start..head_end]).into_owned();
        self.start = head_end;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut clen: Option<usize> = None;
        let mut chunked = false;
        let mut close = false;
        for l in lines {
            if let Some((k, v)) = l.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                let v = v.trim().to_ascii_lowercase();
                match k.as_str() {
                    "content-length" => clen = v.parse().ok(),
                    "transfer-encoding" => chunked = v.contains("chunked"),
                    "connection" => close = v.contains("close"),
                    _ => {}
                }
            }
        }
        // The first body byte arrived with the read that completed the headers, or later.
        let mut first_body: Option<Instant> = None;
        let mut body: Vec<u8> = Vec::new();
        if chunked {
            loop {
                let size_line = self.line()?;
                let s = String::from_utf8_lossy(&size_line).into_owned();
                let size = usize::from_str_radix(s.split(';').next().unwrap_or("").trim(), 16)
                    .map_err(|_| bad("bad chunk size"))?;
                if size == 0 {
                    loop {
                        if self.line()?.is_empty() {
                            break;
                        }
                    }
                    break;
                }
                while self.avail().len() < size + 2 {
                    if first_body.is_none() && self.avail().len() > 0 {
                        first_body = Some(self.last_read);
                    }
                    self.fill()?;
                }
                if first_body.is_none() {
                    first_body = Some(self.last_read);
                }
                body.extend_from_slice(&self.avail()[..size]);
                self.start += size + 2;
            }
        } else if let Some(n) = clen {
            if n > 0 {
                if self.avail().is_empty() {
                    self.fill()?;
                }
                first_body = Some(self.last_read);
                while self.avail().len() < n {
                    self.fill()?;
                }
                body.extend_from_slice(&self.avail()[..n]);
                self.start += n;
            }
        } else {
            // Body delimited by close.
            loop {
                match self.fill() {
                    Ok(()) => {
                        if first_body.is_none() {
                            first_body = Some(self.last_read);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
                    Err(e) => return Err(e),
                }
            }
            body.extend_from_slice(self.avail());
            self.start = self.buf.len();
            close = true;
        }
        let end = Instant::now();
        if close {
            self.reset();
        }
        let events = count(&body, b"data:");
        let done = find(&body, b"[DONE]").is_some();
        let ok_body = find(&body, b"\"choices\"").is_some();
        Ok(Resp { status, first_body: first_body.unwrap_or(end), end, events, done, ok_body })
    }
}

/// One measured request. Times are nanoseconds from the reference instant (scheduled or sent).
#[derive(Clone, Copy)]
pub struct Sample {
    pub ok: bool,
    pub status: u16,
    pub latency_ns: u64,
    pub ttfb_ns: u64,
    pub events: u32,
    pub end_ns: u64,
}

pub fn pct(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted.len()) - 1;
    sorted[idx] as f64 / 1e6
}

fn dist(mut v: Vec<u64>) -> String {
    v.sort_unstable();
    let mean = if v.is_empty() { 0.0 } else { v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64 / 1e6 };
    format!(
        "{{\"p50\":{:.4},\"p90\":{:.4},\"p99\":{:.4},\"p999\":{:.4},\"max\":{:.4},\"mean\":{:.4}}}",
        pct(&v, 50.0),
        pct(&v, 90.0),
        pct(&v, 99.0),
        pct(&v, 99.9),
        v.last().map(|&x| x as f64 / 1e6).unwrap_or(0.0),
        mean
    )
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Writes the result JSON to --out (or stdout) and a one-line summary to stderr.
#[allow(clippy::too_many_arguments)]
pub fn report(
    o: &Opts,
    mode: &str,
    samples: &[Sample],
    connect_errors: u64,
    incomplete: u64,
    elapsed_s: f64,
    scheduled: u64,
    completed_total: u64,
) {
    let ok: Vec<&Sample> = samples.iter().filter(|s| s.ok).collect();
    let non200 = samples.iter().filter(|s| s.status != 200 && s.status != 0).count();
    let bad_body = samples.iter().filter(|s| s.status == 200 && !s.ok).count();
    let io_err = samples.iter().filter(|s| s.status == 0).count();
    let lat: Vec<u64> = samples.iter().filter(|s| s.ok || s.status == 0).map(|s| s.latency_ns).collect();
    let ttfb: Vec<u64> = ok.iter().map(|s| s.ttfb_ns).collect();
    let events = if ok.is_empty() { 0.0 } else { ok.iter().map(|s| s.events as f64).sum::<f64>() / ok.len() as f64 };
    let throughput = if elapsed_s > 0.0 { ok.len() as f64 / elapsed_s } else { 0.0 };
    let json = format!(
        "{{\"label\":{},\"mode\":{},\"url\":{},\"stream\":{},\"rate\":{},\"connections\":{},\
         \"duration_s\":{},\"warmup_s\":{},\"elapsed_s\":{:.4},\"scheduled\":{},\"requests\":{},\"ok\":{},\
         \"errors\":{},\"non200\":{},\"bad_body\":{},\"io_errors\":{},\"connect_errors\":{},\"incomplete\":{},\
         \"completed_total\":{},\"throughput_rps\":{:.2},\"latency_ms\":{},\"ttfb_ms\":{},\"events_mean\":{:.2}}}",
        json_str(&o.label),
        json_str(mode),
        json_str(&format!("http://{}:{}{}", o.host, o.port, o.path)),
        o.stream,
        o.rate,
        o.connections,
        o.duration,
        o.warmup,
        elapsed_s,
        scheduled,
        samples.len(),
        ok.len(),
        samples.len() - ok.len(),
        non200,
        bad_body,
        io_err,
        connect_errors,
        incomplete,
        completed_total,
        throughput,
        dist(lat.clone()),
        dist(ttfb),
        events
    );
    let mut l = lat;
    l.sort_unstable();
    eprintln!(
        "{} {} stream={} ok={} err={} incomplete={} rps={:.1} p50={:.3}ms p99={:.3}ms",
        o.label,
        mode,
        o.stream,
        ok.len(),
        samples.len() - ok.len(),
        incomplete,
        throughput,
        pct(&l, 50.0),
        pct(&l, 99.0)
    );
    match &o.out {
        Some(p) => std::fs::write(p, json + "\n").expect("write --out"),
        None => println!("{json}"),
    }
}

pub fn judge(o: &Opts, r: &Resp) -> bool {
    r.status == 200 && if o.stream { r.done && r.events >= 2 } else { r.ok_body }
}
