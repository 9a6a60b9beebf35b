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

    // The audit log, filtered by user (name or id), type and days.
    let audit = |query: String| {
        let http = http.clone();
        let url = server.url(&format!("/admin?{query}"));
        async move { self::page(&http, url).await }
    };
    let (status, html) = audit("user=tim&type=user_disabled".into()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<td>user_disabled</td>") && !html.contains("<td>user_enabled</td>"),
        "{html}"
    );
    let (_, html) = audit(format!("user={}&type=user_enabled", target.id)).await;
    assert!(html.contains("<td>user_enabled</td>"), "{html}");
    let (_, html) = audit("from=2000-01-01&to=2000-01-02".into()).await;
    assert!(html.contains("No events."), "{html}");
    let (status, html) = audit("from=last-week".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("Not a date"), "{html}");
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

/// Ada, an admin signed in with her passkey in a fresh browser; returns that browser and her
/// account.
async fn admin_with_passkey(server: &TestServer) -> (reqwest::Client, idp::model::user::User) {
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(server, "ada").await;
    let mut soft = SoftPasskey::new(true);
    let credential_id = account.register(server, &mut soft).await;
    idp::admin::users::set_admin(&server.db, &Actor::Cli, "ada", true)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let signed_in = open_sign_in(server, &creds.client.client_id).await;
    let (ceremony, options) = signed_in.begin(server, &credential_id).await;
    let credential = assertion(server, &mut soft, options, &account.user.id);
    let finished = signed_in.finish(server, &ceremony, &credential).await;
    assert_eq!(finished.status(), StatusCode::OK);
    (signed_in.http, account.user)
}

