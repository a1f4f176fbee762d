//! Login failure counts, one item per username in the users table, `lockout#<name>`, whether
//! or not an account has that name (so unknown names cost the same writes):
//! - `window_end` (also `expires_at`, the TTL): failures are counted in a window that starts
//!   with the first one;
//! - `total`: attempts counted for the name in the window, from every address;
//! - `f#<ip>` / `t#<ip>`: attempts counted from one address, and when its last one was;
//! - `k#<ip>`: until when the address is a known one of the name (it logged in with the right
//!   password): the name's ceiling does not apply to it, so a botnet at the ceiling does not
//!   shut the owner out (issue 29). These outlive the window: the item then lives as long.
//!
//! Both counts sit in one item so that one conditional write reserves an attempt against
//! both before the password is checked. The item holds at most one pair of attributes per
//! address that failed in the window, and at most `username_ceiling` addresses can.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure};

use super::StoreError;
use super::{key, n, s, unavailable, unless_condition_failed, Attrs, Item, Store, KEY};
use crate::validate::Username;

/// What the item says about one (username, address), as read back from a refused write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginFailures {
    pub exists: bool,
    pub window_end: u64,
    pub total: u32,
    /// Attempts counted from this address in the window, and the time of the last one.
    pub ip_failures: u32,
    pub ip_last: u64,
    /// Until when this address is a known one of the name (0: it is not).
    pub known_until: u64,
    /// Every known address's attribute and its end, carried into a new window.
    pub known: Vec<(String, u64)>,
}

/// One attempt by `username` from `source_ip` at `now`.
pub struct LoginAttempt<'a> {
    pub username: &'a Username,
    pub source_ip: &'a str,
    pub now: u64,
}

impl LoginAttempt<'_> {
    fn id(&self) -> String {
        format!("lockout#{}", self.username.as_str())
    }

    fn names(&self) -> [(&'static str, String); 3] {
        [
            ("#f", format!("f#{}", self.source_ip)),
            ("#t", format!("t#{}", self.source_ip)),
            ("#k", format!("{KNOWN_PREFIX}{}", self.source_ip)),
        ]
    }

    /// Every write of the item sets `window_end` and `total`; an address's pair exists only
    /// once that address has tried.
    fn read(&self, item: Option<&Item>) -> Result<LoginFailures, StoreError> {
        let Some(item) = item else { return Ok(LoginFailures::default()) };
        let [(_, f), (_, t), (_, k)] = self.names();
        let id = self.id();
        let a = Attrs::returned_by(item, &id);
        Ok(LoginFailures {
            exists: true,
            window_end: a.n("window_end")?,
            total: clamp(a.n("total")?),
            ip_failures: clamp(a.opt_n(&f)?.unwrap_or(0)),
            ip_last: a.opt_n(&t)?.unwrap_or(0),
            known_until: a.opt_n(&k)?.unwrap_or(0),
            known: item
                .keys()
                .filter(|name| name.starts_with(KNOWN_PREFIX))
                .map(|name| Ok((name.clone(), a.n(name)?)))
                .collect::<Result<_, StoreError>>()?,
        })
    }
}

const KNOWN_PREFIX: &str = "k#";

fn clamp(v: u64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// The outcome of a conditional count: counted (with the window it was counted in), or not,
/// with what the item holds now.
pub type Counted = Result<u64, LoginFailures>;

impl Store {
    /// Forgets every login failure of `username`, from every address: a password reset proved
    /// the owner, so whatever locked the name is over.
    pub async fn clear_login_failures(&self, username: &Username) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.tables.users)
            .set_key(Some(key(format!("lockout#{}", username.as_str()))))
            .send()
            .await
            .map(drop)
            .map_err(unavailable)
    }
}

