//! Authenticator apps and recovery codes over HTTP. TOTP codes come from Debian's `oathtool`,
//! an implementation independent of ours.

use std::process::Command;

use reqwest::StatusCode;
use serde_json::Value;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::{
    passkey_api::{Account, decode_claims, meta_csrf, sign_in_to_account},
    support::*,
};

/// The code `oathtool` computes for `setup_key` at `now + offset` seconds.
pub fn oathtool(setup_key: &str, offset: i64) -> String {
    let key: String = setup_key.split_whitespace().collect();
    let at = idp::model::now() + offset;
    let output = Command::new("oathtool")
        .args(["--totp", "-b", &key, "--now", &format!("@{at}")])
        .output()
        .expect("oathtool is installed (apt-get install oathtool)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not in page"))
        + start.len();
    html[from..].split(end).next().unwrap()
}

/// Sets up an authenticator app for the signed-in account; returns the setup key and the
/// recovery codes the account page then shows once.
pub async fn enroll_totp(server: &TestServer, account: &Account) -> (String, Vec<String>) {
    let page = account
        .http
        .get(server.url("/account/totp"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<svg"), "a QR code is shown");
    assert!(html.contains("Authentication code") && html.contains("Verify"));
    let setup_key = between(&html, "data-setup-key>", "<").trim().to_owned();
    let csrf = meta_csrf(&html);

    let submit = |code: String| {
        let http = account.http.clone();
        let url = server.url("/account/totp");
        let csrf = csrf.clone();
        async move {
            http.post(url)
                .form(&[("csrf_token", csrf.as_str()), ("code", code.as_str())])
                .send()
                .await
                .unwrap()
        }
    };
    let wrong = submit("000000".into()).await;
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    assert!(wrong.text().await.unwrap().contains("not right"));
    let malformed = submit("12ab".into()).await;
    assert!(malformed.text().await.unwrap().contains("6-digit"));

    let done = submit(oathtool(&setup_key, 0)).await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&done), "/account");
    let account_page = account
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        account_page.contains("An authenticator app is set up"),
        "{account_page}"
    );
    let codes: Vec<String> = match account_page.find("data-recovery-codes>") {
        Some(_) => between(&account_page, "data-recovery-codes>", "</pre>")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    (setup_key, codes)
}

/// Opens a sign-in for `client_id`, passes the password step, and returns the browser and
/// the URL of the second-factor page.
pub(crate) async fn password_step(
    server: &TestServer,
    client_id: &str,
    username: &str,
) -> (reqwest::Client, String) {
    let http = browser();
    let url = authorize_url_owned(server, &code_request(client_id));
    let response = sign_in(&http, server, &url, username, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let next = server.url(&location(&response));
    assert!(next.contains("/login?tx="), "{next}");
    (http, next)
}

/// Submits a code on the second-factor page at `page_url` (as shown there).
pub(crate) async fn submit_code(
    http: &reqwest::Client,
    page_url: &str,
    label: &str,
    code: &str,
) -> reqwest::Response {
    let html = http
        .get(page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = Form::parse(&html);
    form.fill(label, code);
    form.submit(http, page_url, "Verify").await
}

pub(crate) async fn exchange(
    server: &TestServer,
    creds: &idp::admin::clients::ClientCredentials,
    redirect: &str,
) -> Value {
    let code = query_param(redirect, "code").expect("a code");
    let tokens: Value = token_request(
        server,
        creds,
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
    decode_claims(tokens["id_token"].as_str().unwrap())
}

#[tokio::test]
async fn an_authenticator_app_protects_the_account_and_each_code_works_once() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "abel").await;
    let (setup_key, codes) = enroll_totp(&server, &account).await;
    assert_eq!(
        codes.len(),
        10,
        "the first second factor comes with recovery codes"
    );
    // They are shown once.
    let again = account
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!again.contains(&codes[0]));
    assert!(again.contains("data-recovery-codes-left>10<"), "{again}");

    // The password alone is not enough any more; the app's next code is.
    let (http, page) = password_step(&server, &creds.client.client_id, "abel").await;
    let html = http.get(&page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Authentication code"), "{html}");
    let next_code = oathtool(&setup_key, 30);
    let response = submit_code(&http, &page, "Authentication code", &next_code).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let claims = exchange(&server, &creds, &location(&response)).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));
    assert_eq!(claims["acr"], "mfa");

    // The same code (step) again, in a new sign-in: refused.
    let (http, page) = password_step(&server, &creds.client.client_id, "abel").await;
    let replay = submit_code(&http, &page, "Authentication code", &next_code).await;
    assert_eq!(replay.status(), StatusCode::OK);
    assert!(replay.text().await.unwrap().contains("already used"));
    // A code from two minutes ago, and codes that are not codes.
    let old = submit_code(
        &http,
        &page,
        "Authentication code",
        &oathtool(&setup_key, -120),
    )
    .await;
    assert!(old.text().await.unwrap().contains("not right"));
    for bad in ["12345", "1234567", "abcdef", " "] {
        let response = submit_code(&http, &page, "Authentication code", bad).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(response.text().await.unwrap().contains("6-digit code"));
    }
}

