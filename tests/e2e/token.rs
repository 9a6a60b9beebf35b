//! Bad token requests get RFC 6749 §5.2 errors with the right status; codes and refresh
//! tokens work once.

use reqwest::StatusCode;

use crate::support::*;
use idp::crypto::keys::SigningAlg;

/// Signs in and returns a fresh authorization code for `creds`' client.
async fn code_for(
    server: &TestServer,
    creds: &idp::admin::clients::ClientCredentials,
    username: &str,
) -> String {
    let url = authorize_url_owned(server, &code_request(&creds.client.client_id));
    let redirect = sign_in_for_code(&browser(), server, &url, username).await;
    query_param(&redirect, "code").unwrap()
}

fn exchange(code: &str) -> Vec<(&str, &str)> {
    vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
    ]
}

async fn userinfo_status(server: &TestServer, access_token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_issued() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("mia", PASSWORD).await;
    let code = code_for(&server, &creds, "mia").await;
    let first = token_request(&server, &creds, &exchange(&code)).await;
    assert_eq!(first.status(), StatusCode::OK);
    let tokens: serde_json::Value = first.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(userinfo_status(&server, access).await, StatusCode::OK);

    let second = token_request(&server, &creds, &exchange(&code)).await;
    assert_json_error(second, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        userinfo_status(&server, access).await,
        StatusCode::UNAUTHORIZED
    );
    let refresh = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_json_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn client_authentication_failures_are_401_with_a_challenge() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("noah", PASSWORD).await;
    let code = code_for(&server, &creds, "noah").await;
    let http = reqwest::Client::new();
    let attempts = vec![
        http.post(server.url("/token"))
            .basic_auth(&creds.client.client_id, Some("wrong-secret"))
            .form(&exchange(&code)),
        http.post(server.url("/token"))
            .basic_auth("unknown-client", Some("secret"))
            .form(&exchange(&code)),
        // A confidential client presenting no secret at all.
        http.post(server.url("/token")).form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &creds.client.client_id),
        ]),
        http.post(server.url("/token")).form(&exchange(&code)),
        http.post(server.url("/token"))
            .header("authorization", "Basic !!!notbase64")
            .form(&exchange(&code)),
    ];
    for attempt in attempts {
        let response = attempt.send().await.unwrap();
        assert!(response.headers().get("www-authenticate").is_some());
        assert_json_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    }
    // The code survived the failed attempts.
    let ok = token_request(&server, &creds, &exchange(&code)).await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test]
