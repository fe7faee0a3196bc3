//! Open-loop load generator: requests are scheduled at a fixed rate (`--rate R` per second) and
//! latency is counted from each request's *scheduled* send time, so a target that stalls pays for
//! the queue it causes (no coordinated omission). A pool of `--connections` keep-alive
//! connections takes scheduled requests in order; a request whose turn comes while every
//! connection is busy waits, and that wait is part of its latency. After the schedule ends the
//! backlog may drain for `--grace` seconds; what is still unfinished then is cut and counted as
//! `incomplete`, with latency = (cut time - scheduled time), a lower bound.
//! std only, built by bench/build.sh.

mod common;

use common::*;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn main() {
    let mut o = parse_opts("open", " --rate R [--connections N]");
    if o.rate <= 0.0 {
        usage_and_exit("open", " --rate R [--connections N]");
    }
    if o.connections == 0 {
        o.connections = ((o.rate / 4.0) as usize).clamp(16, 256);
    }
    tight_timer_slack();
    let o = Arc::new(o);
    let req = Arc::new(request_bytes(&o));
    let reg: Registry = Arc::new(Mutex::new(Vec::new()));
    let warm_n = (o.warmup * o.rate).round() as u64;
    let total = warm_n + (o.duration * o.rate).round() as u64;
    let interval_ns = 1e9 / o.rate;
    // Let the connections open before the first scheduled send.
    let t0 = Instant::now() + Duration::from_millis(100);
    let sched = move |i: u64| t0 + Duration::from_nanos((i as f64 * interval_ns) as u64);
    let window_start = sched(warm_n);
    let hard = sched(total) + Duration::from_secs_f64(o.grace);
    let next = Arc::new(AtomicU64::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let connect_errors = Arc::new(AtomicUsize::new(0));
    let completed = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..o.connections {
        let (o, req, reg, next, finished, cerr) =
            (o.clone(), req.clone(), reg.clone(), next.clone(), finished.clone(), connect_errors.clone());
        let comp = completed.clone();
        handles.push(thread::Builder::new().stack_size(256 * 1024).spawn(move || {
            realtime_thread(o.rt);
            let mut conn = Conn::new(&o, reg);
            let mut out: Vec<Sample> = Vec::with_capacity(1024);
            let mut done_idx: Vec<u64> = Vec::with_capacity(1024);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let t = sched(i);
                sleep_until(t);
                if Instant::now() >= hard {
                    break;
                }
                let r = conn.roundtrip(&req);
                let now = Instant::now();
                if now >= hard {
                    break; // cut by the deadline: counted as incomplete below
                }
                done_idx.push(i);
                if r.is_ok() {
                    comp.fetch_add(1, Ordering::Relaxed);
                }
                if i < warm_n {
                    continue;
                }
                let s = match r {
                    Ok(r) => Sample {
                        ok: judge(&o, &r),
                        status: r.status,
                        latency_ns: (r.end - t).as_nanos() as u64,
                        ttfb_ns: (r.first_body - t).as_nanos() as u64,
                        events: r.events,
                        end_ns: (r.end - window_start).as_nanos() as u64,
                    },
                    Err(e) => {
                        if e.kind() == std::io::ErrorKind::ConnectionRefused {
                            cerr.fetch_add(1, Ordering::Relaxed);
                        }
                        Sample {
                            ok: false,
                            status: 0,
                            latency_ns: (now - t).as_nanos() as u64,
                            ttfb_ns: 0,
                            events: 0,
                            end_ns: (now - window_start).as_nanos() as u64,
                        }
                    }
                };
                out.push(s);
            }
            finished.fetch_add(1, Ordering::Relaxed);
            (out, done_idx)
        }).expect("spawn"));
    }
    while finished.load(Ordering::Relaxed) < o.connections && Instant::now() < hard {
        thread::sleep(Duration::from_millis(5));
    }
    shutdown_all(&reg);
    let cut = Instant::now().min(hard);
    let mut samples = Vec::new();
    let mut seen = vec![false; total as usize];
    for h in handles {
        let (s, d) = h.join().unwrap_or_default();
        samples.extend(s);
        for i in d {
            seen[i as usize] = true;
        }
    }
    let mut incomplete = 0u64;
    for i in warm_n..total {
        if !seen[i as usize] {
            incomplete += 1;
            let t = sched(i);
            samples.push(Sample {
                ok: false,
                status: 0,
                latency_ns: cut.saturating_duration_since(t).as_nanos() as u64,
                ttfb_ns: 0,
                events: 0,
                end_ns: 0,
            });
        }
    }
    let last_end = samples.iter().filter(|s| s.ok).map(|s| s.end_ns).max().unwrap_or(0) as f64 / 1e9;
    let elapsed = last_end.max(o.duration);
    report(
        &o,
        "open",
        &samples,
        connect_errors.load(Ordering::Relaxed) as u64,
        incomplete,
        elapsed,
        total - warm_n,
        completed.load(Ordering::Relaxed),
    );
}
