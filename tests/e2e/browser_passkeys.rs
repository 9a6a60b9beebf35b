//! Passkeys in a real browser: headless Chromium with a WebAuthn virtual authenticator, using
//! our own pages and page script for every ceremony.

use fantoccini::Locator;

use crate::{
    browser::{Browser, start_demo_app},
    support::*,
};

/// Signs in with a password on the account page and waits for it.
async fn password_sign_in_to_account(b: &Browser, server: &TestServer, username: &str) {
    b.client.goto(&server.url("/account")).await.unwrap();
    b.fill("Username", username).await;
    b.fill("Password", PASSWORD).await;
    b.click_button("Sign in").await;
}

async fn add_passkey(b: &Browser, name: &str) {
    b.fill("Passkey name", name).await;
    b.click_button("Add a passkey").await;
    b.wait_for_text(&format!("New name for {name}")).await;
}

/// Text of the demo app's claim cell `id`.
async fn claim(b: &Browser, id: &str) -> String {
    b.client
        .find(Locator::Id(id))
        .await
        .unwrap_or_else(|e| panic!("no claim {id}: {e}"))
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_person_adds_a_passkey_and_then_signs_in_with_one_tap() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let user = server.add_user("nora", PASSWORD).await;
    let app = start_demo_app(&server).await;

    b.without_passkey_autofill().await;
    b.client.goto(&server.url("/")).await.unwrap();
    let authenticator = b.add_authenticator().await;
    password_sign_in_to_account(&b, &server, "nora").await;
    b.wait_for_text("Your account").await;
    add_passkey(&b, "Test laptop").await;
    let page = b.wait_for_text("Device-bound passkey").await;
    assert!(page.contains("Never used"), "{page}");

    let credentials = b.credentials(&authenticator).await;
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0]["isResidentCredential"], true);
    assert_eq!(credentials[0]["rpId"], "localhost");

    b.click_button("Sign out").await;
    b.wait_for_text("You are signed out").await;

    // One tap: no username, no password.
    b.client.goto(&format!("{app}/")).await.unwrap();
    b.client
        .find(Locator::LinkText("Sign in with idp"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_text("Test App").await;
    b.click_button("Sign in with a passkey").await;
    b.wait_for_text("Signed in").await;
    assert_eq!(claim(&b, "sub").await, user.id);
    let amr = claim(&b, "amr").await;
    assert!(amr.split(' ').any(|v| v == "pop"), "{amr}");
    assert!(!amr.split(' ').any(|v| v == "pwd"), "{amr}");
    assert!(amr.split(' ').any(|v| v == "mfa"), "{amr}");
    assert_eq!(claim(&b, "acr").await, "phr");

    // The passkey's use is recorded.
    b.client.goto(&server.url("/account")).await.unwrap();
    let page = b.wait_for_text("Last used").await;
    assert!(page.contains("Test laptop"));
    assert!(
        b.credentials(&authenticator).await[0]["signCount"]
            .as_u64()
            .unwrap()
            >= 1
    );
}

#[tokio::test]
async fn a_password_user_with_a_passkey_must_also_use_it() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.add_user("otto", PASSWORD).await;
    let app = start_demo_app(&server).await;
    b.without_passkey_autofill().await;
    b.client.goto(&server.url("/")).await.unwrap();
    b.add_authenticator().await;
    password_sign_in_to_account(&b, &server, "otto").await;
    b.wait_for_text("Your account").await;
    add_passkey(&b, "Key").await;
    b.click_button("Sign out").await;
    b.wait_for_text("You are signed out").await;

    b.client.goto(&format!("{app}/login")).await.unwrap();
    b.wait_for_text("Test App").await;
    b.fill("Username", "otto").await;
    b.fill("Password", PASSWORD).await;
    b.click_button("Sign in").await;
    b.wait_for_text("Confirm it's you").await;
    b.click_button("Use a passkey").await;
    b.wait_for_text("Signed in").await;
    let amr = claim(&b, "amr").await;
    for value in ["pwd", "pop", "mfa"] {
        assert!(
            amr.split(' ').any(|v| v == value),
            "{value} missing from {amr}"
        );
    }
    assert_eq!(claim(&b, "acr").await, "phr");
}

#[tokio::test]
async fn passkeys_are_renamed_and_deleted_but_never_the_last_one() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.add_user("pia", PASSWORD).await;
    b.without_passkey_autofill().await;
    b.client.goto(&server.url("/")).await.unwrap();
    let laptop = b.add_authenticator().await;
    password_sign_in_to_account(&b, &server, "pia").await;
    b.wait_for_text("Your account").await;
    add_passkey(&b, "Laptop").await;

    // The only passkey cannot be deleted.
    b.click_button_in("Laptop", "Delete").await;
    b.wait_for_text("add another sign-in method first").await;

    // A second device: another authenticator registers a second passkey.
    b.remove_authenticator(&laptop).await;
    let phone = b.add_authenticator().await;
    add_passkey(&b, "Phone").await;
    assert_eq!(b.credentials(&phone).await.len(), 1);

    b.fill("New name for Laptop", "Old laptop").await;
    b.click_button_in("Laptop", "Rename").await;
    b.wait_for_text("New name for Old laptop").await;

    b.click_button_in("Old laptop", "Delete").await;
    b.wait_for_text_gone("Old laptop").await;
    b.wait_for_text("New name for Phone").await;

    // Signing in uses the remaining device.
    b.click_button("Sign out").await;
    b.wait_for_text("You are signed out").await;
    b.client.goto(&server.url("/account")).await.unwrap();
    b.click_button("Sign in with a passkey").await;
    b.wait_for_text("Your account").await;
}

