//! The calloop anchor: the loop workloads of bench/WORKLOADS.md on calloop 0.10.4, written
//! as a calloop user would: `ping` for the cross-thread wakeup, `channel::channel`,
//! `timer::Timer` with `TimeoutAction::Drop` (and `LoopHandle::remove` to cancel),
//! `generic::Generic` over non-blocking `UnixStream` pairs, `EventLoop::run` stopped through
//! a `LoopSignal`, and `dispatch(Some(Duration::ZERO))` for idle-dispatch.
//!
//!     calloop-anchor [-r REPS] [-n N] [WORKLOAD...]
//!
//! Prints `BENCH <workload> calloop <value> <unit>` (best of REPS) on stdout and nothing
//! else; every run goes to stderr. A run that fails its own checks prints FAIL and makes the
//! exit status 1. A timers run that exceeds CALLOOP_TIMER_CAP_S seconds (default 3; calloop
//! 0.10 cancels a timer by a linear scan of its heap) prints "did not finish" on stderr and
//! no BENCH line: that is a known limit of the anchor, not a failed check.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use calloop::channel::{channel, Event};
use calloop::generic::Generic;
use calloop::ping::make_ping;
use calloop::timer::{TimeoutAction, Timer};
use calloop::{EventLoop, Interest, Mode, PostAction};

const IMPL: &str = "calloop";
const MANY_SOURCES_PAIRS: usize = 5000;
const IDLE_DISPATCH_CAP: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq)]
enum Unit {
    OpsPerSec,
    NsPerOp,
}

enum Outcome {
    Done { ops: u64, elapsed: Duration },
    DidNotFinish(String),
}

type RunResult = Result<Outcome, String>;

struct Workload {
    name: &'static str,
    run: fn(u64) -> RunResult,
    n: u64,
    unit: Unit,
}

const WORKLOADS: &[Workload] = &[
    Workload { name: "ping-pong", run: ping_pong, n: 200_000, unit: Unit::OpsPerSec },
    Workload { name: "channel", run: channel_wl, n: 2_000_000, unit: Unit::OpsPerSec },
    Workload { name: "timers", run: timers, n: 1_000_000, unit: Unit::NsPerOp },
    Workload { name: "timers-cancel", run: timers_cancel, n: 1_000_000, unit: Unit::NsPerOp },
    Workload { name: "fd-pingpong", run: fd_pingpong, n: 500_000, unit: Unit::OpsPerSec },
    Workload { name: "idle-dispatch", run: idle_dispatch, n: 2_000_000, unit: Unit::NsPerOp },
    Workload { name: "many-sources", run: many_sources, n: 200_000, unit: Unit::OpsPerSec },
];

fn value(ops: u64, elapsed: Duration, unit: Unit) -> f64 {
    let ns = elapsed.as_nanos() as f64;
    match unit {
        Unit::OpsPerSec => ops as f64 * 1e9 / ns,
        Unit::NsPerOp => ns / ops as f64,
    }
}

fn format(v: f64, unit: Unit) -> String {
    match unit {
        Unit::OpsPerSec => format!("{:.0} ops/s", v),
        Unit::NsPerOp => format!("{:.1} ns/op", v),
    }
}

fn usage() -> ! {
    let names: Vec<&str> = WORKLOADS.iter().map(|w| w.name).collect();
    eprintln!("usage: calloop-anchor [-r REPS] [-n N] [WORKLOAD...]\nworkloads: {}", names.join(" "));
    std::process::exit(2);
}

fn main() {
    let mut reps = 3u32;
    let mut n_override = 0u64;
    let mut selected: Vec<&Workload> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-r" => reps = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "-n" => n_override = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "-h" | "--help" => usage(),
            name => match WORKLOADS.iter().find(|w| w.name == name) {
                Some(w) => selected.push(w),
                None => {
                    eprintln!("{}: unknown workload {}", IMPL, name);
                    usage();
                }
            },
        }
    }
    if selected.is_empty() {
        selected = WORKLOADS.iter().collect();
    }
    let reps = reps.max(1);

    let mut status = 0;
    for w in selected {
        let n = if n_override > 0 { n_override } else { w.n };
        let mut best: Option<f64> = None;
        for rep in 1..=reps {
            match (w.run)(n) {
                Err(why) => {
                    eprintln!("{}: FAIL: {} run {}: {}", IMPL, w.name, rep, why);
                    status = 1;
                    break;
                }
                Ok(Outcome::DidNotFinish(why)) => {
                    eprintln!("{}: {}: did not finish ({})", IMPL, w.name, why);
                    break;
                }
                Ok(Outcome::Done { ops, elapsed }) => {
                    if ops == 0 || elapsed.is_zero() {
                        eprintln!("{}: FAIL: {} run {}: nothing measured", IMPL, w.name, rep);
                        status = 1;
                        break;
                    }
                    let v = value(ops, elapsed, w.unit);
                    eprintln!("{}: {} run {}: {} ({} ops)", IMPL, w.name, rep, format(v, w.unit), ops);
                    let better = match best {
                        None => true,
                        Some(b) => match w.unit {
                            Unit::OpsPerSec => v > b,
                            Unit::NsPerOp => v < b,
                        },
                    };
                    if better {
                        best = Some(v);
                    }
                }
            }
        }
        if let Some(b) = best {
            println!("BENCH {} {} {}", w.name, IMPL, format(b, w.unit));
        }
    }
    std::process::exit(status);
}

