//! Request-rate limits per client address (`[rate_limits]`): 429 with `Retry-After`, as an
//! OAuth error, a JSON error or a readable page depending on who asks; addresses behind a
//! trusted proxy are told apart by `X-Forwarded-For`.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;

async fn post(
    server: &TestServer,
    path: &str,
    forwarded_for: Option<&str>,
    json: bool,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(server.url(path));
    if let Some(address) = forwarded_for {
        request = request.header("x-forwarded-for", address);
    }
    request = if json {
        request.json(&serde_json::json!({}))
    } else {
        request.form(&[("username", "nobody"), ("password", "wrong")])
    };
    request.send().await.unwrap()
}

fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn sign_in_requests_over_the_limit_get_429_as_json_or_as_a_page() {
    let server = TestServer::start_with(|c| {
        c.rate_limits.sign_in_per_minute = 3;
        c.trusted_proxies = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    for _ in 0..3 {
        let answer = post(&server, "/login/passkey/begin", None, true).await;
        assert_ne!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    // The fourth from this address: a JSON error for the page's script...
    let refused = post(&server, "/login/passkey/begin", None, true).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&refused);
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    // ...and a page for a form.
    let page = post(&server, "/login", None, false).await;
    assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(page.headers().contains_key("retry-after"));
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Too many attempts"), "{html}");
    // A route with a parameter is limited by its pattern, whatever the parameter.
    let link = post(&server, "/login/recovery/any-token-at-all", None, false).await;
    assert_eq!(link.status(), StatusCode::TOO_MANY_REQUESTS);
    // Reading pages is not limited.
    let login_page = reqwest::get(server.url("/login")).await.unwrap();
    assert_ne!(login_page.status(), StatusCode::TOO_MANY_REQUESTS);

    // Behind the trusted proxy (our loopback peer), another client address has its own
    // allowance, and one address cannot hide behind forged entries on the left.
    let other = post(&server, "/login/passkey/begin", Some("198.51.100.7"), true).await;
    assert_ne!(other.status(), StatusCode::TOO_MANY_REQUESTS);
    for _ in 0..2 {
        post(
            &server,
            "/login/passkey/begin",
            Some("192.0.2.1, 198.51.100.7"),
            true,
        )
        .await;
    }
    let forged = post(
        &server,
        "/login/passkey/begin",
        Some("192.0.2.2, 198.51.100.7"),
        true,
    )
    .await;
    assert_eq!(forged.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn forwarded_addresses_are_ignored_unless_the_peer_is_a_trusted_proxy() {
    let server = TestServer::start_with(|c| c.rate_limits.sign_in_per_minute = 1).await;
    let first = post(&server, "/login/passkey/begin", Some("198.51.100.1"), true).await;
    assert_ne!(first.status(), StatusCode::TOO_MANY_REQUESTS);
    let second = post(&server, "/login/passkey/begin", Some("198.51.100.2"), true).await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn token_requests_over_the_limit_get_an_oauth_429() {
    let server = TestServer::start_with(|c| c.rate_limits.token_per_second = 2).await;
    let creds = server.confidential_client().await;
    // A burst of 2, then one every half second: ten quick requests cannot all pass.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let response =
            token_request(&server, &creds, &[("grant_type", "client_credentials")]).await;
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert!(retry_after(&response) >= 1);
            assert_json_error(response, StatusCode::TOO_MANY_REQUESTS, "too_many_requests").await;
        }
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // Discovery is never limited.
    for _ in 0..5 {
        let discovery = reqwest::get(server.url("/.well-known/openid-configuration"))
            .await
            .unwrap();
        assert_eq!(discovery.status(), StatusCode::OK);
    }
}
