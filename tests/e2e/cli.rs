//! The `idp` binary: configuration handling and the client and user commands, run as a
//! separate process the way an operator runs them.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use crate::support::*;

struct Cli {
    dir: tempfile::TempDir,
    database_url: String,
}

impl Cli {
    async fn new() -> Cli {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(&dir).await;
        Cli { dir, database_url }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_idp"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("IDP_DATABASE_URL", &self.database_url)
            .env_remove("RUST_LOG");
        command
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs a command that must fail; returns its one-line error.
    fn fails(&self, output: Output) -> String {
        assert!(
            !output.status.success(),
            "expected failure, got: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.starts_with("error: "), "{stderr}");
        stderr
    }
}

#[tokio::test]
async fn clients_are_created_listed_shown_rotated_and_removed() {
    let cli = Cli::new().await;
    let created: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "client",
        "add",
        "--name",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
        "--redirect-uri",
        "http://localhost:3000/cb",
        "--json",
    ]))
    .unwrap();
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "the secret carries at least 256 bits");

    let list: serde_json::Value =
        serde_json::from_str(&cli.ok(&["client", "list", "--json"])).unwrap();
    assert_eq!(list[0]["client_id"], id);
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["client", "show", id, "--json"])).unwrap();
    assert_eq!(shown["name"], "Shop");
    assert_eq!(shown["id_token_signed_response_alg"], "ES256");
    assert_eq!(
        shown["redirect_uris"],
        serde_json::json!(["https://shop.example/cb", "http://localhost:3000/cb"])
    );
    assert!(shown.get("client_secret").is_none() && !shown.to_string().contains(secret));
    assert!(
        cli.ok(&["client", "show", id])
            .contains("https://shop.example/cb")
    );

    let rotated: serde_json::Value =
        serde_json::from_str(&cli.ok(&["client", "rotate-secret", id, "--json"])).unwrap();
    assert_ne!(rotated["client_secret"], secret);

    let public: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "client",
        "add",
        "--name",
        "App",
        "--redirect-uri",
        "com.example.app:/cb",
        "--public",
        "--id-token-alg",
        "RS256",
        "--json",
    ]))
    .unwrap();
    assert!(public["client_secret"].is_null());
    let public_id = public["client_id"].as_str().unwrap();
    cli.fails(cli.run(&["client", "rotate-secret", public_id]));

    assert!(cli.ok(&["client", "remove", id]).contains(id));
    cli.fails(cli.run(&["client", "show", id]));
    cli.fails(cli.run(&["client", "remove", id]));
}

#[tokio::test]
async fn bad_client_arguments_write_nothing() {
    let cli = Cli::new().await;
    for args in [
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "not a uri",
        ][..],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "http://shop.example/cb",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://shop.example/cb#frag",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://ok.example/cb",
            "--redirect-uri",
            "javascript:alert(1)",
        ],
        &[
            "client",
            "add",
            "--name",
            " ",
            "--redirect-uri",
            "https://shop.example/cb",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://shop.example/cb",
            "--id-token-alg",
            "HS256",
        ],
    ] {
        let message = cli.fails(cli.run(args));
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    }
    let missing = cli.run(&["client", "add", "--name", "X"]);
    assert!(!missing.status.success());
    assert_eq!(cli.ok(&["client", "list", "--json"]).trim(), "[]");
}

#[tokio::test]
async fn users_are_created_with_a_password_from_stdin_and_can_be_disabled() {
    let cli = Cli::new().await;
    let out = cli.run_with_stdin(
        &[
            "user",
            "add",
            "yara",
            "--email",
            "yara@example.com",
            "--name",
            "Yara",
            "--password-stdin",
        ],
        "a long enough password\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let users: serde_json::Value =
        serde_json::from_str(&cli.ok(&["user", "list", "--json"])).unwrap();
    assert_eq!(users[0]["username"], "yara");
    assert_eq!(users[0]["email"], "yara@example.com");
    assert_eq!(users[0]["disabled"], false);
    cli.ok(&["user", "disable", "yara"]);
    assert!(cli.ok(&["user", "list"]).contains("(disabled)"));
    cli.ok(&["user", "enable", "yara"]);
    assert!(!cli.ok(&["user", "list"]).contains("(disabled)"));
    cli.fails(cli.run(&["user", "disable", "nobody"]));
}

#[tokio::test]
async fn bad_user_arguments_write_nothing() {
    let cli = Cli::new().await;
    cli.run_with_stdin(
        &["user", "add", "zoe", "--password-stdin"],
        "first password\n",
    );
    let duplicate = cli.fails(cli.run_with_stdin(
        &["user", "add", "zoe", "--password-stdin"],
        "other password\n",
    ));
    assert!(duplicate.contains("already exists"), "{duplicate}");
    let empty = cli.fails(cli.run_with_stdin(&["user", "add", "empty", "--password-stdin"], "\n"));
    assert!(empty.contains("empty"), "{empty}");
    cli.fails(cli.run_with_stdin(&["user", "add", "short", "--password-stdin"], "short\n"));
    cli.fails(cli.run(&["user", "add", "bad name"]));
    cli.fails(cli.run(&["user", "add", "mail", "--email", "not-an-address"]));
    let users: serde_json::Value =
        serde_json::from_str(&cli.ok(&["user", "list", "--json"])).unwrap();
    let names: Vec<&str> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["zoe"]);
}

