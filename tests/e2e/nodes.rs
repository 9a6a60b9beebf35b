//! Several `idp serve` nodes over one database behave as one IdP: a passkey registration and
//! a passkey sign-in hop between two nodes at every request, then the code exchange, refresh,
//! userinfo and introspection alternate too. On PostgreSQL (TEST_POSTGRES_URL) this is the
//! real scale-out setup; on SQLite two processes sharing a file behave the same.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};

use crate::{
    passkey_api::{meta_csrf, origin, sign_in_to_account},
    support::*,
};

/// Two nodes with one issuer, one database and one at-rest key, as behind a load balancer.
async fn two_nodes() -> (TestServer, TestServer) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let database_url = fresh_database(&dir).await;
    let a = TestServer::start_on(database_url.clone(), dir.clone(), |_| {}).await;
    let issuer = a.issuer.clone();
    let b = TestServer::start_on(database_url, dir, move |c| c.issuer = issuer).await;
    (a, b)
}

async fn post_json(
    http: &reqwest::Client,
    node: &TestServer,
    path: &str,
    csrf: &str,
    body: Value,
) -> Value {
    let response = http
        .post(format!("{}{path}", node.base_url))
        .header("x-csrf-token", csrf)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_passkey_sign_in_and_refresh_hop_between_two_nodes() {
    let (a, b) = two_nodes().await;
    let creds = a.confidential_client().await;
    for node in [&a, &b] {
        let ready = reqwest::get(format!("{}/readyz", node.base_url))
            .await
            .unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
    }

    // Register a passkey: begin on B, finish on A.
    let account = sign_in_to_account(&a, "nina").await;
    let mut soft = SoftPasskey::new(true);
    let mut begin = post_json(
        &account.http,
        &b,
        "/account/api/passkeys/register/begin",
        &account.csrf,
        json!({}),
    )
    .await;
    let selection = &mut begin["options"]["publicKey"]["authenticatorSelection"];
    selection["residentKey"] = json!("discouraged");
    selection["requireResidentKey"] = json!(false);
    let credential = soft
        .do_registration(
            origin(&a),
            serde_json::from_value(begin["options"].clone()).unwrap(),
        )
        .unwrap();
    let done = post_json(
        &account.http,
        &a,
        "/account/api/passkeys/register/finish",
        &account.csrf,
        json!({"ceremony": begin["ceremony"], "credential": credential}),
    )
    .await;
    let credential_id = done["passkey"]["credential_id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Sign in with it: authorize on B, the page from A, begin on B, finish on A.
    let http = browser();
    let to = location(
        &http
            .get(
                authorize_url_owned(&b, &code_request(&creds.client.client_id))
                    .replace(&a.issuer, &b.base_url),
            )
            .send()
            .await
            .unwrap(),
    );
    assert!(to.starts_with("/login?tx="), "{to}");
    let tx = query_param(&a.url(&to), "tx").unwrap();
    let html = http
        .get(a.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = meta_csrf(&html);
    let mut begin = post_json(&http, &b, "/login/passkey/begin", &csrf, json!({"tx": tx})).await;
    begin["options"]["publicKey"]["allowCredentials"] =
        json!([{"type": "public-key", "id": credential_id}]);
    let mut answer = serde_json::to_value(
        soft.do_authentication(
            origin(&a),
            serde_json::from_value(begin["options"].clone()).unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    let handle = uuid::Uuid::parse_str(&account.user.id).unwrap();
    answer["response"]["userHandle"] = json!(URL_SAFE_NO_PAD.encode(handle.as_bytes()));
    let done = post_json(
        &http,
        &a,
        "/login/passkey/finish",
        &csrf,
        json!({"tx": tx, "ceremony": begin["ceremony"], "credential": answer}),
    )
    .await;
    let redirect = done["redirect"].as_str().unwrap();
    let code = query_param(redirect, "code").expect("a code");

    // Exchange on B, refresh on A, userinfo on B, introspect on A.
    let token = |node: &TestServer, form: Vec<(&'static str, String)>| {
        let url = format!("{}/token", node.base_url);
        let creds = &creds;
        async move {
            reqwest::Client::new()
                .post(url)
                .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let tokens: Value = token(
        &b,
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code),
            ("redirect_uri", REDIRECT_URI.to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let id_token = crate::passkey_api::decode_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(id_token["iss"], a.issuer);
    assert_eq!(id_token["acr"], "phr");
    let refreshed = token(
        &a,
        vec![
            ("grant_type", "refresh_token".to_owned()),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().unwrap().to_owned(),
            ),
        ],
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::OK);
    let refreshed: Value = refreshed.json().await.unwrap();
    let userinfo = reqwest::Client::new()
        .get(format!("{}/userinfo", b.base_url))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::OK);
    // The rotated-out refresh token is dead on the other node too.
    let replay = token(
        &b,
        vec![
            ("grant_type", "refresh_token".to_owned()),
            (
                "refresh_token",
                tokens["refresh_token"].as_str().unwrap().to_owned(),
            ),
        ],
    )
    .await;
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    // A client removed on one node is refused by the other at once (clients are not cached).
    idp::admin::clients::remove(&a.db, &idp::admin::Actor::Cli, &creds.client.client_id)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let gone = token(&b, vec![("grant_type", "client_credentials".to_owned())]).await;
    assert_eq!(gone.status(), StatusCode::UNAUTHORIZED);
}
