//! Pushed authorization requests (RFC 9126): push, then send the browser with only the
//! `request_uri`; one use, one client, a short life; bad pushes refused to the client; and
//! clients (or the whole server) that must push.

use reqwest::StatusCode;
use serde_json::Value;

use crate::{support::*, totp::exchange};
use idp::{admin::clients::NewClient, crypto::keys::SigningAlg};

async fn push(
    server: &TestServer,
    creds: &idp::admin::clients::ClientCredentials,
    params: &[(&'static str, String)],
) -> reqwest::Response {
    let http = reqwest::Client::new().post(server.url("/par"));
    let http = match &creds.client_secret {
        Some(secret) => http.basic_auth(&creds.client.client_id, Some(secret)),
        None => http,
    };
    http.form(params).send().await.unwrap()
}

/// The browser's whole authorization request after a push.
fn by_reference(server: &TestServer, client_id: &str, request_uri: &str) -> String {
    authorize_url(
        server,
        &[("client_id", client_id), ("request_uri", request_uri)],
    )
}

#[tokio::test]
async fn a_pushed_request_signs_the_user_in_once() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("pat", PASSWORD).await;
    let doc: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["pushed_authorization_request_endpoint"],
        server.url("/par")
    );
    assert_eq!(doc["require_pushed_authorization_requests"], false);

    // Basic auth, no client_id in the body.
    let mut params = code_request(&creds.client.client_id);
    params.retain(|(k, _)| *k != "client_id");
    let response = push(&server, &creds, &params).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let pushed: Value = response.json().await.unwrap();
    let request_uri = pushed["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
    assert_eq!(pushed["expires_in"], 60);

    let url = by_reference(&server, &creds.client.client_id, &request_uri);
    let redirect = sign_in_for_code(&browser(), &server, &url, "pat").await;
    assert_eq!(query_param(&redirect, "state").as_deref(), Some("st4te"));
    let claims = exchange(&server, &creds, &redirect).await;
    assert_eq!(claims["nonce"], "n0nce", "the pushed parameters were used");

    // Used once; unknown, another client's or not ours: an error page, not a redirect.
    let other = server
        .add_client(REDIRECT_URI, false, SigningAlg::Es256)
        .await;
    let second: Value = push(&server, &creds, &code_request(&creds.client.client_id))
        .await
        .json()
        .await
        .unwrap();
    for (client_id, uri) in [
        (creds.client.client_id.as_str(), request_uri.as_str()),
        (
            other.client.client_id.as_str(),
            second["request_uri"].as_str().unwrap(),
        ),
        (
            creds.client.client_id.as_str(),
            "urn:ietf:params:oauth:request_uri:nope",
        ),
        (
            creds.client.client_id.as_str(),
            "https://app.example/request.jwt",
        ),
    ] {
        let response = browser()
            .get(by_reference(&server, client_id, uri))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{uri}");
    }
    // The other client's attempt did not use up the request.
    let url = by_reference(
        &server,
        &creds.client.client_id,
        second["request_uri"].as_str().unwrap(),
    );
    let (login_url, _) = open_login_page(&browser(), &server, &url).await;
    assert!(login_url.contains("/login?tx="));
}

#[tokio::test]
async fn an_expired_pushed_request_is_refused() {
    let server = TestServer::start_with(|c| {
        c.pushed_request_lifetime = std::time::Duration::from_secs(1);
    })
    .await;
    let creds = server.confidential_client().await;
    let pushed: Value = push(&server, &creds, &code_request(&creds.client.client_id))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pushed["expires_in"], 1);
    use sea_orm::{EntityTrait, sea_query::Expr};
    entity::pushed_request::Entity::update_many()
        .col_expr(entity::pushed_request::Column::ExpiresAt, Expr::value(0))
        .exec(&server.db)
        .await
        .unwrap();
    let response = browser()
        .get(by_reference(
            &server,
            &creds.client.client_id,
            pushed["request_uri"].as_str().unwrap(),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_pushes_are_refused_to_the_client() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let with = |changes: &[(&'static str, &str)]| {
        let mut params = code_request(&creds.client.client_id);
        for (name, value) in changes {
            params.retain(|(k, _)| k != name);
            if !value.is_empty() {
                params.push((name, value.to_string()));
            }
        }
        params
    };
    for (params, error) in [
        (
            with(&[("redirect_uri", "https://evil.example/cb")]),
            "invalid_request",
        ),
        (with(&[("scope", "profile")]), "invalid_scope"),
        (
            with(&[("response_type", "token")]),
            "unsupported_response_type",
        ),
        (with(&[("request_uri", "urn:x")]), "invalid_request"),
        (with(&[("request", "eyJ.x.y")]), "request_not_supported"),
        (
            with(&[("code_challenge_method", "plain")]),
            "invalid_request",
        ),
    ] {
        let response = push(&server, &creds, &params).await;
        assert_json_error(response, StatusCode::BAD_REQUEST, error).await;
    }
    // Unauthenticated, or the wrong secret.
    let response = reqwest::Client::new()
        .post(server.url("/par"))
        .form(&code_request(&creds.client.client_id))
        .send()
        .await
        .unwrap();
    assert_json_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let response = reqwest::Client::new()
        .post(server.url("/par"))
        .basic_auth(&creds.client.client_id, Some("wrong"))
        .form(&code_request(&creds.client.client_id))
        .send()
        .await
        .unwrap();
    assert_json_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // Twice the same parameter, or not a form.
    let response = reqwest::Client::new()
        .post(server.url("/par"))
        .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("scope=openid&scope=openid")
        .send()
        .await
        .unwrap();
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = reqwest::Client::new()
        .post(server.url("/par"))
        .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
        .json(&serde_json::json!({"scope": "openid"}))
        .send()
        .await
        .unwrap();
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn a_client_that_must_push_cannot_send_the_browser_directly() {
    let server = TestServer::start().await;
    let strict = idp::admin::clients::create(
        &server.db,
        &idp::admin::Actor::Cli,
        NewClient {
            redirect_uris: vec![REDIRECT_URI.into()],
            public: true,
            require_par: true,
            first_party: true,
            ..NewClient::new("Bank")
        },
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    let direct = browser()
        .get(authorize_url_owned(
            &server,
            &code_request(&strict.client.client_id),
        ))
        .send()
        .await
        .unwrap();
    let to = location(&direct);
    assert!(to.starts_with(REDIRECT_URI), "{to}");
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("invalid_request")
    );

    // A public client pushes with its client_id alone.
    let pushed = push(&server, &strict, &code_request(&strict.client.client_id)).await;
    assert_eq!(pushed.status(), StatusCode::CREATED);
    let pushed: Value = pushed.json().await.unwrap();
    let url = by_reference(
        &server,
        &strict.client.client_id,
        pushed["request_uri"].as_str().unwrap(),
    );
    open_login_page(&browser(), &server, &url).await;

    // The global switch applies to every client.
    let server = TestServer::start_with(|c| c.require_pushed_authorization_requests = true).await;
    let creds = server.confidential_client().await;
    let direct = browser()
        .get(authorize_url_owned(
            &server,
            &code_request(&creds.client.client_id),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        query_param(&location(&direct), "error").as_deref(),
        Some("invalid_request")
    );
    let doc: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["require_pushed_authorization_requests"], true);
}
