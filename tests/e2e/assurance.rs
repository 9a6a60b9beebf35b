//! Requesting an authentication level: `acr_values`, the `claims` parameter, a client's
//! minimum, step-up from a weaker session, and the errors when a level cannot be met.

use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::RequestChallengeResponse;

use crate::{
    passkey_api::{SignInPage, meta_csrf, sign_in_to_account},
    support::*,
    totp::{enroll_totp, exchange, oathtool, submit_code},
};

fn essential(values: &[&str]) -> String {
    json!({"id_token": {"acr": {"essential": true, "values": values}}}).to_string()
}

fn request_with(client_id: &str, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut params = code_request(client_id);
    params.extend(extra.iter().cloned());
    params
}

/// Signs in with a password for `params` and returns where the browser was sent.
async fn password_sign_in(
    server: &TestServer,
    params: &[(&'static str, String)],
    username: &str,
) -> String {
    let url = authorize_url_owned(server, params);
    let response = sign_in(&browser(), server, &url, username, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

#[tokio::test]
async fn a_voluntary_level_gets_what_the_user_can_reach() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("mona", PASSWORD).await;
    let params = request_with(&creds.client.client_id, &[("acr_values", "phr mfa".into())]);
    let redirect = password_sign_in(&server, &params, "mona").await;
    let claims = exchange(&server, &creds, &redirect).await;
    assert_eq!(claims["acr"], "pwd");
}

#[tokio::test]
async fn an_essential_level_the_user_cannot_reach_is_unmet() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("ned", PASSWORD).await;
    let params = request_with(&creds.client.client_id, &[("claims", essential(&["phr"]))]);
    let redirect = password_sign_in(&server, &params, "ned").await;
    assert!(redirect.starts_with(REDIRECT_URI), "{redirect}");
    assert_eq!(
        query_param(&redirect, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    assert_eq!(query_param(&redirect, "state").as_deref(), Some("st4te"));
    assert_eq!(
        query_param(&redirect, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
    assert!(query_param(&redirect, "code").is_none());
}

#[tokio::test]
async fn unknown_values_are_ignored_when_voluntary_and_refused_when_essential() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let voluntary = request_with(
        &creds.client.client_id,
        &[("acr_values", "urn:example:gold".into())],
    );
    let response = browser()
        .get(authorize_url_owned(&server, &voluntary))
        .send()
        .await
        .unwrap();
    assert!(location(&response).starts_with("/login?tx="));

    let impossible = request_with(
        &creds.client.client_id,
        &[("claims", essential(&["urn:example:gold"]))],
    );
    let response = browser()
        .get(authorize_url_owned(&server, &impossible))
        .send()
        .await
        .unwrap();
    let to = location(&response);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{to}"
    );

    for bad in ["not json", "[1,2]"] {
        let malformed = request_with(&creds.client.client_id, &[("claims", bad.into())]);
        let response = browser()
            .get(authorize_url_owned(&server, &malformed))
            .send()
            .await
            .unwrap();
        assert_eq!(
            query_param(&location(&response), "error").as_deref(),
            Some("invalid_request")
        );
    }
}

#[tokio::test]
async fn a_client_minimum_applies_to_every_request() {
    let server = TestServer::start().await;
    let strict = idp::admin::clients::create(
        &server.db,
        &idp::admin::Actor::Cli,
        idp::admin::clients::NewClient {
            redirect_uris: vec![REDIRECT_URI.into()],
            min_acr: Some(idp::login::assurance::Level::Phr),
            first_party: true,
            ..idp::admin::clients::NewClient::new("Bank")
        },
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap();
    server.add_user("olaf", PASSWORD).await;
    let redirect = password_sign_in(&server, &code_request(&strict.client.client_id), "olaf").await;
    assert_eq!(
        query_param(&redirect, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
}

#[tokio::test]
async fn a_weaker_session_steps_up_to_a_passkey() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "pam").await;
    let (setup_key, _) = enroll_totp(&server, &account).await;
    let mut soft = SoftPasskey::new(true);
    account.register(&server, &mut soft).await;

    // Sign in with password + app code: acr mfa.
    let browser = browser();
    let params = code_request(&creds.client.client_id);
    let url = authorize_url_owned(&server, &params);
    let response = sign_in(&browser, &server, &url, "pam", PASSWORD).await;
    let tx = query_param(&server.url(&location(&response)), "tx").unwrap();
    let totp_page = server.url(&format!("/login?tx={tx}&method=totp"));
    let response = submit_code(
        &browser,
        &totp_page,
        "Authentication code",
        &oathtool(&setup_key, 30),
    )
    .await;
    let first = exchange(&server, &creds, &location(&response)).await;
    assert_eq!(first["acr"], "mfa");

    // Without interaction an essential phr cannot be given...
    let silent = request_with(
        &creds.client.client_id,
        &[("prompt", "none".into()), ("claims", essential(&["phr"]))],
    );
    let to = location(
        &browser
            .get(authorize_url_owned(&server, &silent))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("interaction_required"),
        "{to}"
    );
    // ...and a voluntary one is answered with the session's level.
    let voluntary = request_with(
        &creds.client.client_id,
        &[("prompt", "none".into()), ("acr_values", "phr".into())],
    );
    let to = location(
        &browser
            .get(authorize_url_owned(&server, &voluntary))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(exchange(&server, &creds, &to).await["acr"], "mfa");

    // Asking for phr steps up: only the passkey is asked for.
    let step_up = request_with(&creds.client.client_id, &[("acr_values", "phr".into())]);
    let to = location(
        &browser
            .get(authorize_url_owned(&server, &step_up))
            .send()
            .await
            .unwrap(),
    );
    assert!(to.starts_with("/login?tx="), "{to}");
    let page_html = browser
        .get(server.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page_html.contains("Use a passkey"), "{page_html}");
    assert!(
        !page_html.contains("Try another way"),
        "a code would not reach phr"
    );
    let page = SignInPage {
        tx: query_param(&server.url(&to), "tx").unwrap(),
        csrf: meta_csrf(&page_html),
        http: browser.clone(),
    };
    let begin: Value = page
        .post(&server, "/login/passkey/begin", &json!({"tx": page.tx}))
        .await
        .json()
        .await
        .unwrap();
    let options: RequestChallengeResponse =
        serde_json::from_value(begin["options"].clone()).unwrap();
    let answer = serde_json::to_value(
        soft.do_authentication(Url::parse(&server.issuer).unwrap(), options)
            .unwrap(),
    )
    .unwrap();
    let done: Value = page
        .finish(&server, begin["ceremony"].as_str().unwrap(), &answer)
        .await
        .json()
        .await
        .unwrap();
    let stepped = exchange(&server, &creds, done["redirect"].as_str().unwrap()).await;
    assert_eq!(stepped["acr"], "phr");
    assert_eq!(stepped["amr"], json!(["pwd", "otp", "pop", "user", "mfa"]));
    assert!(stepped["auth_time"].as_i64() >= first["auth_time"].as_i64());
    assert_eq!(stepped["sub"], first["sub"]);
}

#[tokio::test]
async fn discovery_says_the_claims_parameter_and_the_ladder_are_supported() {
    let server = TestServer::start().await;
    let doc: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["claims_parameter_supported"], true);
    assert_eq!(doc["acr_values_supported"], json!(["pwd", "mfa", "phr"]));
}

#[tokio::test]
async fn renamed_levels_are_used_on_the_wire() {
    let server = TestServer::start_with(|c| {
        c.acr.pwd = "urn:example:loa:1".into();
        c.acr.phr = "urn:example:loa:3".into();
    })
    .await;
    let creds = server.confidential_client().await;
    server.add_user("pia", PASSWORD).await;
    let doc: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["acr_values_supported"],
        json!(["urn:example:loa:1", "mfa", "urn:example:loa:3"])
    );
    // The default name of a renamed level is no longer known: an essential request for it
    // cannot be met, while the new name can.
    let old_name = request_with(&creds.client.client_id, &[("claims", essential(&["pwd"]))]);
    let to = location(
        &browser()
            .get(authorize_url_owned(&server, &old_name))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
    let params = request_with(
        &creds.client.client_id,
        &[("claims", essential(&["urn:example:loa:1"]))],
    );
    let redirect = password_sign_in(&server, &params, "pia").await;
    let claims = exchange(&server, &creds, &redirect).await;
    assert_eq!(claims["acr"], "urn:example:loa:1");
}

use url::Url;

#[tokio::test]
async fn a_global_mfa_policy_sends_users_without_a_second_factor_to_enrollment() {
    let server = TestServer::start_with(|c| c.policy.require_mfa = true).await;
    let creds = server.confidential_client().await;
    server.add_user("quentin", PASSWORD).await;
    let http = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let response = sign_in(&http, &server, &url, "quentin", PASSWORD).await;
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
    assert!(page.contains("Set up a second factor"), "{page}");
}

#[tokio::test]
async fn passkeys_only_refuses_the_password_of_passkey_users() {
    let server = TestServer::start_with(|c| c.policy.passkeys_only = true).await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "rhea").await;
    let mut soft = SoftPasskey::new(true);
    account.register(&server, &mut soft).await;
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let response = sign_in(&browser(), &server, &url, "rhea", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Your account signs in with a passkey")
    );
    // A wrong password still gets the usual answer, which says nothing about passkeys.
    let response = sign_in(&browser(), &server, &url, "rhea", "wrong password").await;
    let html = response.text().await.unwrap();
    assert!(
        html.contains("Incorrect username or password")
            && !html.contains("signs in with a passkey")
    );
    // Users without a passkey are not affected.
    server.add_user("saul", PASSWORD).await;
    let response = sign_in(&browser(), &server, &url, "saul", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}
