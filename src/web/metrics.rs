//! `/metrics` in the Prometheus text format (prometheus-client): request counts and latency
//! histograms per route, and counters of what matters to an operator of an IdP: passkey
//! registrations and verifications, wrong second-factor codes, sign-ins, tokens issued by
//! grant. Each node counts its own; Prometheus sums them across nodes.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderValue, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::Registry,
};

use crate::app::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The route's pattern (`/register/{client_id}`), never the raw path: bounded cardinality,
    /// and no ids or tokens in the labels.
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabels {
    method: &'static str,
}

/// This node's metrics.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    passkey_registrations: Family<ResultLabels, Counter>,
    passkey_verifications: Family<ResultLabels, Counter>,
    second_factor_failures: Family<MethodLabels, Counter>,
    sign_ins: Counter,
    tokens_issued: Family<GrantLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("idp");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route",
            latency.clone(),
        );
        let passkey_registrations = Family::<ResultLabels, Counter>::default();
        registry.register(
            "passkey_registrations",
            "Passkey registration ceremonies finished, by result (success, failure)",
            passkey_registrations.clone(),
        );
        let passkey_verifications = Family::<ResultLabels, Counter>::default();
        registry.register(
            "passkey_verifications",
            "Passkey assertions checked at sign-in, by result (success, failure)",
            passkey_verifications.clone(),
        );
        let second_factor_failures = Family::<MethodLabels, Counter>::default();
        registry.register(
            "second_factor_failures",
            "Wrong second-factor codes, by method (totp, recovery_code)",
            second_factor_failures.clone(),
        );
        let sign_ins = Counter::default();
        registry.register("sign_ins", "Completed sign-ins", sign_ins.clone());
        let tokens_issued = Family::<GrantLabels, Counter>::default();
        registry.register(
            "tokens_issued",
            "Successful token responses, by grant type",
            tokens_issued.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            passkey_registrations,
            passkey_verifications,
            second_factor_failures,
            sign_ins,
            tokens_issued,
        }
    }
}

fn result(success: bool) -> ResultLabels {
    ResultLabels {
        result: if success { "success" } else { "failure" },
    }
}

impl Metrics {
    pub fn passkey_registered(&self, success: bool) {
        self.passkey_registrations
            .get_or_create(&result(success))
            .inc();
    }

    pub fn passkey_verified(&self, success: bool) {
        self.passkey_verifications
            .get_or_create(&result(success))
            .inc();
    }

    /// A wrong code: `totp` or `recovery_code`.
    pub fn second_factor_failed(&self, method: &'static str) {
        self.second_factor_failures
            .get_or_create(&MethodLabels { method })
            .inc();
    }

    pub fn signed_in(&self) {
        self.sign_ins.inc();
    }

    pub fn token_issued(&self, grant: &'static str) {
        self.tokens_issued
            .get_or_create(&GrantLabels { grant })
            .inc();
    }

    fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}

/// The middleware: counts and times every request by its route pattern.
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    // Any token is a valid HTTP method (RFC 9110 §9.1): counting unknown ones under one label
    // keeps a client from creating series without bound.
    let method = match request.method().as_str() {
        m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let metrics = &state.metrics;
    metrics
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

/// `GET /metrics`.
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        state.metrics.render(),
    )
        .into_response()
}