async fn client_secret_post_works_and_two_methods_at_once_do_not() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("olga", PASSWORD).await;
    let code = code_for(&server, &creds, "olga").await;
    let secret = creds.client_secret.clone().unwrap();
    let mut form = exchange(&code);
    form.push(("client_id", &creds.client.client_id));
    form.push(("client_secret", &secret));
    let both = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(&creds.client.client_id, Some(&secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_json_error(both, StatusCode::BAD_REQUEST, "invalid_request").await;
    let post = reqwest::Client::new()
        .post(server.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::OK);
}

#[tokio::test]
async fn pkce_and_redirect_uri_must_match_the_authorization_request() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("paul", PASSWORD).await;
    let code = code_for(&server, &creds, "paul").await;
    let bad_requests: Vec<Vec<(&str, &str)>> = vec![
        vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            (
                "code_verifier",
                "xBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            ),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://app.example/other"),
            ("code_verifier", VERIFIER),
        ],
        vec![
            ("grant_type", "authorization_code"),
            ("code", "not-a-code"),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    ];
    for form in bad_requests {
        let response = token_request(&server, &creds, &form).await;
        assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    }
    // None of that consumed the code.
    assert_eq!(
        token_request(&server, &creds, &exchange(&code))
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_verifier_for_a_code_issued_without_pkce_is_refused() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("quinn", PASSWORD).await;
    let params: Vec<(&'static str, String)> = code_request(&creds.client.client_id)
        .into_iter()
        .filter(|(k, _)| !k.starts_with("code_challenge"))
        .collect();
    let redirect = sign_in_for_code(
        &browser(),
        &server,
        &authorize_url_owned(&server, &params),
        "quinn",
    )
    .await;
    let code = query_param(&redirect, "code").unwrap();
    let response = token_request(&server, &creds, &exchange(&code)).await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn a_code_works_only_for_the_client_it_was_issued_to() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let other = server
        .add_client(REDIRECT_URI, false, SigningAlg::Es256)
        .await;
    server.add_user("rosa", PASSWORD).await;
    let code = code_for(&server, &creds, "rosa").await;
    let response = token_request(&server, &other, &exchange(&code)).await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn malformed_token_requests_get_invalid_request_or_unsupported_grant_type() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let response = token_request(
        &server,
        &creds,
        &[("grant_type", "password"), ("username", "x")],
    )
    .await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    let response = token_request(&server, &creds, &[("code", "x")]).await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = token_request(&server, &creds, &[("grant_type", "authorization_code")]).await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = token_request(&server, &creds, &[("grant_type", "refresh_token")]).await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "authorization_code"),
            ("grant_type", "refresh_token"),
        ],
    )
    .await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let json_body = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_json_error(json_body, StatusCode::BAD_REQUEST, "invalid_request").await;
    let get = reqwest::get(server.url("/token")).await.unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_replayed_refresh_token_revokes_the_whole_grant() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("sam", PASSWORD).await;
    let tokens = tokens_for(&server, &creds, "sam").await;
    let first_refresh = tokens["refresh_token"].as_str().unwrap();
    let refresh = |token: String| {
        let server = &server;
        let creds = &creds;
        async move {
            token_request(
                server,
                creds,
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
        }
    };
    let rotated: serde_json::Value = refresh(first_refresh.into()).await.json().await.unwrap();
    let second_refresh = rotated["refresh_token"].as_str().unwrap().to_owned();
    let second_access = rotated["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        userinfo_status(&server, &second_access).await,
        StatusCode::OK
    );

    // The old token again: refused, and everything of the grant dies with it.
    assert_json_error(
        refresh(first_refresh.into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_json_error(
        refresh(second_refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(
        userinfo_status(&server, &second_access).await,
        StatusCode::UNAUTHORIZED
    );
    // The user's security log says what happened.
    let events = idp::store::security_events::query(
        &server.db,
        &idp::store::security_events::EventFilter {
            kind: Some("token_reused".into()),
            ..Default::default()
        },
        10,
        true,
    )
    .await
    .unwrap();
    assert_eq!(events.len(), 1);
    assert!(events[0].user_id.is_some());
    assert_eq!(events[0].detail.as_ref().unwrap()["token"], "refresh_token");
}

#[tokio::test]
async fn refresh_may_narrow_the_scope_but_not_widen_it() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let other = server
        .add_client(REDIRECT_URI, false, SigningAlg::Es256)
        .await;
    server.add_user("tina", PASSWORD).await;
    let tokens = tokens_for(&server, &creds, "tina").await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();

    let wider = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", "openid admin"),
        ],
    )
    .await;
    assert_json_error(wider, StatusCode::BAD_REQUEST, "invalid_scope").await;
    let stolen = token_request(
        &server,
        &other,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ],
    )
    .await;
    assert_json_error(stolen, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let narrower = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("scope", "openid"),
        ],
    )
    .await;
    assert_eq!(narrower.status(), StatusCode::OK);
    let body: serde_json::Value = narrower.json().await.unwrap();
    assert_eq!(body["scope"], "openid");
    assert!(
        body["refresh_token"].is_string(),
        "the grant keeps its offline access"
    );
}

#[tokio::test]
async fn a_disabled_user_cannot_redeem_codes_or_refresh() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("uma", PASSWORD).await;
    let tokens = tokens_for(&server, &creds, "uma").await;
    let code = code_for(&server, &creds, "uma").await;
    idp::admin::users::set_disabled(&server.db, &idp::admin::Actor::Cli, "uma", true)
        .await
        .unwrap();
    let response = token_request(&server, &creds, &exchange(&code)).await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let response = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert_eq!(
        userinfo_status(&server, tokens["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_before_base64() {
    // RFC 6749 §2.3.1: a client encodes its id and secret; ours need no escaping, so an
    // escaped form of them must still authenticate.
    use base64::Engine;
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("xavi", PASSWORD).await;
    let code = code_for(&server, &creds, "xavi").await;
    let escaped_id: String = creds
        .client
        .client_id
        .chars()
        .map(|c| format!("%{:02X}", c as u32))
        .collect();
    let header = base64::engine::general_purpose::STANDARD.encode(format!(
        "{escaped_id}:{}",
        creds.client_secret.as_deref().unwrap()
    ));
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .header("authorization", format!("Basic {header}"))
        .form(&exchange(&code))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn repeated_client_authentication_failures_are_slowed_down() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let attempt = |secret: &'static str| {
        let url = server.url("/token");
        let id = creds.client.client_id.clone();
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
        }
    };
    for i in 0..19 {
        assert_eq!(
            attempt("wrong").await.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {i}"
        );
    }
    let blocked = attempt("wrong").await;
    assert_eq!(blocked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: i64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: serde_json::Value = blocked.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    // While blocked, this address gets nothing, not even with the right secret.
    let response = token_request(
        &server,
        &creds,
        &[("grant_type", "authorization_code"), ("code", "x")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}
