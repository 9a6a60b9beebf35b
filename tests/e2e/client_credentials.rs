//! The `client_credentials` grant (RFC 6749 §4.4) for machine clients, through the
//! openidconnect crate and by hand: scopes limited to the client's, no ID or refresh token,
//! and each client held to the grant types it was registered with.

use openidconnect::{
    ClientId, ClientSecret, IssuerUrl, OAuth2TokenResponse, Scope, TokenResponse,
    core::{CoreClient, CoreProviderMetadata},
};
use reqwest::StatusCode;
use serde_json::Value;

use crate::{passkey_api::decode_claims, support::*};
use idp::{admin::clients::NewClient, model::client::GrantType};

async fn machine_client(server: &TestServer) -> idp::admin::clients::ClientCredentials {
    idp::admin::clients::create(
        &server.db,
        &idp::admin::Actor::Cli,
        NewClient {
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["invoices:read".into(), "invoices:write".into()],
            first_party: true,
            ..NewClient::new("Billing job")
        },
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap()
}

#[tokio::test]
async fn a_machine_client_gets_a_token_for_its_own_scopes() {
    let server = TestServer::start().await;
    let machine = machine_client(&server).await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(machine.client.client_id.clone()),
        machine.client_secret.clone().map(ClientSecret::new),
    );
    let tokens = client
        .exchange_client_credentials()
        .unwrap()
        .add_scope(Scope::new("invoices:read".into()))
        .request_async(&http)
        .await
        .expect("a client_credentials token");
    assert!(tokens.id_token().is_none());
    assert!(tokens.refresh_token().is_none());
    assert_eq!(
        tokens
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
        Some(vec!["invoices:read".to_owned()])
    );
    let claims = decode_claims(tokens.access_token().secret());
    assert_eq!(claims["sub"], machine.client.client_id);
    assert_eq!(claims["client_id"], machine.client.client_id);
    assert!(claims.get("acr").is_none() && claims.get("auth_time").is_none());

    // Without a scope: everything registered.
    let all: Value = token_request(&server, &machine, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["scope"], "invoices:read invoices:write");
    assert_eq!(all["token_type"], "Bearer");

    // Resource servers see an active token with no user.
    let introspected: Value = reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(&machine.client.client_id, machine.client_secret.as_deref())
        .form(&[("token", all["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
    assert_eq!(introspected["client_id"], machine.client.client_id);
    assert!(introspected.get("username").is_none() && introspected.get("acr").is_none());
    // ...and userinfo has nobody to describe.
    let userinfo = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(all["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::FORBIDDEN);

    // Scopes beyond the registered ones are refused.
    for scope in ["invoices:delete", "openid", "invoices:read bad\\scope"] {
        let response = token_request(
            &server,
            &machine,
            &[("grant_type", "client_credentials"), ("scope", scope)],
        )
        .await;
        assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_scope").await;
    }
}

#[tokio::test]
async fn clients_are_held_to_their_grant_types() {
    let server = TestServer::start().await;
    let machine = machine_client(&server).await;
    let web = server.confidential_client().await;

    let response = token_request(&server, &web, &[("grant_type", "client_credentials")]).await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    for grant in ["authorization_code", "refresh_token"] {
        let response = token_request(
            &server,
            &machine,
            &[("grant_type", grant), ("code", "x"), ("refresh_token", "x")],
        )
        .await;
        assert_json_error(response, StatusCode::BAD_REQUEST, "unauthorized_client").await;
    }
    let response = token_request(&server, &machine, &[("grant_type", "password")]).await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "unsupported_grant_type").await;
    // A wrong secret is still invalid_client first.
    let wrong = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(&machine.client.client_id, Some("wrong"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_json_error(wrong, StatusCode::UNAUTHORIZED, "invalid_client").await;
    // It has no redirect URI, so it cannot start a sign-in.
    let page = browser()
        .get(authorize_url_owned(
            &server,
            &code_request(&machine.client.client_id),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::BAD_REQUEST);

    // Registration refuses what cannot work, and writes nothing.
    let before = idp::admin::clients::list(&server.db).await.unwrap().len();
    for (public, grants, redirects, scopes) in [
        (true, vec![GrantType::ClientCredentials], vec![], vec!["a"]),
        (
            false,
            vec![GrantType::ClientCredentials],
            vec![],
            vec!["openid"],
        ),
        (
            false,
            vec![GrantType::AuthorizationCode],
            vec![REDIRECT_URI],
            vec!["a"],
        ),
        (
            false,
            vec![GrantType::RefreshToken, GrantType::ClientCredentials],
            vec![],
            vec![],
        ),
        (
            false,
            vec![GrantType::ClientCredentials],
            vec![REDIRECT_URI],
            vec![],
        ),
        (false, vec![GrantType::AuthorizationCode], vec![], vec![]),
    ] {
        let result = idp::admin::clients::create(
            &server.db,
            &idp::admin::Actor::Cli,
            NewClient {
                redirect_uris: redirects.iter().map(|s| s.to_string()).collect(),
                public,
                grant_types: grants.clone(),
                scopes: scopes.iter().map(|s| s.to_string()).collect(),
                first_party: true,
                ..NewClient::new("X")
            },
        )
        .await;
        assert!(
            result.is_err(),
            "{public} {grants:?} {redirects:?} {scopes:?}"
        );
    }
    assert_eq!(
        idp::admin::clients::list(&server.db).await.unwrap().len(),
        before
    );
}

#[tokio::test]
async fn access_tokens_can_be_signed_with_es256() {
    let server = TestServer::start_with(|config| {
        config.tokens.access_token_alg = idp::crypto::keys::SigningAlg::Es256;
    })
    .await;
    let machine = machine_client(&server).await;
    let response: Value = token_request(&server, &machine, &[("grant_type", "client_credentials")])
        .await
        .json()
        .await
        .unwrap();
    let token = response["access_token"].as_str().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            token.split('.').next().unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    // Signed by a key the JWKS publishes, and still honoured here.
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
            .any(|k| k["kid"] == header["kid"] && k["alg"] == "ES256")
    );
    let introspected: Value = reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(&machine.client.client_id, machine.client_secret.as_deref())
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true, "{introspected}");
}

/// `client_credentials` tokens are not written when issued (they have no grant or user to
/// revoke behind their back); revoking one records it, and introspection then says inactive.
#[tokio::test]
async fn a_client_credentials_token_is_revoked_and_dies_with_its_client() {
    let server = TestServer::start().await;
    let machine = machine_client(&server).await;
    let other = machine_client(&server).await;
    let new_token = || async {
        let answer: Value =
            token_request(&server, &machine, &[("grant_type", "client_credentials")])
                .await
                .json()
                .await
                .unwrap();
        answer["access_token"].as_str().unwrap().to_owned()
    };
    let introspect = |token: String| {
        let server = &server;
        let other = &other;
        async move {
            let answer: Value = reqwest::Client::new()
                .post(server.url("/introspect"))
                .basic_auth(&other.client.client_id, other.client_secret.as_deref())
                .form(&[("token", token)])
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            answer["active"].as_bool().unwrap()
        }
    };
    let revoke = |by: &idp::admin::clients::ClientCredentials, token: String| {
        reqwest::Client::new()
            .post(server.url("/revoke"))
            .basic_auth(&by.client.client_id, by.client_secret.as_deref())
            .form(&[("token", token)])
            .send()
    };

    let token = new_token().await;
    let kept = new_token().await;
    assert!(introspect(token.clone()).await);
    // Another client may not revoke it.
    let refused = revoke(&other, token.clone()).await.unwrap();
    assert_json_error(refused, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert!(introspect(token.clone()).await);
    // Its own client may, twice over.
    for _ in 0..2 {
        let revoked = revoke(&machine, token.clone()).await.unwrap();
        assert_eq!(revoked.status(), StatusCode::OK);
    }
    assert!(!introspect(token.clone()).await);
    assert!(introspect(kept.clone()).await, "only that token is revoked");
    let userinfo = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);

    // A removed client's tokens are inactive.
    idp::admin::clients::remove(
        &server.db,
        &idp::admin::Actor::Cli,
        &machine.client.client_id,
    )
    .await
    .unwrap();
    assert!(!introspect(kept).await);
}
