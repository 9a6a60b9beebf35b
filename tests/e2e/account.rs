//! The account security console: profile, password, sessions, security events, and the
//! recent-sign-in rule for sensitive changes.

use reqwest::StatusCode;
use sea_orm::ConnectionTrait;

use crate::{
    passkey_api::{meta_csrf, sign_in_to_account},
    support::*,
};

async fn account_page(http: &reqwest::Client, server: &TestServer) -> String {
    http.get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_console_shows_profile_sessions_and_events_and_changes_the_password() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "jade").await;
    let html = account_page(&account.http, &server).await;
    for expected in [
        "jade@example.com",
        "This browser",
        "Signed in",
        "Change password",
    ] {
        assert!(html.contains(expected), "{expected} missing: {html}");
    }

    let change = |new: &str, confirm: &str| {
        let http = account.http.clone();
        let url = server.url("/account/password");
        let form = vec![
            ("csrf_token", meta_csrf(&html)),
            ("new_password", new.to_owned()),
            ("confirm_password", confirm.to_owned()),
        ];
        async move { http.post(url).form(&form).send().await.unwrap() }
    };
    assert_eq!(
        location(&change("a new password", "another one").await),
        "/account"
    );
    assert!(
        account_page(&account.http, &server)
            .await
            .contains("not the same")
    );
    change("short", "short").await;
    assert!(
        account_page(&account.http, &server)
            .await
            .contains("at least 8 characters")
    );
    change("a brand new password", "a brand new password").await;
    let html = account_page(&account.http, &server).await;
    assert!(html.contains("Your password was changed") && html.contains("Password changed"));

    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let old = sign_in(&browser(), &server, &url, "jade", PASSWORD).await;
    assert!(
        old.text()
            .await
            .unwrap()
            .contains("Incorrect username or password")
    );
    let new = sign_in(&browser(), &server, &url, "jade", "a brand new password").await;
    assert_eq!(new.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn signing_out_other_sessions_keeps_this_one() {
    let server = TestServer::start().await;
    let first = sign_in_to_account(&server, "kian").await;
    // The same user in a second browser.
    let second = browser();
    let to_login = second.get(server.url("/account")).send().await.unwrap();
    let login_url = server.url(&location(&to_login));
    let html = second
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = Form::parse(&html);
    form.fill("Username", "kian").fill("Password", PASSWORD);
    form.submit(&second, &login_url, "Sign in").await;
    assert!(
        account_page(&second, &server)
            .await
            .contains("Your account")
    );

    let html = account_page(&first.http, &server).await;
    assert!(html.contains("Sign out other sessions"));
    first
        .http
        .post(server.url("/account/sessions/revoke-others"))
        .form(&[("csrf_token", meta_csrf(&html))])
        .send()
        .await
        .unwrap();
    assert!(
        account_page(&first.http, &server)
            .await
            .contains("Signed out 1 other session")
    );
    let response = second.get(server.url("/account")).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the other browser must sign in again"
    );
}

#[tokio::test]
async fn sensitive_changes_need_a_recent_sign_in() {
    let server = TestServer::start().await;
    let account = sign_in_to_account(&server, "lena").await;
    let html = account_page(&account.http, &server).await;
    // Make the sign-in old.
    server
        .db
        .execute_unprepared(
            "UPDATE user_sessions SET authentication = REPLACE(authentication, '\"auth_time\":', '\"auth_time\":1,\"was\":')",
        )
        .await
        .unwrap();
    let totp = account
        .http
        .get(server.url("/account/totp"))
        .send()
        .await
        .unwrap();
    assert_eq!(location(&totp), "/account/reauthenticate");
    let password = account
        .http
        .post(server.url("/account/password"))
        .form(&[
            ("csrf_token", meta_csrf(&html)),
            ("new_password", "another password".into()),
            ("confirm_password", "another password".into()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&password), "/account/reauthenticate");
    let passkey = account
        .http
        .post(server.url("/account/api/passkeys/register/begin"))
        .header("x-csrf-token", meta_csrf(&html))
        .send()
        .await
        .unwrap();
    assert_eq!(passkey.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = passkey.json().await.unwrap();
    assert_eq!(body["error"], "reauthentication_required");
    // Signing in again starts at the sign-in page.
    let again = account
        .http
        .get(server.url("/account/reauthenticate"))
        .send()
        .await
        .unwrap();
    assert!(location(&again).starts_with("/login?tx="));
}
