//! `/metrics` (Prometheus/OpenMetrics text), `/healthz` and `/readyz`.

use reqwest::StatusCode;

use crate::support::*;

pub async fn scrape(server: &TestServer) -> String {
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of the sample named exactly `series` (name and labels as printed).
pub fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let (name, value) = line.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

#[tokio::test]
async fn counters_move_with_sign_ins_tokens_and_requests() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("max", PASSWORD).await;
    let before = scrape(&server).await;
    assert!(before.trim_end().ends_with("# EOF"), "{before}");
    assert_eq!(value(&before, "idp_sign_ins_total"), Some(0.0));

    tokens_for(&server, &creds, "max").await;
    let metrics = scrape(&server).await;
    assert_eq!(value(&metrics, "idp_sign_ins_total"), Some(1.0));
    assert_eq!(
        value(
            &metrics,
            r#"idp_tokens_issued_total{grant="authorization_code"}"#
        ),
        Some(1.0)
    );
    // Requests are labelled by route pattern, method and status; latencies by route.
    assert_eq!(
        value(
            &metrics,
            r#"idp_http_requests_total{route="/token",method="POST",status="200"}"#
        ),
        Some(1.0)
    );
    assert!(
        metrics.contains(r#"idp_http_request_duration_seconds_bucket{le="+Inf",route="/token"} 1"#)
            || metrics.contains(
                r#"idp_http_request_duration_seconds_bucket{route="/token",le="+Inf"} 1"#
            ),
        "{metrics}"
    );
    // A failed token request counts as a request, not as a token.
    let refused = token_request(
        &server,
        &creds,
        &[("grant_type", "authorization_code"), ("code", "nope")],
    )
    .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let metrics = scrape(&server).await;
    assert_eq!(
        value(
            &metrics,
            r#"idp_tokens_issued_total{grant="authorization_code"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &metrics,
            r#"idp_http_requests_total{route="/token",method="POST",status="400"}"#
        ),
        Some(1.0)
    );
    // No raw paths (ids, tokens) in labels.
    let _ = reqwest::get(server.url("/register/some-client-id"))
        .await
        .unwrap();
    let metrics = scrape(&server).await;
    assert!(!metrics.contains("some-client-id"), "{metrics}");

    for (path, body) in [("/healthz", "ok"), ("/readyz", "ready")] {
        let response = reqwest::get(server.url(path)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.text().await.unwrap(), body);
    }
}
