//! `--profile`: where hostnet's apply time goes. hostnet's own plan for N networks is
//! executed phase by phase through the library in a fresh namespace, timing each phase
//! (wall and this thread's CPU, which includes the kernel work done in `sendmsg`), with
//! IPv6 on (as on a normal host) and off; `ip -batch` is timed the same way for reference.

use std::process::Command;
use std::time::{Duration, Instant};

use hostnet::engine;
use hostnet::expand::expand;
use hostnet::model::{parse, validate};
use hostnet::netdev::linux::LinuxDriver;
use hostnet::netdev::Driver;
use hostnet::plan::plan;

use crate::run::{in_ns, run_child, scratch_dir, Netns, Res};
use crate::workload::{hostnet_yaml, ip_ops, networks, Tables};

fn thread_cpu() -> Duration {
    // SAFETY: rusage is plain data; zeroed is a valid value for it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru points to a live local.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(u64::try_from(t.tv_sec).unwrap_or(0))
            + Duration::from_micros(u64::try_from(t.tv_usec).unwrap_or(0))
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn disable_ipv6() -> Res<()> {
    for k in ["all", "default"] {
        let p = format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6");
        std::fs::write(&p, "1").map_err(|e| format!("{p}: {e}"))?;
    }
    Ok(())
}

pub fn profile(n: usize, probe: &str) -> Res<()> {
    let nets = networks(n, Tables::Own, None);
    let desired = parse(&hostnet_yaml(&nets)).map_err(|e| e.to_string())?;
    validate(&desired).map_err(|e| format!("{:?}", e.0))?;
    let intent = expand(&desired).map_err(|e| e.to_string())?;
    let batch = scratch_dir().join("profile.batch");
    std::fs::write(&batch, ip_ops(&nets).join("\n") + "\n").map_err(|e| e.to_string())?;
    for ipv6 in [true, false] {
        let mut ns = Netns::new(
            format!("hnb-{}-prof{}", std::process::id(), u8::from(ipv6)),
            Some(probe.to_string()),
        )?;
        let intent = &intent;
        in_ns(&ns.name, move || {
            if !ipv6 {
                disable_ipv6()?;
            }
            let mut d = LinuxDriver::new().map_err(|e| e.to_string())?;
            let t = Instant::now();
            let before = d.query().map_err(|e| e.to_string())?;
            let q = t.elapsed();
            let t = Instant::now();
            let p = plan(&before, intent).map_err(|e| format!("{e:?}"))?;
            let pl = t.elapsed();
            println!(
                "\nhostnet, N={n}, IPv6 {}: query {q:.1?}, plan {pl:.1?}",
                if ipv6 { "on" } else { "off" }
            );
            println!(
                "{:>6} {:>10} {:>10} {:>8}  first op",
                "ops", "wall", "cpu", "ms/op"
            );
            let mut total = Duration::ZERO;
            for phase in p.phases.iter().filter(|ph| !ph.is_empty()) {
                let (t, c) = (Instant::now(), thread_cpu());
                for r in d.execute(phase) {
                    r.map_err(|e| e.to_string())?;
                }
                let (w, cpu) = (t.elapsed(), thread_cpu().saturating_sub(c));
                total += w;
                println!(
                    "{:>6} {:>10.1?} {:>10.1?} {:>8.3}  {}",
                    phase.len(),
                    w,
                    cpu,
                    w.as_secs_f64() * 1e3 / phase.len() as f64,
                    phase[0]
                );
            }
            let t = Instant::now();
            engine::verify(&mut d, intent).map_err(|e| e.join("; "))?;
            println!("execute total {total:.1?}, verify {:.1?}", t.elapsed());
            Ok(())
        })?;
        ns.delete_and_wait()?;
        let mut ns = Netns::new(
            format!("hnb-{}-profip{}", std::process::id(), u8::from(ipv6)),
            Some(probe.to_string()),
        )?;
        let s = in_ns(&ns.name, || {
            if !ipv6 {
                disable_ipv6()?;
            }
            run_child(Command::new("ip").arg("-batch").arg(&batch), None)?.ok("ip -batch")
        })?;
        println!(
            "ip -batch, N={n}, IPv6 {}: wall {:.1?}, cpu {:.1?}",
            if ipv6 { "on" } else { "off" },
            s.wall,
            s.cpu
        );
        ns.delete_and_wait()?;
    }
    Ok(())
}
