//! Sign-up in a real browser (headless Chromium with a virtual authenticator), through our
//! pages and page script: a stranger joins from a relying party's "Sign in" button with a
//! passkey and no password, later recovers on a new device with a recovery code; an invited
//! person joins from their link, which then no longer works, and deletes their account.

use fantoccini::Locator;

use crate::{
    browser::{Browser, start_demo_app},
    support::*,
};
use idp::config::SignupMode;

async fn click_link(b: &Browser, text: &str) {
    b.client
        .wait()
        .for_element(Locator::LinkText(text))
        .await
        .unwrap_or_else(|e| panic!("no link {text:?}: {e}"))
        .click()
        .await
        .unwrap();
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_stranger_signs_up_with_a_passkey_and_later_recovers_with_a_code() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start_with(|c| c.signup = SignupMode::Open).await;
    let app = start_demo_app(&server).await;
    b.without_passkey_autofill().await;
    b.client.goto(&server.url("/")).await.unwrap();
    let first_device = b.add_authenticator().await;

    b.client.goto(&format!("{app}/")).await.unwrap();
    click_link(&b, "Sign in with idp").await;
    b.wait_for_text("Test App").await;
    click_link(&b, "Create an account").await;
    b.wait_for_text("Create an account").await;
    b.fill("Username", "Newton").await;
    b.fill("Display name", "Isaac Newton").await;
    b.click_button("Create your passkey").await;
    b.wait_for_text("Save your recovery codes").await;
    let codes: Vec<String> = text_of(&b, "[data-recovery-codes]")
        .await
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(codes.len(), 10);
    b.click_button("Continue").await;
    b.wait_for_text("Signed in").await;
    let amr = text_of(&b, "#amr").await;
    assert!(amr.split(' ').any(|v| v == "pop"), "{amr}");
    assert!(!amr.split(' ').any(|v| v == "pwd"), "{amr}");
    assert_eq!(text_of(&b, "#acr").await, "phr");
    let credentials = b.credentials(&first_device).await;
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0]["isResidentCredential"], true);

    // The device is lost; on a new one the person uses a recovery code.
    b.remove_authenticator(&first_device).await;
    b.client.delete_all_cookies().await.unwrap();
    let new_device = b.add_authenticator().await;
    b.client.goto(&format!("{app}/login")).await.unwrap();
    b.wait_for_text("Test App").await;
    click_link(&b, "Lost your passkey? Use a recovery code").await;
    b.fill("Username", "newton").await;
    b.fill("Recovery code", &codes[3]).await;
    b.click_button("Sign in with a recovery code").await;
    b.wait_for_text("Add a new passkey").await;
    b.fill("Passkey name", "New phone").await;
    b.click_button("Add a passkey").await;
    b.wait_for_text("Signed in").await;
    let amr = text_of(&b, "#amr").await;
    assert!(amr.split(' ').any(|v| v == "recovery_code"), "{amr}");
    assert!(amr.split(' ').any(|v| v == "pop"), "{amr}");
    assert_eq!(b.credentials(&new_device).await.len(), 1);
}

#[tokio::test]
async fn an_invited_person_joins_once_and_can_delete_their_account() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start_with(|c| c.signup = SignupMode::Invite).await;
    let invitation = idp::admin::users::invite(
        &server.db,
        &idp::admin::Actor::Cli,
        &server.issuer,
        "uma@example.com",
        Some("uma"),
        std::time::Duration::from_secs(3600),
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    b.without_passkey_autofill().await;
    b.client.goto(&server.url("/")).await.unwrap();
    b.add_authenticator().await;

    b.client.goto(&invitation.link).await.unwrap();
    b.wait_for_text("Create an account").await;
    b.click_button("Create your passkey").await;
    b.wait_for_text("Save your recovery codes").await;
    b.click_button("Continue").await;
    let page = b.wait_for_text("Your account").await;
    assert!(page.contains("uma"), "{page}");

    // The link worked once.
    b.client.goto(&invitation.link).await.unwrap();
    b.wait_for_text("This invitation has been used").await;

    // Signed up with a passkey just now: strong and fresh enough to delete the account.
    b.client.goto(&server.url("/account")).await.unwrap();
    click_link(&b, "Delete my account…").await;
    b.wait_for_text("It cannot be undone").await;
    b.click_button("Delete my account").await;
    b.wait_for_text("Your account has been deleted").await;
    assert!(
        idp::store::users::find_by_username(&server.db, "uma")
            .await
            .unwrap()
            .is_none()
    );
    b.client.goto(&server.url("/account")).await.unwrap();
    b.wait_for_text("Sign in").await;
}