#[tokio::test]
async fn a_bad_configuration_stops_with_one_line_naming_the_cause() {
    let cli = Cli::new().await;
    std::fs::write(
        cli.dir.path().join("idp.toml"),
        "isuer = \"http://localhost:9\"\n",
    )
    .unwrap();
    let typo = cli.fails(cli.run(&["migrate"]));
    assert!(typo.contains("isuer"), "{typo}");
    std::fs::remove_file(cli.dir.path().join("idp.toml")).unwrap();

    let bad_url = cli.fails(
        cli.command(&["migrate"])
            .env("IDP_ISSUER", "not a url")
            .output()
            .unwrap(),
    );
    assert!(bad_url.contains("issuer"), "{bad_url}");
    let insecure = cli.fails(
        cli.command(&["migrate"])
            .env("IDP_ISSUER", "http://idp.example")
            .output()
            .unwrap(),
    );
    assert!(insecure.contains("https"), "{insecure}");
    let listen = cli.fails(
        cli.command(&["serve"])
            .env("IDP_LISTEN", "nowhere")
            .output()
            .unwrap(),
    );
    assert!(listen.to_lowercase().contains("listen"), "{listen}");
    let unreachable = cli.fails(
        cli.command(&["migrate"])
            .env("IDP_DATABASE_URL", "postgres://idp:idp@127.0.0.1:1/idp")
            .output()
            .unwrap(),
    );
    assert!(unreachable.contains("database"), "{unreachable}");
    let missing = cli.fails(cli.run(&["--config", "nope.toml", "migrate"]));
    assert!(missing.contains("nope.toml"), "{missing}");
    for message in [typo, bad_url, insecure, listen, unreachable, missing] {
        assert_eq!(message.trim_end().lines().count(), 1, "{message}");
    }
}

#[tokio::test]
async fn the_cli_and_a_config_file_point_at_the_same_database() {
    let cli = Cli::new().await;
    let config = cli.dir.path().join("custom.toml");
    std::fs::write(&config, format!("database_url = {:?}\n", cli.database_url)).unwrap();
    let created: serde_json::Value = serde_json::from_str(
        &String::from_utf8(
            Command::new(env!("CARGO_BIN_EXE_idp"))
                .args([
                    "--config",
                    config.to_str().unwrap(),
                    "client",
                    "add",
                    "--name",
                    "A",
                    "--redirect-uri",
                    "https://a.example/cb",
                    "--json",
                ])
                .env_remove("IDP_DATABASE_URL")
                .output()
                .unwrap()
                .stdout,
        )
        .unwrap(),
    )
    .unwrap();
    // The environment variable reaches the same database.
    let list = cli.ok(&["client", "list"]);
    assert!(
        list.contains(created["client_id"].as_str().unwrap()),
        "{list}"
    );
}

#[tokio::test]
async fn check_config_prints_the_effective_configuration() {
    let cli = Cli::new().await;
    let out = cli.ok(&["check-config"]);
    assert!(
        out.contains(&format!("database_url = {:?}", cli.database_url)),
        "{out}"
    );
    assert!(out.contains("[argon2]"), "{out}");
    let help = cli.ok(&["--help"]);
    for command in ["serve", "migrate", "client", "user"] {
        assert!(help.contains(command), "{help}");
    }
}

