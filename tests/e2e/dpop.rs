//! DPoP (RFC 9449): proofs built with josekit; tokens bound to the client's key (`cnf.jkt`)
//! at the token endpoint, honoured at userinfo and introspection; public clients' refresh
//! tokens bound too; every malformed, misdirected or replayed proof refused; server nonces.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use josekit::{
    jwk::{Jwk, alg::ec::EcCurve},
    jws::{ES256, JwsHeader},
    jwt::{self, JwtPayload},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::{passkey_api::decode_claims, support::*};
use idp::{admin::clients::NewClient, crypto::keys::SigningAlg, model::client::GrantType};

pub fn key() -> Jwk {
    Jwk::generate_ec_key(EcCurve::P256).unwrap()
}

/// RFC 7638 thumbprint, computed here independently of the server.
fn thumbprint(key: &Jwk) -> String {
    let public = key.to_public_key().unwrap();
    let member = |name: &str| public.parameter(name).unwrap().as_str().unwrap().to_owned();
    let canonical = format!(
        r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
        member("crv"),
        member("x"),
        member("y")
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A DPoP proof for `htm` `htu`, with `changes` applied to the standard claims and `typ`.
pub fn proof(
    key: &Jwk,
    htm: &str,
    htu: &str,
    token: Option<&str>,
    changes: &[(&str, Value)],
) -> String {
    let mut claims = json!({
        "jti": idp::crypto::random::id(),
        "htm": htm,
        "htu": htu,
        "iat": idp::model::now(),
    });
    if let Some(token) = token {
        claims["ath"] = json!(URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes())));
    }
    let mut typ = "dpop+jwt".to_owned();
    let mut jwk = Value::Object(key.to_public_key().unwrap().as_ref().clone());
    for (name, value) in changes {
        match *name {
            "typ" => typ = value.as_str().unwrap().to_owned(),
            "jwk" => jwk = value.clone(),
            _ if value.is_null() => {
                claims.as_object_mut().unwrap().remove(*name);
            }
            _ => claims[*name] = value.clone(),
        }
    }
    let mut header = JwsHeader::new();
    header.set_token_type(&typ);
    header.set_claim("jwk", Some(jwk)).unwrap();
    let payload = JwtPayload::from_map(claims.as_object().unwrap().clone()).unwrap();
    jwt::encode_with_signer(&payload, &header, &ES256.signer_from_jwk(key).unwrap()).unwrap()
}

async fn token_with_proof(
    server: &TestServer,
    proof: Option<&str>,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(server.url("/token")).form(form);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    request.send().await.unwrap()
}

