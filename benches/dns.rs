//! Time from the flip (one compare-and-swap UPDATE to the primary) to "verified on every
//! authoritative server", with BIND as the primary and Knot as its secondary (NOTIFY and
//! zone transfer) on loopback. Prints figures; asserts nothing about speed.
//!
//! Flips are spaced 1.5 s apart, as in a real window where the zone is quiet before the
//! flip: BIND sends at most one set of NOTIFYs per zone per second, so back-to-back
//! changes would measure that limiter (about 1 s), not the flip.
//!
//! `cargo bench --bench dns` (needs bind9 and knot: scripts/install-test-deps.sh).

#[allow(dead_code)]
#[path = "../tests/support/dns.rs"]
mod dns;
#[allow(dead_code)]
#[path = "../tests/support/process.rs"]
mod process;

use std::time::{Duration, Instant};

use cutover::dns::wire::{self, RecordUpdate, Tsig};

const FLIPS: usize = 40;
const A: &str = "192.0.2.10";
const B: &str = "198.51.100.7";

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let pair = dns::AuthPair::start();
    let zone = pair.zone().to_string();
    let records = [format!("app.{zone}"), format!("api.{zone}")];
    let tsig = Tsig {
        name: pair.key_name().to_string(),
        algorithm: "hmac-sha256".to_string(),
        secret: data_encoding::BASE64.decode(pair.secret_b64().as_bytes()).unwrap(),
    };
    let servers = [pair.primary(), pair.secondary()];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut to_primary = Vec::new();
    let mut to_all = Vec::new();
    for i in 0..FLIPS {
        let (from, to) = if i % 2 == 0 { (A, B) } else { (B, A) };
        let updates: Vec<RecordUpdate> = records
            .iter()
            .map(|name| RecordUpdate {
                name: name.clone(),
                rtype: "A".to_string(),
                from: vec![from.to_string()],
                to: vec![to.to_string()],
                ttl: 60,
            })
            .collect();
        runtime.block_on(async {
            let started = Instant::now();
            wire::compare_and_swap(pair.primary(), &zone, Some(&tsig), &updates, Duration::from_secs(2))
                .await
                .expect("the flip");
            to_primary.push(started.elapsed());
            // Poll every server for every record, as dns.verify does (without its interval).
            loop {
                let mut all = true;
                for server in servers {
                    for name in &records {
                        let a = wire::query(server, name, "A", false, Duration::from_secs(1)).await;
                        all &= a.is_ok_and(|a| a.values == vec![to.to_string()] && a.ttl == Some(60));
                    }
                }
                if all {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            to_all.push(started.elapsed());
        });
        std::thread::sleep(Duration::from_millis(1500));
    }
    let report = |what: &str, v: &mut Vec<Duration>| {
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "{what:<48} median {:>7.1} ms   p95 {:>7.1} ms   max {:>7.1} ms   (n = {})",
            ms(v[v.len() / 2]),
            ms(v[v.len() * 95 / 100]),
            ms(v[v.len() - 1]),
            v.len()
        );
    };
    println!("dns flip, 2 records, BIND primary + Knot secondary on loopback");
    report("UPDATE accepted by the primary", &mut to_primary);
    report("verified on every authoritative server", &mut to_all);
}