async fn page(http: &reqwest::Client, url: String) -> (StatusCode, String) {
    let response = http.get(url).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn an_admin_adds_a_user_sees_their_sign_in_methods_and_deletes_them() {
    let server = TestServer::start().await;
    let (http, ada) = admin_with_passkey(&server).await;
    let (_, html) = page(&http, server.url("/admin")).await;
    assert!(html.contains("Add a user"), "{html}");
    let csrf = meta_csrf(&html);

    // A bad username is refused on the page, and nobody is added.
    let add = |username: &'static str, csrf: String| {
        http.post(server.url("/admin/users"))
            .form(&[
                ("csrf_token", csrf.as_str()),
                ("username", username),
                ("name", "Walter"),
                ("email", ""),
            ])
            .send()
    };
    let refused = add("no spaces here", csrf.clone()).await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("role=\"alert\""));
    assert_eq!(
        add("walt", "forged".into()).await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        idp::admin::users::list(&server.db)
            .await
            .map_err(|e| e.to_string())
            .unwrap()
            .len(),
        1
    );

    // Added without a password: his page says how he gets in.
    let added = add("Walt", csrf.clone()).await.unwrap();
    // A username that is taken is refused on the page, whatever its case.
    let taken = add("WALT", csrf.clone()).await.unwrap();
    assert_eq!(taken.status(), StatusCode::BAD_REQUEST);
    let html = taken.text().await.unwrap();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let walt = idp::admin::users::find(&server.db, "walt")
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(location(&added), format!("/admin/users/{}", walt.id));
    assert_eq!(walt.name.as_deref(), Some("Walter"));
    let (status, html) = page(&http, server.url(&location(&added))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("User walt")
            && html.contains("walt added. Make a recovery link")
            && html.contains("No way to sign in"),
        "{html}"
    );

    // Tim's page lists his password and passkey with their dates, never a secret.
    let tim = sign_in_to_account(&server, "tim").await;
    tim.register(&server, &mut SoftPasskey::new(true)).await;
    let (_, html) = page(&http, server.url(&format!("/admin/users/{}", tim.user.id))).await;
    assert!(
        html.contains("<td>Password</td>") && html.contains("<td>Passkey</td>"),
        "{html}"
    );
    assert!(html.contains("Soft key") && html.contains("data-recovery-codes-left>10<"));
    assert!(
        !html.contains("$argon2") && !html.contains("\"cred\""),
        "{html}"
    );

    // Actions from a user's page come back to it; an admin cannot lock herself out here.
    let act = |user_id: String, action: &'static str| {
        http.post(server.url("/admin/users/action"))
            .form(&[
                ("csrf_token", csrf.clone()),
                ("user_id", user_id),
                ("action", action.into()),
                ("return_to", "user".into()),
            ])
            .send()
    };
    let done = act(tim.user.id.clone(), "require-passkey").await.unwrap();
    assert_eq!(location(&done), format!("/admin/users/{}", tim.user.id));
    for action in ["delete", "disable", "reset"] {
        let refused = act(ada.id.clone(), action).await.unwrap();
        assert_eq!(location(&refused), format!("/admin/users/{}", ada.id));
    }
    let (_, html) = page(&http, server.url(&format!("/admin/users/{}", ada.id))).await;
    assert!(
        html.contains("cannot do that to your own account"),
        "{html}"
    );
    assert!(
        !html.contains("Delete user"),
        "no delete button for oneself"
    );
    let still = idp::admin::users::get(&server.db, &ada.id)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    assert!(!still.disabled);
    assert_eq!(
        idp::store::passkeys::count(&server.db, &ada.id)
            .await
            .unwrap(),
        1
    );

    // Deleting Walt: back to the list; his page is gone.
    // A button the page never had is refused, and changes nothing.
    let unknown = act(walt.id.clone(), "promote").await.unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert!(unknown.text().await.unwrap().contains("Unknown action"));
    let deleted = act(walt.id.clone(), "delete").await.unwrap();
    assert_eq!(location(&deleted), "/admin");
    let (_, html) = page(&http, server.url("/admin")).await;
    assert!(html.contains("walt deleted."), "{html}");
    let (status, html) = page(&http, server.url(&format!("/admin/users/{}", walt.id))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("No such user"));
    let (status, _) = page(&http, server.url("/admin/users/nobody")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Not for anyone else.
    let (status, _) = page(
        &tim.http,
        server.url(&format!("/admin/users/{}", tim.user.id)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let events = idp::store::security_events::query(
        &server.db,
        &idp::store::security_events::EventFilter {
            user_id: Some(walt.id.clone()),
            ..Default::default()
        },
        10,
        true,
    )
    .await
    .unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(
        kinds.contains(&"user_created") && kinds.contains(&"account_deleted"),
        "{kinds:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e.actor.as_deref() == Some(&format!("admin:{}", ada.id)))
    );
}

/// The introspection endpoint's answer to a client authenticating with `secret`.
async fn introspect_as(server: &TestServer, client_id: &str, secret: &str) -> StatusCode {
    reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", "not-a-token")])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn an_admin_changes_a_clients_settings_and_rotates_its_secret_on_its_page() {
    let server = TestServer::start().await;
    let (http, ada) = admin_with_passkey(&server).await;
    let creds = server.confidential_client().await;
    let id = creds.client.client_id.clone();
    let url = server.url(&format!("/admin/clients/{id}"));

    // Listed with a link to its page, which shows what it is and its settings.
    let (_, html) = page(&http, server.url("/admin")).await;
    assert!(
        html.contains(&format!("href=\"/admin/clients/{id}\"")),
        "{html}"
    );
    let (status, html) = page(&http, url.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("client_secret_basic") && html.contains("Rotate secret"),
        "{html}"
    );
    let csrf = meta_csrf(&html);
    let mut form = Form::parse(&html);
    assert!(
        form.fields
            .contains(&("redirect_uris".into(), REDIRECT_URI.into()))
    );
    form.fill("Name", "Renamed app")
        .fill(
            "Redirect URIs (one per line)",
            &format!("{REDIRECT_URI}\nhttps://app.example/other"),
        )
        .fill(
            "Access token lifetime (e.g. 15m; empty: the server's)",
            "15m",
        )
        .fill("Logo URL (optional)", "https://app.example/logo.png");

    // Refused changes say why, keep what was typed, and change nothing.
    let mut bad = form.clone();
    bad.fill("Redirect URIs (one per line)", "http://evil.example/cb");
    let refused = bad.submit(&http, &url, "Save changes").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(
        Form::parse(&html)
            .fields
            .contains(&("redirect_uris".into(), "http://evil.example/cb".into())),
        "what was typed stays"
    );
    let mut bad = form.clone();
    bad.fill(
        "Refresh token lifetime (e.g. 30d; empty: the server's)",
        "soon",
    );
    let refused = bad.submit(&http, &url, "Save changes").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("Refresh token lifetime")
    );
    // No grant type ticked, or a level the page does not offer: refused, with the reason.
    let mut bad = form.clone();
    bad.fields.retain(|(name, _)| !name.starts_with("grant_"));
    let refused = bad.submit(&http, &url, "Save changes").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("Tick at least one grant type."), "{html}");
    let mut bad = form.clone();
    bad.fields.retain(|(name, _)| name != "min_acr");
    bad.fields.push(("min_acr".into(), "superhuman".into()));
    let refused = bad.submit(&http, &url, "Save changes").await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    let html = refused.text().await.unwrap();
    assert!(html.contains("unknown level"), "{html}");
    let forged = http
        .post(&url)
        .form(&[("csrf_token", "forged"), ("name", "Evil")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let unchanged = idp::admin::clients::get(&server.db, &id)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(unchanged.name, creds.client.name);
    assert_eq!(unchanged.redirect_uris, vec![REDIRECT_URI]);

    // Saved: the stored client has the new settings, the rest as it was.
    let saved = form.submit(&http, &url, "Save changes").await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&saved), format!("/admin/clients/{id}"));
    let (_, html) = page(&http, url.clone()).await;
    assert!(html.contains("Settings saved."), "{html}");
    let client = idp::admin::clients::get(&server.db, &id)
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(client.name, "Renamed app");
    assert_eq!(
        client.redirect_uris,
        vec![REDIRECT_URI, "https://app.example/other"]
    );
    assert_eq!(client.access_token_lifetime, Some(900));
    assert_eq!(
        client.logo_uri.as_deref(),
        Some("https://app.example/logo.png")
    );
    assert_eq!(client.grant_types, unchanged.grant_types);
    assert_eq!(
        client.token_endpoint_auth_method,
        unchanged.token_endpoint_auth_method
    );

    // A new secret, shown once; the old one stops working.
    assert_eq!(
        introspect_as(&server, &id, &creds.client_secret.clone().unwrap()).await,
        StatusCode::OK
    );
    let rotate = server.url(&format!("/admin/clients/{id}/rotate-secret"));
    let forged = http
        .post(&rotate)
        .form(&[("csrf_token", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let rotated = http
        .post(&rotate)
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(rotated.status(), StatusCode::OK);
    let html = rotated.text().await.unwrap();
    assert!(html.contains("New client secret"), "{html}");
    let secret = html
        .split_once("id=\"client-secret\">")
        .and_then(|(_, rest)| rest.split_once('<'))
        .map(|(secret, _)| secret.to_owned())
        .unwrap();
    assert_eq!(introspect_as(&server, &id, &secret).await, StatusCode::OK);
    assert_eq!(
        introspect_as(&server, &id, &creds.client_secret.clone().unwrap()).await,
        StatusCode::UNAUTHORIZED
    );

    // A public client has no secret to rotate; an unknown client has no page.
    let public = server
        .add_client(REDIRECT_URI, true, idp::crypto::keys::SigningAlg::Es256)
        .await;
    let (_, html) = page(
        &http,
        server.url(&format!("/admin/clients/{}", public.client.client_id)),
    )
    .await;
    assert!(!html.contains("Rotate secret"), "{html}");
    let refused = http
        .post(server.url(&format!(
            "/admin/clients/{}/rotate-secret",
            public.client.client_id
        )))
        .form(&[("csrf_token", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SEE_OTHER);
    let (_, html) = page(&http, server.url(&location(&refused))).await;
    assert!(html.contains("has no secret"), "{html}");
    let (status, html) = page(&http, server.url("/admin/clients/0123")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("No such client"));

    let events = idp::store::security_events::query(
        &server.db,
        &idp::store::security_events::EventFilter::default(),
        50,
        false,
    )
    .await
    .unwrap();
    let admin = format!("admin:{}", ada.id);
    for kind in ["client_updated", "client_secret_rotated"] {
        let by_ada = events
            .iter()
            .filter(|e| e.kind == kind && e.actor.as_deref() == Some(admin.as_str()))
            .count();
        assert_eq!(by_ada, 1, "{kind}");
    }
}

/// A passkey sign-in counts as phishing-resistant for `policy.phr_lifetime` (12 h by
/// default): an older one no longer opens the admin pages or the API, though the session
/// lives on.
#[tokio::test]
async fn administration_needs_a_passkey_sign_in_within_the_phr_lifetime() {
    use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
    let server = TestServer::start().await;
    let (http, ada) = admin_with_passkey(&server).await;
    let (status, _) = page(&http, server.url("/admin")).await;
    assert_eq!(status, StatusCode::OK);

    // Thirteen hours later (the session's record says so).
    let sessions = entity::user_session::Entity::find()
        .filter(entity::user_session::Column::UserId.eq(ada.id.as_str()))
        .all(&server.db)
        .await
        .unwrap();
    assert!(!sessions.is_empty());
    for row in sessions {
        let mut authentication: serde_json::Value =
            serde_json::from_str(&row.authentication).unwrap();
        authentication["auth_time"] = (idp::model::now() - 13 * 3600).into();
        let mut row: entity::user_session::ActiveModel = row.into();
        row.authentication = Set(authentication.to_string());
        row.update(&server.db).await.unwrap();
    }
    let (status, html) = page(&http, server.url("/admin")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(html.contains("Sign in with a passkey"), "{html}");
    let api = http
        .get(server.url("/admin/api/v1/users"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        api.json::<serde_json::Value>().await.unwrap()["error"],
        "insufficient_assurance"
    );
}