async fn userinfo(
    server: &TestServer,
    authorization: &str,
    proof: Option<&str>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .header("Authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_public_client_binds_its_tokens_to_its_key() {
    let server = TestServer::start().await;
    let client = server
        .add_client(REDIRECT_URI, true, SigningAlg::Es256)
        .await;
    let client_id = client.client.client_id.clone();
    server.add_user("dora", PASSWORD).await;
    let url = authorize_url_owned(&server, &code_request(&client_id));
    let redirect = sign_in_for_code(&browser(), &server, &url, "dora").await;
    let code = query_param(&redirect, "code").unwrap();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", VERIFIER),
        ("client_id", client_id.as_str()),
    ];
    let key = key();
    let token_url = server.url("/token");

    // Bad proofs are refused before the code is looked at.
    let other_key_private = Value::Object(key.as_ref().clone());
    for (why, bad) in [
        ("wrong method", proof(&key, "GET", &token_url, None, &[])),
        (
            "wrong URL",
            proof(&key, "POST", &server.url("/userinfo"), None, &[]),
        ),
        (
            "old",
            proof(
                &key,
                "POST",
                &token_url,
                None,
                &[("iat", json!(idp::model::now() - 3600))],
            ),
        ),
        (
            "future",
            proof(
                &key,
                "POST",
                &token_url,
                None,
                &[("iat", json!(idp::model::now() + 3600))],
            ),
        ),
        (
            "no jti",
            proof(&key, "POST", &token_url, None, &[("jti", Value::Null)]),
        ),
        (
            "typ JWT",
            proof(&key, "POST", &token_url, None, &[("typ", json!("JWT"))]),
        ),
        (
            "private jwk",
            proof(
                &key,
                "POST",
                &token_url,
                None,
                &[("jwk", other_key_private.clone())],
            ),
        ),
        (
            "another key's jwk",
            proof(
                &key,
                "POST",
                &token_url,
                None,
                &[(
                    "jwk",
                    Value::Object(self::key().to_public_key().unwrap().as_ref().clone()),
                )],
            ),
        ),
        ("not a JWT", "garbage".to_owned()),
    ] {
        let response = token_with_proof(&server, Some(&bad), None, &form).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{why}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{why}: {body}");
    }

    let good = proof(&key, "POST", &token_url, None, &[]);
    let response = token_with_proof(&server, Some(&good), None, &form).await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    let access_token = tokens["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        decode_claims(&access_token)["cnf"]["jkt"],
        thumbprint(&key),
        "bound to the key's RFC 7638 thumbprint"
    );

    // At userinfo: the DPoP scheme with a proof over this token.
    let userinfo_url = server.url("/userinfo");
    let at_proof = proof(&key, "GET", &userinfo_url, Some(&access_token), &[]);
    let response = userinfo(&server, &format!("DPoP {access_token}"), Some(&at_proof)).await;
    assert_eq!(response.status(), StatusCode::OK);
    // ...not as a bearer token, not without a proof, not with a replayed proof, not with
    // another key's proof or a proof for another token.
    let challenge = |response: &reqwest::Response| {
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    let response = userinfo(&server, &format!("Bearer {access_token}"), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // RFC 9449 §7.1: the challenge names the DPoP scheme and its algorithms.
    let said = challenge(&response);
    assert!(
        said.starts_with(r#"DPoP error="invalid_token""#) && said.contains("algs=\""),
        "{said}"
    );
    let response = userinfo(&server, &format!("DPoP {access_token}"), None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DPoP ")
    );
    let response = userinfo(&server, &format!("DPoP {access_token}"), Some(&at_proof)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "replayed");
    // Without any token: a challenge for each scheme userinfo takes.
    let bare = reqwest::Client::new()
        .get(&userinfo_url)
        .send()
        .await
        .unwrap();
    let schemes: Vec<String> = bare
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(schemes, ["Bearer", "DPoP"]);
    let stranger = self::key();
    let response = userinfo(
        &server,
        &format!("DPoP {access_token}"),
        Some(&proof(
            &stranger,
            "GET",
            &userinfo_url,
            Some(&access_token),
            &[],
        )),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = userinfo(
        &server,
        &format!("DPoP {access_token}"),
        Some(&proof(
            &key,
            "GET",
            &userinfo_url,
            Some("another token"),
            &[],
        )),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The refresh token is bound too (a public client's).
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh_form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", client_id.as_str()),
    ];
    for bad in [None, Some(proof(&stranger, "POST", &token_url, None, &[]))] {
        let response = token_with_proof(&server, bad.as_deref(), None, &refresh_form).await;
        assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;
    }
    let response = token_with_proof(
        &server,
        Some(&proof(&key, "POST", &token_url, None, &[])),
        None,
        &refresh_form,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: Value = response.json().await.unwrap();
    assert_eq!(refreshed["token_type"], "DPoP");

    let doc: Value = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["dpop_signing_alg_values_supported"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256"))
    );
}

async fn dpop_bound_machine(server: &TestServer) -> idp::admin::clients::ClientCredentials {
    idp::admin::clients::create(
        &server.db,
        &idp::admin::Actor::Cli,
        NewClient {
            grant_types: vec![GrantType::ClientCredentials],
            scopes: vec!["api".into()],
            dpop_bound: true,
            first_party: true,
            ..NewClient::new("Bound")
        },
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap()
}

#[tokio::test]
async fn a_dpop_bound_client_must_send_proofs_and_introspection_shows_the_binding() {
    let server = TestServer::start().await;
    let machine = dpop_bound_machine(&server).await;
    let basic = Some((
        machine.client.client_id.as_str(),
        machine.client_secret.as_deref().unwrap(),
    ));
    let form = [("grant_type", "client_credentials")];
    let response = token_with_proof(&server, None, basic, &form).await;
    assert_json_error(response, StatusCode::BAD_REQUEST, "invalid_dpop_proof").await;

    let key = key();
    let response = token_with_proof(
        &server,
        Some(&proof(&key, "POST", &server.url("/token"), None, &[])),
        basic,
        &form,
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    let introspected: Value = reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(&machine.client.client_id, machine.client_secret.as_deref())
        .form(&[("token", tokens["access_token"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected["active"], true);
    assert_eq!(introspected["token_type"], "DPoP");
    assert_eq!(introspected["cnf"]["jkt"], thumbprint(&key));
}

#[tokio::test]
async fn a_server_nonce_can_be_required() {
    let server = TestServer::start_with(|c| c.dpop.require_nonce = true).await;
    let machine = dpop_bound_machine(&server).await;
    let basic = Some((
        machine.client.client_id.as_str(),
        machine.client_secret.as_deref().unwrap(),
    ));
    let form = [("grant_type", "client_credentials")];
    let key = key();
    let token_url = server.url("/token");
    let first = token_with_proof(
        &server,
        Some(&proof(&key, "POST", &token_url, None, &[])),
        basic,
        &form,
    )
    .await;
    assert_eq!(first.status(), StatusCode::BAD_REQUEST);
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let body: Value = first.json().await.unwrap();
    assert_eq!(body["error"], "use_dpop_nonce");

    let forged = token_with_proof(
        &server,
        Some(&proof(
            &key,
            "POST",
            &token_url,
            None,
            &[("nonce", json!("made-up"))],
        )),
        basic,
        &form,
    )
    .await;
    assert_json_error(forged, StatusCode::BAD_REQUEST, "use_dpop_nonce").await;
    let retried = token_with_proof(
        &server,
        Some(&proof(
            &key,
            "POST",
            &token_url,
            None,
            &[("nonce", json!(nonce))],
        )),
        basic,
        &form,
    )
    .await;
    assert_eq!(retried.status(), StatusCode::OK);
}