#[tokio::test]
async fn a_recovery_code_signs_in_once_and_nudges_a_review() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "bea").await;
    let (_, codes) = enroll_totp(&server, &account).await;

    let (http, page) = password_step(&server, &creds.client.client_id, "bea").await;
    // "Try another way" lists the other methods.
    let html = http.get(&page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Try another way"));
    let tx = query_param(&page, "tx").unwrap();
    let choose = http
        .get(server.url(&format!("/login?tx={tx}&method=choose")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        choose.contains("Use an authenticator app") && choose.contains("Use a recovery code"),
        "{choose}"
    );
    let recovery_page = server.url(&format!("/login?tx={tx}&method=recovery"));
    let typed = codes[0].to_uppercase().replace('-', " ");
    let response = submit_code(&http, &recovery_page, "Recovery code", &typed).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(
        html.contains("You used a recovery code") && html.contains("<strong>9</strong>"),
        "{html}"
    );
    let doc = scraper::Html::parse_document(&html);
    let continue_url = doc
        .select(&scraper::Selector::parse("a").unwrap())
        .find(|a| a.text().collect::<String>().trim() == "Continue")
        .and_then(|a| a.value().attr("href"))
        .expect("a Continue link")
        .to_owned();
    let claims = exchange(&server, &creds, &continue_url).await;
    assert_eq!(
        claims["amr"],
        serde_json::json!(["pwd", "recovery_code", "mfa"])
    );
    let events = idp::store::security_events::for_user(&server.db, &account.user.id)
        .await
        .unwrap();
    assert!(events.iter().any(|(kind, _)| kind == "recovery_code_used"));

    // Used once: refused the second time.
    let (http, page) = password_step(&server, &creds.client.client_id, "bea").await;
    let tx = query_param(&page, "tx").unwrap();
    let recovery_page = server.url(&format!("/login?tx={tx}&method=recovery"));
    let again = submit_code(&http, &recovery_page, "Recovery code", &codes[0]).await;
    assert!(again.text().await.unwrap().contains("already used"));

    // Regenerating replaces the set: old codes stop working.
    let html = account
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-recovery-codes-left>9<"), "{html}");
    let regenerate = account
        .http
        .post(server.url("/account/recovery-codes"))
        .form(&[("csrf_token", meta_csrf(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&regenerate), "/account");
    let html = account
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Save your recovery codes") && html.contains("data-recovery-codes-left>10<")
    );
    let old = submit_code(&http, &recovery_page, "Recovery code", &codes[1]).await;
    assert!(old.text().await.unwrap().contains("already used"));
}

#[tokio::test]
async fn guessing_codes_is_slowed_down_and_recorded() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "cleo").await;
    let (setup_key, _) = enroll_totp(&server, &account).await;
    let (http, page) = password_step(&server, &creds.client.client_id, "cleo").await;
    for guess in ["111111", "222222", "333333", "444444"] {
        let response = submit_code(&http, &page, "Authentication code", guess).await;
        assert!(response.text().await.unwrap().contains("not right"));
    }
    let fifth = submit_code(&http, &page, "Authentication code", "555555").await;
    assert!(
        fifth
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );
    // Blocked: even the right code is not checked now.
    let right = submit_code(
        &http,
        &page,
        "Authentication code",
        &oathtool(&setup_key, 30),
    )
    .await;
    assert_eq!(right.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(right.text().await.unwrap().contains("try again in"));
    let events = idp::store::security_events::for_user(&server.db, &account.user.id)
        .await
        .unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|(kind, _)| kind == "second_factor_failed")
            .count(),
        5
    );
    assert!(
        events.iter().any(|(kind, _)| kind == "locked_out"),
        "the lockout is an audit event: {events:?}"
    );
    let metrics = crate::metrics::scrape(&server).await;
    assert_eq!(
        crate::metrics::value(
            &metrics,
            r#"idp_second_factor_failures_total{method="totp"}"#
        ),
        Some(5.0)
    );
}

