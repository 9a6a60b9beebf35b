//! Crash safety: the real `idp serve` process is killed with SIGKILL in the middle of a stream
//! of passkey enrollments and refresh-token rotations, restarted on the same database, and the
//! data checked: every acknowledged passkey is there, no passkey account lacks its recovery
//! codes (they are written in the same transaction), no refresh token works twice, and the
//! database is intact.

use std::{
    process::{Child, Command},
    sync::{Arc, Mutex},
    time::Duration,
};

use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};

use crate::{passkey_api::meta_csrf, support::*};

struct Node {
    child: Child,
    base: String,
}

impl Drop for Node {
    /// A failing test must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(dir: &std::path::Path, database_url: &str, port: u16) -> Node {
    let base = format!("http://localhost:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_idp"))
        .arg("serve")
        .current_dir(dir)
        .env("IDP_DATABASE_URL", database_url)
        .env("IDP_LISTEN", format!("127.0.0.1:{port}"))
        .env("IDP_ISSUER", &base)
        .env("IDP_SECRET_KEY_FILE", dir.join("secret.key"))
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(format!("{base}/readyz")).await
            && r.status() == StatusCode::OK
        {
            return Node { child, base };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("idp serve did not become ready");
}

/// Signs `username` in to the account page of `node` and registers passkeys until the server
/// dies; records each credential id the server acknowledged.
async fn enroll_passkeys(base: String, username: String, acknowledged: Arc<Mutex<Vec<String>>>) {
    let http = browser();
    let Ok(to_login) = http.get(format!("{base}/account")).send().await else {
        return;
    };
    let login_url = format!("{base}{}", location(&to_login));
    let Ok(page) = http.get(&login_url).send().await else {
        return;
    };
    let mut form = Form::parse(&page.text().await.unwrap_or_default());
    form.fill("Username", &username).fill("Password", PASSWORD);
    let _ = form.submit(&http, &login_url, "Sign in").await;
    let Ok(account) = http.get(format!("{base}/account")).send().await else {
        return;
    };
    let csrf = meta_csrf(&account.text().await.unwrap_or_default());
    let origin = url::Url::parse(&base).unwrap();
    loop {
        let mut soft = SoftPasskey::new(true);
        let Ok(begin) = http
            .post(format!("{base}/account/api/passkeys/register/begin"))
            .header("x-csrf-token", &csrf)
            .json(&json!({}))
            .send()
            .await
        else {
            return;
        };
        let Ok(mut begin) = begin.json::<Value>().await else {
            return;
        };
        let selection = &mut begin["options"]["publicKey"]["authenticatorSelection"];
        selection["residentKey"] = json!("discouraged");
        selection["requireResidentKey"] = json!(false);
        let Ok(options) = serde_json::from_value(begin["options"].clone()) else {
            return;
        };
        let Ok(credential) = soft.do_registration(origin.clone(), options) else {
            return;
        };
        let Ok(done) = http
            .post(format!("{base}/account/api/passkeys/register/finish"))
            .header("x-csrf-token", &csrf)
            .json(&json!({"ceremony": begin["ceremony"], "credential": credential}))
            .send()
            .await
        else {
            return;
        };
        if done.status() != StatusCode::CREATED {
            // The cap, or the server going down.
            return;
        }
        if let Ok(body) = done.json::<Value>().await {
            acknowledged.lock().unwrap().push(
                body["passkey"]["credential_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
    }
}

/// Rotates a refresh token until the server dies; keeps the newest one it acknowledged.
async fn rotate_refresh_tokens(
    base: String,
    creds: idp::admin::clients::ClientCredentials,
    mut refresh: String,
    latest: Arc<Mutex<String>>,
) {
    loop {
        let Ok(response) = reqwest::Client::new()
            .post(format!("{base}/token"))
            .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
            .send()
            .await
        else {
            return;
        };
        let Ok(body) = response.json::<Value>().await else {
            return;
        };
        let Some(next) = body["refresh_token"].as_str() else {
            return;
        };
        refresh = next.to_owned();
        *latest.lock().unwrap() = refresh.clone();
    }
}

#[tokio::test]
async fn a_killed_server_loses_nothing_it_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let database_url = fresh_database(&dir).await;
    let port = free_port();
    let node = start(dir.path(), &database_url, port).await;
    let db = idp::store::connect(&database_url).await.unwrap();
    let passwords = idp::crypto::password::PasswordHasherConfig::new(&Default::default()).unwrap();
    for i in 0..3 {
        idp::admin::users::create(
            &db,
            &idp::admin::Actor::Cli,
            &passwords,
            idp::admin::users::NewUser {
                username: format!("crash{i}"),
                email: None,
                name: None,
                password: Some(PASSWORD.into()),
            },
        )
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    }
    let creds = idp::admin::clients::create(
        &db,
        &idp::admin::Actor::Cli,
        idp::admin::clients::NewClient {
            redirect_uris: vec![REDIRECT_URI.into()],
            first_party: true,
            ..idp::admin::clients::NewClient::new("Crash App")
        },
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    // A first grant to rotate, through the real sign-in.
    let params = code_request(&creds.client.client_id);
    let mut url = url::Url::parse(&format!("{}/authorize", node.base)).unwrap();
    url.query_pairs_mut()
        .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
    let http = browser();
    let to = location(&http.get(url.as_str()).send().await.unwrap());
    let login_url = format!("{}{to}", node.base);
    let mut form = Form::parse(
        &http
            .get(&login_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    );
    form.fill("Username", "crash0").fill("Password", PASSWORD);
    let redirect = location(&form.submit(&http, &login_url, "Sign in").await);
    let tokens: Value = reqwest::Client::new()
        .post(format!("{}/token", node.base))
        .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &query_param(&redirect, "code").unwrap()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let first_refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let latest = Arc::new(Mutex::new(first_refresh.clone()));
    let mut load = Vec::new();
    for i in 0..3 {
        load.push(tokio::spawn(enroll_passkeys(
            node.base.clone(),
            format!("crash{i}"),
            acknowledged.clone(),
        )));
    }
    load.push(tokio::spawn(rotate_refresh_tokens(
        node.base.clone(),
        creds.clone(),
        first_refresh.clone(),
        latest.clone(),
    )));
    // Let the stream run until some work was acknowledged, then pull the plug.
    for _ in 0..600 {
        if acknowledged.lock().unwrap().len() >= 4 && *latest.lock().unwrap() != first_refresh {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut node = node;
    node.child.kill().unwrap(); // SIGKILL
    node.child.wait().unwrap();
    for task in load {
        let _ = task.await;
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let latest = latest.lock().unwrap().clone();
    assert!(
        !acknowledged.is_empty(),
        "the stream did some work before the kill"
    );

    let node = start(dir.path(), &database_url, port).await;
    // Every acknowledged passkey survived.
    for credential_id in &acknowledged {
        assert!(
            idp::store::passkeys::find_by_credential_id(&db, credential_id)
                .await
                .unwrap()
                .is_some(),
            "acknowledged passkey {credential_id} lost"
        );
    }
    // No half-enrolled account: whoever has a passkey has recovery codes.
    for i in 0..3 {
        let user = idp::store::users::find_by_username(&db, &format!("crash{i}"))
            .await
            .unwrap()
            .unwrap();
        let factors = idp::store::factors::of(&db, &user.id).await.unwrap();
        if factors.passkeys > 0 {
            assert_eq!(factors.recovery_codes, 10, "crash{i}");
        }
    }
    // No refresh token works twice: the newest acknowledged one works at most once, and the
    // first one (long rotated out) never.
    let refresh = |token: String| {
        let base = node.base.clone();
        let creds = creds.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/token"))
                .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", token.as_str()),
                ])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    let _first_use = refresh(latest.clone()).await;
    assert_eq!(refresh(latest).await, StatusCode::BAD_REQUEST, "used twice");
    assert_eq!(refresh(first_refresh).await, StatusCode::BAD_REQUEST);
    if database_url.starts_with("sqlite:") {
        use sea_orm::ConnectionTrait;
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                db.get_database_backend(),
                "PRAGMA integrity_check",
            ))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.try_get_by_index::<String>(0).unwrap(), "ok");
    }
    drop(node);
}
