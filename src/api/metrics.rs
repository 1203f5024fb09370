//! Prometheus metrics, in an explicit registry (no global state, so each
//! test's service has its own). Labels carry route templates and outcomes,
//! never ids, tokens or claim values.

use std::fmt::Write as _;

use axum::http::Method;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// One of [`KNOWN_METHODS`] or `other`: a client cannot mint series.
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FormatLabels {
    format: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    format: String,
    valid: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
}

/// The methods counted by name; any other is counted as `other`.
static KNOWN_METHODS: [Method; 9] = [
    Method::GET,
    Method::HEAD,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];

fn method_label(method: &Method) -> &'static str {
    KNOWN_METHODS.iter().find(|known| *known == method).map_or("other", Method::as_str)
}

/// The service's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    minted: Counter,
    disclosures: Family<FormatLabels, Counter>,
    verifications: Family<VerdictLabels, Counter>,
    remedies: Family<ActionLabels, Counter>,
    pool_size: Gauge,
    pool_idle: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("veil");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        // 100 µs to ~3 s.
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.0001, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register("http_request_duration_seconds", "HTTP request latency", latency.clone());
        let minted = Counter::default();
        registry.register("pseudonyms_minted", "Pseudonyms minted", minted.clone());
        let disclosures = Family::<FormatLabels, Counter>::default();
        registry.register(
            "disclosures_issued",
            "Disclosures issued by format",
            disclosures.clone(),
        );
        let verifications = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "presentations_verified",
            "Presentations verified by format and result",
            verifications.clone(),
        );
        let remedies = Family::<ActionLabels, Counter>::default();
        registry.register("remedies_applied", "Remedies applied by action", remedies.clone());
        let pool_size = Gauge::default();
        registry.register("db_pool_connections", "Open database connections", pool_size.clone());
        let pool_idle = Gauge::default();
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            pool_idle.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            minted,
            disclosures,
            verifications,
            remedies,
            pool_size,
            pool_idle,
        }
    }

    /// One finished request; `route` is the matched route template.
    pub fn observe_request(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let labels = RequestLabels { method: method_label(method), route: route.into(), status };
        self.requests.get_or_create(&labels).inc();
        self.latency.get_or_create(&RouteLabels { route: route.into() }).observe(seconds);
    }

    pub fn pseudonyms_minted(&self, count: u64) {
        self.minted.inc_by(count);
    }

    pub fn disclosure_issued(&self, format: &str) {
        self.disclosures.get_or_create(&FormatLabels { format: format.into() }).inc();
    }

    pub fn presentation_verified(&self, format: &str, valid: bool) {
        let labels = VerdictLabels { format: format.into(), valid: valid.to_string() };
        self.verifications.get_or_create(&labels).inc();
    }

    pub fn remedy_applied(&self, action: &str) {
        self.remedies.get_or_create(&ActionLabels { action: action.into() }).inc();
    }

    /// The OpenMetrics text exposition, with the pool gauges read now.
    pub fn render(&self, pool_size: u32, pool_idle: usize) -> String {
        self.pool_size.set(i64::from(pool_size));
        self.pool_idle.set(i64::try_from(pool_idle).unwrap_or(i64::MAX));
        let mut out = String::new();
        if encode(&mut out, &self.registry).is_err() {
            let _ = writeln!(out, "# metrics could not be encoded");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_requests_latency_and_pool() {
        let metrics = Metrics::new();
        metrics.observe_request(&Method::POST, "/v1/pseudonyms", 201, 0.002);
        metrics.observe_request(&Method::POST, "/v1/pseudonyms", 201, 0.004);
        metrics.pseudonyms_minted(3);
        metrics.disclosure_issued("sd-jwt");
        metrics.presentation_verified("sd-cwt", false);
        metrics.remedy_applied("suspend");
        let text = metrics.render(4, 3);
        assert!(
            text.contains(
                r#"veil_http_requests_total{method="POST",route="/v1/pseudonyms",status="201"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains("veil_pseudonyms_minted_total 3"), "{text}");
        assert!(text.contains("veil_db_pool_connections 4"), "{text}");
        assert!(text.contains(r#"veil_disclosures_issued_total{format="sd-jwt"} 1"#), "{text}");
        assert!(
            text.contains(r#"veil_presentations_verified_total{format="sd-cwt",valid="false"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"veil_remedies_applied_total{action="suspend"} 1"#), "{text}");
        assert!(text.contains("veil_http_request_duration_seconds_count"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
