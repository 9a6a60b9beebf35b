//! Passkeys (WebAuthn Level 3) through webauthn-rs: registration of discoverable credentials,
//! usernameless sign-in, and the passkey as a second factor. User verification is always
//! required (webauthn-rs' passkey policy), so a verified passkey is multi-factor by itself.
//!
//! With `attestation = "direct"` the registration asks for the authenticator's attestation;
//! webauthn-rs verifies its signature, and we check its certificate chain and AAGUID against
//! the operator's trusted authenticators. That check is repeated at every sign-in, so taking
//! a model off the list takes its passkeys off the `phrh` level at once.

use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    AttestationCaList, AttestationCaListBuilder, AttestationMetadata, AuthenticationResult,
    CreationChallengeResponse, Credential, DiscoverableAuthentication, Passkey,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};
use webauthn_rs_proto::{AttestationConveyancePreference, ResidentKeyRequirement};

use crate::config::{AttestationConveyance, Config, TrustedAuthenticator};

/// The relying party: one per server, built from config.
pub struct PasskeyService {
    webauthn: Webauthn,
    pub max_per_user: usize,
    attestation: AttestationConveyance,
    /// Roots and AAGUIDs of the trusted authenticator models; empty when none are.
    trusted: AttestationCaList,
    require_trusted: bool,
}

impl std::fmt::Debug for PasskeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasskeyService")
    }
}

/// Why a ceremony failed, in words fit for the person at the browser.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    #[error("the passkey response could not be verified")]
    Invalid,
    #[error("this passkey's signature counter went backwards: it may have been cloned")]
    PossiblyCloned,
    #[error(
        "this kind of passkey is not accepted here: use a security key or device your organization approved"
    )]
    UntrustedAuthenticator,
}

impl From<WebauthnError> for PasskeyError {
    fn from(e: WebauthnError) -> Self {
        match e {
            WebauthnError::CredentialPossibleCompromise => PasskeyError::PossiblyCloned,
            other => {
                tracing::info!(error = ?other, "passkey verification failed");
                PasskeyError::Invalid
            }
        }
    }
}

/// What a stored passkey says about itself, for listing and for `amr`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyFacts {
    /// base64url credential id.
    pub credential_id: String,
    /// The passkey may be synced between devices (WebAuthn "backup eligible").
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// AAGUID, when the authenticator disclosed it through attestation.
    pub aaguid: Option<String>,
    pub transports: Vec<String>,
}

impl PasskeyFacts {
    pub fn of(passkey: &Passkey) -> PasskeyFacts {
        let credential = Credential::from(passkey.clone());
        let aaguid = match &credential.attestation.metadata {
            AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => {
                Some(aaguid.to_string())
            }
            _ => None,
        };
        PasskeyFacts {
            credential_id: encode_id(passkey.cred_id().as_ref()),
            backup_eligible: credential.backup_eligible,
            backup_state: credential.backup_state,
            aaguid,
            transports: credential
                .transports
                .unwrap_or_default()
                .iter()
                .filter_map(|t| serde_json::to_value(t).ok())
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect(),
        }
    }
}

/// What one successful assertion proved, for the login transaction and `amr`/`acr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionFacts {
    pub user_verified: bool,
    pub backup_eligible: bool,
    pub backup_state: bool,
    /// The passkey was attested by a trusted, hardware-protected authenticator model.
    #[serde(default)]
    pub attested_hardware: bool,
}

impl AssertionFacts {
    pub fn of(result: &AuthenticationResult, attested_hardware: bool) -> AssertionFacts {
        AssertionFacts {
            user_verified: result.user_verified(),
            backup_eligible: result.backup_eligible(),
            backup_state: result.backup_state(),
            // A passkey that has become backup-eligible since its attestation is synced now.
            attested_hardware: attested_hardware && !result.backup_eligible(),
        }
    }
}

