//! Errors on hosted pages: shown to a person as a themed page with a readable message,
//! never as a bare status or a stack trace.

use axum::{http::StatusCode, response::Response};

use crate::app::AppState;

#[derive(Debug)]
pub enum PageError {
    /// Something the user can act on: the message says what happened and what to do.
    User {
        status: StatusCode,
        title: &'static str,
        message: &'static str,
    },
    /// A failure on our side; logged with its cause, shown without detail.
    Internal(anyhow::Error),
}

impl PageError {
    pub const fn user(status: StatusCode, title: &'static str, message: &'static str) -> Self {
        PageError::User {
            status,
            title,
            message,
        }
    }

    /// The sign-in link is unknown, expired, used, or belongs to another browser.
    pub const fn sign_in_expired() -> Self {
        Self::user(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired",
            "This sign-in link is no longer valid. Go back to the application and sign in again.",
        )
    }

    /// A form of the sign-in pages was sent without its CSRF token, or twice.
    pub const fn sign_in_form_expired() -> Self {
        Self::user(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "For your security this form can only be sent once from the page that showed it. Go back to the application and sign in again.",
        )
    }

    /// A form of the account pages was sent without its CSRF token.
    pub const fn form_expired() -> Self {
        Self::user(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Reload the page and try again.",
        )
    }

    pub fn render(self, state: &AppState) -> Response {
        match self {
            PageError::User {
                status,
                title,
                message,
            } => state.templates.error_page(status, title, message),
            PageError::Internal(e) if crate::store::is_unavailable(&e) => {
                tracing::warn!(error = format!("{e:#}"), "the database is unavailable");
                state.templates.error_page(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Temporarily unavailable",
                    "We cannot serve you right now. Please try again in a minute.",
                )
            }
            PageError::Internal(e) => {
                tracing::error!(error = format!("{e:#}"), "request failed");
                state.templates.error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "We could not complete your request. Please try again in a moment.",
                )
            }
        }
    }
}

impl<E: Into<anyhow::Error>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError::Internal(e.into())
    }
}
