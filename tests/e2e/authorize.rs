//! Bad authorization requests: an error page where the redirect URI cannot be trusted, an
//! error redirect (with state and iss) everywhere else.

use reqwest::StatusCode;

use crate::support::*;
use idp::crypto::keys::SigningAlg;

/// Sends an authorization request and expects our error page, never a redirect.
async fn expect_error_page(server: &TestServer, params: &[(&str, &str)]) -> String {
    let response = browser()
        .get(authorize_url(server, params))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.headers().get("location").is_none());
    let body = response.text().await.unwrap();
    assert!(body.contains("This sign-in request is not valid"), "{body}");
    body
}

/// Sends an authorization request and expects an error redirect to the client.
async fn expect_error_redirect(server: &TestServer, params: &[(&str, &str)], error: &str) {
    let response = browser()
        .get(authorize_url(server, params))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert!(to.starts_with(REDIRECT_URI), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some(error), "{to}");
    assert!(query_param(&to, "error_description").is_some());
    assert_eq!(query_param(&to, "state").as_deref(), Some("xyz"));
    assert_eq!(
        query_param(&to, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
}

fn base(client_id: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT_URI),
        ("scope", "openid"),
        ("state", "xyz"),
    ]
}

fn with<'a>(
    mut params: Vec<(&'a str, &'a str)>,
    name: &'a str,
    value: Option<&'a str>,
) -> Vec<(&'a str, &'a str)> {
    params.retain(|(k, _)| *k != name);
    if let Some(value) = value {
        params.push((name, value));
    }
    params
}

#[tokio::test]
async fn an_unknown_client_gets_an_error_page() {
    let server = TestServer::start().await;
    let body = expect_error_page(&server, &base("no-such-client")).await;
    assert!(body.contains("unknown client"));
    expect_error_page(&server, &with(base("x"), "client_id", None)).await;
}

#[tokio::test]
async fn an_unregistered_or_missing_redirect_uri_gets_an_error_page() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let id = creds.client.client_id.as_str();
    for bad in [
        "https://evil.example/callback",
        "https://app.example/callback/",
        "https://app.example/callback?x=1",
    ] {
        let body = expect_error_page(&server, &with(base(id), "redirect_uri", Some(bad))).await;
        assert!(body.contains("not registered"), "{body}");
    }
    expect_error_page(&server, &with(base(id), "redirect_uri", None)).await;
    let mut twice = base(id);
    twice.push(("redirect_uri", REDIRECT_URI));
    expect_error_page(&server, &twice).await;
}

#[tokio::test]
async fn other_bad_requests_redirect_with_the_right_error() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let id = creds.client.client_id.as_str();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            with(base(id), "response_type", Some("token")),
            "unsupported_response_type",
        ),
        (
            with(base(id), "response_type", Some("code id_token")),
            "unsupported_response_type",
        ),
        (with(base(id), "response_type", None), "invalid_request"),
        (with(base(id), "scope", Some("profile")), "invalid_scope"),
        (with(base(id), "scope", None), "invalid_scope"),
        (
            with(
                with(base(id), "code_challenge", Some(CHALLENGE)),
                "code_challenge_method",
                Some("plain"),
            ),
            "invalid_request",
        ),
        // A challenge without a method means plain (RFC 7636 §4.3).
        (
            with(base(id), "code_challenge", Some(CHALLENGE)),
            "invalid_request",
        ),
        (
            with(
                with(base(id), "code_challenge", Some("too-short")),
                "code_challenge_method",
                Some("S256"),
            ),
            "invalid_request",
        ),
        (
            with(base(id), "code_challenge_method", Some("S256")),
            "invalid_request",
        ),
        (
            with(base(id), "prompt", Some("none login")),
            "invalid_request",
        ),
        (with(base(id), "prompt", Some("bogus")), "invalid_request"),
        (with(base(id), "max_age", Some("-1")), "invalid_request"),
        (with(base(id), "max_age", Some("soon")), "invalid_request"),
        (
            with(base(id), "response_mode", Some("fragment")),
            "invalid_request",
        ),
        (
            with(base(id), "request", Some("eyJhbGciOiJub25lIn0.e30.")),
            "request_not_supported",
        ),
        (
            with(base(id), "request_uri", Some("https://app.example/r")),
            "request_uri_not_supported",
        ),
        (
            with(base(id), "registration", Some("{}")),
            "registration_not_supported",
        ),
        (with(base(id), "prompt", Some("none")), "login_required"),
    ];
    for (params, error) in cases {
        expect_error_redirect(&server, &params, error).await;
    }
    let mut duplicated = base(id);
    duplicated.push(("scope", "openid"));
    expect_error_redirect(&server, &duplicated, "invalid_request").await;
}

#[tokio::test]
async fn a_public_client_must_use_pkce() {
    let server = TestServer::start().await;
    let creds = server
        .add_client(REDIRECT_URI, true, SigningAlg::Es256)
        .await;
    expect_error_redirect(&server, &base(&creds.client.client_id), "invalid_request").await;
}

#[tokio::test]
async fn post_to_the_authorization_endpoint_works_like_get() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let response = browser()
        .post(server.url("/authorize"))
        .form(&base(&creds.client.client_id))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(location(&response).starts_with("/login?tx="));
}

#[tokio::test]
async fn unsupported_scopes_are_dropped_and_the_granted_scope_is_returned() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("dora", PASSWORD).await;
    let browser = browser();
    let url = authorize_url(
        &server,
        &with(
            with(
                base(&creds.client.client_id),
                "scope",
                Some("openid email calendar"),
            ),
            "nonce",
            Some("n"),
        ),
    );
    let redirect = sign_in_for_code(&browser, &server, &url, "dora").await;
    let code = query_param(&redirect, "code").unwrap();
    let response = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "openid email");
    assert!(
        body.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
}
