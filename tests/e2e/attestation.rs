//! Attestation (`webauthn.attestation = "direct"`) and the `phrh` level: a device-bound
//! passkey attested by a trusted authenticator model reaches `phrh`; a passkey that is not
//! (self-attested, or from an unlisted model) stays at `phr`, and can be refused outright.
//!
//! The trusted authenticator is webauthn-authenticator-rs' `SoftToken`, which signs a
//! packed attestation with a certificate chain to its own root; the test trusts that root.

use reqwest::StatusCode;
use serde_json::{Value, json};
use webauthn_authenticator_rs::{
    WebauthnAuthenticator,
    softpasskey::SoftPasskey,
    softtoken::{AAGUID, SoftToken},
};
use webauthn_rs::prelude::RequestChallengeResponse;

use crate::{
    passkey_api::{Account, SignInPage, meta_csrf, origin, sign_in_to_account},
    support::*,
    totp::exchange,
};
use idp::config::{AttestationConveyance, Config, TrustedAuthenticator};

const MODEL: &str = "Test security key";

/// A soft security key and a config fragment trusting its model, with the root in `dir`.
fn trusted_token(dir: &tempfile::TempDir) -> (SoftToken, TrustedAuthenticator) {
    use crypto_glue::traits::{EncodePem, LineEndingPem};
    let (token, root) = SoftToken::new(true).unwrap();
    let ca_file = dir.path().join("root.pem");
    std::fs::write(&ca_file, root.to_pem(LineEndingPem::LF).unwrap()).unwrap();
    let trusted = TrustedAuthenticator {
        name: MODEL.into(),
        aaguids: vec![AAGUID],
        ca_file,
    };
    (token, trusted)
}

fn direct(config: &mut Config, trusted: TrustedAuthenticator) {
    config.webauthn.attestation = AttestationConveyance::Direct;
    config.webauthn.trusted_authenticators = vec![trusted];
}

fn essential(values: &[&str]) -> String {
    json!({"id_token": {"acr": {"essential": true, "values": values}}}).to_string()
}

/// Registers a passkey without naming it; returns the stored passkey as the API lists it.
async fn register_unnamed(
    server: &TestServer,
    account: &Account,
    authenticator: &mut impl WebauthnAuthenticator,
) -> reqwest::Response {
    let (ceremony, options) = account.begin_registration(server).await;
    assert_eq!(
        serde_json::to_value(&options.public_key.attestation).unwrap(),
        "direct",
        "attestation is asked for"
    );
    let credential = authenticator
        .do_registration(origin(server), options)
        .unwrap();
    account
        .finish_registration_named(
            server,
            &ceremony,
            serde_json::to_value(credential).unwrap(),
            None,
        )
        .await
}

