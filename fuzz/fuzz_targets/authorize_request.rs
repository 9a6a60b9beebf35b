//! The authorization request parser: raw query bytes through the form decoder and every
//! check of `authorize_request::parse`, against one registered public and one confidential
//! client. It must answer (a request or an error), never panic.
#![no_main]

use std::sync::OnceLock;

use idp::{
    config::Config,
    model::client::{Client, ClientType},
    oidc::{authorize_request, form},
};
use libfuzzer_sys::fuzz_target;

fn client(id: &str, client_type: ClientType) -> Client {
    Client {
        redirect_uris: vec![
            "https://app.example/cb".into(),
            "http://127.0.0.1/cb".into(),
        ],
        ..Client::new(id, "Fuzzed app", client_type)
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
