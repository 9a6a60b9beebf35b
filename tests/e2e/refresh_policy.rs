//! Refresh-token policy: refresh tokens only with `offline_access` (unless a client is
//! registered for them), only for clients with the refresh_token grant, a sliding idle
//! lifetime under the absolute one, and DPoP-bound refresh tokens a client may keep instead
//! of rotating.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::Value;

use crate::{
    dpop::{key, proof},
    support::*,
};
use entity::refresh_token;
use idp::{
    admin::clients::{ClientCredentials, NewClient},
    crypto::random,
    model::client::GrantType,
};

async fn client(server: &TestServer, adjust: impl FnOnce(&mut NewClient)) -> ClientCredentials {
    let mut new = NewClient {
        redirect_uris: vec![REDIRECT_URI.into()],
        first_party: true,
        ..NewClient::new("Refreshing app")
    };
    adjust(&mut new);
    idp::admin::clients::create(&server.db, &idp::admin::Actor::Cli, new)
        .await
        .map_err(|e| e.to_string())
        .unwrap()
}

async fn refresh(server: &TestServer, creds: &ClientCredentials, token: &str) -> reqwest::Response {
    token_request(
        server,
        creds,
        &[("grant_type", "refresh_token"), ("refresh_token", token)],
    )
    .await
}

async fn stored_expiry(server: &TestServer, token: &str) -> i64 {
    refresh_token::Entity::find_by_id(random::digest(token))
        .one(&server.db)
        .await
        .unwrap()
        .expect("the refresh token is stored")
        .expires_at
}

