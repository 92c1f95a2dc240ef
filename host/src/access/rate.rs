//! Per-client limits: a request rate (a token bucket per client, with
//! `governor`) and a cap on the generations one client runs at once. A
//! client is its token's name, or its address when tokens are off (IPv6
//! by /64, what one host usually holds).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Most clients the rate table holds; past it, clients that are back to a
/// full bucket are forgotten, and if that is not enough the table starts
/// afresh (every client a full bucket) rather than grow.
const MAX_CLIENTS: usize = 65_536;

/// `--rate-limit`: `N/s`, `N/m` or `N/h` (the bucket holds N).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub requests: NonZeroU32,
    pub per: Duration,
}

impl std::str::FromStr for Rate {
    type Err = String;

    fn from_str(s: &str) -> Result<Rate, String> {
        let bad = || format!("{s:?} is not a rate like 10/s, 600/m or 1000/h");
        let (n, unit) = s.split_once('/').ok_or_else(bad)?;
        let requests = n.trim().parse::<NonZeroU32>().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        // One token every microsecond is the finest the bucket keeps.
        if per / requests.get() < Duration::from_micros(1) {
            return Err(format!("{s:?} is faster than one request per microsecond"));
        }
        Ok(Rate { requests, per })
    }
}

/// Why a client was turned away.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// Over the rate: retry after this long.
    Rate { retry_after: Duration },
    /// Already running its most generations at once.
    Concurrency { most: usize },
}

pub struct Limiter {
    rate: Option<(Quota, Mutex<Arc<DefaultKeyedRateLimiter<String>>>)>,
    most_at_once: Option<usize>,
    running: Running,
}

impl Limiter {
    pub fn new(rate: Option<Rate>, most_at_once: Option<usize>) -> Limiter {
        let rate = rate.map(|r| {
            let quota = Quota::with_period(r.per / r.requests.get())
                .expect("a positive period")
                .allow_burst(r.requests);
            (
                quota,
                Mutex::new(Arc::new(DefaultKeyedRateLimiter::keyed(quota))),
            )
        });
        Limiter {
            rate,
            most_at_once,
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Counts one request of `client` against its rate.
    pub fn request(&self, client: &str) -> Result<(), Refusal> {
        let Some((quota, table)) = &self.rate else {
            return Ok(());
        };
        let limiter = {
            let mut table = table.lock().unwrap_or_else(|e| e.into_inner());
            if table.len() >= MAX_CLIENTS {
                table.retain_recent();
                if table.len() >= MAX_CLIENTS {
                    tracing::warn!(
                        clients = table.len(),
                        "rate-limit table full; starting afresh"
                    );
                    *table = Arc::new(DefaultKeyedRateLimiter::keyed(*quota));
                }
            }
            Arc::clone(&table)
        };
        limiter
            .check_key(&client.to_owned())
            .map_err(|not_until| Refusal::Rate {
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            })
    }

    /// A slot for one generation of `client`, held until dropped (for an
    /// async job: until the job has finished).
    pub fn generation(&self, client: &str) -> Result<Slot, Refusal> {
        let Some(most) = self.most_at_once else {
            return Ok(Slot(None));
        };
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        let count = running.entry(client.to_owned()).or_insert(0);
        if *count >= most {
            return Err(Refusal::Concurrency { most });
        }
        *count += 1;
        Ok(Slot(Some((Arc::clone(&self.running), client.to_owned()))))
    }
}

/// Generations running per client (clients with none are not in it).
type Running = Arc<Mutex<HashMap<String, usize>>>;

/// One running generation of a client; its place is freed on drop.
pub struct Slot(Option<(Running, String)>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((running, client)) = self.0.take() {
            let mut running = running.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = running.get_mut(&client) {
                *count -= 1;
                if *count == 0 {
                    // The table holds only clients with generations running.
                    running.remove(&client);
                }
            }
        }
    }
}

/// The client key of an address without a token.
pub fn address_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        let r: Rate = "10/s".parse().unwrap();
        assert_eq!((r.requests.get(), r.per), (10, Duration::from_secs(1)));
        let r: Rate = "600/m".parse().unwrap();
        assert_eq!(r.per, Duration::from_secs(60));
        for bad in ["10", "0/s", "x/s", "10/d", "-1/s", "2000000000/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_burst_past_the_bucket_is_refused_for_that_client_only() {
        let limiter = Limiter::new(Some("3/m".parse().unwrap()), None);
        for _ in 0..3 {
            limiter.request("a").unwrap();
        }
        match limiter.request("a") {
            Err(Refusal::Rate { retry_after }) => {
                assert!(retry_after > Duration::from_secs(15), "{retry_after:?}");
                assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
            }
            other => panic!("{other:?}"),
        }
        limiter.request("b").unwrap();
    }

    #[test]
    fn generations_are_capped_per_client_and_freed_on_drop() {
        let limiter = Limiter::new(None, Some(2));
        let a1 = limiter.generation("a").unwrap();
        let _a2 = limiter.generation("a").unwrap();
        assert_eq!(
            limiter.generation("a").err(),
            Some(Refusal::Concurrency { most: 2 })
        );
        let _b = limiter.generation("b").unwrap();
        drop(a1);
        let _a3 = limiter.generation("a").unwrap();
        drop((_a2, _a3, _b));
        assert!(limiter.running.lock().unwrap().is_empty());
    }

    #[test]
    fn addresses_key_by_host() {
        assert_eq!(address_key("10.1.2.3".parse().unwrap()), "10.1.2.3");
        assert_eq!(address_key("::ffff:10.1.2.3".parse().unwrap()), "10.1.2.3");
        assert_eq!(
            address_key("2001:db8:1:2:3:4:5:6".parse().unwrap()),
            "2001:db8:1:2::/64"
        );
    }
}