// ---- helpers ---------------------------------------------------------------------------------

fn eventfd_blocking() -> Result<i32, String> {
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("eventfd: {}", io::Error::last_os_error()));
    }
    Ok(fd)
}

fn efd_write(fd: i32, v: u64) -> io::Result<()> {
    loop {
        let r = unsafe { libc::write(fd, &v as *const u64 as *const libc::c_void, 8) };
        if r == 8 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn efd_read(fd: i32) -> io::Result<u64> {
    let mut v = 0u64;
    loop {
        let r = unsafe { libc::read(fd, &mut v as *mut u64 as *mut libc::c_void, 8) };
        if r == 8 {
            return Ok(v);
        }
        let e = io::Error::last_os_error();
        if r >= 0 || e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

fn timer_cap() -> Duration {
    let s = std::env::var("CALLOOP_TIMER_CAP_S").ok().and_then(|v| v.parse::<f64>().ok()).unwrap_or(3.0);
    Duration::from_secs_f64(s.max(0.001))
}

/// Raises RLIMIT_NOFILE's soft limit to the hard one; returns how many idle pairs fit with 64
/// descriptors to spare, at most `want`.
fn idle_pairs_that_fit(want: usize) -> usize {
    unsafe {
        let mut rl = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return want;
        }
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        }
        let fit = if rl.rlim_cur > 64 { ((rl.rlim_cur - 64) / 2) as usize } else { 0 };
        if fit < want {
            eprintln!("{}: many-sources: RLIMIT_NOFILE={} fits {} idle pairs, not {}", IMPL, rl.rlim_cur, fit, want);
            return fit;
        }
    }
    want
}

// ---- ping-pong -------------------------------------------------------------------------------

fn ping_pong(n: u64) -> RunResult {
    struct D {
        count: u64,
        err: Option<String>,
    }
    let mut el: EventLoop<D> = EventLoop::try_new().map_err(|e| e.to_string())?;
    let signal = el.get_signal();
    let answer = eventfd_blocking()?;
    let bad = Arc::new(AtomicBool::new(false));
    let (ping, source) = make_ping().map_err(|e| e.to_string())?;
    {
        let bad = bad.clone();
        let signal = signal.clone();
        el.handle()
            .insert_source(source, move |(), &mut (), d: &mut D| {
                if bad.load(Ordering::Acquire) {
                    signal.stop();
                    return;
                }
                d.count += 1;
                if let Err(e) = efd_write(answer, 1) {
                    d.err = Some(format!("answer: {}", e));
                    signal.stop();
                    return;
                }
                if d.count == n {
                    signal.stop();
                }
            })
            .map_err(|e| e.error.to_string())?;
    }
    let pinger = {
        let bad = bad.clone();
        thread::spawn(move || -> Result<Duration, String> {
            let t0 = Instant::now();
            for i in 0..n {
                ping.ping();
                match efd_read(answer) {
                    Ok(1) => {}
                    other => {
                        bad.store(true, Ordering::Release);
                        ping.ping();
                        return Err(format!("round trip {}: answer {:?}", i, other));
                    }
                }
            }
            Ok(t0.elapsed())
        })
    };
    let mut d = D { count: 0, err: None };
    let run = el.run(None, &mut d, |_| {});
    let elapsed = pinger.join().map_err(|_| "pinger panicked".to_string())?;
    unsafe { libc::close(answer) };
    run.map_err(|e| e.to_string())?;
    let elapsed = elapsed?;
    if let Some(e) = d.err {
        return Err(e);
    }
    if d.count != n {
        return Err(format!("loop saw {} pings, want {}", d.count, n));
    }
    Ok(Outcome::Done { ops: n, elapsed })
}

// ---- channel ---------------------------------------------------------------------------------

fn channel_wl(n: u64) -> RunResult {
    struct D {
        count: u64,
        sum: u64,
        end: Option<Instant>,
    }
    let mut el: EventLoop<D> = EventLoop::try_new().map_err(|e| e.to_string())?;
    let signal = el.get_signal();
    let (tx, rx) = channel::<u64>();
    el.handle()
        .insert_source(rx, move |ev, &mut (), d: &mut D| match ev {
            Event::Msg(v) => {
                d.count += 1;
                d.sum += v;
                if d.count == n {
                    d.end = Some(Instant::now());
                    signal.stop();
                }
            }
            Event::Closed => signal.stop(),
        })
        .map_err(|e| e.error.to_string())?;
    let sender = thread::spawn(move || -> Result<Instant, String> {
        let t0 = Instant::now();
        for v in 1..=n {
            tx.send(v).map_err(|e| format!("send {}: {}", v, e))?;
        }
        Ok(t0)
    });
    let mut d = D { count: 0, sum: 0, end: None };
    let run = el.run(None, &mut d, |_| {});
    let t0 = sender.join().map_err(|_| "sender panicked".to_string())??;
    run.map_err(|e| e.to_string())?;
    if d.count != n {
        return Err(format!("received {}, want {}", d.count, n));
    }
    if d.sum != n * (n + 1) / 2 {
        return Err(format!("sum {}, want {}", d.sum, n * (n + 1) / 2));
    }
    let end = d.end.ok_or("no end time")?;
    Ok(Outcome::Done { ops: n, elapsed: end - t0 })
}

// ---- timers, timers-cancel -------------------------------------------------------------------

fn timers(n: u64) -> RunResult {
    timers_common(n, false)
}

fn timers_cancel(n: u64) -> RunResult {
    timers_common(n, true)
}

fn timers_common(n: u64, cancel: bool) -> RunResult {
    struct D {
        count: u64,
        sum: u64,
        gave_up: bool,
    }
    let cap = timer_cap();
    let expect = if cancel { (n + 1) / 2 } else { n };
    let mut el: EventLoop<D> = EventLoop::try_new().map_err(|e| e.to_string())?;
    let handle = el.handle();
    let signal = el.get_signal();
    let mut tokens = Vec::with_capacity(if cancel { n as usize } else { 0 });

    let t0 = Instant::now();
    let far = t0 + Duration::from_secs(3600);
    for i in 0..n {
        let deadline = t0 + Duration::from_millis(i * 7919 % 100);
        let signal = signal.clone();
        let tok = handle
            .insert_source(Timer::from_deadline(deadline), move |_, &mut (), d: &mut D| {
                // Every 16 fires, give up once past the cap: park the timer far away (an
                // O(log n) push) instead of dropping it (an O(n) scan), and stop.
                if d.gave_up || (d.count % 16 == 0 && t0.elapsed() > cap) {
                    d.gave_up = true;
                    signal.stop();
                    return TimeoutAction::ToInstant(far);
                }
                d.count += 1;
                d.sum += i;
                if d.count == expect {
                    signal.stop();
                }
                TimeoutAction::Drop
            })
            .map_err(|e| e.error.to_string())?;
        if cancel {
            tokens.push(tok);
        }
    }
    if cancel {
        let mut i = 1;
        while i < n {
            handle.remove(tokens[i as usize]);
            if i % 32 == 1 && t0.elapsed() > cap {
                return Ok(Outcome::DidNotFinish(format!(
                    "{} of {} cancels done after {:.1} s; LoopHandle::remove scans the timer heap",
                    i / 2,
                    n / 2,
                    t0.elapsed().as_secs_f64()
                )));
            }
            i += 2;
        }
    }
    let inserted = t0.elapsed();
    let mut d = D { count: 0, sum: 0, gave_up: false };
    if expect > 0 {
        el.run(None, &mut d, |_| {}).map_err(|e| e.to_string())?;
    }
    let elapsed = t0.elapsed();
    if d.gave_up {
        return Ok(Outcome::DidNotFinish(format!(
            "{} of {} fired after {:.1} s (inserting took {:.1} s); every fired Drop timer is removed by a scan of the timer heap",
            d.count,
            expect,
            elapsed.as_secs_f64(),
            inserted.as_secs_f64()
        )));
    }
    if d.count != expect {
        return Err(format!("{} fired, want {}", d.count, expect));
    }
    let step = if cancel { 2 } else { 1 };
    let want: u64 = (0..n).step_by(step).sum();
    if d.sum != want {
        return Err(format!("index sum {}, want {}", d.sum, want));
    }
    Ok(Outcome::Done { ops: n, elapsed })
}

// ---- fd-pingpong, many-sources ---------------------------------------------------------------

fn fd_pingpong(n: u64) -> RunResult {
    fdpp(n, 0)
}

fn many_sources(n: u64) -> RunResult {
    fdpp(n, idle_pairs_that_fit(MANY_SOURCES_PAIRS))
}

fn fdpp(n: u64, idle_pairs: usize) -> RunResult {
    #[derive(Default)]
    struct D {
        count: u64,
        b_bytes: u64,
        idle_hits: u64,
        err: Option<String>,
    }
    let mut el: EventLoop<D> = EventLoop::try_new().map_err(|e| e.to_string())?;
    let handle = el.handle();
    let signal = el.get_signal();
    let pair = || -> Result<(UnixStream, UnixStream), String> {
        let (x, y) = UnixStream::pair().map_err(|e| format!("socketpair: {}", e))?;
        x.set_nonblocking(true).map_err(|e| e.to_string())?;
        y.set_nonblocking(true).map_err(|e| e.to_string())?;
        Ok((x, y))
    };
    for _ in 0..idle_pairs {
        let (x, y) = pair()?;
        for s in [x, y] {
            let signal = signal.clone();
            handle
                .insert_source(Generic::new(s, Interest::READ, Mode::Level), move |_, _, d: &mut D| {
                    d.idle_hits += 1;
                    signal.stop();
                    Ok(PostAction::Continue)
                })
                .map_err(|e| e.error.to_string())?;
        }
    }
    let (a, b) = pair()?;
    let mut first = a.try_clone().map_err(|e| e.to_string())?;
    {
        let signal = signal.clone();
        let mut buf = [0u8; 16];
        handle
            .insert_source(Generic::new(b, Interest::READ, Mode::Level), move |_, b: &mut UnixStream, d: &mut D| {
                match b.read(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(PostAction::Continue),
                    Ok(1) => {}
                    other => {
                        d.err = Some(format!("read b: {:?}", other));
                        signal.stop();
                        return Ok(PostAction::Remove);
                    }
                }
                d.b_bytes += 1;
                if let Err(e) = b.write(&[2]).and_then(|k| if k == 1 { Ok(()) } else { Err(io::ErrorKind::WriteZero.into()) }) {
                    d.err = Some(format!("write b: {}", e));
                    signal.stop();
                }
                Ok(PostAction::Continue)
            })
            .map_err(|e| e.error.to_string())?;
    }
    {
        let signal = signal.clone();
        let mut buf = [0u8; 16];
        handle
            .insert_source(Generic::new(a, Interest::READ, Mode::Level), move |_, a: &mut UnixStream, d: &mut D| {
                match a.read(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(PostAction::Continue),
                    Ok(1) => {}
                    other => {
                        d.err = Some(format!("read a: {:?}", other));
                        signal.stop();
                        return Ok(PostAction::Remove);
                    }
                }
                d.count += 1;
                if d.count == n {
                    signal.stop();
                    return Ok(PostAction::Continue);
                }
                if let Err(e) = a.write(&[1]).and_then(|k| if k == 1 { Ok(()) } else { Err(io::ErrorKind::WriteZero.into()) }) {
                    d.err = Some(format!("write a: {}", e));
                    signal.stop();
                }
                Ok(PostAction::Continue)
            })
            .map_err(|e| e.error.to_string())?;
    }
    let mut d = D::default();
    let t0 = Instant::now();
    first.write_all(&[1]).map_err(|e| format!("first write: {}", e))?;
    el.run(None, &mut d, |_| {}).map_err(|e| e.to_string())?;
    let elapsed = t0.elapsed();
    if let Some(e) = d.err {
        return Err(e);
    }
    if d.idle_hits != 0 {
        return Err(format!("idle sources fired {} times", d.idle_hits));
    }
    if d.count != n || d.b_bytes != n {
        return Err(format!("{} round trips, {} bytes at b, want {}", d.count, d.b_bytes, n));
    }
    Ok(Outcome::Done { ops: n, elapsed })
}

// ---- idle-dispatch ---------------------------------------------------------------------------

fn idle_dispatch(n: u64) -> RunResult {
    let mut el: EventLoop<u64> = EventLoop::try_new().map_err(|e| e.to_string())?;
    let (_ping, source) = make_ping().map_err(|e| e.to_string())?;
    el.handle()
        .insert_source(source, |(), &mut (), hits: &mut u64| *hits += 1)
        .map_err(|e| e.error.to_string())?;
    let mut hits = 0u64;
    let t0 = Instant::now();
    let mut done = 0u64;
    while done < n {
        el.dispatch(Some(Duration::ZERO), &mut hits).map_err(|e| e.to_string())?;
        done += 1;
        if done % 64 == 0 && t0.elapsed() > IDLE_DISPATCH_CAP {
            break;
        }
    }
    let elapsed = t0.elapsed();
    if hits != 0 {
        return Err(format!("the idle ping fired {} times", hits));
    }
    if done < n {
        eprintln!("{}: idle-dispatch: stopped after {} of {} dispatches", IMPL, done, n);
    }
    Ok(Outcome::Done { ops: done, elapsed })
}