#[tokio::test]
async fn require_mfa_flags_a_user_and_names_unknown_ones() {
    let cli = Cli::new().await;
    cli.run_with_stdin(
        &["user", "add", "ida", "--password-stdin"],
        "a long password\n",
    );
    assert!(
        cli.ok(&["user", "require-mfa", "ida"])
            .contains("must set up a second factor")
    );
    let users: serde_json::Value =
        serde_json::from_str(&cli.ok(&["user", "list", "--json"])).unwrap();
    assert_eq!(users[0]["require_mfa"], true);
    cli.ok(&["user", "require-mfa", "ida", "--off"]);
    let users: serde_json::Value =
        serde_json::from_str(&cli.ok(&["user", "list", "--json"])).unwrap();
    assert_eq!(users[0]["require_mfa"], false);
    let unknown = cli.fails(cli.run(&["user", "require-mfa", "nobody"]));
    assert!(unknown.contains("nobody"), "{unknown}");

    // A passkey, likewise.
    assert!(
        cli.ok(&["user", "require-passkey", "ida"])
            .contains("must add a passkey at their next sign-in")
    );
    let users: serde_json::Value =
        serde_json::from_str(&cli.ok(&["user", "list", "--json"])).unwrap();
    assert_eq!(users[0]["require_passkey"], true);
    cli.ok(&["user", "require-passkey", "ida", "--off"]);
    let users: serde_json::Value =
        serde_json::from_str(&cli.ok(&["user", "list", "--json"])).unwrap();
    assert_eq!(users[0]["require_passkey"], false);
    let unknown = cli.fails(cli.run(&["user", "require-passkey", "nobody"]));
    assert!(unknown.contains("nobody"), "{unknown}");
}

#[tokio::test]
async fn a_client_minimum_acr_is_set_shown_and_checked() {
    let cli = Cli::new().await;
    let created: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "client",
        "add",
        "--name",
        "Bank",
        "--redirect-uri",
        "https://bank.example/cb",
        "--min-acr",
        "phr",
        "--json",
    ]))
    .unwrap();
    let id = created["client_id"].as_str().unwrap();
    assert!(
        cli.ok(&["client", "show", id])
            .contains("minimum acr:     phr")
    );
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["client", "show", id, "--json"])).unwrap();
    assert_eq!(shown["min_acr"], "phr");
    let bad = cli.fails(cli.run(&[
        "client",
        "add",
        "--name",
        "X",
        "--redirect-uri",
        "https://x.example/cb",
        "--min-acr",
        "gold",
    ]));
    assert!(bad.contains("gold"), "{bad}");
}

#[tokio::test]
async fn invitations_are_made_and_users_deleted_from_the_cli() {
    let cli = Cli::new().await;
    let invited: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "user",
        "invite",
        "--email",
        "ida@example.com",
        "--username",
        "Ida",
        "--expires",
        "2d",
        "--json",
    ]))
    .unwrap();
    let link = invited["link"].as_str().unwrap();
    assert!(
        link.starts_with("http://localhost:8080/signup/invite/"),
        "{link}"
    );
    assert_eq!(invited["username"], "ida");
    assert_eq!(invited["email"], "ida@example.com");
    let lifetime = invited["expires_at"].as_i64().unwrap() - idp::model::now();
    assert!(
        (2 * 86400 - 60..=2 * 86400).contains(&lifetime),
        "{lifetime}"
    );
    // Text output: the link, and a warning that sign-up is closed by default.
    let output = cli.run(&["user", "invite", "--email", "jo@example.com"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).contains("/signup/invite/"));
    assert!(String::from_utf8_lossy(&output.stderr).contains("signup is \"closed\""));
    for bad in [
        &["user", "invite", "--email", "nope"][..],
        &[
            "user",
            "invite",
            "--email",
            "a@example.com",
            "--username",
            "admin",
        ],
        &[
            "user",
            "invite",
            "--email",
            "a@example.com",
            "--expires",
            "1000d",
        ],
        &[
            "user",
            "invite",
            "--email",
            "a@example.com",
            "--expires",
            "soon",
        ],
    ] {
        let output = cli.run(bad);
        assert!(!output.status.success(), "{bad:?}");
    }

    cli.ok(&["user", "add", "victor"]);
    let deleted = cli.ok(&["user", "delete", "Victor"]);
    assert!(deleted.contains("deleted user victor"), "{deleted}");
    assert!(cli.ok(&["user", "list"]).contains("no users"));
    let error = cli.fails(cli.run(&["user", "delete", "victor"]));
    assert!(error.contains("no user named"), "{error}");
}

