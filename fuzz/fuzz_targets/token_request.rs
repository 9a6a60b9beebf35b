//! The token endpoint's request parsing: the content type and the form body (duplicates,
//! encodings), as `FormParams::parse` sees them. The first byte picks the content type.
#![no_main]

use http::{HeaderMap, HeaderValue, header};
use idp::oidc::form::FormParams;
use libfuzzer_sys::fuzz_target;

const CONTENT_TYPES: [&str; 4] = [
    "application/x-www-form-urlencoded",
    "application/x-www-form-urlencoded; charset=UTF-8",
    "application/json",
    "APPLICATION/X-WWW-FORM-URLENCODED ; x=y",
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let mut headers = HeaderMap::new();
    if let Some(content_type) = CONTENT_TYPES.get(pick as usize % 5) {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    if let Ok(form) = FormParams::parse(&headers, body) {
        // What the token endpoint reads next.
        for name in [
            "grant_type",
            "code",
            "client_id",
            "client_assertion",
            "scope",
        ] {
            let _ = form.get(name);
        }
        assert!(form.pairs().count() <= body.len());
    }
});
