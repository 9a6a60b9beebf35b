//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0), driven by the openidconnect
//! crate's logout request: with an ID token hint the session ends at once; without one the
//! user confirms; unregistered URIs, forged hints and mismatched clients get an error page.

use openidconnect::{
    ClientId, CsrfToken, IssuerUrl, LogoutRequest, PostLogoutRedirectUrl,
    ProviderMetadataWithLogout,
    core::{CoreIdToken, CoreProviderMetadata},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;

/// Signs `username` in for the test client in `browser`; returns the ID token.
async fn signed_in(
    server: &TestServer,
    browser: &reqwest::Client,
    creds: &idp::admin::clients::ClientCredentials,
    username: &str,
) -> String {
    signed_in_with(server, browser, creds, username, &[]).await
}

/// The same, with more authorization parameters (`prompt=login`, say).
async fn signed_in_with(
    server: &TestServer,
    browser: &reqwest::Client,
    creds: &idp::admin::clients::ClientCredentials,
    username: &str,
    more: &[(&'static str, String)],
) -> String {
    let mut params = code_request(&creds.client.client_id);
    params.extend_from_slice(more);
    let url = authorize_url_owned(server, &params);
    let redirect = sign_in_for_code(browser, server, &url, username).await;
    let tokens: Value = token_request(
        server,
        creds,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query_param(&redirect, "code").unwrap()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    tokens["id_token"].as_str().unwrap().to_owned()
}

/// Whether the browser is still signed in: a `prompt=none` request gets a code.
async fn still_signed_in(server: &TestServer, browser: &reqwest::Client, client_id: &str) -> bool {
    let mut params = code_request(client_id);
    params.push(("prompt", "none".into()));
    let to = location(
        &browser
            .get(authorize_url_owned(server, &params))
            .send()
            .await
            .unwrap(),
    );
    query_param(&to, "code").is_some()
}

async fn end_session_url(server: &TestServer) -> openidconnect::EndSessionUrl {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata = ProviderMetadataWithLogout::discover_async(
        IssuerUrl::new(server.issuer.clone()).unwrap(),
        &http,
    )
    .await
    .expect("discovery with end_session_endpoint");
    metadata
        .additional_metadata()
        .end_session_endpoint
        .clone()
        .expect("an end_session_endpoint")
}

#[tokio::test]
async fn a_relying_party_signs_the_user_out_with_an_id_token_hint() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("lou", PASSWORD).await;
    let browser = browser();
    let id_token = signed_in(&server, &browser, &creds, "lou").await;
    assert!(still_signed_in(&server, &browser, &creds.client.client_id).await);

    let hint: CoreIdToken = serde_json::from_value(json!(id_token)).unwrap();
    let url = LogoutRequest::from(end_session_url(&server).await)
        .set_id_token_hint(&hint)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(POST_LOGOUT_URI.into()).unwrap())
        .set_state(CsrfToken::new("s7ate".into()))
        .http_get_url();
    let response = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert!(to.starts_with(POST_LOGOUT_URI), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("s7ate"));
    assert!(!still_signed_in(&server, &browser, &creds.client.client_id).await);

    // Once signed out, the same request just sends the browser back.
    let again = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    // The openidconnect crate's other discovery type ignores the extra field: still valid.
    CoreProviderMetadata::discover_async(
        IssuerUrl::new(server.issuer.clone()).unwrap(),
        &reqwest::Client::new(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn without_a_hint_the_user_is_asked_first() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("max", PASSWORD).await;
    let browser = browser();
    signed_in(&server, &browser, &creds, "max").await;

    let url = LogoutRequest::from(end_session_url(&server).await)
        .set_client_id(ClientId::new(creds.client.client_id.clone()))
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(POST_LOGOUT_URI.into()).unwrap())
        .set_state(CsrfToken::new("st".into()))
        .http_get_url();
    let page = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("Test App"), "{html}");
    assert!(
        still_signed_in(&server, &browser, &creds.client.client_id).await,
        "a link alone signs nobody out"
    );

    // Without the page's CSRF token the confirmation does nothing.
    let forged = browser
        .post(server.url("/end_session/confirm"))
        .form(&[
            ("csrf_token", "x"),
            ("client_id", creds.client.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(still_signed_in(&server, &browser, &creds.client.client_id).await);

    let form = Form::parse(&html);
    let response = form
        .submit(&browser, &server.url("/end_session"), "Sign out")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let to = location(&response);
    assert!(to.starts_with(POST_LOGOUT_URI), "{to}");
    assert_eq!(query_param(&to, "state").as_deref(), Some("st"));
    assert!(!still_signed_in(&server, &browser, &creds.client.client_id).await);
}

#[tokio::test]
async fn bad_logout_requests_get_an_error_page_and_sign_nobody_out() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let other = server
        .add_client(REDIRECT_URI, false, idp::crypto::keys::SigningAlg::Es256)
        .await;
    server.add_user("ned", PASSWORD).await;
    let browser = browser();
    let id_token = signed_in(&server, &browser, &creds, "ned").await;
    let client_id = creds.client.client_id.as_str();
    let mut tampered = id_token.clone();
    tampered.pop();
    tampered.push(if id_token.ends_with('A') { 'B' } else { 'A' });

    for params in [
        // Not registered for the client.
        vec![
            ("client_id", client_id),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ],
        vec![
            ("id_token_hint", id_token.as_str()),
            (
                "post_logout_redirect_uri",
                "https://app.example/signed-out/x",
            ),
        ],
        // No client to check it against.
        vec![("post_logout_redirect_uri", POST_LOGOUT_URI)],
        // A forged hint, a hint for another client, an unknown client.
        vec![("id_token_hint", tampered.as_str())],
        vec![("id_token_hint", "not.a.jwt")],
        vec![
            ("id_token_hint", id_token.as_str()),
            ("client_id", other.client.client_id.as_str()),
        ],
        vec![("client_id", "nobody")],
        // A parameter twice.
        vec![("client_id", client_id), ("client_id", client_id)],
    ] {
        let mut url = url::Url::parse(&server.url("/end_session")).unwrap();
        url.query_pairs_mut().extend_pairs(&params);
        let response = browser.get(url.as_str()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(
            html.contains("This sign-out request is not valid"),
            "{html}"
        );
    }
    assert!(still_signed_in(&server, &browser, client_id).await);

    // The confirmation form is checked again too.
    let html = browser
        .get(server.url("/end_session"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::passkey_api::meta_csrf(&html);
    let response = browser
        .post(server.url("/end_session/confirm"))
        .form(&[
            ("csrf_token", csrf.as_str()),
            ("client_id", client_id),
            ("post_logout_redirect_uri", "https://evil.example/"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(still_signed_in(&server, &browser, client_id).await);

    // A POST works like a GET (§2), and no hint or client just shows our signed-out page.
    let form = Form::parse(&html);
    let response = form
        .submit(&browser, &server.url("/end_session"), "Sign out")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("You are signed out")
    );
    let response = browser
        .post(server.url("/end_session"))
        .form(&[("id_token_hint", id_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_id_token_of_an_earlier_session_asks_first() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("ora", PASSWORD).await;
    let browser = browser();
    let old_token = signed_in(&server, &browser, &creds, "ora").await;
    // Signed in again (prompt=login): a new session, so the old ID token is not its own.
    let mut params = code_request(&creds.client.client_id);
    params.push(("prompt", "login".into()));
    let url = authorize_url_owned(&server, &params);
    sign_in_for_code(&browser, &server, &url, "ora").await;

    let hint: CoreIdToken = serde_json::from_value(json!(old_token)).unwrap();
    let url = LogoutRequest::from(end_session_url(&server).await)
        .set_id_token_hint(&hint)
        .http_get_url();
    let page = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the user is asked");
    assert!(page.text().await.unwrap().contains("Sign out?"));
    assert!(still_signed_in(&server, &browser, &creds.client.client_id).await);
}

type Received = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// A first-party client with a back-channel logout endpoint that fails its first call and
/// then accepts (delivery is retried): the logout tokens it accepted, and how often it was
/// called.
async fn listening_client(
    server: &TestServer,
) -> (
    idp::admin::clients::ClientCredentials,
    Received,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
) {
    use std::sync::{Arc, Mutex};
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (store, count) = (received.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |axum::Form(form): axum::Form<Vec<(String, String)>>| {
            let (store, count) = (store.clone(), count.clone());
            async move {
                if count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                }
                let token = form
                    .into_iter()
                    .find(|(k, _)| k == "logout_token")
                    .map(|(_, v)| v)
                    .unwrap_or_default();
                store.lock().unwrap().push(token);
                axum::http::StatusCode::OK
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let creds = idp::admin::clients::create(
        &server.db,
        &idp::admin::Actor::Cli,
        idp::admin::clients::NewClient {
            redirect_uris: vec![REDIRECT_URI.into()],
            post_logout_redirect_uris: vec![POST_LOGOUT_URI.into()],
            backchannel_logout_uri: Some(format!("http://127.0.0.1:{port}/backchannel")),
            first_party: true,
            ..idp::admin::clients::NewClient::new("Listening App")
        },
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    (creds, received, calls)
}

/// The logout tokens received once there are `count` of them (or what came in ten seconds).
async fn logout_tokens(received: &Received, count: usize) -> Vec<String> {
    for _ in 0..100 {
        if received.lock().unwrap().len() >= count {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    received.lock().unwrap().clone()
}

#[tokio::test]
async fn clients_of_the_session_are_told_by_back_channel() {
    let server = TestServer::start().await;
    let (creds, received, calls) = listening_client(&server).await;
    server.add_user("bea", PASSWORD).await;
    let browser = browser();
    let id_token = signed_in(&server, &browser, &creds, "bea").await;
    let id_claims = crate::passkey_api::decode_claims(&id_token);

    let hint: CoreIdToken = serde_json::from_value(json!(id_token)).unwrap();
    let url = LogoutRequest::from(end_session_url(&server).await)
        .set_id_token_hint(&hint)
        .http_get_url();
    let response = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let mut token = None;
    for _ in 0..100 {
        if let Some(t) = received.lock().unwrap().first().cloned() {
            token = Some(t);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let token = token.expect("a logout token arrives, after one retry");
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["typ"], "logout+jwt");
    let claims = crate::passkey_api::decode_claims(&token);
    assert_eq!(claims["iss"], server.issuer);
    assert_eq!(claims["aud"], creds.client.client_id);
    assert_eq!(claims["sub"], id_claims["sub"]);
    assert_eq!(claims["sid"], id_claims["sid"]);
    assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
    assert!(claims.get("nonce").is_none());
    // Signed with a key from our JWKS.
    let jwks: Value = reqwest::get(server.url("/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == header["kid"])
    );
    assert!(calls.load(std::sync::atomic::Ordering::SeqCst) >= 2);

    // Deleting the account tells the clients of its sessions too.
    let browser = crate::support::browser();
    signed_in(&server, &browser, &creds, "bea").await;
    let html = browser
        .get(server.url("/account/delete"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = Form::parse(&html);
    let deleted = form
        .submit(
            &browser,
            &server.url("/account/delete"),
            "Delete my account",
        )
        .await;
    assert_eq!(deleted.status(), StatusCode::OK);
    for _ in 0..100 {
        if received.lock().unwrap().len() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let tokens = received.lock().unwrap().clone();
    assert_eq!(
        tokens.len(),
        2,
        "a second logout token, for the deleted account's session"
    );
    assert_eq!(
        crate::passkey_api::decode_claims(&tokens[1])["sub"],
        id_claims["sub"]
    );
}

#[tokio::test]
async fn a_replaced_session_and_an_admin_sign_out_tell_the_clients_too() {
    let server = TestServer::start().await;
    let (creds, received, _) = listening_client(&server).await;
    let cy = server.add_user("cy", PASSWORD).await;
    let browser = browser();
    let first =
        crate::passkey_api::decode_claims(&signed_in(&server, &browser, &creds, "cy").await);

    // Signing in again in this browser (prompt=login) ends the first session: its client
    // hears of it.
    let second = signed_in_with(
        &server,
        &browser,
        &creds,
        "cy",
        &[("prompt", "login".into())],
    )
    .await;
    let second = crate::passkey_api::decode_claims(&second);
    assert_ne!(second["sid"], first["sid"]);
    let logouts = logout_tokens(&received, 1).await;
    assert_eq!(logouts.len(), 1, "the replaced session's client is told");
    assert_eq!(
        crate::passkey_api::decode_claims(&logouts[0])["sid"],
        first["sid"]
    );

    // An admin signs cy out everywhere (admin API): the second session's client hears too.
    let admin = idp::admin::tokens::create(
        &server.db,
        &idp::admin::Actor::Cli,
        "ops",
        idp::admin::tokens::TokenScope::Admin,
        None,
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    let signed_out = reqwest::Client::new()
        .post(server.url(&format!("/admin/api/v1/users/{}/sign-out", cy.id)))
        .bearer_auth(&admin.token)
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), StatusCode::OK);
    let logouts = logout_tokens(&received, 2).await;
    assert_eq!(logouts.len(), 2, "the admin's sign-out reaches the client");
    let claims = crate::passkey_api::decode_claims(&logouts[1]);
    assert_eq!(claims["sid"], second["sid"]);
    assert_eq!(claims["sub"], cy.id.as_str());
}
