//! The WebAuthn JSON a browser posts: registration responses (against a real registration
//! state) and assertion responses (the usernameless lookup), through our passkey service.
#![no_main]

use std::sync::OnceLock;

use idp::{config::Config, mfa::passkey::PasskeyService};
use libfuzzer_sys::fuzz_target;
use webauthn_rs::prelude::{PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential};

struct Fixture {
    service: PasskeyService,
    registration: PasskeyRegistration,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let service = PasskeyService::new(&Config::default())
            .unwrap()
            .expect("passkeys are on by default");
        let (_, registration) = service
            .start_registration("67e55044-10b1-426f-9247-bb680e5fe0c8", "fuzz", "Fuzz", &[])
            .unwrap();
        Fixture {
            service,
            registration,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    if let Ok(response) = serde_json::from_slice::<RegisterPublicKeyCredential>(data) {
        let _ = fixture
            .service
            .finish_registration(&response, &fixture.registration);
    }
    if let Ok(response) = serde_json::from_slice::<PublicKeyCredential>(data) {
        let _ = fixture.service.identify(&response);
    }
});
