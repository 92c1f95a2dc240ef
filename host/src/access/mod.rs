//! Who may use the server and how much: bearer tokens (`tokens`),
//! per-client rate and concurrency limits (`rate`), and HTTPS (`tls`).
//! Everything here is off unless its flag is given; then it is checked
//! before a request is read any further (no validation, no guest work for
//! a refused client).

pub mod rate;
pub mod tls;
pub mod tokens;

use std::net::IpAddr;
use std::time::Duration;

use hyper::HeaderMap;
use serde_json::json;

use crate::error::{ApiError, ErrorCode};
use rate::{Limiter, Refusal, Slot};
use tokens::Tokens;

/// The server's access rules.
pub struct Access {
    pub tokens: Option<Tokens>,
    pub limiter: Limiter,
}

/// Who is asking: a token's name, or an address when tokens are off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub name: String,
    /// Whether `name` is a token's (then jobs belong to it).
    pub authenticated: bool,
}

impl Client {
    /// The owner recorded on (and required of) this client's jobs.
    pub fn owner(&self) -> Option<&str> {
        self.authenticated.then_some(self.name.as_str())
    }
}

/// A refusal, with the headers it needs beyond the envelope.
pub struct Denied {
    pub error: ApiError,
    /// `WWW-Authenticate` for a 401.
    pub challenge: Option<&'static str>,
    /// `Retry-After` in whole seconds for a 429.
    pub retry_after: Option<u64>,
}

impl Access {
    /// Nothing checked: every client allowed.
    pub fn open() -> Access {
        Access {
            tokens: None,
            limiter: Limiter::new(None, None),
        }
    }

    /// The client behind a request, if its token (when tokens are on) and
    /// its rate allow it.
    pub fn admit(&self, headers: &HeaderMap, peer: IpAddr) -> Result<Client, Box<Denied>> {
        let client = match &self.tokens {
            None => Client {
                name: rate::address_key(peer),
                authenticated: false,
            },
            Some(tokens) => Client {
                name: authenticate(tokens, headers)?,
                authenticated: true,
            },
        };
        self.limiter
            .request(&client.name)
            .map_err(|r| limited(&client, r))?;
        Ok(client)
    }

    /// A generation slot for `client`, or its refusal.
    pub fn generation(&self, client: &Client) -> Result<Slot, Box<Denied>> {
        self.limiter
            .generation(&client.name)
            .map_err(|r| limited(client, r))
    }
}

fn authenticate(tokens: &Tokens, headers: &HeaderMap) -> Result<String, Box<Denied>> {
    let presented = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
    let Some(token) = presented else {
        return Err(Box::new(Denied {
            error: ApiError::new(
                ErrorCode::Unauthorized,
                "this server needs a bearer token: send Authorization: Bearer <token>",
            ),
            challenge: Some("Bearer realm=\"motionmcp\""),
            retry_after: None,
        }));
    };
    tokens.client(token).ok_or_else(|| {
        Box::new(Denied {
            error: ApiError::new(ErrorCode::Unauthorized, "the bearer token is not valid"),
            challenge: Some("Bearer realm=\"motionmcp\", error=\"invalid_token\""),
            retry_after: None,
        })
    })
}

fn limited(client: &Client, refusal: Refusal) -> Box<Denied> {
    Box::new(match refusal {
        Refusal::Rate { retry_after } => {
            let seconds = whole_seconds(retry_after);
            Denied {
                error: ApiError::new(
                    ErrorCode::RateLimited,
                    format!(
                        "client {} is over its request rate: retry after {seconds} s",
                        client.name
                    ),
                )
                .with_details(json!({"retry_after_seconds": seconds})),
                challenge: None,
                retry_after: Some(seconds),
            }
        }
        Refusal::Concurrency { most } => Denied {
            error: ApiError::new(
                ErrorCode::RateLimited,
                format!(
                    "client {} already runs {most} generations at once, its most",
                    client.name
                ),
            )
            .with_details(json!({"max_concurrent": most})),
            challenge: None,
            retry_after: Some(1),
        },
    })
}

/// A wait rounded up to whole seconds, at least one.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_secs(2)), 2);
        assert_eq!(whole_seconds(Duration::from_millis(2001)), 3);
    }

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(hyper::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn bearer_tokens_name_their_client() {
        let access = Access {
            tokens: Some(Tokens::load(None, Some("alice:s3cret".into())).unwrap()),
            limiter: Limiter::new(None, None),
        };
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let alice = access
            .admit(&with_auth("Bearer s3cret"), peer)
            .ok()
            .unwrap();
        assert_eq!(alice.owner(), Some("alice"));
        assert!(access.admit(&with_auth("bearer  s3cret "), peer).is_ok());
        for bad in ["Bearer nope", "Basic s3cret", "s3cret", "Bearer"] {
            let denied = access.admit(&with_auth(bad), peer).err().unwrap();
            assert_eq!(denied.error.code, ErrorCode::Unauthorized, "{bad}");
            assert!(denied.challenge.unwrap().starts_with("Bearer"));
            assert!(!denied.error.message.contains("s3cret"));
        }
        let denied = access.admit(&HeaderMap::new(), peer).err().unwrap();
        assert_eq!(denied.error.code, ErrorCode::Unauthorized);
    }

    #[test]
    fn without_tokens_the_address_is_the_client() {
        let access = Access::open();
        let c = access
            .admit(&HeaderMap::new(), "10.0.0.7".parse().unwrap())
            .ok()
            .unwrap();
        assert_eq!(c.name, "10.0.0.7");
        assert_eq!(c.owner(), None);
    }
}
