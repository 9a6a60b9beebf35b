//! Scopes (RFC 6749 §3.3) and the claims each releases (OIDC Core §5.4).

pub const OPENID: &str = "openid";
pub const PROFILE: &str = "profile";
pub const EMAIL: &str = "email";
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Every scope this server understands, as advertised in discovery.
pub const SUPPORTED: &[&str] = &[OPENID, PROFILE, EMAIL, OFFLINE_ACCESS];

/// A set of scope tokens in request order, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scopes(Vec<String>);

impl Scopes {
    /// Parses a space-separated scope string (RFC 6749 §3.3). `None` if a token contains
    /// characters outside `%x21 / %x23-5B / %x5D-7E`.
    pub fn parse(raw: &str) -> Option<Scopes> {
        let mut out: Vec<String> = Vec::new();
        for token in raw.split(' ').filter(|t| !t.is_empty()) {
            if !token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
            {
                return None;
            }
            if !out.iter().any(|t| t == token) {
                out.push(token.to_owned());
            }
        }
        Some(Scopes(out))
    }

    /// Keeps only the scopes this server supports. RFC 6749 §3.3 lets the server ignore
    /// requested scopes; the granted set is then returned in the token response.
    pub fn supported_only(self) -> Scopes {
        Scopes(
            self.0
                .into_iter()
                .filter(|s| SUPPORTED.contains(&s.as_str()))
                .collect(),
        )
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.iter().any(|s| s == scope)
    }

    pub fn is_subset_of(&self, other: &Scopes) -> bool {
        self.0.iter().all(|s| other.contains(s))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These scopes and `other`'s, without duplicates.
    pub fn union(&self, other: &Scopes) -> Scopes {
        let mut out = self.0.clone();
        for s in &other.0 {
            if !out.contains(s) {
                out.push(s.clone());
            }
        }
        Scopes(out)
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// What allowing a scope lets an app do, in words for the consent page.
pub fn describe(scope: &str) -> &'static str {
    match scope {
        OPENID => "Know who you are (your account identifier) and when you signed in",
        PROFILE => "See your username and name",
        EMAIL => "See your e-mail address",
        OFFLINE_ACCESS => "Stay connected to your account when you are not using it",
        _ => "Other access it asked for",
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dedups_and_filters() {
        let s = Scopes::parse("openid  email openid foo").unwrap();
        assert_eq!(s.to_string(), "openid email foo");
        assert_eq!(s.supported_only().to_string(), "openid email");
        assert!(Scopes::parse("open\"id").is_none());
        assert!(Scopes::parse("").unwrap().is_empty());
    }
}
