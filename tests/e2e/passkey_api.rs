//! Passkey ceremonies against the real server with a software authenticator
//! (webauthn-authenticator-rs), through the JSON endpoints the page script uses: the happy
//! paths and every bad input, each of which must be refused and change nothing.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

use crate::support::*;

/// A browser signed in to the account pages.
pub(crate) struct Account {
    pub http: reqwest::Client,
    pub csrf: String,
    pub user: idp::model::user::User,
}

pub(crate) fn meta_csrf(html: &str) -> String {
    let marker = "name=\"csrf-token\" content=\"";
    let start = html.find(marker).expect("a csrf meta tag") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub(crate) async fn sign_in_to_account(server: &TestServer, username: &str) -> Account {
    let user = server.add_user(username, PASSWORD).await;
    let http = browser();
    let to_login = http.get(server.url("/account")).send().await.unwrap();
    let login_url = server.url(&location(&to_login));
    let html = http
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = Form::parse(&html);
    form.fill("Username", username).fill("Password", PASSWORD);
    let back = form.submit(&http, &login_url, "Sign in").await;
    assert_eq!(location(&back), "/account");
    let html = http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Account {
        http,
        csrf: meta_csrf(&html),
        user,
    }
}

pub(crate) fn origin(server: &TestServer) -> Url {
    Url::parse(&server.issuer).unwrap()
}

impl Account {
    async fn post(&self, server: &TestServer, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(server.url(path))
            .header("x-csrf-token", &self.csrf)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Starts a registration; returns the ceremony id and the options, patched for the soft
    /// authenticator, which cannot store discoverable credentials.
    pub async fn begin_registration(
        &self,
        server: &TestServer,
    ) -> (String, CreationChallengeResponse) {
        let response = self
            .post(server, "/account/api/passkeys/register/begin", &json!({}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut begin: Value = response.json().await.unwrap();
        let selection = &mut begin["options"]["publicKey"]["authenticatorSelection"];
        assert_eq!(
            selection["residentKey"], "required",
            "discoverable credentials are asked for"
        );
        selection["residentKey"] = json!("discouraged");
        selection["requireResidentKey"] = json!(false);
        (
            begin["ceremony"].as_str().unwrap().to_owned(),
            serde_json::from_value(begin["options"].clone()).unwrap(),
        )
    }

    async fn finish_registration(
        &self,
        server: &TestServer,
        ceremony: &str,
        credential: Value,
    ) -> reqwest::Response {
        self.finish_registration_named(server, ceremony, credential, Some("Soft key"))
            .await
    }

    pub async fn finish_registration_named(
        &self,
        server: &TestServer,
        ceremony: &str,
        credential: Value,
        name: Option<&str>,
    ) -> reqwest::Response {
        self.post(
            server,
            "/account/api/passkeys/register/finish",
            &json!({"ceremony": ceremony, "name": name, "credential": credential}),
        )
        .await
    }

    /// Registers a passkey held by `soft`; returns its credential id.
    pub async fn register(
        &self,
        server: &TestServer,
        soft: &mut impl WebauthnAuthenticator,
    ) -> String {
        let (ceremony, options) = self.begin_registration(server).await;
        let credential = soft.do_registration(origin(server), options).unwrap();
        let response = self
            .finish_registration(server, &ceremony, serde_json::to_value(credential).unwrap())
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["passkey"]["credential_id"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn passkey_count(&self, server: &TestServer) -> usize {
        let list: Value = self
            .http
            .get(server.url("/account/api/passkeys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        list["passkeys"].as_array().unwrap().len()
    }
}

/// A sign-in page opened for `client_id` in a fresh browser: its transaction and CSRF token.
pub(crate) struct SignInPage {
    pub http: reqwest::Client,
    pub tx: String,
    pub csrf: String,
}

pub(crate) async fn open_sign_in(server: &TestServer, client_id: &str) -> SignInPage {
    let http = browser();
    let url = authorize_url_owned(server, &code_request(client_id));
    let (login_url, html) = open_login_page(&http, server, &url).await;
    SignInPage {
        tx: query_param(&login_url, "tx").unwrap(),
        csrf: meta_csrf(&html),
        http,
    }
}

impl SignInPage {
    pub async fn post(&self, server: &TestServer, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(server.url(path))
            .header("x-csrf-token", &self.csrf)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Starts a usernameless ceremony; returns its id and options that list `credential_id`
    /// (the soft authenticator only answers for listed credentials).
    pub async fn begin(
        &self,
        server: &TestServer,
        credential_id: &str,
    ) -> (String, RequestChallengeResponse) {
        let response = self
            .post(server, "/login/passkey/begin", &json!({"tx": self.tx}))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let mut begin: Value = response.json().await.unwrap();
        let options = &mut begin["options"];
        assert!(
            options.get("mediation").is_none_or(Value::is_null),
            "the button ceremony is modal"
        );
        if options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
        {
            options["publicKey"]["allowCredentials"] =
                json!([{"type": "public-key", "id": credential_id}]);
        }
        (
            begin["ceremony"].as_str().unwrap().to_owned(),
            serde_json::from_value(begin["options"].clone()).unwrap(),
        )
    }

    pub async fn finish(
        &self,
        server: &TestServer,
        ceremony: &str,
        credential: &Value,
    ) -> reqwest::Response {
        self.post(
            server,
            "/login/passkey/finish",
            &json!({"tx": self.tx, "ceremony": ceremony, "credential": credential}),
        )
        .await
    }
}

/// An assertion from `soft`, with the user handle a discoverable credential would return.
pub(crate) fn assertion(
    server: &TestServer,
    soft: &mut SoftPasskey,
    options: RequestChallengeResponse,
    user_id: &str,
) -> Value {
    let credential = soft.do_authentication(origin(server), options).unwrap();
    let mut value = serde_json::to_value(credential).unwrap();
    let handle = uuid::Uuid::parse_str(user_id).unwrap();
    value["response"]["userHandle"] = json!(URL_SAFE_NO_PAD.encode(handle.as_bytes()));
    value
}

async fn assert_refused(response: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn a_soft_passkey_registers_and_signs_in_without_a_username() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "rita").await;
    let mut soft = SoftPasskey::new(true);
    let credential_id = account.register(&server, &mut soft).await;
    assert_eq!(account.passkey_count(&server).await, 1);

    let page = open_sign_in(&server, &creds.client.client_id).await;
    let (ceremony, options) = page.begin(&server, &credential_id).await;
    let answer = assertion(&server, &mut soft, options, &account.user.id);
    let response = page.finish(&server, &ceremony, &answer).await;
    assert_eq!(response.status(), StatusCode::OK);
    let done: Value = response.json().await.unwrap();
    let redirect = done["redirect"].as_str().unwrap();
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    let code = query_param(redirect, "code").unwrap();
    let tokens: Value = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let claims = decode_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["sub"], account.user.id.as_str());
    assert_eq!(claims["amr"], json!(["pop", "user", "mfa"]));
    assert_eq!(claims["acr"], "phr");

    // The same assertion again: its challenge is gone.
    let replay = page.finish(&server, &ceremony, &answer).await;
    assert_refused(replay, StatusCode::BAD_REQUEST, "sign_in_expired").await;

    // /metrics counted the ceremonies.
    let metrics = crate::metrics::scrape(&server).await;
    assert_eq!(
        crate::metrics::value(
            &metrics,
            r#"idp_passkey_registrations_total{result="success"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        crate::metrics::value(
            &metrics,
            r#"idp_passkey_verifications_total{result="success"}"#
        ),
        Some(1.0)
    );
}

pub(crate) fn decode_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn bad_registration_responses_are_refused_and_store_nothing() {
    let server = TestServer::start().await;
    let account = sign_in_to_account(&server, "sven").await;
    let mut soft = SoftPasskey::new(true);

    // Malformed and truncated JSON.
    let (ceremony, options) = account.begin_registration(&server).await;
    let good =
        serde_json::to_value(soft.do_registration(origin(&server), options).unwrap()).unwrap();
    let response = account
        .http
        .post(server.url("/account/api/passkeys/register/finish"))
        .header("x-csrf-token", &account.csrf)
        .header("content-type", "application/json")
        .body("{\"ceremony\": \"x\", \"credential\": {\"id\": ")
        .send()
        .await
        .unwrap();
    assert_refused(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let object = good["response"]["attestationObject"]
        .as_str()
        .unwrap()
        .to_owned();
    // Cut mid-character: not even base64url any more.
    let mut garbled = good.clone();
    garbled["response"]["attestationObject"] = json!(object[..object.len() / 2 + 1]);
    assert_refused(
        account
            .finish_registration(&server, &ceremony, garbled)
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    // Cut on a character boundary: well-formed, but the CBOR inside is truncated.
    let mut truncated = good.clone();
    truncated["response"]["attestationObject"] = json!(object[..(object.len() / 2) & !3]);
    assert_refused(
        account
            .finish_registration(&server, &ceremony, truncated)
            .await,
        StatusCode::BAD_REQUEST,
        "passkey_refused",
    )
    .await;
    // That attempt consumed the challenge: the good answer to it is now refused too.
    assert_refused(
        account.finish_registration(&server, &ceremony, good).await,
        StatusCode::BAD_REQUEST,
        "challenge_expired",
    )
    .await;

    // Another origin.
    let (ceremony, options) = account.begin_registration(&server).await;
    let evil = Url::parse(
        &server
            .issuer
            .replace("http://localhost", "https://evil.localhost"),
    )
    .unwrap();
    let foreign = serde_json::to_value(soft.do_registration(evil, options).unwrap()).unwrap();
    assert_refused(
        account
            .finish_registration(&server, &ceremony, foreign)
            .await,
        StatusCode::BAD_REQUEST,
        "passkey_refused",
    )
    .await;

    // An expired challenge.
    let (ceremony, options) = account.begin_registration(&server).await;
    server
        .db
        .execute_unprepared("UPDATE webauthn_ceremonies SET expires_at = 0")
        .await
        .unwrap();
    let late =
        serde_json::to_value(soft.do_registration(origin(&server), options).unwrap()).unwrap();
    assert_refused(
        account.finish_registration(&server, &ceremony, late).await,
        StatusCode::BAD_REQUEST,
        "challenge_expired",
    )
    .await;

    // A challenge from another session.
    let (ceremony, options) = account.begin_registration(&server).await;
    let other = sign_in_to_account(&server, "tess").await;
    let answer =
        serde_json::to_value(soft.do_registration(origin(&server), options).unwrap()).unwrap();
    assert_refused(
        other.finish_registration(&server, &ceremony, answer).await,
        StatusCode::BAD_REQUEST,
        "challenge_expired",
    )
    .await;

    // No CSRF token, or no session at all.
    let no_csrf = account
        .http
        .post(server.url("/account/api/passkeys/register/begin"))
        .send()
        .await
        .unwrap();
    assert_refused(no_csrf, StatusCode::FORBIDDEN, "csrf").await;
    let anonymous = browser()
        .post(server.url("/account/api/passkeys/register/begin"))
        .send()
        .await
        .unwrap();
    assert_refused(anonymous, StatusCode::UNAUTHORIZED, "not_signed_in").await;

    assert_eq!(account.passkey_count(&server).await, 0);
    assert_eq!(other.passkey_count(&server).await, 0);
}

#[tokio::test]
async fn the_passkey_cap_is_enforced_and_the_last_passkey_is_kept() {
    let server = TestServer::start_with(|c| c.webauthn.max_passkeys_per_user = 2).await;
    let account = sign_in_to_account(&server, "uli").await;
    let mut first = SoftPasskey::new(true);
    let mut second = SoftPasskey::new(true);
    account.register(&server, &mut first).await;
    account.register(&server, &mut second).await;
    let response = account
        .post(&server, "/account/api/passkeys/register/begin", &json!({}))
        .await;
    assert_refused(response, StatusCode::CONFLICT, "too_many_passkeys").await;

    let list: Value = account
        .http
        .get(server.url("/account/api/passkeys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ids: Vec<String> = list["passkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let rename = account
        .http
        .patch(server.url(&format!("/account/api/passkeys/{}", ids[0])))
        .header("x-csrf-token", &account.csrf)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rename.status(), StatusCode::OK);
    let empty_name = account
        .http
        .patch(server.url(&format!("/account/api/passkeys/{}", ids[0])))
        .header("x-csrf-token", &account.csrf)
        .json(&json!({"name": "  "}))
        .send()
        .await
        .unwrap();
    assert_refused(empty_name, StatusCode::BAD_REQUEST, "invalid_request").await;
    let delete = |id: String| {
        let account = &account;
        let server = &server;
        async move {
            account
                .http
                .delete(server.url(&format!("/account/api/passkeys/{id}")))
                .header("x-csrf-token", &account.csrf)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        delete(ids[0].clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_refused(
        delete(ids[1].clone()).await,
        StatusCode::CONFLICT,
        "last_factor",
    )
    .await;
    assert_refused(
        delete("nope".into()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;

    // Someone else cannot touch this account's passkeys.
    let other = sign_in_to_account(&server, "vic").await;
    let response = other
        .http
        .delete(server.url(&format!("/account/api/passkeys/{}", ids[1])))
        .header("x-csrf-token", &other.csrf)
        .send()
        .await
        .unwrap();
    assert_refused(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(account.passkey_count(&server).await, 1);
}

#[tokio::test]
async fn bad_assertions_are_refused_and_change_nothing() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let alice = sign_in_to_account(&server, "wanda").await;
    let mallory = sign_in_to_account(&server, "xerxes").await;
    let mut alice_key = SoftPasskey::new(true);
    let mut mallory_key = SoftPasskey::new(true);
    let alice_cred = alice.register(&server, &mut alice_key).await;
    let mallory_cred = mallory.register(&server, &mut mallory_key).await;
    let client_id = creds.client.client_id.as_str();

    // A credential the server never saw.
    let page = open_sign_in(&server, client_id).await;
    let mut stranger = SoftPasskey::new(true);
    let stranger_reg = {
        let (_, options) = alice.begin_registration(&server).await;
        stranger.do_registration(origin(&server), options).unwrap()
    };
    let stranger_id = URL_SAFE_NO_PAD.encode::<&[u8]>(stranger_reg.raw_id.as_ref());
    let (ceremony, options) = page.begin(&server, &stranger_id).await;
    let answer = assertion(&server, &mut stranger, options, &alice.user.id);
    assert_refused(
        page.finish(&server, &ceremony, &answer).await,
        StatusCode::BAD_REQUEST,
        "passkey_refused",
    )
    .await;

    // Mallory's passkey claiming to be Alice (the user handle is not signed).
    let page = open_sign_in(&server, client_id).await;
    let (ceremony, options) = page.begin(&server, &mallory_cred).await;
    let answer = assertion(&server, &mut mallory_key, options, &alice.user.id);
    assert_refused(
        page.finish(&server, &ceremony, &answer).await,
        StatusCode::BAD_REQUEST,
        "passkey_refused",
    )
    .await;

    // Another origin, and a tampered authenticator data (its rpIdHash no longer matches).
    let page = open_sign_in(&server, client_id).await;
    let (ceremony, options) = page.begin(&server, &alice_cred).await;
    let evil = Url::parse(
        &server
            .issuer
            .replace("http://localhost", "https://evil.localhost"),
    )
    .unwrap();
    let mut foreign =
        serde_json::to_value(alice_key.do_authentication(evil, options).unwrap()).unwrap();
    foreign["response"]["userHandle"] =
        json!(URL_SAFE_NO_PAD.encode(uuid::Uuid::parse_str(&alice.user.id).unwrap().as_bytes()));
    assert_refused(
        page.finish(&server, &ceremony, &foreign).await,
        StatusCode::BAD_REQUEST,
        "passkey_refused",
    )
    .await;

    let page = open_sign_in(&server, client_id).await;
    let (ceremony, options) = page.begin(&server, &alice_cred).await;
    let mut tampered = assertion(&server, &mut alice_key, options, &alice.user.id);
    let mut data = URL_SAFE_NO_PAD
        .decode(tampered["response"]["authenticatorData"].as_str().unwrap())
        .unwrap();
    data[0] ^= 0xff;
    tampered["response"]["authenticatorData"] = json!(URL_SAFE_NO_PAD.encode(&data));
    assert_refused(
        page.finish(&server, &ceremony, &tampered).await,
        StatusCode::BAD_REQUEST,
        "passkey_refused",
    )
    .await;

    // A ceremony started by another browser's sign-in.
    let page = open_sign_in(&server, client_id).await;
    let (ceremony, options) = page.begin(&server, &alice_cred).await;
    let answer = assertion(&server, &mut alice_key, options, &alice.user.id);
    let other_page = open_sign_in(&server, client_id).await;
    let response = other_page.finish(&server, &ceremony, &answer).await;
    assert_refused(response, StatusCode::BAD_REQUEST, "challenge_expired").await;
    // ...and the transaction of another browser.
    let response = other_page
        .http
        .post(server.url("/login/passkey/begin"))
        .header("x-csrf-token", &other_page.csrf)
        .json(&json!({"tx": page.tx}))
        .send()
        .await
        .unwrap();
    assert_refused(response, StatusCode::BAD_REQUEST, "sign_in_expired").await;

    // An expired challenge.
    let page = open_sign_in(&server, client_id).await;
    let (ceremony, options) = page.begin(&server, &alice_cred).await;
    server
        .db
        .execute_unprepared("UPDATE webauthn_ceremonies SET expires_at = 0")
        .await
        .unwrap();
    let answer = assertion(&server, &mut alice_key, options, &alice.user.id);
    assert_refused(
        page.finish(&server, &ceremony, &answer).await,
        StatusCode::BAD_REQUEST,
        "challenge_expired",
    )
    .await;

    // Malformed JSON, and no CSRF header.
    let response = page
        .http
        .post(server.url("/login/passkey/finish"))
        .header("x-csrf-token", &page.csrf)
        .header("content-type", "application/json")
        .body("{\"tx\": 1}")
        .send()
        .await
        .unwrap();
    assert_refused(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    let response = page
        .http
        .post(server.url("/login/passkey/begin"))
        .json(&json!({"tx": page.tx}))
        .send()
        .await
        .unwrap();
    assert_refused(response, StatusCode::FORBIDDEN, "csrf").await;

    // Alice's own passkey failing (another origin, tampered data) is recorded against her,
    // with the factor and the client; a credential that names nobody is not.
    let failed = idp::store::security_events::query(
        &server.db,
        &idp::store::security_events::EventFilter {
            kind: Some("sign_in_failed".into()),
            ..Default::default()
        },
        10,
        true,
    )
    .await
    .unwrap();
    assert_eq!(failed.len(), 2, "{failed:?}");
    for event in &failed {
        assert_eq!(event.user_id.as_deref(), Some(alice.user.id.as_str()));
        let detail = event.detail.as_ref().unwrap();
        assert_eq!(detail["method"], "passkey");
        assert_eq!(detail["client_id"], client_id);
    }

    // None of it signed anyone in or used a passkey.
    let rows = entity::credential::Entity::find()
        .all(&server.db)
        .await
        .unwrap();
    assert!(
        rows.iter()
            .filter(|r| r.kind == "passkey")
            .all(|r| r.last_used_at.is_none())
    );
}

#[tokio::test]
async fn a_passkey_whose_counter_goes_backwards_is_refused_and_recorded() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "yves").await;
    let mut soft = SoftPasskey::new(true);
    let credential_id = account.register(&server, &mut soft).await;

    // Pretend the server has seen a much higher counter: the authenticator's next one is lower.
    let row = entity::credential::Entity::find()
        .all(&server.db)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.kind == "passkey")
        .unwrap();
    let mut stored: Value = serde_json::from_str(&row.secret).unwrap();
    stored["cred"]["counter"] = json!(1000);
    let mut active: entity::credential::ActiveModel = row.into();
    active.secret = sea_orm::ActiveValue::Set(stored.to_string());
    sea_orm::ActiveModelTrait::update(active, &server.db)
        .await
        .unwrap();

    let page = open_sign_in(&server, &creds.client.client_id).await;
    let (ceremony, options) = page.begin(&server, &credential_id).await;
    let answer = assertion(&server, &mut soft, options, &account.user.id);
    assert_refused(
        page.finish(&server, &ceremony, &answer).await,
        StatusCode::BAD_REQUEST,
        "passkey_refused",
    )
    .await;
    let events = idp::store::security_events::for_user(&server.db, &account.user.id)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|(kind, _)| kind == "passkey_possibly_cloned"),
        "{events:?}"
    );
}

#[tokio::test]
async fn after_a_password_the_passkey_is_the_second_factor() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "zara").await;
    let mut soft = SoftPasskey::new(true);
    account.register(&server, &mut soft).await;

    // The password alone no longer completes the sign-in.
    let http = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let (login_url, html) = open_login_page(&http, &server, &url).await;
    let mut form = Form::parse(&html);
    form.fill("Username", "zara").fill("Password", PASSWORD);
    let response = form.submit(&http, &login_url, "Sign in").await;
    let next = location(&response);
    assert!(next.starts_with("/login?tx="), "{next}");
    let page = http
        .get(server.url(&next))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Use a passkey"), "{page}");

    let second = SignInPage {
        tx: query_param(&server.url(&next), "tx").unwrap(),
        csrf: meta_csrf(&page),
        http,
    };
    let response = second
        .post(&server, "/login/passkey/begin", &json!({"tx": second.tx}))
        .await;
    let begin: Value = response.json().await.unwrap();
    let allowed = begin["options"]["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap();
    assert_eq!(allowed.len(), 1, "the user's own passkeys are offered");
    let options: RequestChallengeResponse =
        serde_json::from_value(begin["options"].clone()).unwrap();
    let answer =
        serde_json::to_value(soft.do_authentication(origin(&server), options).unwrap()).unwrap();
    let response = second
        .finish(&server, begin["ceremony"].as_str().unwrap(), &answer)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let done: Value = response.json().await.unwrap();
    let code = query_param(done["redirect"].as_str().unwrap(), "code").unwrap();
    let tokens: Value = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let claims = decode_claims(tokens["id_token"].as_str().unwrap());
    assert_eq!(claims["amr"], json!(["pwd", "pop", "user", "mfa"]));
}
