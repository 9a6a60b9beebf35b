//! Page rendering with minijinja. The `default` theme is compiled into the binary; another
//! theme is read from `<themes_dir>/<theme>/` at start-up and may override any template or
//! static file, falling back to the default for the rest.

use std::{collections::HashMap, path::Path};

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use minijinja::Environment;

use crate::config::Branding;

/// Templates every theme provides, with the default theme's text.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../themes/default/templates/base.html"),
    ),
    (
        "login.html",
        include_str!("../../themes/default/templates/login.html"),
    ),
    (
        "logout.html",
        include_str!("../../themes/default/templates/logout.html"),
    ),
    (
        "signup.html",
        include_str!("../../themes/default/templates/signup.html"),
    ),
    (
        "signup_password.html",
        include_str!("../../themes/default/templates/signup_password.html"),
    ),
    (
        "recover.html",
        include_str!("../../themes/default/templates/recover.html"),
    ),
    (
        "delete_account.html",
        include_str!("../../themes/default/templates/delete_account.html"),
    ),
    (
        "error.html",
        include_str!("../../themes/default/templates/error.html"),
    ),
    (
        "second_factor.html",
        include_str!("../../themes/default/templates/second_factor.html"),
    ),
    (
        "account.html",
        include_str!("../../themes/default/templates/account.html"),
    ),
    (
        "consent.html",
        include_str!("../../themes/default/templates/consent.html"),
    ),
    (
        "recovery_link.html",
        include_str!("../../themes/default/templates/recovery_link.html"),
    ),
    (
        "admin.html",
        include_str!("../../themes/default/templates/admin.html"),
    ),
    (
        "admin_client.html",
        include_str!("../../themes/default/templates/admin_client.html"),
    ),
    (
        "admin_user.html",
        include_str!("../../themes/default/templates/admin_user.html"),
    ),
    (
        "admin_recovery_link.html",
        include_str!("../../themes/default/templates/admin_recovery_link.html"),
    ),
    (
        "admin_client_created.html",
        include_str!("../../themes/default/templates/admin_client_created.html"),
    ),
    (
        "signed_out.html",
        include_str!("../../themes/default/templates/signed_out.html"),
    ),
    (
        "code.html",
        include_str!("../../themes/default/templates/code.html"),
    ),
    (
        "another_way.html",
        include_str!("../../themes/default/templates/another_way.html"),
    ),
    (
        "choose.html",
        include_str!("../../themes/default/templates/choose.html"),
    ),
    (
        "recovery_used.html",
        include_str!("../../themes/default/templates/recovery_used.html"),
    ),
    (
        "totp_setup.html",
        include_str!("../../themes/default/templates/totp_setup.html"),
    ),
    (
        "enroll.html",
        include_str!("../../themes/default/templates/enroll.html"),
    ),
    (
        "enrolled.html",
        include_str!("../../themes/default/templates/enrolled.html"),
    ),
];

/// Static files of the default theme, with their content types.
const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    (
        "idp.css",
        "text/css; charset=utf-8",
        include_bytes!("../../themes/default/static/idp.css"),
    ),
    (
        "passkey.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../themes/default/static/passkey.js"),
    ),
];

/// The content type of a theme's static file, by extension; other files are not served.
fn content_type(name: &str) -> Option<&'static str> {
    let ext = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match ext.as_str() {
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        _ => return None,
    })
}

/// Formats a Unix time as `2026-12-02 12:34 UTC`.
fn datetime(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{}-{:02}-{:02} {:02}:{:02} UTC",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute()
        ),
        Err(_) => String::new(),
    }
}

