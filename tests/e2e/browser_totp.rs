//! Authenticator apps and recovery codes in a real browser (headless Chromium), with codes
//! from `oathtool`.

use fantoccini::Locator;

use crate::{
    browser::{Browser, start_demo_app},
    support::*,
    totp::oathtool,
};

async fn text_of(b: &Browser, css: &str) -> String {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn password_at_demo(b: &Browser, app: &str, username: &str) {
    b.client.goto(&format!("{app}/login")).await.unwrap();
    b.wait_for_text("Test App").await;
    b.fill("Username", username).await;
    b.fill("Password", PASSWORD).await;
    b.click_button("Sign in").await;
}

async fn sign_out(b: &Browser, server: &TestServer) {
    b.client.goto(&server.url("/account")).await.unwrap();
    b.wait_for_text("Your account").await;
    b.click_button("Sign out").await;
    b.wait_for_text("You are signed out").await;
}

#[tokio::test]
async fn a_person_protects_their_account_with_an_app_and_recovery_codes() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.add_user("gwen", PASSWORD).await;
    let app = start_demo_app(&server).await;
    b.without_passkey_autofill().await;

    // Enroll from the QR page's setup key.
    b.client.goto(&server.url("/account")).await.unwrap();
    b.fill("Username", "gwen").await;
    b.fill("Password", PASSWORD).await;
    b.click_button("Sign in").await;
    b.wait_for_text("Your account").await;
    b.click_button("Set up an authenticator app").await;
    b.wait_for_text("Setup key").await;
    let setup_key = text_of(&b, "[data-setup-key]").await;
    b.fill("Authentication code", &oathtool(&setup_key, 0))
        .await;
    b.click_button("Verify").await;
    b.wait_for_text("Save your recovery codes").await;
    let codes: Vec<String> = text_of(&b, "[data-recovery-codes]")
        .await
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(codes.len(), 10);
    sign_out(&b, &server).await;

    // Password + app code.
    password_at_demo(&b, &app, "gwen").await;
    b.wait_for_text("Authentication code").await;
    b.fill("Authentication code", &oathtool(&setup_key, 30))
        .await;
    b.click_button("Verify").await;
    b.wait_for_text("Signed in").await;
    assert_eq!(text_of(&b, "#amr").await, "pwd otp mfa");
    sign_out(&b, &server).await;

    // Password + recovery code, through "Try another way".
    password_at_demo(&b, &app, "gwen").await;
    b.wait_for_text("Authentication code").await;
    b.click_button("Try another way").await;
    b.click_button("Use a recovery code").await;
    b.fill("Recovery code", &codes[0]).await;
    b.click_button("Verify").await;
    b.wait_for_text("You used a recovery code").await;
    b.client
        .find(Locator::LinkText("Continue"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_text("Signed in").await;
    assert_eq!(text_of(&b, "#amr").await, "pwd recovery_code mfa");

    // The count went down; regenerating shows a new set.
    b.client.goto(&server.url("/account")).await.unwrap();
    b.wait_for_text("Your account").await;
    assert_eq!(text_of(&b, "[data-recovery-codes-left]").await, "9");
    b.click_button("Regenerate recovery codes").await;
    b.wait_for_text("Save your recovery codes").await;
    assert_eq!(text_of(&b, "[data-recovery-codes-left]").await, "10");
    let new_codes = text_of(&b, "[data-recovery-codes]").await;
    assert!(!new_codes.contains(&codes[1]));
}

#[tokio::test]
async fn a_flagged_user_is_made_to_add_a_passkey_in_the_browser() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.add_user("hugo", PASSWORD).await;
    idp::admin::users::set_require_mfa(&server.db, &idp::admin::Actor::Cli, "hugo", true)
        .await
        .unwrap();
    let app = start_demo_app(&server).await;
    b.without_passkey_autofill().await;
    b.client.goto(&server.url("/")).await.unwrap();
    b.add_authenticator().await;

    password_at_demo(&b, &app, "hugo").await;
    b.wait_for_text("Set up a second factor").await;
    b.fill("Passkey name", "Onboarding key").await;
    b.click_button("Add a passkey").await;
    b.wait_for_text("Save your recovery codes").await;
    b.click_button("Continue").await;
    b.wait_for_text("Signed in").await;
    let amr = text_of(&b, "#amr").await;
    assert!(
        amr.starts_with("pwd pop user") && amr.ends_with("mfa"),
        "{amr}"
    );
}
