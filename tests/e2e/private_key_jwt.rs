//! `private_key_jwt` client authentication (RFC 7523): assertions built and signed with
//! josekit, keys registered inline or served from a `jwks_uri`; every bad assertion refused.

use josekit::{
    jwk::{Jwk, alg::ec::EcCurve},
    jws::{ES256, JwsHeader, RS256},
    jwt::{self, JwtPayload},
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;
use idp::{
    admin::clients::NewClient,
    model::client::{GrantType, TokenEndpointAuthMethod},
};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

fn ec_key(kid: &str) -> Jwk {
    let mut jwk = Jwk::generate_ec_key(EcCurve::P256).unwrap();
    jwk.set_key_id(kid);
    jwk.set_algorithm("ES256");
    jwk
}

fn public_jwks(keys: &[&Jwk]) -> String {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            // josekit's to_public_key() drops kid and alg: put them back.
            let mut public = k.to_public_key().unwrap();
            if let Some(kid) = k.key_id() {
                public.set_key_id(kid);
            }
            if let Some(alg) = k.algorithm() {
                public.set_algorithm(alg);
            }
            Value::Object(public.as_ref().clone())
        })
        .collect();
    json!({ "keys": keys }).to_string()
}

/// An assertion for `client_id`, with `changes` applied to the standard claims.
fn assertion(key: &Jwk, client_id: &str, aud: &str, changes: &[(&str, Value)]) -> String {
    let now = idp::model::now();
    let mut claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 120,
        "jti": idp::crypto::random::id(),
    });
    for (name, value) in changes {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(*name);
        } else {
            claims[*name] = value.clone();
        }
    }
    let mut header = JwsHeader::new();
    header.set_token_type("JWT");
    if let Some(kid) = key.key_id() {
        header.set_key_id(kid);
    }
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    match key.key_type() {
        "EC" => jwt::encode_with_signer(&payload, &header, &ES256.signer_from_jwk(key).unwrap()),
        _ => jwt::encode_with_signer(&payload, &header, &RS256.signer_from_jwk(key).unwrap()),
    }
    .unwrap()
}

async fn machine_with_keys(
    server: &TestServer,
    jwks: Option<String>,
    jwks_uri: Option<String>,
) -> Result<idp::admin::clients::ClientCredentials, String> {
    idp::admin::clients::create(
        &server.db,
        &idp::admin::Actor::Cli,
        NewClient {
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["api".into()],
            auth_method: Some(TokenEndpointAuthMethod::PrivateKeyJwt),
            jwks,
            jwks_uri,
            first_party: true,
            ..NewClient::new("Signer")
        },
    )
    .await
    .map_err(|e| e.to_string())
}

async fn token_with(server: &TestServer, form: &[(&str, &str)]) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/token"))
        .form(form)
        .send()
        .await
        .unwrap()
}

