//! The admin pages in a real browser: an admin who signed in with a passkey registers a
//! client from the web page; a password sign-in is not enough. Every page on the way is
//! checked for text contrast (4.5:1, WCAG AA) in light and in dark mode.

use fantoccini::Locator;

use crate::{browser::Browser, support::*};
use idp::admin::Actor;

#[tokio::test]
async fn an_admin_signed_in_with_a_passkey_registers_a_client_on_the_admin_page() {
    let Some(b) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    server.add_user("ada", PASSWORD).await;
    server.add_user("bob", PASSWORD).await;
    idp::admin::users::set_admin(&server.db, &Actor::Cli, "ada", true)
        .await
        .map_err(|e| e.to_string())
        .unwrap();

    b.without_passkey_autofill().await;
    b.client.goto(&server.url("/")).await.unwrap();
    b.add_authenticator().await;
    // Signed in with a password, Ada adds a passkey; the admin page still refuses her.
    b.client.goto(&server.url("/account")).await.unwrap();
    b.wait_for_text("Sign in").await;
    b.assert_readable("the sign-in page").await;
    b.fill("Username", "ada").await;
    b.fill("Password", PASSWORD).await;
    b.click_button("Sign in").await;
    b.wait_for_text("Your account").await;
    b.assert_readable("the account page").await;
    b.fill("Passkey name", "Admin key").await;
    b.click_button("Add a passkey").await;
    b.wait_for_text("New name for Admin key").await;
    b.client.goto(&server.url("/admin")).await.unwrap();
    b.wait_for_text("Administration needs a sign-in with a passkey")
        .await;

    // Signed in again with the passkey, she gets in.
    b.client.goto(&server.url("/account")).await.unwrap();
    b.click_button("Sign out").await;
    b.wait_for_text("You are signed out").await;
    b.client.goto(&server.url("/admin")).await.unwrap();
    b.click_button("Sign in with a passkey").await;
    b.wait_for_text("Your account").await;
    b.client.goto(&server.url("/admin")).await.unwrap();
    b.wait_for_text("Register a client").await;
    b.assert_readable("the admin page").await;

    // A bad redirect URI is refused on the page, and nothing is registered.
    b.fill("Name", "Shop").await;
    b.fill("Redirect URIs (one per line)", "http://shop.example/cb")
        .await;
    b.click_button("Register client").await;
    b.wait_for_text("must use https").await;
    assert!(
        idp::admin::clients::list(&server.db)
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .is_empty()
    );

    b.fill("Name", "Shop").await;
    b.fill(
        "Redirect URIs (one per line)",
        "https://shop.example/cb\nhttp://localhost:3000/cb",
    )
    .await;
    b.click_button("Register client").await;
    b.wait_for_text("Client registered").await;
    b.assert_readable("the new client's page").await;
    let client_id = b
        .client
        .find(Locator::Id("client-id"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let secret = b
        .client
        .find(Locator::Id("client-secret"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(secret.len() >= 40);
    let client = idp::admin::clients::get(&server.db, &client_id)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(client.name, "Shop");
    assert_eq!(
        client.redirect_uris,
        vec!["https://shop.example/cb", "http://localhost:3000/cb"]
    );
    assert!(!client.first_party);

    // Its page, with the settings form.
    b.client
        .find(Locator::LinkText("The client's settings"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_text("Save changes").await;
    b.assert_readable("a client's page").await;

    // It is listed, and the audit log names Ada.
    b.client.goto(&server.url("/admin")).await.unwrap();
    let page = b.wait_for_text(&client_id).await;
    assert!(page.contains("client_created"), "{page}");

    // Another user's page, reached by their name: their sign-in methods and the actions.
    b.client
        .find(Locator::LinkText("bob"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_text("User bob").await;
    b.wait_for_text("Sign-in methods").await;
    b.assert_readable("a user's page").await;
}