#[tokio::test]
async fn a_code_of_another_user_or_a_form_without_csrf_is_refused() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let dana = sign_in_to_account(&server, "dana").await;
    let emil = sign_in_to_account(&server, "emil").await;
    enroll_totp(&server, &dana).await;
    let (emil_key, _) = enroll_totp(&server, &emil).await;
    let (http, page) = password_step(&server, &creds.client.client_id, "dana").await;
    let response = submit_code(
        &http,
        &page,
        "Authentication code",
        &oathtool(&emil_key, 30),
    )
    .await;
    assert!(response.text().await.unwrap().contains("not right"));

    let html = http.get(&page).send().await.unwrap().text().await.unwrap();
    let mut form = Form::parse(&html);
    form.fill("Authentication code", "123456");
    form.fields.retain(|(name, _)| name != "csrf_token");
    let response = form.submit(&http, &page, "Verify").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_last_second_factor_cannot_be_removed() {
    let server = TestServer::start().await;
    let account = sign_in_to_account(&server, "finn").await;
    enroll_totp(&server, &account).await;
    let remove = |csrf: String| {
        let http = account.http.clone();
        let url = server.url("/account/totp/remove");
        async move {
            http.post(url)
                .form(&[("csrf_token", csrf)])
                .send()
                .await
                .unwrap()
        }
    };
    let html = account
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    remove(meta_csrf(&html)).await;
    let html = account
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("last second factor"), "{html}");
    assert!(html.contains("An authenticator app is set up"));

    // With a passkey as well, the app may go; then the passkey is the last one.
    let mut soft = SoftPasskey::new(true);
    account.register(&server, &mut soft).await;
    remove(meta_csrf(&html)).await;
    let html = account
        .http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("An authenticator app is set up"), "{html}");
    assert!(
        html.contains("data-recovery-codes-left>10<"),
        "the codes stay with the passkey"
    );
}

#[tokio::test]
async fn a_flagged_user_must_set_up_a_second_factor_before_signing_in() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("gus", PASSWORD).await;
    idp::admin::users::set_require_mfa(&server.db, &idp::admin::Actor::Cli, "gus", true)
        .await
        .unwrap();

    let (http, page) = password_step(&server, &creds.client.client_id, "gus").await;
    let html = http.get(&page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Set up a second factor"), "{html}");
    assert!(html.contains("Add a passkey") && html.contains("Set up an authenticator app"));
    let tx = query_param(&page, "tx").unwrap();

    // No way around it: the sign-in cannot be finished yet.
    let early = http
        .post(server.url("/login/continue"))
        .form(&[
            ("tx", tx.as_str()),
            ("csrf_token", meta_csrf(&html).as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(early.status(), StatusCode::BAD_REQUEST);

    let setup_url = server.url(&format!("/login/enroll/totp?tx={tx}"));
    let setup = http
        .get(&setup_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let setup_key = between(&setup, "data-setup-key>", "<").trim().to_owned();
    let mut form = Form::parse(&setup);
    form.fill("Authentication code", &oathtool(&setup_key, 0));
    let enrolled = form.submit(&http, &setup_url, "Verify").await;
    assert_eq!(enrolled.status(), StatusCode::SEE_OTHER);
    let codes_page_url = server.url(&location(&enrolled));
    let codes_page = http
        .get(&codes_page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        codes_page.contains("Save your recovery codes"),
        "{codes_page}"
    );
    assert_eq!(
        between(&codes_page, "data-recovery-codes>", "</pre>")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count(),
        10
    );
    let done = Form::parse(&codes_page)
        .submit(&http, &codes_page_url, "Continue")
        .await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let claims = exchange(&server, &creds, &location(&done)).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp", "mfa"]));

    // From now on the app is asked for like any second factor.
    let (http, page) = password_step(&server, &creds.client.client_id, "gus").await;
    let html = http.get(&page).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("Authentication code"), "{html}");
}