pub struct Templates {
    env: Environment<'static>,
    static_files: HashMap<String, (&'static str, Vec<u8>)>,
}

impl Templates {
    /// Loads the theme named `theme` (`default` needs no files on disk): each template or
    /// static file the theme's directory has replaces the default one, the rest fall back to
    /// the default theme built into the binary. `branding` is available to every template and
    /// sets the accent colour through `/static/brand.css`.
    pub fn load(themes_dir: &Path, theme: &str, branding: &Branding) -> anyhow::Result<Templates> {
        let mut env = Environment::new();
        env.add_filter("datetime", datetime);
        env.add_global("product_name", branding.product_name.clone());
        env.add_global("logo_url", branding.logo_url.clone());
        let mut static_files: HashMap<String, (&'static str, Vec<u8>)> = STATIC_FILES
            .iter()
            .map(|(name, ty, body)| (name.to_string(), (*ty, body.to_vec())))
            .collect();
        let dir = themes_dir.join(theme);
        if theme != "default" && !dir.is_dir() {
            anyhow::bail!("theme: directory {} does not exist", dir.display());
        }
        for (name, default) in TEMPLATES {
            let path = dir.join("templates").join(name);
            let source = if theme != "default" && path.is_file() {
                std::fs::read_to_string(&path)
                    .map_err(|e| anyhow::anyhow!("theme: reading {}: {e}", path.display()))?
            } else {
                (*default).to_owned()
            };
            env.add_template_owned(*name, source)
                .map_err(|e| anyhow::anyhow!("theme: template {name}: {e}"))?;
        }
        if theme != "default" && dir.join("static").is_dir() {
            // Every file of the theme's static directory is served (its own logo, fonts...),
            // replacing a default one of the same name.
            let entries = std::fs::read_dir(dir.join("static"))
                .map_err(|e| anyhow::anyhow!("theme: reading {}: {e}", dir.display()))?;
            for entry in entries {
                let path = entry?.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                    continue;
                };
                let Some(ty) = content_type(name) else {
                    continue;
                };
                if path.is_file() {
                    let body = std::fs::read(&path)
                        .map_err(|e| anyhow::anyhow!("theme: reading {}: {e}", path.display()))?;
                    static_files.insert(name.to_owned(), (ty, body));
                }
            }
        }
        // The accent colour from the configuration, as a style sheet (inline styles are
        // forbidden by our Content-Security-Policy).
        static_files.insert(
            "brand.css".into(),
            (
                "text/css; charset=utf-8",
                format!(":root {{ --accent: {}; }}\n", branding.accent_color).into_bytes(),
            ),
        );
        Ok(Templates { env, static_files })
    }

    /// Renders a page; a template error is logged and becomes a plain 500.
    pub fn render(&self, status: StatusCode, name: &str, context: minijinja::Value) -> Response {
        let result = self.env.get_template(name).and_then(|t| t.render(context));
        match result {
            Ok(body) => {
                let mut response = (status, Html(body)).into_response();
                // Hosted pages carry one-time form tokens: never cache them.
                response
                    .headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                response
            }
            Err(e) => {
                tracing::error!(template = name, error = %e, "rendering a page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }

    /// An error page with a title and a message for the user.
    pub fn error_page(&self, status: StatusCode, title: &str, message: &str) -> Response {
        self.render(
            status,
            "error.html",
            minijinja::context! { title => title, message => message },
        )
    }

    pub fn static_file(&self, name: &str) -> Option<(&'static str, &[u8])> {
        self.static_files
            .get(name)
            .map(|(ty, body)| (*ty, body.as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_of_the_default_theme_renders() {
        let templates =
            Templates::load(Path::new("themes"), "default", &Branding::default()).unwrap();
        let passkey = minijinja::context! {
            id => "p1", name => "Laptop", backup_eligible => true,
            created_at => 1_700_000_000, last_used_at => 1_700_000_100,
        };
        let context = minijinja::context! {
            tx => "t", csrf_token => "c", username => "u", error => "e", client_name => "App",
            passkeys => vec![passkey], passkeys_enabled => true, has_password => true,
            user => minijinja::context! { username => "u", name => "U" },
            title => "T", message => "M", expires_at => 1_700_000_000, link => "https://l",
            u => minijinja::context! { id => "i", username => "u", created_at => 1_700_000_000 },
            methods => vec![minijinja::context! { kind => "passkey", name => "Key", created_at => 1_700_000_000 }],
            recovery_codes_left => 10,
            settings => minijinja::context! { name => "S", id_token_alg => "ES256" },
            levels => vec!["pwd"], algs => vec!["ES256"], created_at => 1_700_000_000,
        };
        for (name, _) in TEMPLATES {
            let response = templates.render(StatusCode::OK, name, context.clone());
            assert_eq!(response.status(), StatusCode::OK, "{name} failed to render");
        }
        assert_eq!(datetime(0), "1970-01-01 00:00 UTC");
        // Every template file of the theme is compiled in.
        for entry in std::fs::read_dir("themes/default/templates").unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            assert!(
                TEMPLATES.iter().any(|(name, _)| *name == file),
                "{file} is not registered"
            );
        }
    }
}
