//! The whole authorization-code flow driven by a real relying-party library.

use openidconnect::{
    AccessTokenHash, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret, CsrfToken,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, Scope, TokenResponse,
    core::{
        CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
        CoreUserInfoClaims,
    },
};
use reqwest::StatusCode;

use crate::support::*;
use idp::crypto::keys::SigningAlg;

fn rp_http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_relying_party_completes_the_code_flow_with_a_password_sign_in() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let user = server.add_user("alice", PASSWORD).await;
    let http = rp_http();

    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http)
            .await
            .expect("discovery and JWKS are valid");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(creds.client.client_id.clone()),
        creds.client_secret.clone().map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into()).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let browser = browser();
    let redirect = sign_in_for_code(&browser, &server, auth_url.as_str(), "alice").await;
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    assert_eq!(
        query_param(&redirect, "state").as_deref(),
        Some(csrf.secret().as_str())
    );
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
    let code = query_param(&redirect, "code").unwrap();

    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .expect("code exchange succeeds");
    let id_token = tokens.id_token().expect("an ID token");
    let id_verifier = client
        .id_token_verifier()
        .set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    let claims = id_token
        .claims(&id_verifier, &nonce)
        .expect("the ID token verifies");
    assert_eq!(claims.subject().as_str(), user.id);
    assert_eq!(claims.issuer().as_str(), server.issuer);
    let amr: Vec<&str> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(amr, ["pwd"]);
    assert_eq!(claims.auth_context_ref().unwrap().as_str(), "pwd");
    assert!(claims.auth_time().is_some());
    let at_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&id_verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(claims.access_token_hash(), Some(&at_hash));
    // sid is present, but the library has no accessor for it.
    let raw_claims = decode_jwt_claims(&id_token.to_string());
    assert!(raw_claims["sid"].is_string());

    let info: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .expect("userinfo answers");
    assert_eq!(info.subject().as_str(), user.id);
    assert_eq!(info.preferred_username().unwrap().as_str(), "alice");
    assert_eq!(info.email().unwrap().as_str(), "alice@example.com");

    // Refresh rotates: the new refresh token works, the old one is refused.
    let old_refresh = tokens.refresh_token().expect("a refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&old_refresh)
        .unwrap()
        .request_async(&http)
        .await
        .expect("refresh succeeds");
    let new_refresh = refreshed.refresh_token().expect("a rotated refresh token");
    assert_ne!(new_refresh.secret(), old_refresh.secret());
    let refreshed_id = refreshed.id_token().expect("a refreshed ID token");
    let refreshed_claims = refreshed_id
        .claims(&id_verifier, |_: Option<&Nonce>| Ok(()))
        .expect("the refreshed ID token verifies");
    assert_eq!(refreshed_claims.subject().as_str(), user.id);
    assert_eq!(refreshed_claims.auth_time(), claims.auth_time());

    let reused = client
        .exchange_refresh_token(&old_refresh)
        .unwrap()
        .request_async(&http)
        .await;
    assert!(reused.is_err(), "a rotated refresh token must be refused");
}

fn decode_jwt_claims(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn jwt_header(jwt: &str) -> serde_json::Value {
    use base64::Engine;
    let header = jwt.split('.').next().unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn a_public_client_signs_in_with_pkce_and_no_secret() {
    let server = TestServer::start().await;
    let creds = server
        .add_client(REDIRECT_URI, true, SigningAlg::Es256)
        .await;
    assert!(creds.client_secret.is_none());
    server.add_user("bob", PASSWORD).await;
    let browser = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let redirect = sign_in_for_code(&browser, &server, &url, "bob").await;
    let code = query_param(&redirect, "code").unwrap();
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
            ("client_id", &creds.client.client_id),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["id_token"].is_string());
}

#[tokio::test]
async fn access_tokens_are_rfc9068_jwts_and_id_tokens_use_the_clients_algorithm() {
    let server = TestServer::start().await;
    let es = server.confidential_client().await;
    let rs = server
        .add_client(REDIRECT_URI, false, SigningAlg::Rs256)
        .await;
    server.add_user("carol", PASSWORD).await;

    let tokens = tokens_for(&server, &es, "carol").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(jwt_header(id_token)["alg"], "ES256");
    let access = tokens["access_token"].as_str().unwrap();
    let header = jwt_header(access);
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    let claims = decode_jwt_claims(access);
    for claim in [
        "iss",
        "exp",
        "aud",
        "sub",
        "client_id",
        "iat",
        "jti",
        "scope",
    ] {
        assert!(
            claims.get(claim).is_some(),
            "access token lacks {claim}: {claims}"
        );
    }
    assert_eq!(claims["client_id"], es.client.client_id.as_str());
    assert_eq!(tokens["scope"], "openid profile email offline_access");

    let tokens = tokens_for(&server, &rs, "carol").await;
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(jwt_header(id_token)["alg"], "RS256");
    let claims = decode_jwt_claims(id_token);
    assert_eq!(claims["aud"], rs.client.client_id.as_str());
    assert_eq!(claims["nonce"], "n0nce");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["acr"], "pwd");
}

#[tokio::test]
async fn discovery_is_complete_and_truthful() {
    let server = TestServer::start().await;
    let doc: serde_json::Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["issuer"], server.issuer.as_str());
    assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let algs = doc["id_token_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&"RS256".into()) && algs.contains(&"ES256".into()));
    assert_eq!(doc["request_uri_parameter_supported"], false);
    assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
    for endpoint in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
    ] {
        let url = doc[endpoint].as_str().unwrap();
        assert!(url.starts_with(&server.issuer), "{endpoint}: {url}");
    }
    let jwks: serde_json::Value = reqwest::get(doc["jwks_uri"].as_str().unwrap())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert!(algs.contains(&"ES256") && algs.contains(&"RS256"));
    for key in keys {
        assert!(key["kid"].is_string());
        assert!(key.get("d").is_none(), "a private key is published");
    }
}

#[tokio::test]
async fn signing_keys_survive_a_restart() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let database_url = fresh_database(&dir).await;
    let kids = |server: &TestServer| {
        let url = server.url("/jwks");
        async move {
            let jwks: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
            let mut kids: Vec<String> = jwks["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["kid"].as_str().unwrap().to_owned())
                .collect();
            kids.sort();
            kids
        }
    };
    let first = TestServer::start_on(database_url.clone(), dir.clone(), |_| {}).await;
    let before = kids(&first).await;
    let second = TestServer::start_on(database_url, dir, |_| {}).await;
    assert_eq!(before, kids(&second).await);
    assert_eq!(before.len(), 2);
}

#[tokio::test]
async fn private_keys_are_encrypted_at_rest_and_need_the_key_file() {
    use sea_orm::EntityTrait;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let database_url = fresh_database(&dir).await;
    let server = TestServer::start_on(database_url.clone(), dir.clone(), |_| {}).await;
    let rows = entity::signing_key::Entity::find()
        .all(&server.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert!(
            row.private_jwk.starts_with("v1."),
            "stored in clear: {}",
            row.private_jwk
        );
        assert!(!row.private_jwk.contains("\"d\""));
    }

    // Another key file cannot read them, and a missing one is not silently replaced.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = idp::config::Config {
        database_url,
        secret_key_file: dir.path().join("elsewhere/secret.key"),
        ..idp::config::Config::default()
    };
    let error = idp::app::App::build(config, listener)
        .await
        .err()
        .expect("start-up fails");
    assert!(error.to_string().contains("secret_key_file"), "{error}");
    assert!(!dir.path().join("elsewhere/secret.key").exists());
}