#[tokio::test]
async fn post_logout_redirect_uris_are_registered_and_checked() {
    let cli = Cli::new().await;
    let created: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "client",
        "add",
        "--name",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
        "--post-logout-redirect-uri",
        "https://shop.example/bye",
        "--json",
    ]))
    .unwrap();
    let id = created["client_id"].as_str().unwrap();
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{id}");
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["client", "show", id, "--json"])).unwrap();
    assert_eq!(
        shown["post_logout_redirect_uris"],
        serde_json::json!(["https://shop.example/bye"])
    );
    assert!(
        cli.ok(&["client", "show", id])
            .contains("post-logout uri: https://shop.example/bye")
    );
    let bad = cli.fails(cli.run(&[
        "client",
        "add",
        "--name",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
        "--post-logout-redirect-uri",
        "http://shop.example/bye",
    ]));
    assert!(bad.contains("post-logout"), "{bad}");
}

#[tokio::test]
async fn a_machine_client_is_created_from_the_cli() {
    let cli = Cli::new().await;
    let created: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "client",
        "add",
        "--name",
        "Nightly export",
        "--grant",
        "client_credentials",
        "--scope",
        "reports:read",
        "--json",
    ]))
    .unwrap();
    assert!(created["client_secret"].as_str().is_some());
    let id = created["client_id"].as_str().unwrap();
    let shown = cli.ok(&["client", "show", id]);
    assert!(
        shown.contains("grant types:     client_credentials"),
        "{shown}"
    );
    assert!(shown.contains("scope:           reports:read"), "{shown}");
    for bad in [
        &["client", "add", "--name", "X", "--grant", "bogus"][..],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--grant",
            "client_credentials",
            "--public",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--grant",
            "client_credentials",
            "--scope",
            "email",
        ],
        &["client", "add", "--name", "X"],
    ] {
        cli.fails(cli.run(bad));
    }
    let list = cli.ok(&["client", "list", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&list)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn signing_keys_are_listed_and_rotated_from_the_cli() {
    let cli = Cli::new().await;
    // A fresh database gets its first keys on the first rotation.
    let rotated: serde_json::Value =
        serde_json::from_str(&cli.ok(&["keys", "rotate", "--alg", "RS256", "--json"])).unwrap();
    let rotation = &rotated[0];
    assert_eq!(rotation["alg"], "RS256");
    assert_eq!(rotation["retiring"].as_array().unwrap().len(), 1);
    let prepublication = rotation["active_from"].as_i64().unwrap() - idp::model::now();
    assert!((3590..=3600).contains(&prepublication), "{prepublication}");

    let listed: serde_json::Value =
        serde_json::from_str(&cli.ok(&["keys", "list", "--json"])).unwrap();
    let states: Vec<(String, String)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["alg"].as_str().unwrap().to_owned(),
                k["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(states.len(), 3, "{states:?}");
    for expected in [
        ("RS256", "pending"),
        ("RS256", "signing"),
        ("ES256", "signing"),
    ] {
        assert!(
            states.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{states:?}"
        );
    }
    assert!(!cli.ok(&["keys", "list"]).contains("private"));
    let bad = cli.fails(cli.run(&["keys", "rotate", "--alg", "HS256"]));
    assert!(bad.contains("HS256"), "{bad}");

    // The replaced key stays published until every token it signed has expired: 11 minutes
    // past the hour's notice with the server's lifetimes, a day when a client's access
    // tokens live that long.
    let published_for = |rotation: &serde_json::Value| {
        rotation["retired_at"].as_i64().unwrap() - rotation["active_from"].as_i64().unwrap()
    };
    assert_eq!(published_for(rotation), 660);
    cli.ok(&[
        "client",
        "add",
        "--name",
        "Long-lived",
        "--redirect-uri",
        "https://long.example/cb",
        "--access-token-lifetime",
        "24h",
    ]);
    let rotated: serde_json::Value =
        serde_json::from_str(&cli.ok(&["keys", "rotate", "--alg", "ES256", "--json"])).unwrap();
    assert_eq!(published_for(&rotated[0]), 24 * 3600 + 60);
}

#[tokio::test]
async fn a_key_based_client_is_registered_from_the_cli() {
    let cli = Cli::new().await;
    let mut key = josekit::jwk::Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
    key.set_key_id("k1");
    let mut public = key.to_public_key().unwrap();
    public.set_key_id("k1");
    let jwks = serde_json::json!({"keys": [serde_json::Value::Object(public.as_ref().clone())]});
    std::fs::write(cli.dir.path().join("jwks.json"), jwks.to_string()).unwrap();
    let created: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "client",
        "add",
        "--name",
        "Signer",
        "--redirect-uri",
        "https://signer.example/cb",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        "jwks.json",
        "--json",
    ]))
    .unwrap();
    assert!(created["client_secret"].is_null(), "{created}");
    let id = created["client_id"].as_str().unwrap();
    let shown: serde_json::Value =
        serde_json::from_str(&cli.ok(&["client", "show", id, "--json"])).unwrap();
    assert_eq!(shown["token_endpoint_auth_method"], "private_key_jwt");
    let private = serde_json::json!({"keys": [serde_json::Value::Object(key.as_ref().clone())]});
    std::fs::write(cli.dir.path().join("private.json"), private.to_string()).unwrap();
    for bad in [
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.example/cb",
            "--auth-method",
            "private_key_jwt",
        ][..],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.example/cb",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            "private.json",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.example/cb",
            "--auth-method",
            "private_key_jwt",
            "--jwks-file",
            "missing.json",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.example/cb",
            "--auth-method",
            "private_key_jwt",
            "--jwks-uri",
            "http://keys.example/jwks",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.example/cb",
            "--auth-method",
            "tls_client_auth",
        ],
        &[
            "client",
            "add",
            "--name",
            "X",
            "--redirect-uri",
            "https://x.example/cb",
            "--jwks-uri",
            "https://keys.example/jwks",
        ],
    ] {
        cli.fails(cli.run(bad));
    }
}