/// Password sign-in asking essentially for `phrh`: where the browser is sent.
async fn sign_in_for_phrh(
    server: &TestServer,
    client_id: &str,
    username: &str,
) -> (reqwest::Client, String) {
    let http = browser();
    let mut params = code_request(client_id);
    params.push(("claims", essential(&["phrh"])));
    let url = authorize_url_owned(server, &params);
    let response = sign_in(&http, server, &url, username, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    (http, location(&response))
}

#[tokio::test]
async fn a_trusted_device_bound_passkey_reaches_phrh() {
    let dir = tempfile::tempdir().unwrap();
    let (mut token, trusted) = trusted_token(&dir);
    let server = TestServer::start_with(|c| direct(c, trusted)).await;
    let creds = server.confidential_client().await;

    let doc: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["acr_values_supported"],
        json!(["pwd", "mfa", "phr", "phrh"])
    );

    let account = sign_in_to_account(&server, "hana").await;
    // A self-attested passkey is still welcome, as an ordinary passkey...
    let mut synced = SoftPasskey::new(true);
    let ordinary = account.register(&server, &mut synced).await;
    // ...and the trusted key is named after its model.
    let response = register_unnamed(&server, &account, &mut token).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["passkey"]["name"], MODEL);
    assert_eq!(body["passkey"]["aaguid"], AAGUID.to_string());
    assert_eq!(body["passkey"]["backup_eligible"], false);
    let hardware = body["passkey"]["credential_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let list: Value = account
        .http
        .get(server.url("/account/api/passkeys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Both were added within the same second, so their order is not fixed.
    let mut models: Vec<String> = list["passkeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["attested_model"].to_string())
        .collect();
    models.sort();
    assert_eq!(models, ["\"Test security key\"", "null"]);

    // A client that demands phrh: after the password only the attested key is asked for.
    let (http, to) = sign_in_for_phrh(&server, &creds.client.client_id, "hana").await;
    assert!(to.starts_with("/login?tx="), "{to}");
    let html = http
        .get(server.url(&to))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Use a passkey"), "{html}");
    let page = SignInPage {
        tx: query_param(&server.url(&to), "tx").unwrap(),
        csrf: meta_csrf(&html),
        http,
    };
    let begin: Value = page
        .post(&server, "/login/passkey/begin", &json!({"tx": page.tx}))
        .await
        .json()
        .await
        .unwrap();
    let allowed: Vec<&str> = begin["options"]["publicKey"]["allowCredentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(allowed, [hardware.as_str()], "not {ordinary}");
    let options: RequestChallengeResponse =
        serde_json::from_value(begin["options"].clone()).unwrap();
    let answer =
        serde_json::to_value(token.do_authentication(origin(&server), options).unwrap()).unwrap();
    let done = page
        .finish(&server, begin["ceremony"].as_str().unwrap(), &answer)
        .await;
    assert_eq!(done.status(), StatusCode::OK);
    let done: Value = done.json().await.unwrap();
    let claims = exchange(&server, &creds, done["redirect"].as_str().unwrap()).await;
    assert_eq!(claims["acr"], "phrh");
    assert_eq!(claims["amr"], json!(["pwd", "pop", "user", "hwk", "mfa"]));
}

#[tokio::test]
async fn without_an_attested_passkey_phrh_is_unmet() {
    let dir = tempfile::tempdir().unwrap();
    let (_token, trusted) = trusted_token(&dir);
    let server = TestServer::start_with(|c| direct(c, trusted)).await;
    let creds = server.confidential_client().await;
    let account = sign_in_to_account(&server, "ivo").await;
    account.register(&server, &mut SoftPasskey::new(true)).await;

    let (_, to) = sign_in_for_phrh(&server, &creds.client.client_id, "ivo").await;
    assert!(to.starts_with(REDIRECT_URI), "{to}");
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unmet_authentication_requirements")
    );
}

#[tokio::test]
async fn require_trusted_authenticator_refuses_other_passkeys() {
    let dir = tempfile::tempdir().unwrap();
    let (mut token, trusted) = trusted_token(&dir);
    let server = TestServer::start_with(|c| {
        direct(c, trusted);
        c.webauthn.require_trusted_authenticator = true;
    })
    .await;
    let account = sign_in_to_account(&server, "jon").await;

    let response = register_unnamed(&server, &account, &mut SoftPasskey::new(true)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "untrusted_authenticator", "{body}");
    assert!(body["message"].as_str().unwrap().contains("not accepted"));
    assert_eq!(account.passkey_count(&server).await, 0, "nothing stored");

    let response = register_unnamed(&server, &account, &mut token).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(account.passkey_count(&server).await, 1);
}

#[tokio::test]
async fn phrh_is_not_offered_without_trusted_authenticators() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("kim", PASSWORD).await;
    let doc: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["acr_values_supported"], json!(["pwd", "mfa", "phr"]));
    // An essential request for a level we cannot assert is refused before any UI.
    let mut params = code_request(&creds.client.client_id);
    params.push(("claims", essential(&["phrh"])));
    let response = browser()
        .get(authorize_url_owned(&server, &params))
        .send()
        .await
        .unwrap();
    let to = location(&response);
    assert_eq!(
        query_param(&to, "error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{to}"
    );
}

#[test]
fn a_trusted_authenticator_root_that_cannot_be_read_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::default();
    let missing = dir.path().join("missing.pem");
    direct(
        &mut config,
        TrustedAuthenticator {
            name: MODEL.into(),
            aaguids: vec![AAGUID],
            ca_file: missing.clone(),
        },
    );
    let error = idp::mfa::passkey::PasskeyService::new(&config).unwrap_err();
    assert!(error.to_string().contains("missing.pem"), "{error}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnope\n").unwrap();
    config.webauthn.trusted_authenticators[0].ca_file = garbage;
    let error = idp::mfa::passkey::PasskeyService::new(&config).unwrap_err();
    assert!(
        error.to_string().contains("not an X.509 certificate"),
        "{error}"
    );
}
