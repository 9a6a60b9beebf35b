//! The admin REST API (`/admin/api/v1`): admin tokens and admin sessions, every endpoint's
//! happy path and refusals, and the audit events each change leaves.

use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::{
    passkey_api::{assertion, meta_csrf, open_sign_in, sign_in_to_account},
    support::*,
};
use idp::admin::{Actor, tokens::TokenScope};

const API: &str = "/admin/api/v1";

/// An API caller holding an admin token.
struct Admin {
    http: reqwest::Client,
    token: String,
    token_id: String,
}

impl Admin {
    async fn new(server: &TestServer) -> Admin {
        let new =
            idp::admin::tokens::create(&server.db, &Actor::Cli, "tests", TokenScope::Admin, None)
                .await
                .map_err(|e| e.to_string())
                .unwrap();
        Admin {
            http: reqwest::Client::new(),
            token: new.token,
            token_id: new.record.id,
        }
    }

    async fn call(
        &self,
        server: &TestServer,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, server.url(&format!("{API}{path}")))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    async fn get(&self, server: &TestServer, path: &str) -> (StatusCode, Value) {
        let response = self.call(server, reqwest::Method::GET, path, None).await;
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    async fn send(
        &self,
        server: &TestServer,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self.call(server, method, path, body).await;
        (
            response.status(),
            response.json().await.unwrap_or(Value::Null),
        )
    }

    /// The audit events of `kind`, newest first.
    async fn events(&self, server: &TestServer, kind: &str) -> Vec<Value> {
        let (status, page) = self.get(server, &format!("/audit?type={kind}")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["events"].as_array().unwrap().clone()
    }
}

fn machine_client(name: &str) -> Value {
    json!({
        "client_name": name,
        "grant_types": ["client_credentials"],
        "scope": "reports:read",
    })
}

async fn client_credentials(server: &TestServer, id: &str, secret: &str) -> StatusCode {
    reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn clients_are_registered_changed_rekeyed_and_deleted_through_the_api() {
    let server = TestServer::start().await;
    let admin = Admin::new(&server).await;
    let (status, list) = admin.get(&server, "/clients").await;
    assert_eq!((status, list), (StatusCode::OK, json!([])));

    // Register a web app.
    let (status, created) = admin
        .send(
            &server,
            reqwest::Method::POST,
            "/clients",
            Some(json!({
                "client_name": "Shop",
                "redirect_uris": ["https://shop.example/cb"],
                "logo_uri": "https://shop.example/logo.png",
                "minimum_acr": "phr",
                "access_token_lifetime": 300,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["client"]["client_id"].as_str().unwrap().to_owned();
    assert!(
        created["client_secret"]
            .as_str()
            .is_some_and(|s| s.len() >= 40)
    );
    assert_eq!(created["client"]["client_type"], "confidential");
    assert_eq!(
        created["client"]["token_endpoint_auth_method"],
        "client_secret_basic"
    );
    assert_eq!(created["client"]["minimum_acr"], "phr");
    assert_eq!(created["client"]["access_token_lifetime"], 300);
    assert_eq!(created["client"]["first_party"], false);

    let (status, shown) = admin.get(&server, &format!("/clients/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["client_name"], "Shop");
    assert!(shown.get("client_secret").is_none() && !shown.to_string().contains("secret_hash"));

    // Replace its settings: PUT takes the whole metadata.
    let (status, updated) = admin
        .send(
            &server,
            reqwest::Method::PUT,
            &format!("/clients/{id}"),
            Some(json!({
                "client_name": "Shop (new)",
                "redirect_uris": ["https://shop.example/cb", "http://localhost:3000/cb"],
                "first_party": true,
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert!(updated["client_secret"].is_null(), "the secret stays");
    assert_eq!(updated["client"]["client_name"], "Shop (new)");
    assert_eq!(updated["client"]["first_party"], true);
    assert!(updated["client"]["logo_uri"].is_null());
    assert_eq!(
        updated["client"]["redirect_uris"],
        json!(["https://shop.example/cb", "http://localhost:3000/cb"])
    );

    // A machine client's secret works at the token endpoint until it is rotated.
    let (_, machine) = admin
        .send(
            &server,
            reqwest::Method::POST,
            "/clients",
            Some(machine_client("Reports")),
        )
        .await;
    let machine_id = machine["client"]["client_id"].as_str().unwrap().to_owned();
    let old_secret = machine["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(
        client_credentials(&server, &machine_id, &old_secret).await,
        StatusCode::OK
    );
    let (status, rotated) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &format!("/clients/{machine_id}/secret"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new_secret = rotated["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, old_secret);
    assert_eq!(
        client_credentials(&server, &machine_id, &old_secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        client_credentials(&server, &machine_id, new_secret).await,
        StatusCode::OK
    );

    // Delete; then it is gone everywhere.
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::DELETE,
            &format!("/clients/{machine_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = admin.get(&server, &format!("/clients/{machine_id}")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    assert_eq!(
        client_credentials(&server, &machine_id, new_secret).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::DELETE,
            &format!("/clients/{machine_id}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Every change is in the audit log, naming the token.
    for kind in [
        "client_created",
        "client_updated",
        "client_secret_rotated",
        "client_deleted",
    ] {
        let events = admin.events(&server, kind).await;
        assert!(!events.is_empty(), "no {kind} event");
        assert_eq!(events[0]["actor"], format!("token:{}", admin.token_id));
    }
    assert_eq!(admin.events(&server, "client_created").await.len(), 2);
}

#[tokio::test]
async fn invalid_client_metadata_is_refused_and_writes_nothing() {
    let server = TestServer::start().await;
    let admin = Admin::new(&server).await;
    let bad = [
        json!({"client_name": "A", "redirect_uris": ["http://app.example/cb"]}),
        json!({"client_name": "A", "redirect_uris": ["https://app.example/cb#frag"]}),
        json!({"client_name": "", "redirect_uris": ["https://app.example/cb"]}),
        json!({"client_name": "A"}),
        json!({"client_name": "A", "redirect_uris": ["https://a.example/cb"], "grant_types": ["password"]}),
        json!({"client_name": "A", "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "tls_client_auth"}),
        json!({"client_name": "A", "redirect_uris": ["https://a.example/cb"], "minimum_acr": "gold"}),
        json!({"client_name": "A", "redirect_uris": ["https://a.example/cb"], "logo_uri": "http://a.example/logo.png"}),
        json!({"client_name": "A", "redirect_uris": ["https://a.example/cb"], "access_token_lifetime": 5}),
        json!({"client_name": "A", "redirect_uris": ["https://a.example/cb"], "colour": "blue"}),
        json!({"client_name": 7}),
        json!({"client_name": "A", "token_endpoint_auth_method": "none", "grant_types": ["client_credentials"]}),
    ];
    for body in bad {
        let (status, answer) = admin
            .send(
                &server,
                reqwest::Method::POST,
                "/clients",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} -> {answer}");
        assert!(
            answer["error"].as_str().is_some() && answer["message"].as_str().is_some(),
            "{answer}"
        );
    }
    // Not JSON at all.
    let response = admin
        .http
        .post(server.url(&format!("{API}/clients")))
        .bearer_auth(&admin.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, list) = admin.get(&server, "/clients").await;
    assert_eq!(list, json!([]));
    assert!(admin.events(&server, "client_created").await.is_empty());

    // A bad update leaves the client as it was.
    let (_, created) = admin
        .send(
            &server,
            reqwest::Method::POST,
            "/clients",
            Some(machine_client("Kept")),
        )
        .await;
    let id = created["client"]["client_id"].as_str().unwrap();
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::PUT,
            &format!("/clients/{id}"),
            Some(json!({"client_name": "Kept", "grant_types": ["refresh_token"]})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, shown) = admin.get(&server, &format!("/clients/{id}")).await;
    assert_eq!(shown["grant_types"], json!(["client_credentials"]));
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::PUT,
            "/clients/nope",
            Some(machine_client("X")),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Every operation of the OpenAPI document, called with a body that is not JSON by callers
/// who may not use it: without credentials, with a registration token or a revoked admin
/// token (401), and from a signed-in user who is not an admin (403). The caller is refused
/// before the body is looked at, never with a 400 or a 500.
#[tokio::test]
async fn every_api_operation_refuses_a_caller_without_credentials_first() {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let register =
        idp::admin::tokens::create(&server.db, &Actor::Cli, "apps", TokenScope::Register, None)
            .await
            .map_err(|e| e.to_string())
            .unwrap();
    let revoked = Admin::new(&server).await;
    idp::admin::tokens::revoke(&server.db, &Actor::Cli, &revoked.token_id)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let not_admin = sign_in_to_account(&server, "nora").await;
    let callers = [
        (
            "no credentials",
            http.clone(),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a registration token",
            http.clone(),
            Some(register.token),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a revoked admin token",
            http.clone(),
            Some(revoked.token),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "a user who is not an admin",
            not_admin.http.clone(),
            None,
            StatusCode::FORBIDDEN,
        ),
    ];
    let document: Value = http
        .get(server.url("/admin/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        let url = server.url(&path.replace("{id}", "00000000-0000-0000-0000-000000000000"));
        for method in item.as_object().unwrap().keys() {
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            for (who, client, token, expected) in &callers {
                let mut request = client
                    .request(method.clone(), &url)
                    .header("content-type", "application/json")
                    .body("{not json");
                if let Some(token) = token {
                    request = request.bearer_auth(token);
                }
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), *expected, "{method} {path}, {who}");
            }
            operations += 1;
        }
    }
    assert!(operations >= 15, "{operations} operations");
}

#[tokio::test]
async fn the_api_refuses_callers_without_a_live_admin_token() {
    let server = TestServer::start().await;
    let admin = Admin::new(&server).await;
    let get = |token: Option<String>| {
        let server = &server;
        async move {
            let mut request = reqwest::Client::new().get(server.url(&format!("{API}/clients")));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            request.send().await.unwrap()
        }
    };
    // No credentials at all.
    let response = get(None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "not_signed_in"
    );
    // Garbage, a registration token, an expired token, a revoked token.
    let register =
        idp::admin::tokens::create(&server.db, &Actor::Cli, "apps", TokenScope::Register, None)
            .await
            .map_err(|e| e.to_string())
            .unwrap();
    let expiring = idp::admin::tokens::create(
        &server.db,
        &Actor::Cli,
        "short",
        TokenScope::Admin,
        Some(std::time::Duration::from_secs(60)),
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    {
        use sea_orm::{ActiveModelTrait, ActiveValue::Set};
        entity::admin_token::ActiveModel {
            id: Set(expiring.record.id.clone()),
            expires_at: Set(Some(idp::model::now() - 1)),
            ..Default::default()
        }
        .update(&server.db)
        .await
        .unwrap();
    }
    for token in [
        "nonsense".to_owned(),
        format!("{}x", admin.token),
        register.token,
        expiring.token,
    ] {
        let response = get(Some(token.clone())).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{token}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Bearer error="invalid_token""#
        );
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"],
            "invalid_token"
        );
    }
    assert_eq!(
        get(Some(admin.token.clone())).await.status(),
        StatusCode::OK
    );
    idp::admin::tokens::revoke(&server.db, &Actor::Cli, &admin.token_id)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(
        get(Some(admin.token.clone())).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Revoking twice, or a token that does not exist, is an error.
    assert!(
        idp::admin::tokens::revoke(&server.db, &Actor::Cli, &admin.token_id)
            .await
            .is_err()
    );
    assert!(
        idp::admin::tokens::revoke(&server.db, &Actor::Cli, "nope")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn admin_sessions_need_the_role_a_passkey_and_the_csrf_token() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    // A user with a passkey, signed in with their password.
    let account = sign_in_to_account(&server, "ada").await;
    let mut soft = SoftPasskey::new(true);
    let credential_id = account.register(&server, &mut soft).await;
    let clients_url = server.url(&format!("{API}/clients"));

    // Not an admin.
    let response = account.http.get(&clients_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "forbidden"
    );

    // An admin, but signed in with a password only.
    idp::admin::users::set_admin(&server.db, &Actor::Cli, "ada", true)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let response = account.http.get(&clients_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "insufficient_assurance"
    );

    // Signed in with the passkey: reads work; changes need the CSRF token.
    let page = open_sign_in(&server, &creds.client.client_id).await;
    let (ceremony, options) = page.begin(&server, &credential_id).await;
    let credential = assertion(&server, &mut soft, options, &account.user.id);
    assert_eq!(
        page.finish(&server, &ceremony, &credential).await.status(),
        StatusCode::OK
    );
    let response = page.http.get(&clients_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = machine_client("From the browser");
    let response = page
        .http
        .post(&clients_url)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "csrf");
    let html = page
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let response = page
        .http
        .post(&clients_url)
        .header("x-csrf-token", meta_csrf(&html))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    // The audit event names the admin.
    let admin = Admin::new(&server).await;
    let events = admin.events(&server, "client_created").await;
    assert_eq!(events[0]["actor"], format!("admin:{}", account.user.id));
    // The role can be taken away again.
    idp::admin::users::set_admin(&server.db, &Actor::Cli, "ada", false)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let response = page.http.get(&clients_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn users_are_managed_and_a_disabled_user_cannot_refresh() {
    let server = TestServer::start().await;
    let admin = Admin::new(&server).await;
    let creds = server.confidential_client().await;

    let (status, created) = admin
        .send(
            &server,
            reqwest::Method::POST,
            "/users",
            Some(json!({"username": "Zoe", "email": "zoe@example.com", "name": "Zoë Z", "password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["username"], "zoe");
    let zoe = created["id"].as_str().unwrap().to_owned();
    let (status, taken) = admin
        .send(
            &server,
            reqwest::Method::POST,
            "/users",
            Some(json!({"username": "ZOE"})),
        )
        .await;
    assert_eq!(
        (status, taken["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::POST,
            "/users",
            Some(json!({"username": "x", "password": "short"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    server.add_user("yann", PASSWORD).await;

    // Search and page.
    let (_, all) = admin.get(&server, "/users").await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    let (_, found) = admin.get(&server, "/users?q=ZO%C3%8B%20z").await;
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["username"], "zoe");
    let (_, second) = admin.get(&server, "/users?limit=1&offset=1").await;
    assert_eq!(second[0]["username"], "zoe");
    let (_, none) = admin.get(&server, "/users?q=100%25").await;
    assert_eq!(none, json!([]));
    let (status, _) = admin.get(&server, "/users?limit=many").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Factors are listed, never their secrets.
    let (status, detail) = admin.get(&server, &format!("/users/{zoe}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        detail["factors"],
        json!([{"kind": "password", "name": null, "created_at": null, "last_used_at": null}])
    );
    assert_eq!(detail["recovery_codes_left"], 0);
    assert!(!detail.to_string().contains("argon2"));

    // Zoe signs in to the app and holds a refresh token.
    let tokens = tokens_with_scope(&server, &creds, "zoe", "openid offline_access").await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh_status = |token: String| {
        let server = &server;
        let creds = &creds;
        async move {
            token_request(
                server,
                creds,
                &[("grant_type", "refresh_token"), ("refresh_token", &token)],
            )
            .await
            .status()
        }
    };

    // Disabled: the refresh token dies, and enabling her again does not revive it.
    let (status, user) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &format!("/users/{zoe}/disable"),
            None,
        )
        .await;
    assert_eq!(
        (status, user["disabled"].as_bool()),
        (StatusCode::OK, Some(true))
    );
    assert_eq!(
        refresh_status(refresh.clone()).await,
        StatusCode::BAD_REQUEST
    );
    let (_, user) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &format!("/users/{zoe}/enable"),
            None,
        )
        .await;
    assert_eq!(user["disabled"], false);
    assert_eq!(refresh_status(refresh).await, StatusCode::BAD_REQUEST);

    // Signed out everywhere: a fresh refresh token dies too.
    let tokens = tokens_with_scope(&server, &creds, "zoe", "openid offline_access").await;
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &format!("/users/{zoe}/sign-out"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(refresh_status(refresh).await, StatusCode::BAD_REQUEST);

    // Require a second factor, and lift it.
    let path = format!("/users/{zoe}/require-mfa");
    let (_, user) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &path,
            Some(json!({"required": true})),
        )
        .await;
    assert_eq!(user["require_mfa"], true);
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &path,
            Some(json!({"required": "yes"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Unknown users.
    for path in ["/users/nobody", "/users/nobody/disable"] {
        let method = if path.ends_with("disable") {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let (status, _) = admin.send(&server, method, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }

    // Delete.
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::DELETE,
            &format!("/users/{zoe}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin.get(&server, &format!("/users/{zoe}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The log has each action, filtered by user and paged.
    for kind in [
        "user_created",
        "user_disabled",
        "user_enabled",
        "signed_out_everywhere",
        "mfa_required",
        "account_deleted",
    ] {
        let events: Vec<Value> = admin
            .events(&server, kind)
            .await
            .into_iter()
            .filter(|e| e["user_id"] == zoe.as_str())
            .collect();
        assert_eq!(events.len(), 1, "{kind}");
        assert_eq!(events[0]["actor"], format!("token:{}", admin.token_id));
    }
    let (_, page) = admin
        .get(&server, &format!("/audit?user={zoe}&limit=2"))
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
    let before = page["next_before"].as_i64().unwrap();
    let (_, older) = admin
        .get(
            &server,
            &format!("/audit?user={zoe}&limit=100&before={before}"),
        )
        .await;
    assert!(older["events"].as_array().unwrap().len() >= 5, "{older}");
    assert!(older["next_before"].is_null());
    let (status, _) = admin.get(&server, "/audit?since=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_openapi_document_describes_every_endpoint() {
    let server = TestServer::start().await;
    let doc: Value = reqwest::get(server.url("/admin/api/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/admin/api/v1/clients", "get"),
        ("/admin/api/v1/clients", "post"),
        ("/admin/api/v1/clients/{id}", "put"),
        ("/admin/api/v1/clients/{id}", "delete"),
        ("/admin/api/v1/clients/{id}/secret", "post"),
        ("/admin/api/v1/users", "get"),
        ("/admin/api/v1/users/{id}/disable", "post"),
        ("/admin/api/v1/audit", "get"),
    ] {
        assert!(paths[path].get(method).is_some(), "{method} {path}");
    }
    assert!(
        doc["components"]["schemas"]["ClientMetadata"]["properties"]["redirect_uris"].is_object()
    );
    assert!(doc["components"]["securitySchemes"]["admin_token"].is_object());
}

/// A user who lost their passkeys is brought back by an admin: reset, then a one-time link
/// with which they add a new passkey and are signed in.
#[tokio::test]
async fn an_admin_reset_and_recovery_link_let_a_user_enroll_again() {
    let server = TestServer::start().await;
    let admin = Admin::new(&server).await;
    let account = sign_in_to_account(&server, "lena").await;
    let lena = account.user.id.clone();
    account.register(&server, &mut SoftPasskey::new(true)).await;
    assert_eq!(account.passkey_count(&server).await, 1);

    // Reset: the passkey is gone and her sessions with it.
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &format!("/users/{lena}/reset-factors"),
            Some(json!({"passkeys": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        idp::store::passkeys::count(&server.db, &lena)
            .await
            .unwrap(),
        0
    );
    let signed_out = account
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        signed_out.status(),
        StatusCode::SEE_OTHER,
        "her session was revoked"
    );
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &format!("/users/{lena}/reset-factors"),
            Some(json!({"everything": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A link; too long a lifetime is refused.
    let path = format!("/users/{lena}/recovery-link");
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &path,
            Some(json!({"expires_in": 30 * 24 * 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, made) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &path,
            Some(json!({"expires_in": 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let link = made["link"].as_str().unwrap().to_owned();
    assert!(link.starts_with(&server.url("/login/recovery/")));

    // Opening the link uses nothing; pressing Continue does, once.
    let http = browser();
    let page = http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let form = Form::parse(&page.text().await.unwrap());
    let next = form.submit(&http, &link, "Continue").await;
    assert_eq!(next.status(), StatusCode::SEE_OTHER);
    let enroll_url = server.url(&location(&next));
    let html = http
        .get(&enroll_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Add a new passkey") && html.contains("recovery link was accepted"),
        "{html}"
    );
    assert!(!html.contains("Set up an authenticator app"));
    let tx = query_param(&enroll_url, "tx").unwrap();
    let csrf = meta_csrf(&html);
    let post = |path: &'static str, body: Value| {
        let http = http.clone();
        let csrf = csrf.clone();
        let url = server.url(path);
        async move {
            http.post(url)
                .header("x-csrf-token", csrf)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let begin: Value = post("/login/enroll/passkey/begin", json!({"tx": tx}))
        .await
        .json()
        .await
        .unwrap();
    let credential = crate::signup::register(&server, &mut SoftPasskey::new(true), &begin);
    let done = post(
        "/login/enroll/passkey/finish",
        json!({"tx": tx, "ceremony": begin["ceremony"], "credential": credential}),
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    let done: Value = done.json().await.unwrap();
    // Her first second factor again: new recovery codes are shown before she goes on.
    let codes_url = server.url(done["redirect"].as_str().unwrap());
    let codes = http
        .get(&codes_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let onwards = Form::parse(&codes)
        .submit(&http, &codes_url, "Continue")
        .await;
    assert_eq!(location(&onwards), "/account");
    let account_page = http.get(server.url("/account")).send().await.unwrap();
    assert_eq!(account_page.status(), StatusCode::OK);
    assert!(account_page.text().await.unwrap().contains("lena"));
    assert_eq!(
        idp::store::passkeys::count(&server.db, &lena)
            .await
            .unwrap(),
        1
    );

    // The link is used up; a made-up one never worked.
    let again = form.submit(&browser(), &link, "Continue").await;
    assert_eq!(
        again.status(),
        StatusCode::FORBIDDEN,
        "another browser has no CSRF token"
    );
    let http2 = browser();
    let page = http2.get(&link).send().await.unwrap().text().await.unwrap();
    let reused = Form::parse(&page).submit(&http2, &link, "Continue").await;
    assert_eq!(reused.status(), StatusCode::BAD_REQUEST);
    assert!(
        reused
            .text()
            .await
            .unwrap()
            .contains("This link does not work")
    );
    let bogus = browser()
        .get(server.url("/login/recovery/short"))
        .send()
        .await
        .unwrap();
    assert_eq!(bogus.status(), StatusCode::BAD_REQUEST);

    for kind in [
        "factors_reset",
        "recovery_link_created",
        "recovery_link_used",
    ] {
        let events: Vec<Value> = admin
            .events(&server, kind)
            .await
            .into_iter()
            .filter(|e| e["user_id"] == lena.as_str())
            .collect();
        assert_eq!(events.len(), 1, "{kind}");
    }
}

/// Adds a passkey at the sign-in step `enroll_url` shows (the `Add a passkey` page), as the
/// page's script would; returns the JSON answer of the finish call.
async fn add_required_passkey(
    server: &TestServer,
    http: &reqwest::Client,
    enroll_url: &str,
) -> Value {
    add_required_passkey_with(server, http, enroll_url, &mut SoftPasskey::new(true)).await
}

/// [`add_required_passkey`] with the authenticator the test keeps, to sign in with later.
async fn add_required_passkey_with(
    server: &TestServer,
    http: &reqwest::Client,
    enroll_url: &str,
    soft: &mut SoftPasskey,
) -> Value {
    let html = http
        .get(enroll_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<h1>Add a passkey</h1>")
            && html.contains("Your administrator asks you to add a passkey"),
        "{html}"
    );
    assert!(
        !html.contains("Set up an authenticator app"),
        "only a passkey will do"
    );
    let tx = query_param(enroll_url, "tx").unwrap();
    let csrf = meta_csrf(&html);
    // An app instead is refused, and there is no finishing without the passkey.
    let app = http
        .get(server.url(&format!("/login/enroll/totp?tx={tx}")))
        .send()
        .await
        .unwrap();
    assert_eq!(app.status(), StatusCode::BAD_REQUEST);
    let early = http
        .post(server.url("/login/continue"))
        .form(&[("tx", tx.as_str()), ("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), StatusCode::BAD_REQUEST);

    let post = |path: &str, body: Value| {
        http.post(server.url(path))
            .header("x-csrf-token", csrf.clone())
            .json(&body)
            .send()
    };
    let begin: Value = post("/login/enroll/passkey/begin", json!({"tx": tx}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let credential = crate::signup::register(server, soft, &begin);
    let done = post(
        "/login/enroll/passkey/finish",
        json!({"tx": tx, "ceremony": begin["ceremony"], "credential": credential}),
    )
    .await
    .unwrap();
    assert_eq!(done.status(), StatusCode::OK);
    done.json().await.unwrap()
}

#[tokio::test]
async fn a_user_asked_for_a_passkey_adds_one_before_the_sign_in_finishes() {
    let server = TestServer::start().await;
    let admin = Admin::new(&server).await;
    let creds = server.confidential_client().await;
    let client_id = creds.client.client_id.clone();

    // Refusals first: a body that is not the flag, a user who does not exist.
    let nina = server.add_user("nina", PASSWORD).await.id;
    let path = format!("/users/{nina}/require-passkey");
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &path,
            Some(json!({"required": "yes"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = admin
        .send(
            &server,
            reqwest::Method::POST,
            "/users/no-such-user/require-passkey",
            Some(json!({"required": true})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, user) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &path,
            Some(json!({"required": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["require_passkey"], true);

    // Nina has only a password: after it, she adds a passkey; it is her first second factor,
    // so her recovery codes come before she goes back to the app.
    let (http, page) = crate::totp::password_step(&server, &client_id, "nina").await;
    let done = add_required_passkey(&server, &http, &page).await;
    let codes_url = server.url(done["redirect"].as_str().unwrap());
    let codes = http
        .get(&codes_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(codes.contains("Save your recovery codes"), "{codes}");
    let back = Form::parse(&codes)
        .submit(&http, &codes_url, "Continue")
        .await;
    let claims = crate::totp::exchange(&server, &creds, &location(&back)).await;
    let amr: Vec<&str> = claims["amr"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(amr.contains(&"pwd") && amr.contains(&"mfa"), "{amr:?}");
    let (_, user) = admin.get(&server, &format!("/users/{nina}")).await;
    assert_eq!(user["require_passkey"], false, "met once she has a passkey");
    // Now that she has one, asking again is refused: nothing would ever clear the flag.
    let (status, refused) = admin
        .send(
            &server,
            reqwest::Method::POST,
            &path,
            Some(json!({"required": true})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(
        refused.to_string().contains("already has a passkey"),
        "{refused}"
    );

    // Otto signs in with a password and an authenticator app; he is asked after both, and the
    // passkey completes the sign-in at once (he has recovery codes already).
    let account = sign_in_to_account(&server, "otto").await;
    let (setup_key, _) = crate::totp::enroll_totp(&server, &account).await;
    idp::admin::users::set_require_passkey(&server.db, &Actor::Cli, "otto", true)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let (http, page) = crate::totp::password_step(&server, &client_id, "otto").await;
    // The next time step's code: the current one was spent setting the app up.
    let verified = crate::totp::submit_code(
        &http,
        &page,
        "Authentication code",
        &crate::totp::oathtool(&setup_key, 30),
    )
    .await;
    assert_eq!(verified.status(), StatusCode::SEE_OTHER);
    let enroll_url = server.url(&location(&verified));
    let done = add_required_passkey(&server, &http, &enroll_url).await;
    let claims = crate::totp::exchange(&server, &creds, done["redirect"].as_str().unwrap()).await;
    let amr = claims["amr"].as_array().unwrap();
    assert!(
        amr.contains(&json!("pwd")) && amr.contains(&json!("otp")),
        "what he proved before stays: {amr:?}"
    );
    assert_eq!(
        idp::store::passkeys::count(&server.db, &account.user.id)
            .await
            .unwrap(),
        1
    );

    // The sign-ins are recorded with what was proven and for which client.
    let signed_in = admin.events(&server, "signed_in").await;
    let nina_in = signed_in
        .iter()
        .find(|e| e["user_id"] == nina.as_str())
        .unwrap();
    assert_eq!(nina_in["detail"]["client_id"], client_id.as_str());
    assert!(
        nina_in["detail"]["amr"]
            .as_array()
            .unwrap()
            .contains(&json!("pop"))
    );

    // Each request is in the audit log, naming who asked.
    let events = admin.events(&server, "passkey_required").await;
    assert_eq!(events.len(), 2);
    assert!(events.iter().any(|e| e["actor"] == "cli"));
    assert!(events.iter().any(|e| e["user_id"] == nina.as_str()));
}

/// A client that needs `phr`, and a user who must add a passkey: the new passkey is made after
/// a phishable password, so the user signs in with it once before the client gets its code,
/// and the ID token's `acr` is earned by that sign-in.
#[tokio::test]
async fn a_passkey_added_during_sign_in_is_used_before_a_client_gets_phr() {
    let server = TestServer::start().await;
    let strict = idp::admin::clients::create(
        &server.db,
        &Actor::Cli,
        idp::admin::clients::NewClient {
            redirect_uris: vec![REDIRECT_URI.into()],
            min_acr: Some(idp::login::assurance::Level::Phr),
            first_party: true,
            ..idp::admin::clients::NewClient::new("Bank")
        },
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    let pia = server.add_user("pia", PASSWORD).await.id;
    idp::admin::users::set_require_passkey(&server.db, &Actor::Cli, "pia", true)
        .await
        .map_err(|e| e.to_string())
        .unwrap();

    let (http, page) = crate::totp::password_step(&server, &strict.client.client_id, "pia").await;
    let mut soft = SoftPasskey::new(true);
    let done = add_required_passkey_with(&server, &http, &page, &mut soft).await;
    let codes_url = server.url(done["redirect"].as_str().unwrap());
    let codes = http
        .get(&codes_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let next = Form::parse(&codes)
        .submit(&http, &codes_url, "Continue")
        .await;
    let next = location(&next);
    assert!(
        next.starts_with("/login?tx=") && !next.contains("code="),
        "no code yet: {next}"
    );
    let html = http
        .get(server.url(&next))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Use a passkey"), "{html}");

    let second = crate::passkey_api::SignInPage {
        tx: query_param(&server.url(&next), "tx").unwrap(),
        csrf: meta_csrf(&html),
        http,
    };
    let begin: Value = second
        .post(&server, "/login/passkey/begin", &json!({"tx": second.tx}))
        .await
        .json()
        .await
        .unwrap();
    let options = serde_json::from_value(begin["options"].clone()).unwrap();
    let answer = assertion(&server, &mut soft, options, &pia);
    let finished = second
        .finish(&server, begin["ceremony"].as_str().unwrap(), &answer)
        .await;
    assert_eq!(finished.status(), StatusCode::OK);
    let finished: Value = finished.json().await.unwrap();
    let claims =
        crate::totp::exchange(&server, &strict, finished["redirect"].as_str().unwrap()).await;
    assert_eq!(claims["acr"], "phr");
    let amr = claims["amr"].as_array().unwrap();
    assert!(
        amr.contains(&json!("pwd")) && amr.contains(&json!("pop")),
        "{amr:?}"
    );
}

/// A person who cannot add the passkey asked of them can give up: the app hears
/// `access_denied` at its registered redirect URI, with its `state` and our `iss`.
#[tokio::test]
async fn a_sign_in_can_be_cancelled_at_the_passkey_step() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let quinn = server.add_user("quinn", PASSWORD).await.id;
    idp::admin::users::set_require_passkey(&server.db, &Actor::Cli, "quinn", true)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let (http, page) = crate::totp::password_step(&server, &creds.client.client_id, "quinn").await;
    let html = http.get(&page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Cancel sign-in"), "{html}");

    // Without the CSRF token, nothing happens.
    let tx = query_param(&page, "tx").unwrap();
    let forged = http
        .post(server.url("/login/cancel"))
        .form(&[("tx", tx.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let cancelled = Form::parse(&html)
        .submit(&http, &page, "Cancel sign-in")
        .await;
    let to = location(&cancelled);
    assert!(to.starts_with(REDIRECT_URI), "{to}");
    assert_eq!(query_param(&to, "error").as_deref(), Some("access_denied"));
    assert!(query_param(&to, "state").is_some(), "{to}");
    assert_eq!(query_param(&to, "iss"), Some(server.issuer.clone()));
    assert!(query_param(&to, "code").is_none());

    // The sign-in is over: its page and a second cancel say so.
    let gone = http.get(&page).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::BAD_REQUEST);
    let again = Form::parse(&html)
        .submit(&http, &page, "Cancel sign-in")
        .await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        idp::store::passkeys::count(&server.db, &quinn)
            .await
            .unwrap(),
        0
    );
}
