//! Prometheus metrics: requests and latency per route, decisions and flags per rule
//! and tier, rule errors, audit flush latency and batch size.
//!
//! Every label takes a bounded set of values, so no client can grow the number of
//! series: `method` is one of the standard methods or `other`, `route` is a route
//! pattern from the router or `unmatched`, `status` is a status code the server
//! answered with, and `rule`/`tier` come from the rule sets counselors publish.

use std::sync::Arc;

use prometheus::{
    Encoder, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    Registry, TextEncoder,
};

use actix_web::http::Method;

use crate::audit::FlushObserver;
use crate::engine::Decision;

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    decisions: IntCounter,
    flags: IntCounterVec,
    rule_errors: IntCounterVec,
    flush_seconds: Histogram,
    batch_size: Histogram,
    flag_reviews: IntCounterVec,
    tier_share: GaugeVec,
    /// When the share gauges were last computed (they scan the caseload).
    shares_at: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

/// How long the share gauges are kept before a scrape recomputes them.
pub const SHARES_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registration only fails on duplicate names, which this fixed set never has.
#[allow(clippy::expect_used)]
fn register<T: prometheus::core::Collector + Clone + 'static>(r: &Registry, c: T) -> T {
    r.register(Box::new(c.clone()))
        .expect("metric names are unique");
    c
}

impl Metrics {
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let r = Registry::new();
        let latency_buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        let requests = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "intervene_http_requests_total",
                    "HTTP requests by method, route and status",
                ),
                &["method", "route", "status"],
            )
            .expect("valid metric"),
        );
        let latency = register(
            &r,
            HistogramVec::new(
                HistogramOpts::new(
                    "intervene_http_request_duration_seconds",
                    "HTTP request latency by route",
                )
                .buckets(latency_buckets.clone()),
                &["route"],
            )
            .expect("valid metric"),
        );
        let decisions = register(
            &r,
            IntCounter::new(
                "intervene_decisions_total",
                "Decisions made (audited or dry run)",
            )
            .expect("valid metric"),
        );
        let flags = register(
            &r,
            IntCounterVec::new(
                Opts::new("intervene_flags_total", "Flags raised by rule and tier"),
                &["rule", "tier"],
            )
            .expect("valid metric"),
        );
        let rule_errors = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "intervene_rule_errors_total",
                    "Rules that failed or were stopped by the sandbox",
                ),
                &["rule"],
            )
            .expect("valid metric"),
        );
        let flush_seconds = register(
            &r,
            Histogram::with_opts(
                HistogramOpts::new(
                    "intervene_audit_flush_seconds",
                    "Time to write and flush one audit group commit",
                )
                .buckets(latency_buckets),
            )
            .expect("valid metric"),
        );
        let batch_size = register(
            &r,
            Histogram::with_opts(
                HistogramOpts::new(
                    "intervene_audit_batch_entries",
                    "Entries acknowledged by one audit flush",
                )
                .buckets(vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 1024.0, 4096.0,
                ]),
            )
            .expect("valid metric"),
        );
        let flag_reviews = register(
            &r,
            IntCounterVec::new(
                Opts::new(
                    "intervene_flag_reviews_total",
                    "Flag reviews by rule and action (confirm, dismiss, defer)",
                ),
                &["rule", "action"],
            )
            .expect("valid metric"),
        );
        let tier_share = register(
            &r,
            GaugeVec::new(
                Opts::new(
                    "intervene_caseload_tier_share",
                    "Share of a school's students in the caseload at a tier (2 or 3), overall \
                     (domain=\"all\") and per domain",
                ),
                &["school", "domain", "tier"],
            )
            .expect("valid metric"),
        );
        Metrics {
            registry: r,
            flag_reviews,
            tier_share,
            shares_at: Arc::new(std::sync::Mutex::new(None)),
            requests,
            latency,
            decisions,
            flags,
            rule_errors,
            flush_seconds,
            batch_size,
        }
    }

    /// Count one request. `method` should come from [`method_label`] and `route` from
    /// the router (a pattern, or `unmatched`), so both stay bounded.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        self.requests
            .with_label_values(&[method, route, &status.to_string()])
            .inc();
        self.latency.with_label_values(&[route]).observe(seconds);
    }

    pub fn observe_decision(&self, d: &Decision) {
        self.decisions.inc();
        for f in &d.flags {
            self.flags
                .with_label_values(&[f.rule_id.as_str(), &f.tier.to_string()])
                .inc();
        }
        for e in &d.rule_errors {
            self.rule_errors
                .with_label_values(&[e.rule_id.as_str()])
                .inc();
        }
    }

    /// Count one flag's review.
    pub fn flag_reviewed(&self, rule: &str, action: &str) {
        self.flag_reviews.with_label_values(&[rule, action]).inc();
    }

    /// Whether the share gauges are due to be recomputed (and if so, take the turn).
    pub fn shares_due(&self) -> bool {
        let Ok(mut at) = self.shares_at.lock() else {
            return false;
        };
        if at.is_some_and(|t| t.elapsed() < SHARES_EVERY) {
            return false;
        }
        *at = Some(std::time::Instant::now());
        true
    }

    /// Set the share gauges from the caseload summary of each school.
    pub fn set_shares(
        &self,
        by_school: &std::collections::BTreeMap<String, crate::caseload::Summary>,
    ) {
        self.tier_share.reset();
        for (school, s) in by_school {
            let set = |domain: &str, t2: f64, t3: f64| {
                self.tier_share
                    .with_label_values(&[school.as_str(), domain, "2"])
                    .set(t2);
                self.tier_share
                    .with_label_values(&[school.as_str(), domain, "3"])
                    .set(t3);
            };
            set("all", s.overall.tier2_share, s.overall.tier3_share);
            for (d, c) in &s.by_domain {
                set(d.as_str(), c.tier2_share, c.tier3_share);
            }
        }
    }

    pub fn flush_observer(&self) -> FlushObserver {
        let flush = self.flush_seconds.clone();
        let batch = self.batch_size.clone();
        Arc::new(move |s| {
            flush.observe(s.flush_seconds);
            batch.observe(s.entries as f64);
        })
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// A request method as a label: the standard methods by name, anything invented
/// (`FOO`, `X-ANYTHING`) as `other`.
pub fn method_label(m: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    KNOWN
        .iter()
        .find(|(k, _)| k == m)
        .map_or("other", |(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        for name in ["FOO", "get", "X-LONG-INVENTED-METHOD"] {
            let m = Method::from_bytes(name.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "other", "{name}");
        }
        assert_eq!(method_label(&Method::POST), "POST");
    }
}