impl Store {
    /// The common case in one write: counts the attempt if the window is live (or there is
    /// none yet), the name is below `ceiling` (or the address is a known one) and the address
    /// below `free` attempts.
    pub async fn count_login_attempt(
        &self,
        attempt: &LoginAttempt<'_>,
        new_window_end: u64,
        free: u32,
        ceiling: u32,
    ) -> Result<Counted, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .set_key(Some(key(attempt.id())))
            .update_expression(
                "SET window_end = if_not_exists(window_end, :we), expires_at = if_not_exists(expires_at, :we), \
                 #t = :now ADD #total :one, #f :one",
            )
            .condition_expression(
                "(attribute_not_exists(window_end) OR (window_end > :now AND (#total < :ceiling OR #k > :now))) \
                 AND (attribute_not_exists(#f) OR #f < :free)",
            )
            .expression_attribute_names("#total", "total")
            .expression_attribute_values(":we", n(new_window_end))
            .expression_attribute_values(":now", n(attempt.now))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ceiling", n(u64::from(ceiling)))
            .expression_attribute_values(":free", n(u64::from(free)))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (placeholder, name) in attempt.names() {
            update = update.expression_attribute_names(placeholder, name);
        }
        match update.send().await {
            Ok(out) => match out.attributes() {
                Some(returned) => Ok(Ok(Attrs::returned_by(returned, &attempt.id()).n("window_end")?)),
                None => Ok(Ok(new_window_end)),
            },
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(e)) => Ok(Err(attempt.read(e.item())?)),
                _ => Err(unavailable(err)),
            },
        }
    }

    /// Counts the attempt only if the address's count is still exactly `seen` and the name is
    /// below `ceiling` (compare-and-set): of many concurrent attempts that saw the same state,
    /// exactly one is counted.
    /// A window that has ended (or none) starts a new one.
    pub async fn count_login_attempt_over(
        &self,
        attempt: &LoginAttempt<'_>,
        seen: &LoginFailures,
        new_window_end: u64,
        ceiling: u32,
    ) -> Result<Counted, StoreError> {
        let [(_, f), (_, t), _] = attempt.names();
        if !seen.exists || seen.window_end <= attempt.now {
            // The new window keeps the known addresses that are still known.
            let known: Vec<_> = seen.known.iter().filter(|(_, until)| *until > attempt.now).cloned().collect();
            let expires_at = known.iter().map(|(_, until)| *until).fold(new_window_end, u64::max);
            let mut item = Item::from([
                (KEY.to_owned(), s(attempt.id())),
                ("window_end".to_owned(), n(new_window_end)),
                ("expires_at".to_owned(), n(expires_at)),
                ("total".to_owned(), n(1)),
                (f, n(1)),
                (t, n(attempt.now)),
            ]);
            item.extend(known.into_iter().map(|(name, until)| (name, n(until))));
            let put = self.client.put_item().table_name(&self.tables.users).set_item(Some(item));
            let put = if seen.exists {
                put.condition_expression("window_end = :seen").expression_attribute_values(":seen", n(seen.window_end))
            } else {
                put.condition_expression("attribute_not_exists(id)")
            };
            let out =
                put.return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld).send().await;
            return match out {
                Ok(_) => Ok(Ok(new_window_end)),
                Err(err) => match err.as_service_error() {
                    Some(PutItemError::ConditionalCheckFailedException(e)) => Ok(Err(attempt.read(e.item())?)),
                    _ => Err(unavailable(err)),
                },
            };
        }
        let same_address =
            if seen.ip_failures == 0 { "attribute_not_exists(#f)" } else { "#f = :seen_f AND #t = :seen_t" };
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .set_key(Some(key(attempt.id())))
            .update_expression("SET #f = :f, #t = :now ADD #total :one")
            .condition_expression(format!("window_end = :we AND (#total < :ceiling OR #k > :now) AND {same_address}"))
            .expression_attribute_names("#total", "total")
            .expression_attribute_values(":we", n(seen.window_end))
            .expression_attribute_values(":ceiling", n(u64::from(ceiling)))
            .expression_attribute_values(":f", n(u64::from(seen.ip_failures) + 1))
            .expression_attribute_values(":now", n(attempt.now))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if seen.ip_failures > 0 {
            update = update
                .expression_attribute_values(":seen_f", n(u64::from(seen.ip_failures)))
                .expression_attribute_values(":seen_t", n(seen.ip_last));
        }
        for (placeholder, name) in attempt.names() {
            update = update.expression_attribute_names(placeholder, name);
        }
        match update.send().await {
            Ok(_) => Ok(Ok(seen.window_end)),
            Err(err) => match err.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(e)) => Ok(Err(attempt.read(e.item())?)),
                _ => Err(unavailable(err)),
            },
        }
    }

    /// A success: the address's failures are forgotten, the attempt's reservation against
    /// the name's ceiling is given back (only in the window it was taken in), and the address
    /// becomes a known one of the name until `known_until`.
    pub async fn forget_login_attempt(
        &self,
        attempt: &LoginAttempt<'_>,
        window_end: u64,
        known_until: u64,
    ) -> Result<(), StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .set_key(Some(key(attempt.id())))
            .update_expression("REMOVE #f, #t SET #k = :until, expires_at = :exp ADD #total :minus")
            .condition_expression("window_end = :we AND #total > :zero")
            .expression_attribute_names("#total", "total")
            .expression_attribute_values(":we", n(window_end))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":until", n(known_until))
            .expression_attribute_values(":exp", n(known_until.max(window_end)))
            .expression_attribute_values(":minus", aws_sdk_dynamodb::types::AttributeValue::N("-1".into()));
        for (placeholder, name) in attempt.names() {
            update = update.expression_attribute_names(placeholder, name);
        }
        if unless_condition_failed(update.send().await)?.is_some() {
            return Ok(());
        }
        // The window changed since the reservation (a reset cleared it, or it ended): the
        // address is known all the same.
        let update = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .set_key(Some(key(attempt.id())))
            .update_expression("SET #k = :until, expires_at = :until")
            .condition_expression("attribute_exists(window_end) AND expires_at < :until")
            .expression_attribute_names("#k", format!("{KNOWN_PREFIX}{}", attempt.source_ip))
            .expression_attribute_values(":until", n(known_until));
        unless_condition_failed(update.send().await).map(drop)
    }
}
