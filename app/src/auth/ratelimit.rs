//! Login attempts limited per client IP and per account (GCRA, `governor`).

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::metrics::Metrics;

#[derive(Debug)]
pub struct LoginLimiter {
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    per_account: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

impl LoginLimiter {
    pub fn new(per_ip_per_minute: u32, per_account_per_minute: u32) -> LoginLimiter {
        let quota = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        LoginLimiter {
            per_ip: RateLimiter::keyed(quota(per_ip_per_minute)),
            per_account: RateLimiter::keyed(quota(per_account_per_minute)),
            clock: DefaultClock::default(),
        }
    }

    /// One attempt from `ip` at `account`; a refusal carries `Retry-After`.
    pub fn check(&self, ip: IpAddr, account: &str, metrics: &Metrics) -> Result<(), ApiError> {
        if let Err(not_until) = self.per_ip.check_key(&ip) {
            metrics.rate_limited("login_ip");
            return Err(ApiError::rate_limited(
                not_until.wait_time_from(self.clock.now()).as_secs() + 1,
            ));
        }
        if let Err(not_until) = self.per_account.check_key(&account.to_owned()) {
            metrics.rate_limited("login_account");
            return Err(ApiError::rate_limited(
                not_until.wait_time_from(self.clock.now()).as_secs() + 1,
            ));
        }
        Ok(())
    }

    /// Forgets idle keys; called periodically so the maps stay small.
    pub fn prune(&self) {
        self.per_ip.retain_recent();
        self.per_account.retain_recent();
    }
}