async fn with_assertion(server: &TestServer, assertion: &str) -> reqwest::Response {
    token_with(
        server,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

#[tokio::test]
async fn a_client_signs_in_to_the_token_endpoint_with_its_key() {
    let server = TestServer::start().await;
    let key = ec_key("k1");
    let client = machine_with_keys(&server, Some(public_jwks(&[&key])), None)
        .await
        .unwrap();
    assert!(
        client.client_secret.is_none(),
        "no secret for a key-based client"
    );
    let id = client.client.client_id.clone();
    let issuer = server.issuer.clone();

    let good = assertion(&key, &id, &issuer, &[]);
    let response = with_assertion(&server, &good).await;
    let status = response.status();
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["scope"], "api");
    // The token endpoint's URL is an acceptable audience too.
    let response = with_assertion(&server, &assertion(&key, &id, &server.url("/token"), &[])).await;
    assert_eq!(response.status(), StatusCode::OK);

    // Each of these is refused with invalid_client.
    let other = ec_key("k1");
    let now = idp::model::now();
    for (why, bad) in [
        ("replayed", good.clone()),
        ("another key", assertion(&other, &id, &issuer, &[])),
        (
            "another audience",
            assertion(&key, &id, "https://elsewhere.example", &[]),
        ),
        (
            "expired",
            assertion(&key, &id, &issuer, &[("exp", json!(now - 120))]),
        ),
        (
            "too long",
            assertion(&key, &id, &issuer, &[("exp", json!(now + 3600))]),
        ),
        (
            "no exp",
            assertion(&key, &id, &issuer, &[("exp", Value::Null)]),
        ),
        (
            "no jti",
            assertion(&key, &id, &issuer, &[("jti", Value::Null)]),
        ),
        (
            "future iat",
            assertion(&key, &id, &issuer, &[("iat", json!(now + 600))]),
        ),
        (
            "iss is not sub",
            assertion(&key, &id, &issuer, &[("iss", json!("someone"))]),
        ),
        ("unknown client", assertion(&key, "nobody", &issuer, &[])),
        ("not a JWT", "not-a-jwt".to_owned()),
    ] {
        let response = with_assertion(&server, &bad).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{why}: {body}");
    }
    // An unsigned ("none") token.
    let parts: Vec<&str> = good.split('.').collect();
    let none_header = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        br#"{"alg":"none"}"#,
    );
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert_eq!(
        with_assertion(&server, &unsigned).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // The wrong assertion type, a secret instead, or two methods at once.
    let response = token_with(
        &server,
        &[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:example:other"),
            ("client_assertion", &assertion(&key, &id, &issuer, &[])),
        ],
    )
    .await;
    assert_json_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(&id, Some("guess"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_json_error(response, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(&id, Some("guess"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &assertion(&key, &id, &issuer, &[])),
        ])
        .send()
        .await
        .unwrap();
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;

    let doc: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("private_key_jwt"))
    );
    // RFC 8414 §2: each endpoint that takes private_key_jwt says which algorithms.
    for field in [
        "token_endpoint_auth_signing_alg_values_supported",
        "revocation_endpoint_auth_signing_alg_values_supported",
        "introspection_endpoint_auth_signing_alg_values_supported",
    ] {
        assert!(
            doc[field].as_array().unwrap().contains(&json!("ES256")),
            "{field}"
        );
    }
}

#[tokio::test]
async fn keys_are_fetched_from_the_jwks_uri_and_refetched_after_a_rotation() {
    let server = TestServer::start().await;
    let first = {
        let mut jwk = Jwk::generate_rsa_key(2048).unwrap();
        jwk.set_key_id("r1");
        jwk
    };
    let second = ec_key("e2");
    let served = std::sync::Arc::new(std::sync::Mutex::new(public_jwks(&[&first])));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let jwks = served.clone();
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { jwks.lock().unwrap().clone() }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let client = machine_with_keys(
        &server,
        None,
        Some(format!("http://127.0.0.1:{port}/jwks.json")),
    )
    .await
    .unwrap();
    let id = client.client.client_id.clone();
    let response = with_assertion(&server, &assertion(&first, &id, &server.issuer, &[])).await;
    assert_eq!(response.status(), StatusCode::OK);

    // The client rotates: a key id we have not seen makes us fetch again.
    *served.lock().unwrap() = public_jwks(&[&second]);
    let response = with_assertion(&server, &assertion(&second, &id, &server.issuer, &[])).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn key_registration_is_checked() {
    let server = TestServer::start().await;
    let key = ec_key("k");
    let private = json!({ "keys": [Value::Object(key.as_ref().clone())] }).to_string();
    for (jwks, jwks_uri) in [
        (Some(private), None),
        (Some("{\"keys\": []}".to_owned()), None),
        (Some("not json".to_owned()), None),
        (None, Some("http://keys.example/jwks".to_owned())),
        (None, None),
        (
            Some(public_jwks(&[&key])),
            Some("https://keys.example/jwks".to_owned()),
        ),
    ] {
        let result = machine_with_keys(&server, jwks.clone(), jwks_uri.clone()).await;
        assert!(result.is_err(), "{jwks:?} {jwks_uri:?}");
    }
    assert!(
        idp::admin::clients::list(&server.db)
            .await
            .unwrap()
            .is_empty()
    );
}
