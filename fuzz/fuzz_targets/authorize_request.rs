//! The authorization request parser: raw query bytes through the form decoder and every
//! check of `authorize_request::parse`, against one registered public and one confidential
//! client. It must answer (a request or an error), never panic.
#![no_main]

use std::sync::OnceLock;

use idp::{
    config::Config,
    crypto::keys::SigningAlg,
    model::client::{Client, ClientType, GrantType, TokenEndpointAuthMethod},
    oidc::{authorize_request, form},
};
use libfuzzer_sys::fuzz_target;

fn client(id: &str, client_type: ClientType) -> Client {
    Client {
        client_id: id.into(),
        name: "Fuzzed app".into(),
        client_type,
        token_endpoint_auth_method: match client_type {
            ClientType::Public => TokenEndpointAuthMethod::None,
            ClientType::Confidential => TokenEndpointAuthMethod::ClientSecretBasic,
        },
        id_token_signed_response_alg: SigningAlg::Es256,
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1/cb".into(),
        ],
        post_logout_redirect_uris: Vec::new(),
        min_acr: None,
        grant_types: GrantType::DEFAULT.to_vec(),
        scope: None,
        require_pushed_authorization_requests: false,
        jwks: None,
        jwks_uri: None,
        dpop_bound_access_tokens: false,
        backchannel_logout_uri: None,
        refresh_tokens_without_offline_access: false,
        rotate_dpop_bound_refresh_tokens: true,
        secret_hash: None,
        created_at: 0,
    }
}

struct Fixture {
    config: Config,
    runtime: tokio::runtime::Runtime,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| Fixture {
        config: Config::default(),
        runtime: tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
    })
}

fuzz_target!(|data: &[u8]| {
    let Some(params) = form::decode(data) else {
        return;
    };
    let fixture = fixture();
    let ladder = fixture.config.acr_ladder();
    let _ = fixture.runtime.block_on(authorize_request::parse(
        &params,
        &ladder,
        |id| async move {
            Ok(match id.as_str() {
                "public" => Some(client("public", ClientType::Public)),
                "confidential" => Some(client("confidential", ClientType::Confidential)),
                _ => None,
            })
        },
    ));
});