#[tokio::test]
async fn admins_tokens_client_updates_and_the_audit_log_from_the_command_line() {
    let cli = Cli::new().await;
    cli.ok(&["user", "add", "ada"]);
    assert!(
        cli.ok(&["user", "grant-admin", "ADA"])
            .contains("ada is now an admin")
    );
    let users: serde_json::Value =
        serde_json::from_str(&cli.ok(&["user", "list", "--json"])).unwrap();
    assert_eq!(users[0]["is_admin"], true);
    cli.fails(cli.run(&["user", "grant-admin", "nobody"]));

    // Bad token requests write nothing.
    cli.fails(cli.run(&["admin-token", "create", "--name", "x", "--scope", "root"]));
    cli.fails(cli.run(&["admin-token", "create", "--name", "x", "--expires", "1s"]));
    cli.fails(cli.run(&["admin-token", "create", "--name", " "]));
    assert!(cli.ok(&["admin-token", "list"]).contains("no admin tokens"));
    let made: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "admin-token",
        "create",
        "--name",
        "ci",
        "--expires",
        "30d",
        "--json",
    ]))
    .unwrap();
    let token = made["token"].as_str().unwrap().to_owned();
    let token_id = made["id"].as_str().unwrap().to_owned();
    assert!(token.starts_with("idp_"));
    let listed = cli.ok(&["admin-token", "list", "--json"]);
    assert!(
        listed.contains(&token_id) && !listed.contains(&token),
        "{listed}"
    );

    // The token works against a server on the same database until it is revoked.
    let server_dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let server = TestServer::start_on(cli.database_url.clone(), server_dir, |_| {}).await;
    let clients = |token: String| {
        let url = server.url("/admin/api/v1/clients");
        async move {
            reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(clients(token.clone()).await, reqwest::StatusCode::OK);

    // Client updates: some settings changed, the rest kept.
    let created: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "client",
        "add",
        "--name",
        "Shop",
        "--redirect-uri",
        "https://shop.example/cb",
        "--json",
    ]))
    .unwrap();
    let id = created["client_id"].as_str().unwrap();
    let updated: serde_json::Value = serde_json::from_str(&cli.ok(&[
        "client",
        "update",
        id,
        "--name",
        "Shop 2",
        "--first-party",
        "true",
        "--logo-uri",
        "https://shop.example/logo.png",
        "--access-token-lifetime",
        "5m",
        "--json",
    ]))
    .unwrap();
    assert_eq!(updated["name"], "Shop 2");
    assert_eq!(updated["first_party"], true);
    assert_eq!(updated["access_token_lifetime"], 300);
    assert_eq!(
        updated["redirect_uris"],
        serde_json::json!(["https://shop.example/cb"])
    );
    let bad = cli.fails(cli.run(&[
        "client",
        "update",
        id,
        "--logo-uri",
        "http://shop.example/l.png",
    ]));
    assert!(bad.contains("https"), "{bad}");
    cli.fails(cli.run(&["client", "update", "nope", "--name", "X"]));
    let shown = cli.ok(&["client", "show", id]);
    assert!(
        shown.contains("Shop 2") && shown.contains("https://shop.example/logo.png"),
        "{shown}"
    );

    assert!(
        cli.ok(&["admin-token", "revoke", &token_id])
            .contains(&token_id)
    );
    assert_eq!(clients(token).await, reqwest::StatusCode::UNAUTHORIZED);
    cli.fails(cli.run(&["admin-token", "revoke", &token_id]));

    // Everything above is in the audit log, by the CLI.
    let tail = cli.ok(&["audit", "tail", "-n", "100"]);
    for kind in [
        "user_created",
        "admin_granted",
        "admin_token_created",
        "client_created",
        "client_updated",
        "admin_token_revoked",
    ] {
        assert!(tail.contains(kind), "{kind} missing from:\n{tail}");
    }
    let lines: Vec<serde_json::Value> = cli
        .ok(&["audit", "tail", "--type", "client_updated", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["actor"], "cli");
    assert_eq!(lines[0]["detail"]["client_id"], id);
    let ada = cli.ok(&["audit", "tail", "--user", "ada"]);
    assert!(
        ada.contains("admin_granted") && !ada.contains("client_created"),
        "{ada}"
    );
    cli.fails(cli.run(&["audit", "tail", "--user", "nobody"]));

    // Bringing a user back: reset, then a one-time link.
    assert!(
        cli.ok(&["user", "reset-factors", "ada"])
            .contains("reset the sign-in methods of ada")
    );
    cli.fails(cli.run(&["user", "reset-factors", "nobody"]));
    cli.fails(cli.run(&["user", "recovery-link", "ada", "--expires", "30d"]));
    let link: serde_json::Value =
        serde_json::from_str(&cli.ok(&["user", "recovery-link", "ada", "--json"])).unwrap();
    assert!(link["link"].as_str().unwrap().contains("/login/recovery/"));
    let tail = cli.ok(&["audit", "tail", "--user", "ada"]);
    assert!(
        tail.contains("factors_reset") && tail.contains("recovery_link_created"),
        "{tail}"
    );
}

