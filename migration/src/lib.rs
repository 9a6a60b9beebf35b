//! Database schema migrations for idp. One file per migration; never edit a migration once released.
//! The same migrations run on SQLite (the embedded default) and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m0001_init;
mod m0002_passkeys;
mod m0003_second_factors;
mod m0004_session_details;
mod m0005_client_min_acr;
mod m0006_signup;
mod m0007_client_grants;
mod m0008_pushed_requests;
mod m0009_key_rotation;
mod m0010_client_keys;
mod m0011_dpop;
mod m0012_backchannel_logout;
mod m0013_refresh_policy;
mod m0014_administration;
mod m0015_consents;
mod m0016_client_registration;
mod m0017_recovery_links;
mod m0018_require_passkey;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_init::Migration),
            Box::new(m0002_passkeys::Migration),
            Box::new(m0003_second_factors::Migration),
            Box::new(m0004_session_details::Migration),
            Box::new(m0005_client_min_acr::Migration),
            Box::new(m0006_signup::Migration),
            Box::new(m0007_client_grants::Migration),
            Box::new(m0008_pushed_requests::Migration),
            Box::new(m0009_key_rotation::Migration),
            Box::new(m0010_client_keys::Migration),
            Box::new(m0011_dpop::Migration),
            Box::new(m0012_backchannel_logout::Migration),
            Box::new(m0013_refresh_policy::Migration),
            Box::new(m0014_administration::Migration),
            Box::new(m0015_consents::Migration),
            Box::new(m0016_client_registration::Migration),
            Box::new(m0017_recovery_links::Migration),
            Box::new(m0018_require_passkey::Migration),
        ]
    }
}
