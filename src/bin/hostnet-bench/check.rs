//! Correctness of every run, read with `ip -j` (not with hostnet's own driver), so that a
//! fast wrong answer cannot pass.

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;

use crate::run::{in_ns, run_child, tempfile_path, Res};
use crate::workload::{Net, PRIORITY};

/// What the namespace must hold besides `lo`.
pub struct Expect<'a> {
    pub nets: &'a [Net],
    /// False for nmstate, which cannot apply rules.
    pub rules: bool,
}

fn ip_json(ns: &str, args: &str) -> Res<Vec<Value>> {
    let out = tempfile_path("ipjson");
    in_ns(ns, || {
        run_child(Command::new("ip").args(args.split(' ')), Some(&out))?.ok(&format!("ip {args}"))
    })?;
    let text = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&out);
    match serde_json::from_str(&text) {
        Ok(Value::Array(v)) => Ok(v),
        Ok(_) => Err(format!("ip {args}: not a JSON array")),
        Err(e) => Err(format!("ip {args}: {e}")),
    }
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

fn is_up(v: &Value) -> bool {
    v.get("flags")
        .and_then(Value::as_array)
        .is_some_and(|f| f.iter().any(|x| x.as_str() == Some("UP")))
}

/// Checks links, addresses, IPv4 routes in every non-main table and IPv4 rules against
/// `exp` exactly (nothing missing, nothing extra).
pub fn check_state(ns: &str, exp: &Expect) -> Res<()> {
    let n = exp.nets.len();
    let links = ip_json(ns, "-j link show")?;
    let want = 3 * n + 1;
    if links.len() != want {
        return Err(format!("{} links, expected {want}", links.len()));
    }
    let by_name: std::collections::HashMap<&str, &Value> =
        links.iter().map(|l| (s(l, "ifname"), l)).collect();
    for net in exp.nets {
        let get = |name: &str| {
            by_name
                .get(name)
                .copied()
                .ok_or_else(|| format!("link {name} is missing"))
        };
        let (br, ve, pe) = (get(&net.bridge)?, get(&net.veth)?, get(&net.peer)?);
        if !is_up(br) || !is_up(ve) || !is_up(pe) {
            return Err(format!("{} or its veth is not up", net.bridge));
        }
        if s(ve, "master") != net.bridge {
            return Err(format!("{} is not a port of {}", net.veth, net.bridge));
        }
    }
    let addrs = ip_json(ns, "-j -4 addr show")?;
    let have: BTreeSet<(String, String)> = addrs
        .iter()
        .flat_map(|l| {
            let dev = s(l, "ifname").to_string();
            l.get("addr_info")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |a| {
                    let p = a.get("prefixlen").and_then(Value::as_u64).unwrap_or(0);
                    (dev.clone(), format!("{}/{p}", s(&a, "local")))
                })
        })
        .filter(|(dev, _)| dev != "lo")
        .collect();
    let want: BTreeSet<(String, String)> = exp
        .nets
        .iter()
        .map(|n| (n.bridge.clone(), format!("{}/24", n.address())))
        .collect();
    if have != want {
        return Err(format!(
            "IPv4 addresses differ: {} present, {} expected",
            have.len(),
            want.len()
        ));
    }
    let routes = ip_json(ns, "-j -4 route show table all")?;
    let have: BTreeSet<(String, String, String, String)> = routes
        .iter()
        .filter(|r| !matches!(s(r, "table"), "" | "main" | "local"))
        .map(|r| {
            (
                s(r, "table").to_string(),
                s(r, "dst").to_string(),
                s(r, "gateway").to_string(),
                s(r, "dev").to_string(),
            )
        })
        .collect();
    let mut want = BTreeSet::new();
    for n in exp.nets {
        let t = n.table.to_string();
        want.insert((
            t.clone(),
            "default".into(),
            n.gateway.clone(),
            n.bridge.clone(),
        ));
        want.insert((t, n.subnet(), String::new(), n.bridge.clone()));
    }
    let extra = routes
        .iter()
        .filter(|r| !matches!(s(r, "table"), "" | "main" | "local"))
        .count();
    if have != want || extra != want.len() {
        let missing = want.difference(&have).next().cloned();
        return Err(format!(
            "routes differ: {extra} in custom tables, {} expected; first missing: {missing:?}",
            want.len()
        ));
    }
    let rules = ip_json(ns, "-j -4 rule show")?;
    let have: BTreeSet<(u64, String, String, String)> = rules
        .iter()
        .filter(|r| {
            !matches!(
                r.get("priority").and_then(Value::as_u64),
                Some(0 | 32766 | 32767)
            )
        })
        .map(|r| {
            let len = |k: &str| r.get(k).and_then(Value::as_u64).unwrap_or(0);
            (
                r.get("priority").and_then(Value::as_u64).unwrap_or(0),
                format!("{}/{}", s(r, "src"), len("srclen")),
                format!("{}/{}", s(r, "dst"), len("dstlen")),
                action(r),
            )
        })
        .collect();
    let mut want = BTreeSet::new();
    if exp.rules {
        let p = u64::from(PRIORITY);
        for n in exp.nets {
            let sub = format!("{}.0/24", n.prefix);
            want.insert((p, sub, "/0".into(), n.table.to_string()));
        }
        if !exp.nets.is_empty() {
            let all = || ("all/0".to_string(), "/0".to_string());
            want.insert((
                p - 2,
                all().0,
                all().1,
                format!("not iif lo goto {}", p + 1),
            ));
            want.insert((
                p - 1,
                all().0,
                all().1,
                "main suppress_prefixlength 0".into(),
            ));
            want.insert((p + 1, all().0, all().1, "nop".into()));
        }
    }
    if have != want {
        return Err(format!(
            "rules differ: {} present, {} expected",
            have.len(),
            want.len()
        ));
    }
    Ok(())
}

/// A rule's action as a string, with the selectors the block uses.
fn action(r: &Value) -> String {
    if let Some(target) = r.get("goto").and_then(Value::as_u64) {
        let not = if r.get("not").is_some() { "not " } else { "" };
        return format!("{not}iif {} goto {target}", s(r, "iif"));
    }
    if r.get("nop").is_some() {
        return "nop".into();
    }
    match r.get("suppress_prefixlen").and_then(Value::as_u64) {
        Some(n) => format!("{} suppress_prefixlength {n}", s(r, "table")),
        None => s(r, "table").to_string(),
    }
}

/// The namespace is back to `lo` alone: no other link, no rule, no route in a custom table.
pub fn check_empty(ns: &str) -> Res<()> {
    check_state(
        ns,
        &Expect {
            nets: &[],
            rules: true,
        },
    )
}

/// Counts the bridges a `show` printed (hostnet's, whose state is its `document`, or
/// nmstate's JSON) or the links of an `ip -j link` dump.
pub fn count_in_show(path: &std::path::Path, kind: &str) -> Res<usize> {
    let text = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let list = match &v {
        Value::Array(a) => a.clone(),
        _ => v
            .get("document")
            .unwrap_or(&v)
            .get("interfaces")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
    };
    Ok(list
        .iter()
        .filter(|i| kind.is_empty() || s(i, "type") == kind)
        .count())
}
