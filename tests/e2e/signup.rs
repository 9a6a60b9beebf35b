//! Passkey-first sign-up, invitations, recovering a passkey-only account with a recovery
//! code, and deleting one's account: the JSON and form endpoints the pages use, driven with
//! a software authenticator, every mode and the bad inputs.

use reqwest::StatusCode;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::{Value, json};
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::CreationChallengeResponse;

use crate::{
    passkey_api::{assertion, meta_csrf, origin},
    support::*,
    totp::exchange,
};
use idp::config::{Config, SignupMode};

fn open(config: &mut Config) {
    config.signup = SignupMode::Open;
}

fn invite_only(config: &mut Config) {
    config.signup = SignupMode::Invite;
}

async fn user_count(server: &TestServer) -> u64 {
    entity::user::Entity::find()
        .count(&server.db)
        .await
        .unwrap()
}

/// A sign-up form opened in a browser: its transaction and CSRF token.
struct SignupPage {
    http: reqwest::Client,
    tx: String,
    csrf: String,
    html: String,
    invite: Option<String>,
}

/// The href of the link whose text is `text`.
fn link(html: &str, text: &str) -> Option<String> {
    let doc = scraper::Html::parse_document(html);
    let selector = scraper::Selector::parse("a").unwrap();
    doc.select(&selector)
        .find(|a| a.text().collect::<String>().trim() == text)
        .and_then(|a| a.value().attr("href").map(str::to_owned))
}

