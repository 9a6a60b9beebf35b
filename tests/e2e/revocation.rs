//! Revocation (RFC 7009) and introspection (RFC 7662).

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;
use idp::crypto::keys::SigningAlg;

async fn introspect(
    server: &TestServer,
    creds: &idp::admin::clients::ClientCredentials,
    token: &str,
) -> Value {
    let response = reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn revoke(
    server: &TestServer,
    creds: &idp::admin::clients::ClientCredentials,
    token: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/revoke"))
        .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
        .form(&[("token", token), ("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn introspection_reports_live_tokens_with_acr_and_nothing_about_others() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let resource_server = server
        .add_client("https://rs.example/cb", false, SigningAlg::Es256)
        .await;
    let user = server.add_user("uma", PASSWORD).await;
    let tokens = tokens_for(&server, &creds, "uma").await;

    let access = introspect(
        &server,
        &resource_server,
        tokens["access_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(access["active"], true);
    assert_eq!(access["sub"], user.id.as_str());
    assert_eq!(access["client_id"], creds.client.client_id.as_str());
    assert_eq!(access["acr"], "pwd");
    assert!(access["auth_time"].is_i64() && access["exp"].is_i64());
    let refresh = introspect(
        &server,
        &resource_server,
        tokens["refresh_token"].as_str().unwrap(),
    )
    .await;
    assert_eq!(refresh["active"], true);
    assert_eq!(refresh["token_type"], "refresh_token");

    for foreign in ["garbage", "a.b.c", tokens["id_token"].as_str().unwrap()] {
        assert_eq!(
            introspect(&server, &resource_server, foreign).await,
            serde_json::json!({"active": false})
        );
    }

    // Without client authentication, or as a public client: refused.
    let anonymous = reqwest::Client::new()
        .post(server.url("/introspect"))
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap();
    assert_json_error(anonymous, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let public = server
        .add_client("https://spa.example/cb", true, SigningAlg::Es256)
        .await;
    let response = reqwest::Client::new()
        .post(server.url("/introspect"))
        .form(&[
            ("token", tokens["access_token"].as_str().unwrap()),
            ("client_id", public.client.client_id.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_json_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
}

#[tokio::test]
async fn revoking_tokens_ends_them_and_only_their_client_may() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let other = server
        .add_client(REDIRECT_URI, false, SigningAlg::Es256)
        .await;
    server.add_user("vik", PASSWORD).await;
    let tokens = tokens_for(&server, &creds, "vik").await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();

    assert_json_error(
        revoke(&server, &other, access).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_json_error(
        revoke(&server, &other, refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(introspect(&server, &creds, access).await["active"], true);

    assert_eq!(
        revoke(&server, &creds, access).await.status(),
        StatusCode::OK
    );
    assert_eq!(introspect(&server, &creds, access).await["active"], false);
    let userinfo = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);

    // Revoking the refresh token revokes its grant.
    assert_eq!(
        revoke(&server, &creds, refresh).await.status(),
        StatusCode::OK
    );
    assert_eq!(introspect(&server, &creds, refresh).await["active"], false);
    let response = token_request(
        &server,
        &creds,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // Unknown tokens are fine (RFC 7009 §2.2); a missing one is not.
    assert_eq!(
        revoke(&server, &creds, "never-issued").await.status(),
        StatusCode::OK
    );
    let response = reqwest::Client::new()
        .post(server.url("/revoke"))
        .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}
