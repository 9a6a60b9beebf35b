//! Which sign-in methods a user has, in one read: the basis for the second-factor step and for
//! the rule that an account never loses its last way in.

use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use entity::credential;

use super::{passkeys, recovery_codes, totp, users};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Factors {
    pub password: bool,
    pub passkeys: usize,
    pub totp: bool,
    pub recovery_codes: usize,
}

/// A factor the user might remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    Passkey,
    Totp,
}

impl Factors {
    /// Whether the user has a second factor that sign-in must ask for after a password.
    pub fn has_second_factor(&self) -> bool {
        self.passkeys > 0 || self.totp
    }

    /// Whether removing one factor leaves the account both reachable (a password or a
    /// passkey to start a sign-in) and, if it had a second factor, still protected by one.
    pub fn may_remove(&self, removal: Removal) -> bool {
        let mut after = *self;
        match removal {
            Removal::Passkey => after.passkeys = after.passkeys.saturating_sub(1),
            Removal::Totp => after.totp = false,
        }
        let reachable = after.password || after.passkeys > 0;
        let still_protected = !self.has_second_factor() || after.has_second_factor();
        reachable && still_protected
    }
}

pub async fn of(db: &impl ConnectionTrait, user_id: &str) -> Result<Factors, DbErr> {
    let rows = credential::Entity::find()
        .filter(credential::Column::UserId.eq(user_id))
        .all(db)
        .await?;
    let count = |kind: &str| rows.iter().filter(|r| r.kind == kind).count();
    Ok(Factors {
        password: count(users::PASSWORD) > 0,
        passkeys: count(passkeys::KIND),
        totp: count(totp::KIND) > 0,
        recovery_codes: count(recovery_codes::KIND),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_keeps_a_way_in_and_its_second_factor() {
        let f = |password, passkeys, totp| Factors {
            password,
            passkeys,
            totp,
            recovery_codes: 10,
        };
        // The last second factor stays.
        assert!(!f(true, 1, false).may_remove(Removal::Passkey));
        assert!(!f(true, 0, true).may_remove(Removal::Totp));
        // Another second factor remains.
        assert!(f(true, 1, true).may_remove(Removal::Passkey));
        assert!(f(true, 1, true).may_remove(Removal::Totp));
        assert!(f(true, 2, false).may_remove(Removal::Passkey));
        // Passwordless: the last passkey is the only way in, even with an app.
        assert!(!f(false, 1, true).may_remove(Removal::Passkey));
        assert!(f(false, 2, false).may_remove(Removal::Passkey));
    }
}
