//! The network functions: `cidrhost`, `cidrnetmask`, `cidrsubnet`, `cidrsubnets`, for IPv4
//! and IPv6 prefixes, with Terraform's (go-cty's) results.

use super::funcs::{list, s, string, to_f64, R};
use crate::value::Value;

/// Calls network function `name`; None when `name` is not one.
pub(super) fn call(name: &str, a: &[Value]) -> Option<R> {
    matches!(
        name,
        "cidrhost" | "cidrnetmask" | "cidrsubnet" | "cidrsubnets"
    )
    .then(|| run(name, a))
}

fn run(name: &str, a: &[Value]) -> R {
    let arity = super::funcs::arity;
    let one = |what: &str| -> Result<String, String> {
        arity(a, 1)?;
        string(&a[0], what)
    };
    match name {
        "cidrhost" => {
            arity(a, 2)?;
            let (net, bits) = cidr(&string(&a[0], "prefix")?)?;
            let n = to_f64(&a[1])?;
            let size = host_bits(&net, bits);
            let count = if size >= 128 {
                u128::MAX
            } else {
                1u128 << size
            };
            let k = if n < 0.0 {
                count.checked_sub((-n) as u128)
            } else {
                Some(n as u128)
            };
            match k.filter(|k| *k < count) {
                Some(k) => s(ip_string(&net, ip_bits(&net) + k)),
                None => Err(format!("prefix of {bits} bits has no host number {n}")),
            }
        }
        "cidrnetmask" => {
            let (net, bits) = cidr(&one("prefix")?)?;
            if !matches!(net, std::net::IpAddr::V4(_)) {
                return Err("only IPv4 prefixes have a netmask".into());
            }
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            s(std::net::Ipv4Addr::from(mask).to_string())
        }
        "cidrsubnet" => {
            arity(a, 3)?;
            let (net, bits) = cidr(&string(&a[0], "prefix")?)?;
            let (new, num) = (to_f64(&a[1])? as u32, to_f64(&a[2])? as u128);
            s(subnet(&net, bits, new, num)?)
        }
        "cidrsubnets" => {
            if a.is_empty() {
                return Err("a prefix is required".into());
            }
            let (net, bits) = cidr(&string(&a[0], "prefix")?)?;
            // Each next subnet of its size after the previous one, as Terraform allocates.
            let mut next: u128 = ip_bits(&net);
            let mut out = vec![];
            for x in &a[1..] {
                let new = to_f64(x)? as u32;
                let total = bits + new;
                let width = ip_width(&net);
                if total > width {
                    return Err(format!("not enough address space for {new} more bits"));
                }
                let step = 1u128 << (width - total);
                let start = next.div_ceil(step) * step;
                let end_of_net = ip_bits(&net) + (1u128 << (width - bits)).wrapping_sub(1);
                if start > end_of_net || start + (step - 1) > end_of_net {
                    return Err("not enough remaining address space".into());
                }
                out.push(Value::string(format!("{}/{total}", ip_string(&net, start))));
                next = start + step;
            }
            list(out)
        }
        _ => Err(format!("there is no function named \"{name}\"")),
    }
}

/// `10.0.0.0/8` as its address (host bits cleared) and prefix length.
fn cidr(text: &str) -> Result<(std::net::IpAddr, u32), String> {
    let bad = || format!("\"{text}\" is not a CIDR prefix");
    let (ip, bits) = text.split_once('/').ok_or_else(bad)?;
    let ip: std::net::IpAddr = ip.parse().map_err(|_| bad())?;
    let bits: u32 = bits.parse().map_err(|_| bad())?;
    let width = ip_width(&ip);
    if bits > width {
        return Err(bad());
    }
    let mask = if bits == 0 {
        0
    } else {
        u128::MAX << (128 - bits) >> (128 - width)
    };
    Ok((from_bits(&ip, ip_bits(&ip) & mask), bits))
}

fn ip_width(ip: &std::net::IpAddr) -> u32 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

fn host_bits(ip: &std::net::IpAddr, bits: u32) -> u32 {
    ip_width(ip) - bits
}

fn ip_bits(ip: &std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(v) => u32::from(*v) as u128,
        std::net::IpAddr::V6(v) => u128::from(*v),
    }
}

fn from_bits(like: &std::net::IpAddr, bits: u128) -> std::net::IpAddr {
    match like {
        std::net::IpAddr::V4(_) => std::net::Ipv4Addr::from(bits as u32).into(),
        std::net::IpAddr::V6(_) => std::net::Ipv6Addr::from(bits).into(),
    }
}

fn ip_string(like: &std::net::IpAddr, bits: u128) -> String {
    from_bits(like, bits).to_string()
}

fn subnet(net: &std::net::IpAddr, bits: u32, new: u32, num: u128) -> Result<String, String> {
    let width = ip_width(net);
    let total = bits + new;
    if total > width {
        return Err(format!("not enough address space for {new} more bits"));
    }
    if new < 128 && num >= (1u128 << new) {
        return Err(format!(
            "prefix extension of {new} bits has no subnet number {num}"
        ));
    }
    let start = ip_bits(net) | (num << (width - total));
    Ok(format!("{}/{total}", ip_string(net, start)))
}
