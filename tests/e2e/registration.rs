//! Dynamic client registration (RFC 7591) and client configuration management (RFC 7592).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::*;
use idp::admin::{Actor, tokens::TokenScope};

async fn token(server: &TestServer, scope: TokenScope) -> String {
    idp::admin::tokens::create(&server.db, &Actor::Cli, "apps", scope, None)
        .await
        .map_err(|e| e.to_string())
        .unwrap()
        .token
}

async fn register(server: &TestServer, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(server.url("/register"))
        .json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn client_count(server: &TestServer) -> usize {
    idp::admin::clients::list(&server.db)
        .await
        .map_err(|e| e.to_string())
        .unwrap()
        .len()
}

#[tokio::test]
async fn registration_is_off_unless_enabled() {
    let server = TestServer::start().await;
    let initial = token(&server, TokenScope::Register).await;
    let response = register(
        &server,
        Some(&initial),
        &json!({"redirect_uris": ["https://a.example/cb"]}),
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let discovery: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(discovery.get("registration_endpoint").is_none());
    assert_eq!(client_count(&server).await, 0);
}

#[tokio::test]
async fn an_app_registers_itself_manages_its_registration_and_deletes_it() {
    let server = TestServer::start_with(|c| c.registration.enabled = true).await;
    let discovery: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["registration_endpoint"], server.url("/register"));
    let initial = token(&server, TokenScope::Register).await;
    let admin_token = token(&server, TokenScope::Admin).await;
    let metadata = json!({
        "client_name": "Self-made",
        "redirect_uris": ["https://self.example/cb"],
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
        "scope": "reports:read",
        "logo_uri": "https://self.example/logo.png",
        "software_id": "ignored, as RFC 7591 §2 says",
    });

    // Without a token, or with the wrong kind: 401.
    for token in [None, Some("idp_nonsense"), Some(admin_token.as_str())] {
        let response = register(&server, token, &metadata).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert!(response.headers().contains_key("www-authenticate"));
    }

    let response = register(&server, Some(&initial), &metadata).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let registered: Value = response.json().await.unwrap();
    let client_id = registered["client_id"].as_str().unwrap().to_owned();
    let secret = registered["client_secret"].as_str().unwrap().to_owned();
    let mut access = registered["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let config_uri = registered["registration_client_uri"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(config_uri, server.url(&format!("/register/{client_id}")));
    assert_eq!(registered["client_secret_expires_at"], 0);
    assert_eq!(
        registered["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(registered["response_types"], json!(["code"]));
    assert_eq!(registered["logo_uri"], "https://self.example/logo.png");
    assert!(registered.get("software_id").is_none());

    // The credentials work at the token endpoint.
    let token_status = |secret: String| {
        let server = &server;
        let client_id = client_id.clone();
        async move {
            reqwest::Client::new()
                .post(server.url("/token"))
                .basic_auth(client_id, Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(token_status(secret.clone()).await, StatusCode::OK);
    // It is a third-party client: an admin did not vouch for it.
    let shown = idp::admin::clients::get(&server.db, &client_id)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    assert!(!shown.first_party);

    let http = reqwest::Client::new();
    // Read it back with the registration access token, and only with it.
    let read: Value = http
        .get(&config_uri)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["client_name"], "Self-made");
    assert!(read.get("client_secret").is_none());
    // RFC 7592 §3: every answer carries a registration access token; ours is a new one each
    // time (only digests are kept), and the one used is spent.
    let renewed = read["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(renewed, access);
    assert_eq!(read["registration_client_uri"], config_uri.as_str());
    let spent = http
        .get(&config_uri)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(spent.status(), StatusCode::UNAUTHORIZED);
    access = renewed;
    for wrong in [initial.as_str(), "nonsense", secret.as_str()] {
        let response = http
            .get(&config_uri)
            .bearer_auth(wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{wrong}");
    }
    let elsewhere = http
        .get(server.url("/register/someone-else"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), StatusCode::UNAUTHORIZED);

    // Replace its metadata; a wrong client_id, a server field or a bad URI changes nothing.
    let mut update = metadata.clone();
    update["client_id"] = client_id.clone().into();
    update["client_name"] = "Self-made 2".into();
    update["redirect_uris"] = json!(["https://self.example/cb", "https://self.example/cb2"]);
    let bad = [
        (
            json!({"client_id": "other", "redirect_uris": ["https://self.example/cb"]}),
            "invalid_request",
        ),
        (
            {
                let mut b = update.clone();
                b["redirect_uris"] = json!(["http://self.example/cb"]);
                b
            },
            "invalid_redirect_uri",
        ),
        (
            {
                let mut b = update.clone();
                b["registration_access_token"] = "x".into();
                b
            },
            "invalid_client_metadata",
        ),
        (
            {
                let mut b = update.clone();
                b["client_secret"] = "not it".into();
                b
            },
            "invalid_request",
        ),
    ];
    for (body, error) in bad {
        let response = http
            .put(&config_uri)
            .bearer_auth(&access)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            error,
            "{body}"
        );
    }
    let unchanged: Value = http
        .get(&config_uri)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unchanged["client_name"], "Self-made");
    access = unchanged["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let updated: Value = http
        .put(&config_uri)
        .bearer_auth(&access)
        .json(&update)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["client_name"], "Self-made 2");
    access = updated["registration_access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(updated["redirect_uris"].as_array().unwrap().len(), 2);
    assert_eq!(
        token_status(secret.clone()).await,
        StatusCode::OK,
        "the secret stays"
    );

    // Delete: gone, and its token and secret with it.
    let deleted = http
        .delete(&config_uri)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let after = http
        .get(&config_uri)
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(token_status(secret).await, StatusCode::UNAUTHORIZED);

    // The audit log says who did what.
    let events = idp::store::security_events::query(&server.db, &Default::default(), 100, true)
        .await
        .unwrap();
    let actor_of = |kind: &str| {
        events
            .iter()
            .find(|e| e.kind == kind)
            .and_then(|e| e.actor.clone())
            .unwrap_or_default()
    };
    assert!(actor_of("client_created").starts_with("token:"));
    assert_eq!(actor_of("client_updated"), format!("client:{client_id}"));
    assert_eq!(actor_of("client_deleted"), format!("client:{client_id}"));
}

#[tokio::test]
async fn invalid_metadata_gets_the_rfc_7591_errors_and_writes_nothing() {
    let server = TestServer::start_with(|c| c.registration.enabled = true).await;
    let initial = token(&server, TokenScope::Register).await;
    let cases = [
        (
            json!({"redirect_uris": ["http://app.example/cb"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            "invalid_redirect_uri",
        ),
        (
            json!({"redirect_uris": ["not a uri"]}),
            "invalid_redirect_uri",
        ),
        (json!({"redirect_uris": []}), "invalid_client_metadata"),
        (
            json!({"redirect_uris": "https://app.example/cb"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "token_endpoint_auth_method": "tls_client_auth"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "jwks_uri": "https://app.example/jwks"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "logo_uri": "javascript:alert(1)"}),
            "invalid_client_metadata",
        ),
        (
            json!({"redirect_uris": ["https://app.example/cb"], "client_id": "mine"}),
            "invalid_client_metadata",
        ),
        (json!(["not", "an", "object"]), "invalid_client_metadata"),
    ];
    for (body, error) in cases {
        let response = register(&server, Some(&initial), &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"], error, "{body}: {answer}");
    }
    let not_json = reqwest::Client::new()
        .post(server.url("/register"))
        .bearer_auth(&initial)
        .body("redirect_uris=x")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    assert_eq!(client_count(&server).await, 0);
}

/// Relying parties commonly send the OpenID scopes they will ask for: accepted, and not kept
/// (only a client_credentials client's scopes limit anything).
#[tokio::test]
async fn an_app_that_signs_users_in_may_name_the_scopes_it_asks_for() {
    let server = TestServer::start_with(|c| c.registration.enabled = true).await;
    let initial = token(&server, TokenScope::Register).await;
    let response = register(
        &server,
        Some(&initial),
        &json!({
            "redirect_uris": ["https://rp.example/cb"],
            "scope": "openid profile email offline_access",
        }),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let registered: Value = response.json().await.unwrap();
    assert!(registered.get("scope").is_none(), "{registered}");
    assert!(
        !registered["grant_types"]
            .as_array()
            .unwrap()
            .contains(&json!("client_credentials"))
    );
}