#[tokio::test]
async fn choosing_a_passkey_from_autofill_signs_in() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let user = server.add_user("quin", PASSWORD).await;
    let app = start_demo_app(&server).await;
    b.client.goto(&server.url("/")).await.unwrap();
    b.add_authenticator().await;
    password_sign_in_to_account(&b, &server, "quin").await;
    b.wait_for_text("Your account").await;
    add_passkey(&b, "Autofill").await;
    b.click_button("Sign out").await;
    b.wait_for_text("You are signed out").await;

    // The sign-in page offers the passkey in the username field's autofill (conditional
    // mediation); Chromium's virtual authenticator picks it without a click.
    b.client.goto(&format!("{app}/login")).await.unwrap();
    b.wait_for_text("Signed in").await;
    assert_eq!(claim(&b, "sub").await, user.id);
    assert!(claim(&b, "amr").await.split(' ').any(|v| v == "pop"));
}

#[tokio::test]
async fn a_client_asking_for_phishing_resistance_gets_a_passkey_step_up() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.add_user("tara", PASSWORD).await;
    let app = crate::browser::start_demo_app_with(&server, Some("phr")).await;
    b.without_passkey_autofill().await;
    b.client.goto(&server.url("/")).await.unwrap();
    b.add_authenticator().await;

    // A password session, in which the user adds a passkey: the session stays at pwd.
    password_sign_in_to_account(&b, &server, "tara").await;
    b.wait_for_text("Your account").await;
    add_passkey(&b, "Laptop").await;

    // The relying party asks for phr: the user is asked for the passkey, nothing else.
    b.client.goto(&format!("{app}/login")).await.unwrap();
    let page = b.wait_for_text("Confirm it's you").await;
    assert!(!page.contains("Try another way"), "{page}");
    b.click_button("Use a passkey").await;
    b.wait_for_text("Signed in").await;
    assert_eq!(claim(&b, "acr").await, "phr");
    let amr = claim(&b, "amr").await;
    assert!(
        amr.starts_with("pwd pop user") && amr.ends_with("mfa"),
        "{amr}"
    );
}

/// The hosted pages a person meets, in order, in Chromium: the account page, the sign-in
/// page, the passkey second step and the consent page of a third-party app. With
/// `IDP_SCREENSHOTS=DIR` it saves the README's screenshots.
#[tokio::test]
async fn a_third_party_app_asks_for_consent_after_a_password_and_a_passkey() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.add_user("iris", PASSWORD).await;
    let app = start_demo_app(&server).await;
    // The demo app as a third-party app.
    let client = idp::admin::clients::list(&server.db)
        .await
        .map_err(|e| e.to_string())
        .unwrap()
        .remove(0);
    let mut settings = idp::admin::clients::NewClient::from_client(&client);
    settings.first_party = false;
    settings.name = "Photo Print".into();
    idp::admin::clients::update(
        &server.db,
        &idp::admin::Actor::Cli,
        &client.client_id,
        settings,
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();

    b.without_passkey_autofill().await;
    b.client.set_window_size(900, 900).await.unwrap();
    b.client.goto(&server.url("/")).await.unwrap();
    b.add_authenticator().await;
    password_sign_in_to_account(&b, &server, "iris").await;
    b.wait_for_text("Your account").await;
    add_passkey(&b, "Laptop").await;
    b.screenshot("account").await;
    b.click_button("Sign out").await;
    b.wait_for_text("You are signed out").await;

    b.client.goto(&format!("{app}/login")).await.unwrap();
    b.wait_for_text("Photo Print").await;
    b.screenshot("sign-in").await;
    b.fill("Username", "iris").await;
    b.fill("Password", PASSWORD).await;
    b.click_button("Sign in").await;
    b.wait_for_text("Confirm it's you").await;
    b.screenshot("second-factor").await;
    b.click_button("Use a passkey").await;
    let page = b
        .wait_for_text("Allow Photo Print to use your account?")
        .await;
    assert!(
        page.contains("See your username and name") || page.contains("Know who you are"),
        "{page}"
    );
    b.screenshot("consent").await;
    b.click_button("Allow").await;
    b.wait_for_text("Signed in").await;
    assert_eq!(claim(&b, "acr").await, "phr");

    // The app is now listed on the account page, with "Revoke access".
    b.client.goto(&server.url("/account")).await.unwrap();
    let page = b.wait_for_text("Apps with access").await;
    assert!(
        page.contains("Photo Print") && page.contains("Revoke access"),
        "{page}"
    );
}
