//! Closed-loop load generator: `--connections N` keep-alive connections, each sending its next
//! request as soon as the previous response has been read completely. Throughput is what the
//! target sustains at that concurrency; latency is counted from the actual send.
//!
//! Warm-up lasts `--warmup` seconds *and* until every connection has completed one response (a
//! slow target at high concurrency needs longer); then the measured window of `--duration`
//! seconds starts. Responses completing inside the window are counted (completion-based, so
//! throughput = completions / duration is exact even when latency is seconds).
//! std only, built by bench/build.sh.

mod common;

use common::*;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const UNSET: u64 = u64::MAX;

fn main() {
    let mut o = parse_opts("closed", " --connections N");
    if o.connections == 0 {
        o.connections = 32;
    }
    tight_timer_slack();
    let o = Arc::new(o);
    let req = Arc::new(request_bytes(&o));
    let reg: Registry = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    let dur_ns = (o.duration * 1e9) as u64;
    let win_start = Arc::new(AtomicU64::new(UNSET));
    let stop = Arc::new(AtomicBool::new(false));
    let first_done = Arc::new(AtomicUsize::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let connect_errors = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for _ in 0..o.connections {
        let (o, req, reg) = (o.clone(), req.clone(), reg.clone());
        let (ws, stop, first, comp, fin, cerr) = (
            win_start.clone(),
            stop.clone(),
            first_done.clone(),
            completed.clone(),
            finished.clone(),
            connect_errors.clone(),
        );
        handles.push(
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || {
                    realtime_thread(o.rt);
                    let mut conn = Conn::new(&o, reg);
                    let mut out: Vec<Sample> = Vec::with_capacity(4096);
                    let mut had_first = false;
                    while !stop.load(Ordering::Relaxed) {
                        let sent = Instant::now();
                        let r = conn.roundtrip(&req);
                        let done = Instant::now();
                        let off = (done - t0).as_nanos() as u64;
                        let w = ws.load(Ordering::Relaxed);
                        let record = w != UNSET && off >= w && off <= w + dur_ns;
                        match r {
                            Ok(r) => {
                                comp.fetch_add(1, Ordering::Relaxed);
                                if !had_first {
                                    had_first = true;
                                    first.fetch_add(1, Ordering::Relaxed);
                                }
                                if record {
                                    out.push(Sample {
                                        ok: judge(&o, &r),
                                        status: r.status,
                                        latency_ns: (r.end - sent).as_nanos() as u64,
                                        ttfb_ns: (r.first_body - sent).as_nanos() as u64,
                                        events: r.events,
                                        end_ns: off - w,
                                    });
                                }
                            }
                            Err(e) => {
                                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                                    cerr.fetch_add(1, Ordering::Relaxed);
                                    thread::sleep(Duration::from_millis(10));
                                }
                                if record && !stop.load(Ordering::Relaxed) {
                                    out.push(Sample {
                                        ok: false,
                                        status: 0,
                                        latency_ns: (done - sent).as_nanos() as u64,
                                        ttfb_ns: 0,
                                        events: 0,
                                        end_ns: off - w,
                                    });
                                }
                            }
                        }
                    }
                    fin.fetch_add(1, Ordering::Relaxed);
                    out
                })
                .expect("spawn"),
        );
    }
    sleep_until(t0 + Duration::from_secs_f64(o.warmup));
    let limit = Instant::now() + Duration::from_secs(60);
    while first_done.load(Ordering::Relaxed) < o.connections && Instant::now() < limit {
        thread::sleep(Duration::from_millis(2));
    }
    let start = Instant::now();
    win_start.store((start - t0).as_nanos() as u64, Ordering::Relaxed);
    let end = start + Duration::from_nanos(dur_ns);
    sleep_until(end);
    stop.store(true, Ordering::Relaxed);
    let hard = end + Duration::from_secs_f64(o.grace);
    while finished.load(Ordering::Relaxed) < o.connections && Instant::now() < hard {
        thread::sleep(Duration::from_millis(5));
    }
    shutdown_all(&reg);
    let mut samples = Vec::new();
    for h in handles {
        samples.extend(h.join().unwrap_or_default());
    }
    report(
        &o,
        "closed",
        &samples,
        connect_errors.load(Ordering::Relaxed) as u64,
        0,
        o.duration,
        0,
        completed.load(Ordering::Relaxed),
    );
}
