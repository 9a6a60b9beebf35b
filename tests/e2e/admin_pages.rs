//! The admin pages over HTTP: who gets in, CSRF on every form, user actions and their audit
//! events. (The client-registration page is driven in Chromium in browser_admin.rs.)

use reqwest::StatusCode;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::{
    passkey_api::{assertion, meta_csrf, open_sign_in, sign_in_to_account},
    support::*,
};
use idp::admin::Actor;

#[tokio::test]
async fn admin_pages_need_an_admin_with_a_passkey_and_their_forms_a_csrf_token() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let target = server.add_user("tim", PASSWORD).await;

    // Not signed in: sent to sign in.
    let anonymous = browser().get(server.url("/admin")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert!(location(&anonymous).starts_with("/login?tx="));

    // Signed in, but not an admin; then an admin with a password only.
    let account = sign_in_to_account(&server, "ada").await;
    let mut soft = SoftPasskey::new(true);
    let credential_id = account.register(&server, &mut soft).await;
    let page = account.http.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(page.text().await.unwrap().contains("Not an admin"));
    idp::admin::users::set_admin(&server.db, &Actor::Cli, "ada", true)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let page = account.http.get(server.url("/admin")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::FORBIDDEN);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Sign in with a passkey")
    );

    // With the passkey: the page lists users; its forms work with the CSRF token only.
    let signed_in = open_sign_in(&server, &creds.client.client_id).await;
    let (ceremony, options) = signed_in.begin(&server, &credential_id).await;
    let credential = assertion(&server, &mut soft, options, &account.user.id);
    assert_eq!(
        signed_in
            .finish(&server, &ceremony, &credential)
            .await
            .status(),
        StatusCode::OK
    );
    let http = signed_in.http;
    let html = http
        .get(server.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Administration") && html.contains("tim"),
        "{html}"
    );
    let csrf = meta_csrf(&html);
    let act = |action: &'static str, csrf: String| {
        let http = http.clone();
        let url = server.url("/admin/users/action");
        let user_id = target.id.clone();
        async move {
            http.post(url)
                .form(&[
                    ("csrf_token", csrf),
                    ("user_id", user_id),
                    ("action", action.into()),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        act("disable", "wrong".into()).await.status(),
        StatusCode::FORBIDDEN
    );
    assert!(
        !idp::admin::users::get(&server.db, &target.id)
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .disabled
    );
    assert_eq!(
        act("explode", csrf.clone()).await.status(),
        StatusCode::BAD_REQUEST
    );
    let done = act("disable", csrf.clone()).await;
    assert_eq!(location(&done), "/admin");
    let html = http
        .get(server.url("/admin"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("tim disabled."), "{html}");
    assert!(
        idp::admin::users::get(&server.db, &target.id)
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .disabled
    );
    act("enable", csrf.clone()).await;
    act("sign-out", csrf.clone()).await;
    act("require-passkey", csrf.clone()).await;
    let html = http
        .get(server.url("/admin?q=tim"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("tim must add a passkey at their next sign-in.")
            && html.contains("Stop requiring a passkey"),
        "{html}"
    );
    act("passkey-not-required", csrf.clone()).await;
    assert!(
        !idp::admin::users::get(&server.db, &target.id)
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .require_passkey
    );
    assert_eq!(location(&act("reset", csrf.clone()).await), "/admin");
    let made = act("recovery-link", csrf.clone()).await;
    assert_eq!(made.status(), StatusCode::CREATED);
    let html = made.text().await.unwrap();
    assert!(
        html.contains("Recovery link for tim") && html.contains("recovery"),
        "{html}"
    );
    assert!(
        !idp::admin::users::get(&server.db, &target.id)
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .disabled
    );

    // Search, and the audit log with who did it.
    let html = http
        .get(server.url("/admin?q=nobody"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("No users match"), "{html}");
    let events = idp::store::security_events::query(
        &server.db,
        &idp::store::security_events::EventFilter {
            user_id: Some(target.id.clone()),
            ..Default::default()
        },
        10,
        true,
    )
    .await
    .unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    for kind in [
        "user_disabled",
        "user_enabled",
        "signed_out_everywhere",
        "passkey_required",
        "passkey_no_longer_required",
        "factors_reset",
        "recovery_link_created",
    ] {
        assert!(kinds.contains(&kind), "{kinds:?}");
    }
    assert!(
        events
            .iter()
            .filter(|e| e.kind != "user_created")
            .all(|e| e.actor.as_deref() == Some(&format!("admin:{}", account.user.id)))
    );

    // Deleting a client from the page needs the token too.
    let delete = |csrf: String| {
        let http = http.clone();
        let url = server.url("/admin/clients/delete");
        let client_id = creds.client.client_id.clone();
        async move {
            http.post(url)
                .form(&[("csrf_token", csrf), ("client_id", client_id)])
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(delete("nope".into()).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(location(&delete(csrf).await), "/admin");
    assert!(
        idp::admin::clients::get(&server.db, &creds.client.client_id)
            .await
            .is_err()
    );
}