#[tokio::test]
async fn refresh_tokens_need_offline_access_unless_the_client_is_registered_for_them() {
    let server = TestServer::start().await;
    server.add_user("rita", PASSWORD).await;

    let plain = client(&server, |_| {}).await;
    let tokens = tokens_with_scope(&server, &plain, "rita", "openid profile").await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
    let tokens = tokens_with_scope(&server, &plain, "rita", "openid offline_access").await;
    assert!(tokens["refresh_token"].is_string(), "{tokens}");

    let always = client(&server, |c| c.refresh_without_offline_access = true).await;
    let tokens = tokens_with_scope(&server, &always, "rita", "openid profile").await;
    let first = tokens["refresh_token"].as_str().expect("a refresh token");
    // Refreshing works and rotates, as for offline access.
    let response = refresh(&server, &always, first).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: Value = response.json().await.unwrap();
    assert!(refreshed["refresh_token"].is_string());
    assert_json_error(
        refresh(&server, &always, first).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    // A client without the refresh_token grant gets none, even with offline_access.
    let codes_only = client(&server, |c| {
        c.grant_types = vec![GrantType::AuthorizationCode]
    })
    .await;
    let tokens = tokens_with_scope(&server, &codes_only, "rita", "openid offline_access").await;
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");

    // The refresh options make no sense for a client that cannot refresh: refused, nothing
    // written.
    for adjust in [
        (|c: &mut NewClient| c.refresh_without_offline_access = true) as fn(&mut NewClient),
        |c: &mut NewClient| c.keep_dpop_refresh_tokens = true,
    ] {
        let mut new = NewClient {
            redirect_uris: vec![REDIRECT_URI.into()],
            grant_types: vec![GrantType::AuthorizationCode],
            first_party: true,
            ..NewClient::new("Cannot refresh")
        };
        adjust(&mut new);
        let error = idp::admin::clients::create(&server.db, &idp::admin::Actor::Cli, new)
            .await
            .err();
        assert!(
            error.is_some_and(|e| e.to_string().contains("refresh_token grant")),
            "refused"
        );
    }
    assert_eq!(
        idp::admin::clients::list(&server.db).await.unwrap().len(),
        3
    );
}

#[tokio::test]
async fn an_unused_refresh_token_expires_after_the_idle_lifetime_within_the_absolute_one() {
    let server = TestServer::start_with(|config| {
        config.tokens.refresh_token = Duration::from_secs(30 * 60);
        config.tokens.refresh_token_idle = Duration::from_secs(10 * 60);
    })
    .await;
    server.add_user("ivan", PASSWORD).await;
    let creds = server.confidential_client().await;
    let before = idp::model::now();
    let tokens = tokens_with_scope(&server, &creds, "ivan", "openid offline_access").await;
    let after = idp::model::now();
    let first = tokens["refresh_token"].as_str().unwrap();
    // The idle lifetime, not the absolute one, bounds a fresh token.
    let expiry = stored_expiry(&server, first).await;
    assert!(
        (before + 600..=after + 600).contains(&expiry),
        "{expiry} within 10 minutes of the exchange"
    );

    // Used in time: a new token with the idle lifetime started again.
    let response = refresh(&server, &creds, first).await;
    assert_eq!(response.status(), StatusCode::OK);
    let second: Value = response.json().await.unwrap();
    let second = second["refresh_token"].as_str().unwrap().to_owned();

    // Never past the absolute lifetime: the grant's end bounds the next token.
    let grant_expiry = entity::grant::Entity::find()
        .one(&server.db)
        .await
        .unwrap()
        .unwrap()
        .expires_at;
    assert!(grant_expiry <= after + 30 * 60);
    assert!(stored_expiry(&server, &second).await <= grant_expiry);

    // Not used for the idle lifetime (moved into the past in the database, as the clock
    // would): refused.
    refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::ExpiresAt,
            Expr::value(idp::model::now() - 1),
        )
        .filter(refresh_token::Column::TokenHash.eq(random::digest(&second)))
        .exec(&server.db)
        .await
        .unwrap();
    assert_json_error(
        refresh(&server, &creds, &second).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

/// A public client's refresh token bound to `key` (RFC 9449 §5).
async fn dpop_bound_refresh_token(
    server: &TestServer,
    creds: &ClientCredentials,
    key: &josekit::jwk::Jwk,
) -> String {
    let client_id = creds.client.client_id.as_str();
    let url = authorize_url_owned(server, &code_request(client_id));
    let redirect = sign_in_for_code(&browser(), server, &url, "kim").await;
    let code = query_param(&redirect, "code").unwrap();
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .header("DPoP", proof(key, "POST", &server.url("/token"), None, &[]))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    tokens["refresh_token"].as_str().unwrap().to_owned()
}

async fn dpop_refresh(
    server: &TestServer,
    creds: &ClientCredentials,
    key: &josekit::jwk::Jwk,
    token: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/token"))
        .header("DPoP", proof(key, "POST", &server.url("/token"), None, &[]))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", creds.client.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_client_may_keep_its_dpop_bound_refresh_token_instead_of_rotating_it() {
    let server = TestServer::start().await;
    server.add_user("kim", PASSWORD).await;
    let key = key();

    // By default a DPoP-bound refresh token rotates like any other.
    let rotating = client(&server, |c| c.public = true).await;
    let first = dpop_bound_refresh_token(&server, &rotating, &key).await;
    let response = dpop_refresh(&server, &rotating, &key, &first).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert!(body["refresh_token"].is_string());
    assert_json_error(
        dpop_refresh(&server, &rotating, &key, &first).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;

    // Registered to keep them: the same token works again and again, no new one is sent,
    // and each use restarts its idle lifetime.
    let keeping = client(&server, |c| {
        c.public = true;
        c.keep_dpop_refresh_tokens = true;
    })
    .await;
    // A confidential client's refresh tokens are never DPoP-bound (RFC 9449 §5): the
    // setting would do nothing, so it is refused.
    let confidential_keeping = idp::admin::clients::create(
        &server.db,
        &idp::admin::Actor::Cli,
        NewClient {
            redirect_uris: vec![REDIRECT_URI.into()],
            keep_dpop_refresh_tokens: true,
            first_party: true,
            ..NewClient::new("Confidential keeper")
        },
    )
    .await;
    assert!(matches!(
        confidential_keeping,
        Err(idp::admin::AdminError::Invalid(ref why)) if why.contains("public client")
    ));
    let kept = dpop_bound_refresh_token(&server, &keeping, &key).await;
    let mut last_expiry = stored_expiry(&server, &kept).await;
    for _ in 0..3 {
        let response = dpop_refresh(&server, &keeping, &key, &kept).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP");
        assert!(body.get("refresh_token").is_none(), "{body}");
        let expiry = stored_expiry(&server, &kept).await;
        assert!(expiry >= last_expiry);
        last_expiry = expiry;
    }
    // Still useless without the key.
    let stranger = self::key();
    assert_json_error(
        dpop_refresh(&server, &keeping, &stranger, &kept).await,
        StatusCode::BAD_REQUEST,
        "invalid_dpop_proof",
    )
    .await;
    // Revoking it ends the grant (RFC 7009 §2.1).
    let response = reqwest::Client::new()
        .post(server.url("/revoke"))
        .form(&[
            ("token", kept.as_str()),
            ("client_id", keeping.client.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_json_error(
        dpop_refresh(&server, &keeping, &key, &kept).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}