#[tokio::test]
async fn json_logs_carry_events_and_never_the_secrets() {
    let cli = Cli::new().await;
    let output = cli
        .command(&[
            "client",
            "add",
            "--name",
            "Logged",
            "--grant",
            "client_credentials",
            "--scope",
            "s",
            "--json",
        ])
        .env("IDP_LOG_FORMAT", "json")
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(output.status.success());
    let created: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let event = lines
        .iter()
        .find(|l| l["message"] == "security event")
        .expect("the audit event is logged");
    assert_eq!(event["kind"], "client_created");
    assert_eq!(event["level"], "INFO");
    assert!(!stderr.contains(secret));
}

/// Even at the debug level, a request is logged by its route, never by a URI that carries a
/// secret in its path or query.
#[tokio::test]
async fn debug_logs_name_routes_and_never_the_secrets_in_urls() {
    let cli = Cli::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://localhost:{port}");
    let log_path = cli.dir.path().join("serve.log");
    let mut server = cli
        .command(&["serve"])
        .env("IDP_LISTEN", format!("127.0.0.1:{port}"))
        .env("IDP_ISSUER", &base)
        .env("RUST_LOG", "debug")
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let secret = "LinkSecret7f3a9c";
    let urls = [
        format!("/login/recovery/{secret}"),
        format!("/signup/invite/{secret}"),
        format!("/authorize?client_id=x&response_type=code&id_token_hint={secret}"),
        format!("/end_session?id_token_hint={secret}"),
        format!("/nowhere/{secret}"),
    ];
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..300 {
        if http.get(format!("{base}/readyz")).send().await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for url in &urls {
        if ready {
            http.get(format!("{base}{url}")).send().await.unwrap();
        }
    }
    let _ = server.kill();
    let _ = server.wait();
    assert!(ready, "idp serve did not answer");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("/login/recovery/{token}"), "{log}");
    assert!(log.contains(r#""unmatched""#), "{log}");
    assert!(!log.contains(secret), "{log}");
}