pub fn encode_id(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl PasskeyService {
    /// Builds the relying party; `None` when the issuer is on an IP address and no `rp_id`
    /// is configured (browsers refuse IP relying parties).
    pub fn new(config: &Config) -> anyhow::Result<Option<PasskeyService>> {
        let Some(rp_id) = config.rp_id() else {
            return Ok(None);
        };
        let origins = config.webauthn_origins();
        let mut builder = WebauthnBuilder::new(&rp_id, &origins[0])
            .map_err(|e| {
                anyhow::anyhow!("webauthn: rp_id {rp_id:?} and origin {}: {e}", origins[0])
            })?
            .rp_name(&config.webauthn.rp_name)
            .timeout(config.webauthn.ceremony_timeout);
        for origin in &origins[1..] {
            builder = builder.append_allowed_origin(origin);
        }
        let webauthn = builder
            .build()
            .map_err(|e| anyhow::anyhow!("webauthn: {e}"))?;
        Ok(Some(PasskeyService {
            webauthn,
            max_per_user: config.webauthn.max_passkeys_per_user as usize,
            attestation: config.webauthn.attestation,
            trusted: trusted_list(&config.webauthn.trusted_authenticators)?,
            require_trusted: config.webauthn.require_trusted_authenticator,
        }))
    }

    /// The trusted authenticator model that attested `passkey`, if any: its attestation
    /// chains to a configured root, its AAGUID is listed under that root, and it is
    /// device-bound (a synced passkey's key leaves the authenticator, whatever it attested).
    pub fn trusted_model(&self, passkey: &Passkey) -> Option<String> {
        if self.trusted.is_empty() {
            return None;
        }
        let credential = Credential::from(passkey.clone());
        if credential.backup_eligible {
            return None;
        }
        let aaguid = match &credential.attestation.metadata {
            AttestationMetadata::Packed { aaguid } | AttestationMetadata::Tpm { aaguid, .. } => {
                *aaguid
            }
            _ => return None,
        };
        let ca = credential
            .verify_attestation(&self.trusted)
            .ok()
            .flatten()?;
        ca.aaguids()
            .get(&aaguid)
            .map(|device| device.description_en().to_owned())
    }

    /// Starts registering a discoverable passkey for `user_id`, excluding those they have.
    pub fn start_registration(
        &self,
        user_id: &str,
        username: &str,
        display_name: &str,
        existing: &[Passkey],
    ) -> anyhow::Result<(CreationChallengeResponse, PasskeyRegistration)> {
        let user_uuid = Uuid::parse_str(user_id)?;
        let exclude = existing.iter().map(|p| p.cred_id().clone()).collect();
        let (mut options, state) = self.webauthn.start_passkey_registration(
            user_uuid,
            username,
            display_name,
            Some(exclude),
        )?;
        // webauthn-rs asks for non-resident keys; usernameless sign-in needs the
        // authenticator to store the credential (a discoverable credential).
        if let Some(selection) = options.public_key.authenticator_selection.as_mut() {
            selection.resident_key = Some(ResidentKeyRequirement::Required);
            selection.require_resident_key = true;
        }
        // The registration state does not depend on the conveyance asked for: webauthn-rs
        // verifies whatever attestation statement comes back, and `trusted_model` judges it.
        if self.attestation == AttestationConveyance::Direct {
            options.public_key.attestation = Some(AttestationConveyancePreference::Direct);
        }
        Ok((options, state))
    }

    pub fn finish_registration(
        &self,
        response: &RegisterPublicKeyCredential,
        state: &PasskeyRegistration,
    ) -> Result<Passkey, PasskeyError> {
        let passkey = self.webauthn.finish_passkey_registration(response, state)?;
        if self.require_trusted && self.trusted_model(&passkey).is_none() {
            return Err(PasskeyError::UntrustedAuthenticator);
        }
        Ok(passkey)
    }

    /// Starts a usernameless sign-in. `conditional` asks the browser to offer passkeys in the
    /// username field's autofill instead of a modal dialog.
    pub fn start_discoverable(
        &self,
        conditional: bool,
    ) -> anyhow::Result<(RequestChallengeResponse, DiscoverableAuthentication)> {
        let (mut options, state) = self.webauthn.start_discoverable_authentication()?;
        if !conditional {
            options.mediation = None;
        }
        Ok((options, state))
    }

    /// The user and credential a usernameless response claims; verified by
    /// [`Self::finish_discoverable`].
    pub fn identify(
        &self,
        response: &PublicKeyCredential,
    ) -> Result<(String, String), PasskeyError> {
        let (user, credential_id) = self
            .webauthn
            .identify_discoverable_authentication(response)?;
        Ok((user.to_string(), encode_id(credential_id)))
    }

    pub fn finish_discoverable(
        &self,
        response: &PublicKeyCredential,
        state: DiscoverableAuthentication,
        passkey: &Passkey,
    ) -> Result<AuthenticationResult, PasskeyError> {
        Ok(self
            .webauthn
            .finish_discoverable_authentication_v2(response, state, passkey)?)
    }

    /// Starts a sign-in with one of `passkeys` (the second factor after a password).
    pub fn start_second_factor(
        &self,
        passkeys: &[Passkey],
    ) -> anyhow::Result<(RequestChallengeResponse, PasskeyAuthentication)> {
        Ok(self.webauthn.start_passkey_authentication(passkeys)?)
    }

    pub fn finish_second_factor(
        &self,
        response: &PublicKeyCredential,
        state: &PasskeyAuthentication,
    ) -> Result<AuthenticationResult, PasskeyError> {
        Ok(self
            .webauthn
            .finish_passkey_authentication(response, state)?)
    }
}

/// Reads each trusted authenticator's root certificate; a file that is missing or is not a
/// certificate stops the server with its name.
fn trusted_list(trusted: &[TrustedAuthenticator]) -> anyhow::Result<AttestationCaList> {
    let mut builder = AttestationCaListBuilder::new();
    for model in trusted {
        let file = &model.ca_file;
        let bytes = std::fs::read(file).map_err(|e| {
            anyhow::anyhow!("webauthn.trusted_authenticators: {}: {e}", file.display())
        })?;
        for aaguid in &model.aaguids {
            let inserted = if bytes.starts_with(b"-----BEGIN") {
                builder.insert_device_pem(&bytes, *aaguid, model.name.clone(), Default::default())
            } else {
                builder.insert_device_der(&bytes, *aaguid, model.name.clone(), Default::default())
            };
            inserted.map_err(|e| {
                anyhow::anyhow!(
                    "webauthn.trusted_authenticators: {} is not an X.509 certificate: {e:?}",
                    file.display()
                )
            })?;
        }
    }
    Ok(builder.build())
}
