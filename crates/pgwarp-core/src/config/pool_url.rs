//! Pool settings in the connection URL, as pgx reads them, so that a DSN written for a Go
//! service works here unchanged: `pool_max_conns`, `pool_min_conns`,
//! `pool_max_conn_lifetime`, `pool_max_conn_idle_time` and `pool_health_check_period`.
//! Durations are Go's (`90s`, `1h30m`, `250ms`). Options given explicitly win over the URL.

use std::time::Duration;

use super::url;
use crate::error::Error;

/// The pool settings a URL gives; `None` where it says nothing.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UrlPoolSettings {
    /// `pool_max_conns`: the most connections.
    pub max: Option<usize>,
    /// `pool_min_conns`: connections kept open.
    pub min: Option<usize>,
    /// `pool_max_conn_lifetime`; `Some(None)` for `0` (no limit, as pgwarp's `maxLifetime: 0`).
    pub max_lifetime: Option<Option<Duration>>,
    /// `pool_max_conn_idle_time`; `Some(None)` for `0` (never closed for being idle).
    pub idle_timeout: Option<Option<Duration>>,
    /// `pool_health_check_period`: how often the pool prunes and tops itself up.
    pub health_check: Option<Duration>,
}

/// The pgx keys this module reads; the connection settings leave them to it.
pub(crate) const POOL_KEYS: &[&str] = &[
    "pool_max_conns",
    "pool_min_conns",
    "pool_max_conn_lifetime",
    "pool_max_conn_idle_time",
    "pool_health_check_period",
];

/// Reads the pool settings of `url` (none without one).
pub fn pool_settings(url: Option<&str>) -> Result<UrlPoolSettings, Error> {
    let mut out = UrlPoolSettings::default();
    let Some(url) = url else { return Ok(out) };
    for (key, value) in url::parse(url)?.params {
        match key.as_str() {
            "pool_max_conns" => {
                let n = count(&key, &value)?;
                if n == 0 {
                    return Err(Error::Parameter(
                        "invalid pool_max_conns \"0\": the pool needs at least 1 connection".into(),
                    ));
                }
                out.max = Some(n);
            }
            "pool_min_conns" => out.min = Some(count(&key, &value)?),
            "pool_max_conn_lifetime" => {
                out.max_lifetime = Some(nonzero(go_duration(&key, &value)?))
            }
            "pool_max_conn_idle_time" => {
                out.idle_timeout = Some(nonzero(go_duration(&key, &value)?))
            }
            "pool_health_check_period" => {
                let d = go_duration(&key, &value)?;
                if d.is_zero() {
                    return Err(Error::Parameter(
                        "invalid pool_health_check_period \"0\": give a period, such as 1m".into(),
                    ));
                }
                out.health_check = Some(d);
            }
            _ => {}
        }
    }
    if let (Some(min), Some(max)) = (out.min, out.max) {
        if min > max {
            return Err(Error::Parameter(format!(
                "pool_min_conns ({min}) is more than pool_max_conns ({max})"
            )));
        }
    }
    Ok(out)
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

fn count(key: &str, value: &str) -> Result<usize, Error> {
    value
        .trim()
        .parse()
        .map_err(|_| Error::Parameter(format!("invalid {key} {value:?}: expected a whole number")))
}

/// A duration as Go's `time.ParseDuration` reads it: one or more decimal numbers, each with
/// a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`); `0` alone needs none. Negative durations
/// mean nothing for a pool and are refused.
fn go_duration(key: &str, value: &str) -> Result<Duration, Error> {
    let bad = || {
        Error::Parameter(format!(
            "invalid {key} {value:?}: expected a duration such as 30s, 5m or 1h30m"
        ))
    };
    let text = value.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    if text.is_empty() {
        return Err(bad());
    }
    let mut rest = text;
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let number: f64 = rest[..number_len].parse().map_err(|_| bad())?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        nanos += number * scale;
    }
    // Go's limit (about 292 years) and ours: u64 nanoseconds.
    if !nanos.is_finite() || nanos > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(query: &str) -> Result<UrlPoolSettings, Error> {
        pool_settings(Some(&format!("postgres://u@h/db?{query}")))
    }

    #[test]
    fn reads_pgx_keys() {
        let s = of(
            "pool_max_conns=20&pool_min_conns=2&pool_max_conn_lifetime=1h30m\
                    &pool_max_conn_idle_time=90s&pool_health_check_period=500ms&sslmode=disable",
        )
        .unwrap();
        assert_eq!(s.max, Some(20));
        assert_eq!(s.min, Some(2));
        assert_eq!(s.max_lifetime, Some(Some(Duration::from_secs(5400))));
        assert_eq!(s.idle_timeout, Some(Some(Duration::from_secs(90))));
        assert_eq!(s.health_check, Some(Duration::from_millis(500)));
        assert_eq!(pool_settings(None).unwrap(), UrlPoolSettings::default());
        assert_eq!(of("sslmode=disable").unwrap(), UrlPoolSettings::default());
    }

    #[test]
    fn go_durations() {
        let d = |v: &str| go_duration("k", v);
        assert_eq!(d("0").unwrap(), Duration::ZERO);
        assert_eq!(d("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(d("2h45m10s").unwrap(), Duration::from_secs(9910));
        assert_eq!(d("300us").unwrap(), Duration::from_micros(300));
        assert_eq!(d("250µs").unwrap(), Duration::from_micros(250));
        assert_eq!(d("+10ms").unwrap(), Duration::from_millis(10));
        for bad in ["", "10", "-5s", "5 s", "1d", "s", "1.2.3s", "ms"] {
            assert!(d(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn refuses_what_cannot_work() {
        let e = |q: &str| of(q).unwrap_err().to_string();
        assert!(e("pool_max_conns=0").contains("at least 1"));
        assert!(e("pool_max_conns=ten").contains("invalid pool_max_conns \"ten\""));
        assert!(e("pool_min_conns=5&pool_max_conns=2").contains("more than pool_max_conns"));
        assert!(e("pool_health_check_period=0").contains("pool_health_check_period"));
        assert!(e("pool_max_conn_lifetime=1d").contains("invalid pool_max_conn_lifetime"));
        // 0 lifts the limit, as pgwarp's own 0 does.
        assert_eq!(
            of("pool_max_conn_idle_time=0").unwrap().idle_timeout,
            Some(None)
        );
    }
}