async fn get_page(http: &reqwest::Client, url: &str) -> (StatusCode, String) {
    let response = http.get(url).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

/// Follows a relying party's authorization request to "Create an account".
async fn open_signup_for(server: &TestServer, client_id: &str) -> SignupPage {
    let http = browser();
    let url = authorize_url_owned(server, &code_request(client_id));
    let (_, login_html) = open_login_page(&http, server, &url).await;
    let href = link(&login_html, "Create an account").expect("a Create an account link");
    let (status, html) = get_page(&http, &server.url(&href)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    SignupPage {
        tx: query_param(&server.url(&href), "tx").unwrap(),
        csrf: meta_csrf(&html),
        html,
        http,
        invite: None,
    }
}

/// Opens an invitation link in a fresh browser.
async fn open_invitation(link: &str) -> (StatusCode, SignupPage) {
    let http = browser();
    let (status, html) = get_page(&http, link).await;
    let tx = html
        .split("data-tx=\"")
        .nth(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .unwrap_or_default();
    let page = SignupPage {
        csrf: if status == StatusCode::OK {
            meta_csrf(&html)
        } else {
            String::new()
        },
        tx,
        html,
        http,
        invite: link.rsplit('/').next().map(str::to_owned),
    };
    (status, page)
}

impl SignupPage {
    async fn post(&self, server: &TestServer, path: &str, body: &Value) -> reqwest::Response {
        self.http
            .post(server.url(path))
            .header("x-csrf-token", &self.csrf)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    async fn begin(&self, server: &TestServer, username: &str, email: &str) -> reqwest::Response {
        self.post(
            server,
            "/signup/passkey/begin",
            &json!({
                "tx": self.tx,
                "invite": self.invite,
                "username": username,
                "display_name": "New Person",
                "email": email,
            }),
        )
        .await
    }

    /// Starts and finishes a sign-up with `soft`; returns the finish response.
    async fn sign_up(
        &self,
        server: &TestServer,
        soft: &mut impl WebauthnAuthenticator,
        username: &str,
    ) -> reqwest::Response {
        let begin = self.begin(server, username, "").await;
        assert_eq!(
            begin.status(),
            StatusCode::OK,
            "{}",
            begin.text().await.unwrap()
        );
        let begin: Value = begin.json().await.unwrap();
        let credential = register(server, soft, &begin);
        self.finish(server, &begin, credential).await
    }

    async fn finish(
        &self,
        server: &TestServer,
        begin: &Value,
        credential: Value,
    ) -> reqwest::Response {
        self.post(
            server,
            "/signup/passkey/finish",
            &json!({"tx": self.tx, "ceremony": begin["ceremony"], "credential": credential}),
        )
        .await
    }

    /// After a successful finish: the recovery codes page, then Continue; returns the codes
    /// and where the browser is sent.
    async fn continue_after_codes(
        &self,
        server: &TestServer,
        finish: reqwest::Response,
    ) -> (Vec<String>, String) {
        let status = finish.status();
        let done: Value = finish.json().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{done}");
        let codes_url = server.url(done["redirect"].as_str().unwrap());
        let (status, html) = get_page(&self.http, &codes_url).await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Save your recovery codes"), "{html}");
        let doc = scraper::Html::parse_document(&html);
        let pre = scraper::Selector::parse("pre[data-recovery-codes]").unwrap();
        let codes: Vec<String> = doc
            .select(&pre)
            .next()
            .unwrap()
            .text()
            .collect::<String>()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        assert_eq!(codes.len(), 10);
        let form = Form::parse(&html);
        let response = form.submit(&self.http, &codes_url, "Continue").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        (codes, location(&response))
    }
}

/// The soft authenticator's answer to a registration `begin`, patched because it cannot
/// store discoverable credentials.
pub(crate) fn register(
    server: &TestServer,
    soft: &mut impl WebauthnAuthenticator,
    begin: &Value,
) -> Value {
    let mut options = begin["options"].clone();
    let selection = &mut options["publicKey"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required");
    selection["residentKey"] = json!("discouraged");
    selection["requireResidentKey"] = json!(false);
    let options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    serde_json::to_value(soft.do_registration(origin(server), options).unwrap()).unwrap()
}

async fn assert_api_error(response: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

/// Signs in without a username with `soft`'s passkey for `client_id`; returns the redirect.
async fn passkey_sign_in(
    server: &TestServer,
    client_id: &str,
    soft: &mut SoftPasskey,
    credential_id: &str,
    user_id: &str,
) -> reqwest::Response {
    let page = crate::passkey_api::open_sign_in(server, client_id).await;
    let response = page
        .post(server, "/login/passkey/begin", &json!({"tx": page.tx}))
        .await;
    let mut begin: Value = response.json().await.unwrap();
    begin["options"]["publicKey"]["allowCredentials"] =
        json!([{"type": "public-key", "id": credential_id}]);
    let options = serde_json::from_value(begin["options"].clone()).unwrap();
    let answer = assertion(server, soft, options, user_id);
    page.finish(server, begin["ceremony"].as_str().unwrap(), &answer)
        .await
}

#[tokio::test]
async fn open_signup_makes_a_passkey_account_and_signs_in_to_the_client() {
    let server = TestServer::start_with(open).await;
    let creds = server.confidential_client().await;
    let page = open_signup_for(&server, &creds.client.client_id).await;
    for label in ["Username", "Display name", "E-mail"] {
        assert!(
            Form::input_attr(&page.html, label, "id").is_some(),
            "{label}"
        );
    }
    assert!(page.html.contains("Create your passkey"));
    assert!(page.html.contains("Test App"), "names the client");
    assert!(
        link(&page.html, "Use a password instead").is_none(),
        "passwords are off by default"
    );

    let mut soft = SoftPasskey::new(true);
    let finish = page.sign_up(&server, &mut soft, "Zoë.K").await;
    let (_, redirect) = page.continue_after_codes(&server, finish).await;
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    let claims = exchange(&server, &creds, &redirect).await;
    assert_eq!(claims["amr"], json!(["pop", "user", "mfa"]));
    assert_eq!(claims["acr"], "phr");

    let user = idp::store::users::find_by_username(&server.db, "zoë.k")
        .await
        .unwrap()
        .expect("the account exists, named in canonical form");
    assert_eq!(claims["sub"], user.id);
    assert_eq!(user.name.as_deref(), Some("New Person"));
    assert_eq!(
        idp::store::users::password_hash(&server.db, &user.id)
            .await
            .unwrap(),
        None,
        "no password"
    );
    let events = idp::store::security_events::for_user(&server.db, &user.id)
        .await
        .unwrap();
    assert!(
        events.iter().any(|(kind, _)| kind == "signed_up"),
        "{events:?}"
    );

    // From now on: one tap, no username, no password.
    let passkeys = idp::store::passkeys::list(&server.db, &user.id)
        .await
        .unwrap();
    let done = passkey_sign_in(
        &server,
        &creds.client.client_id,
        &mut soft,
        &passkeys[0].facts.credential_id,
        &user.id,
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    let done: Value = done.json().await.unwrap();
    let again = exchange(&server, &creds, done["redirect"].as_str().unwrap()).await;
    assert_eq!(again["sub"], user.id);
}

#[tokio::test]
async fn an_abandoned_or_refused_signup_leaves_nothing_behind() {
    let server = TestServer::start_with(open).await;
    let creds = server.confidential_client().await;
    let page = open_signup_for(&server, &creds.client.client_id).await;

    // Started, never finished.
    let begin = page.begin(&server, "walter", "").await;
    assert_eq!(begin.status(), StatusCode::OK);
    assert_eq!(user_count(&server).await, 0);

    // Finished with a tampered credential.
    let begin: Value = page
        .begin(&server, "walter", "")
        .await
        .json()
        .await
        .unwrap();
    let mut credential = register(&server, &mut SoftPasskey::new(true), &begin);
    credential["response"]["clientDataJSON"] = json!("e30");
    let refused = page.finish(&server, &begin, credential).await;
    assert_api_error(refused, StatusCode::BAD_REQUEST, "passkey_refused").await;
    assert_eq!(user_count(&server).await, 0);

    // The ceremony was used up by that attempt: a good answer to it is too late.
    let credential = register(&server, &mut SoftPasskey::new(true), &begin);
    let late = page.finish(&server, &begin, credential).await;
    assert_api_error(late, StatusCode::BAD_REQUEST, "challenge_expired").await;
    assert_eq!(user_count(&server).await, 0);

    // Malformed JSON and a missing CSRF token are refused too.
    let malformed = page
        .http
        .post(server.url("/signup/passkey/finish"))
        .header("x-csrf-token", &page.csrf)
        .header("content-type", "application/json")
        .body("{\"tx\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    let no_csrf = page
        .http
        .post(server.url("/signup/passkey/begin"))
        .json(&json!({"tx": page.tx, "username": "walter"}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_csrf.status(), StatusCode::FORBIDDEN);
    assert_eq!(user_count(&server).await, 0);
}

#[tokio::test]
async fn usernames_are_checked_and_look_alikes_are_unavailable() {
    let server = TestServer::start_with(open).await;
    let creds = server.confidential_client().await;
    server.add_user("modern", PASSWORD).await;
    let page = open_signup_for(&server, &creds.client.client_id).await;
    for (username, status, error) in [
        ("zz", StatusCode::BAD_REQUEST, "invalid_username"),
        ("with space", StatusCode::BAD_REQUEST, "invalid_username"),
        ("-dash", StatusCode::BAD_REQUEST, "invalid_username"),
        // Latin with a Cyrillic "а".
        ("pаypal", StatusCode::BAD_REQUEST, "invalid_username"),
        ("Admin", StatusCode::BAD_REQUEST, "invalid_username"),
        ("MODERN", StatusCode::CONFLICT, "username_unavailable"),
        ("rnodern", StatusCode::CONFLICT, "username_unavailable"),
    ] {
        let response = page.begin(&server, username, "").await;
        assert_eq!(response.status(), status, "{username}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error, "{username}: {body}");
    }
    let bad_email = page.begin(&server, "newcomer", "not-an-address").await;
    assert_api_error(bad_email, StatusCode::BAD_REQUEST, "invalid_email").await;
    assert_eq!(user_count(&server).await, 1);
}

#[tokio::test]
async fn signups_from_one_address_are_limited() {
    let server = TestServer::start_with(open).await;
    let creds = server.confidential_client().await;
    let page = open_signup_for(&server, &creds.client.client_id).await;
    for i in 0..10 {
        let response = page.begin(&server, &format!("person{i}"), "").await;
        assert_eq!(response.status(), StatusCode::OK, "attempt {i}");
    }
    let blocked = page.begin(&server, "person10", "").await;
    let retry_after: i64 = blocked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&retry_after), "{retry_after}");
    assert_api_error(blocked, StatusCode::TOO_MANY_REQUESTS, "too_many_attempts").await;
}

#[tokio::test]
async fn closed_and_invite_modes_hide_open_signup() {
    for mode in [SignupMode::Closed, SignupMode::Invite] {
        let server = TestServer::start_with(|c| c.signup = mode).await;
        let creds = server.confidential_client().await;
        let http = browser();
        let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
        let (login_url, html) = open_login_page(&http, &server, &url).await;
        assert!(link(&html, "Create an account").is_none(), "{mode:?}");
        let tx = query_param(&login_url, "tx").unwrap();
        let (status, _) = get_page(&http, &server.url(&format!("/signup?tx={tx}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{mode:?}");
        let (status, _) = get_page(&http, &server.url("/signup")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{mode:?}");
        let (status, _) = get_page(&http, &server.url(&format!("/signup/password?tx={tx}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{mode:?}");
        let csrf = meta_csrf(&html);
        let begin = http
            .post(server.url("/signup/passkey/begin"))
            .header("x-csrf-token", &csrf)
            .json(&json!({"tx": tx, "username": "someone"}))
            .send()
            .await
            .unwrap();
        assert_eq!(begin.status(), StatusCode::NOT_FOUND, "{mode:?}");
    }
    // Closed: even a real invitation link leads nowhere.
    let server = TestServer::start().await;
    let new = idp::admin::users::invite(
        &server.db,
        &idp::admin::Actor::Cli,
        &server.issuer,
        "x@example.com",
        None,
        std::time::Duration::from_secs(3600),
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    let (status, _) = open_invitation(&new.link).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_invitation_makes_one_account_and_then_is_used_up() {
    let server = TestServer::start_with(invite_only).await;
    let new = idp::admin::users::invite(
        &server.db,
        &idp::admin::Actor::Cli,
        &server.issuer,
        "ines@example.com",
        Some("Ines"),
        std::time::Duration::from_secs(7 * 24 * 3600),
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    assert!(
        new.link.starts_with(&server.url("/signup/invite/")),
        "{}",
        new.link
    );

    let (status, page) = open_invitation(&new.link).await;
    assert_eq!(status, StatusCode::OK, "{}", page.html);
    assert_eq!(
        Form::input_attr(&page.html, "Username", "value").as_deref(),
        Some("ines")
    );
    assert!(Form::input_attr(&page.html, "Username", "readonly").is_some());
    assert_eq!(
        Form::input_attr(&page.html, "E-mail", "value").as_deref(),
        Some("ines@example.com")
    );
    // A second browser holding the same link races the first.
    let (_, racer) = open_invitation(&new.link).await;
    let racer_begin: Value = racer.begin(&server, "", "").await.json().await.unwrap();

    // The username typed is ignored: the invitation decided it.
    let begin: Value = page
        .begin(&server, "someone-else", "")
        .await
        .json()
        .await
        .unwrap();
    let credential = register(&server, &mut SoftPasskey::new(true), &begin);
    let finish = page.finish(&server, &begin, credential).await;
    let (_, redirect) = page.continue_after_codes(&server, finish).await;
    assert_eq!(
        redirect, "/account",
        "an invitation sign-up lands on the account page"
    );
    let user = idp::store::users::find_by_username(&server.db, "ines")
        .await
        .unwrap()
        .expect("the invited account");
    assert_eq!(user.email.as_deref(), Some("ines@example.com"));

    // The racer loses, and makes nothing.
    let credential = register(&server, &mut SoftPasskey::new(true), &racer_begin);
    let lost = racer.finish(&server, &racer_begin, credential).await;
    assert_eq!(lost.status(), StatusCode::CONFLICT);
    assert_eq!(user_count(&server).await, 1);

    // The link is used up; a forged one is unknown; an expired one says so.
    let (status, used) = open_invitation(&new.link).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(
        used.html.contains("This invitation has been used"),
        "{}",
        used.html
    );
    let forged = format!("{}x", new.link);
    let (status, page) = open_invitation(&forged).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.html.contains("This invitation link is not valid"));
    let old = idp::admin::users::invite(
        &server.db,
        &idp::admin::Actor::Cli,
        &server.issuer,
        "late@example.com",
        None,
        std::time::Duration::from_secs(60),
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    use sea_orm::{ActiveModelTrait, ActiveValue::Set};
    entity::invitation::ActiveModel {
        id: Set(old.invitation.id.clone()),
        expires_at: Set(0),
        ..Default::default()
    }
    .update(&server.db)
    .await
    .unwrap();
    let (status, page) = open_invitation(&old.link).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(page.html.contains("This invitation has expired"));

    // Bad invitations from the CLI's service write nothing.
    for (email, username, lifetime) in [
        ("not-an-address", None, 3600),
        ("a@example.com", Some("ines"), 3600),
        ("a@example.com", Some("x"), 3600),
        ("a@example.com", None, 91 * 24 * 3600),
    ] {
        let result = idp::admin::users::invite(
            &server.db,
            &idp::admin::Actor::Cli,
            &server.issuer,
            email,
            username,
            std::time::Duration::from_secs(lifetime),
        )
        .await;
        assert!(result.is_err(), "{email} {username:?} {lifetime}");
    }
}

#[tokio::test]
async fn a_password_instead_only_when_allowed() {
    let server = TestServer::start_with(|c| {
        open(c);
        c.allow_password_signup = true;
    })
    .await;
    let creds = server.confidential_client().await;
    let page = open_signup_for(&server, &creds.client.client_id).await;
    let href = link(&page.html, "Use a password instead").expect("offered");
    let password_url = server.url(&href);
    let (status, html) = get_page(&page.http, &password_url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Passkeys are safer than passwords"));

    let mut form = Form::parse(&html);
    form.fill("Username", "paula").fill("Password", "short");
    let response = form
        .submit(&page.http, &password_url, "Create account")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(user_count(&server).await, 0);
    let html = response.text().await.unwrap();
    assert!(html.contains("at least 8 characters"), "{html}");

    let mut form = Form::parse(&html);
    form.fill("Username", "paula").fill("Password", PASSWORD);
    let response = form
        .submit(&page.http, &password_url, "Create account")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let claims = exchange(&server, &creds, &location(&response)).await;
    assert_eq!(claims["amr"], json!(["pwd"]));

    // Without the setting there is no such page.
    let server = TestServer::start_with(open).await;
    let creds = server.confidential_client().await;
    let page = open_signup_for(&server, &creds.client.client_id).await;
    let (status, _) = get_page(
        &page.http,
        &server.url(&format!("/signup/password?tx={}", page.tx)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_passkey_only_user_recovers_with_a_recovery_code_and_adds_a_new_passkey() {
    let server = TestServer::start_with(open).await;
    let creds = server.confidential_client().await;
    let page = open_signup_for(&server, &creds.client.client_id).await;
    let finish = page
        .sign_up(&server, &mut SoftPasskey::new(true), "rosa")
        .await;
    let (codes, _) = page.continue_after_codes(&server, finish).await;
    // A user with a password is not served here, with the same answer as a wrong code.
    server.add_user("pete", PASSWORD).await;

    // The passkey's device is lost. A new browser, through the client again:
    let http = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let (_, login_html) = open_login_page(&http, &server, &url).await;
    let href = link(&login_html, "Lost your passkey? Use a recovery code").expect("offered");
    let recover_url = server.url(&href);
    let (status, html) = get_page(&http, &recover_url).await;
    assert_eq!(status, StatusCode::OK);

    let mut answers = Vec::new();
    for (username, code) in [("rosa", "aaaa-bbbb-cccc-dddd"), ("pete", codes[1].as_str())] {
        let mut form = Form::parse(&html);
        form.fill("Username", username).fill("Recovery code", code);
        let response = form
            .submit(&http, &recover_url, "Sign in with a recovery code")
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        assert!(html.contains("do not match"), "{html}");
        answers.push(html);
    }

    let mut form = Form::parse(&answers[0]);
    form.fill("Username", "rosa")
        .fill("Recovery code", &codes[0]);
    let response = form
        .submit(&http, &recover_url, "Sign in with a recovery code")
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let enroll_url = server.url(&location(&response));
    let (_, html) = get_page(&http, &enroll_url).await;
    assert!(html.contains("Add a new passkey"), "{html}");
    assert!(!html.contains("Set up an authenticator app"));
    // Nor by typing its address: one recovery code must not replace the owner's app and codes.
    let tx_param = query_param(&enroll_url, "tx").unwrap();
    let (status, _) = get_page(
        &http,
        &server.url(&format!("/login/enroll/totp?tx={tx_param}")),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

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
    let credential = register(&server, &mut SoftPasskey::new(true), &begin);
    let done = post(
        "/login/enroll/passkey/finish",
        json!({"tx": tx, "ceremony": begin["ceremony"], "credential": credential}),
    )
    .await;
    assert_eq!(done.status(), StatusCode::OK);
    let done: Value = done.json().await.unwrap();
    let claims = exchange(&server, &creds, done["redirect"].as_str().unwrap()).await;
    assert_eq!(
        claims["amr"],
        json!(["recovery_code", "pop", "user", "mfa"])
    );
    let user = idp::store::users::find_by_username(&server.db, "rosa")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        idp::store::passkeys::count(&server.db, &user.id)
            .await
            .unwrap(),
        2
    );
    // The code worked once.
    assert_eq!(
        idp::store::recovery_codes::remaining(&server.db, &user.id)
            .await
            .unwrap(),
        9
    );
}

#[tokio::test]
async fn a_user_deletes_their_account_after_a_fresh_strong_sign_in() {
    let server = TestServer::start_with(open).await;
    let creds = server.confidential_client().await;
    let page = open_signup_for(&server, &creds.client.client_id).await;
    let finish = page
        .sign_up(&server, &mut SoftPasskey::new(true), "dora")
        .await;
    let (_, redirect) = page.continue_after_codes(&server, finish).await;
    let tokens: Value = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query_param(&redirect, "code").unwrap()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let user = idp::store::users::find_by_username(&server.db, "dora")
        .await
        .unwrap()
        .unwrap();

    let (status, html) = get_page(&page.http, &server.url("/account/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Delete my account"), "{html}");
    // Without the form's CSRF token nothing happens.
    let refused = page
        .http
        .post(server.url("/account/delete"))
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(user_count(&server).await, 1);

    let form = Form::parse(&html);
    let response = form
        .submit(
            &page.http,
            &server.url("/account/delete"),
            "Delete my account",
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.text().await.unwrap().contains("has been deleted"));
    assert_eq!(user_count(&server).await, 0);
    assert_eq!(
        idp::store::passkeys::count(&server.db, &user.id)
            .await
            .unwrap(),
        0
    );
    // The client's tokens died with the account.
    let refreshed = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ],
    )
    .await;
    assert_eq!(refreshed.status(), StatusCode::BAD_REQUEST);
    let userinfo = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);
    // The browser is signed out; the event keeps only the user id.
    let to = page.http.get(server.url("/account")).send().await.unwrap();
    assert!(location(&to).starts_with("/login"));
    let events = idp::store::security_events::for_user(&server.db, &user.id)
        .await
        .unwrap();
    assert_eq!(events[0].0, "account_deleted");
}

#[tokio::test]
async fn deleting_needs_the_strongest_factor_recently() {
    let server = TestServer::start().await;
    let account = crate::passkey_api::sign_in_to_account(&server, "emil").await;
    account.register(&server, &mut SoftPasskey::new(true)).await;
    // Signed in with a password only, while the account has a passkey: not enough.
    let (status, html) = get_page(&account.http, &server.url("/account/delete")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Delete my account</button>"), "{html}");
    assert!(html.contains("your passkey"), "{html}");
    let csrf = meta_csrf(&html);
    let response = account
        .http
        .post(server.url("/account/delete"))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(user_count(&server).await, 1, "nothing deleted");
}
