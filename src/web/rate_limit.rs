//! Request-rate limits per client address (governor's GCRA) on the endpoints where one request
//! costs us real work or tries a secret: starting and finishing sign-in and sign-up ceremonies
//! (each start stores a challenge), password and code forms (argon2, attempt counters), and
//! the token-issuing endpoints (a signature per request).
//!
//! These are a flood guard, not the guessing limits: those count *failures* in the database
//! (`store::attempts`), are shared by every node and grow with every failure. The limits here
//! count *requests*, live in each node's memory (a client spread over N nodes gets N times the
//! rate, which is fine for a flood guard), and forget an address once it has been quiet.
//! Answers: 429 with `Retry-After` (RFC 6585 §4, RFC 9110 §10.2.3) as an OAuth error for the
//! OAuth endpoints, as the JSON error for the pages' own APIs, or as a readable page.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use governor::{
    DefaultKeyedRateLimiter, Quota, RateLimiter,
    clock::{Clock, DefaultClock},
};

use crate::{
    app::AppState,
    config::RateLimitConfig,
    oidc::error::{ErrorCode, JsonError, OAuthError},
    routes,
    web::api_error::ApiError,
};

type Limiter = DefaultKeyedRateLimiter<IpAddr>;

/// How a refused request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    OAuth,
    Api,
    Page,
}

/// The limited endpoints (route patterns): POSTs only (showing a page or reading discovery is
/// cheap), and every method of the registration endpoint, which checks a bearer token.
const SIGN_IN: &[(&str, Answer)] = &[
    (routes::LOGIN, Answer::Page),
    (routes::LOGIN_PASSKEY_BEGIN, Answer::Api),
    (routes::LOGIN_PASSKEY_FINISH, Answer::Api),
    (routes::LOGIN_CODE, Answer::Page),
    (routes::LOGIN_RECOVER, Answer::Page),
    (routes::LOGIN_ENROLL_TOTP, Answer::Page),
    (routes::LOGIN_ENROLL_PASSKEY_BEGIN, Answer::Api),
    (routes::LOGIN_ENROLL_PASSKEY_FINISH, Answer::Api),
    (routes::SIGNUP_PASSKEY_BEGIN, Answer::Api),
    (routes::SIGNUP_PASSKEY_FINISH, Answer::Api),
    (routes::SIGNUP_PASSWORD, Answer::Page),
    (routes::ACCOUNT_PASSWORD, Answer::Page),
    // An authenticator-app code is tried when the app is set up.
    (routes::ACCOUNT_TOTP, Answer::Page),
    (routes::LOGIN_RECOVERY_LINK, Answer::Page),
];
const TOKEN: &[(&str, Answer)] = &[
    (routes::TOKEN, Answer::OAuth),
    (routes::PAR, Answer::OAuth),
    (routes::REVOKE, Answer::OAuth),
    (routes::INTROSPECT, Answer::OAuth),
    (routes::REGISTER, Answer::OAuth),
    (routes::REGISTER_CLIENT, Answer::OAuth),
];

/// This node's limiters; `None` where the configuration turns a limit off.
pub struct RateLimits {
    sign_in: Option<Limiter>,
    token: Option<Limiter>,
}

impl RateLimits {
    pub fn new(config: &RateLimitConfig) -> RateLimits {
        RateLimits {
            sign_in: NonZeroU32::new(config.sign_in_per_minute)
                .map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            token: NonZeroU32::new(config.token_per_second)
                .map(|n| RateLimiter::keyed(Quota::per_second(n))),
        }
    }

    fn for_request(&self, method: &Method, route: &str) -> Option<(&Limiter, Answer)> {
        if method != Method::POST && route != routes::REGISTER_CLIENT {
            return None;
        }
        let find = |table: &[(&str, Answer)]| {
            table
                .iter()
                .find(|(p, _)| *p == route)
                .map(|(_, answer)| *answer)
        };
        if let Some(answer) = find(SIGN_IN) {
            return self.sign_in.as_ref().map(|l| (l, answer));
        }
        find(TOKEN).and_then(|answer| self.token.as_ref().map(|l| (l, answer)))
    }

    /// Forgets addresses that have been quiet long enough to be back at a full allowance,
    /// so that the memory used follows the recent callers, not every caller ever.
    pub fn forget_quiet_addresses(&self) {
        for limiter in [&self.sign_in, &self.token].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

/// The key an address is limited under: IPv4 addresses one by one, IPv6 by /64, since
/// anyone with IPv6 holds a whole /64 and could otherwise take a fresh address per request.
fn limit_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
    }
}

/// The middleware: refuses a limited request over its address's allowance.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    // The route pattern (`/login/recovery/{token}`), so that a path parameter cannot dodge
    // the limit; the path itself where no route matched.
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| request.uri().path(), |p| p.as_str());
    let limited = state.rate_limits.for_request(request.method(), route);
    if let Some((limiter, answer)) = limited
        && let Some(address) = super::client_origin::client_address(&state, &request)
        && let Err(not_until) = limiter.check_key(&limit_key(address))
    {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        tracing::info!(%address, route, "request rate limit reached");
        return too_many(&state, answer, wait);
    }
    next.run(request).await
}

fn too_many(state: &AppState, answer: Answer, wait: Duration) -> Response {
    let seconds = wait.as_secs_f64().ceil().max(1.0) as i64;
    let mut response = match answer {
        Answer::OAuth => JsonError(OAuthError::new(
            ErrorCode::TooManyRequests,
            "too many requests from this address; try again later",
        ))
        .into_response(),
        Answer::Api => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_requests",
            format!("Too many attempts from your network. Try again in {seconds} seconds."),
        )
        .into_response(),
        Answer::Page => state.templates.error_page(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            &format!(
                "There were too many attempts from your network. Wait {seconds} seconds, then try again."
            ),
        ),
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_addresses_are_limited_by_their_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(limit_key(v4), v4);
    }

    #[test]
    fn only_posts_to_listed_endpoints_are_limited_and_zero_turns_a_limit_off() {
        let limits = RateLimits::new(&RateLimitConfig {
            sign_in_per_minute: 2,
            token_per_second: 0,
        });
        assert!(limits.for_request(&Method::GET, routes::LOGIN).is_none());
        assert!(limits.for_request(&Method::POST, routes::TOKEN).is_none());
        assert!(
            limits
                .for_request(&Method::POST, routes::USERINFO)
                .is_none()
        );
        let (limiter, answer) = limits
            .for_request(&Method::POST, routes::LOGIN_PASSKEY_BEGIN)
            .unwrap();
        assert_eq!(answer, Answer::Api);
        let address: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(limiter.check_key(&address).is_ok());
        assert!(limiter.check_key(&address).is_ok());
        assert!(limiter.check_key(&address).is_err());
        let elsewhere: IpAddr = "192.0.2.8".parse().unwrap();
        assert!(limiter.check_key(&elsewhere).is_ok());
        // Route patterns with a parameter; the registration endpoint by any method.
        assert!(
            limits
                .for_request(&Method::POST, routes::LOGIN_RECOVERY_LINK)
                .is_some()
        );
        assert!(
            limits
                .for_request(&Method::GET, routes::LOGIN_RECOVERY_LINK)
                .is_none()
        );
        let open = RateLimits::new(&RateLimitConfig {
            sign_in_per_minute: 0,
            token_per_second: 5,
        });
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            assert!(open.for_request(&method, routes::REGISTER_CLIENT).is_some());
        }
    }
}
