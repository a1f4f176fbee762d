//! SMS captchas and their send limits, kept in the token table (whose TTL attribute
//! `expires_at` lets DynamoDB delete them; expiry is still checked in code):
//! - `captcha#<e164>`: the current code's HMAC, when it was sent, when it expires, wrong tries;
//! - `smslimit#phone#<e164>#<window>` and `smslimit#ip#<ip>#<window>`: fixed-window send
//!   counters.
//!
//! A send is reserved in one transaction (both counters and the 60-second rule) before SNS is
//! called, so concurrent Lambdas cannot exceed a limit; a send SNS refused is given back.

use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::types::{
    Delete, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::{build_err, get_n, get_s, key, n, s, unavailable, unless_condition_failed, Item, Store, KEY};
use crate::config::SmsConfig;
use crate::ApiError;

#[derive(Debug, Clone)]
pub struct CaptchaRecord {
    pub code_hash: String,
    pub sent_at: u64,
    pub expires_at: u64,
    pub attempts: u32,
}

/// Where a send is counted: the fixed windows `now` falls in.
pub struct SendSlot<'a> {
    pub phone: &'a str,
    pub source_ip: &'a str,
    pub now: u64,
}

fn captcha_id(phone: &str) -> String {
    format!("captcha#{phone}")
}

fn window(now: u64, length: u64) -> (u64, u64) {
    let length = length.max(1);
    let index = now / length;
    (index, (index + 1) * length)
}

impl CaptchaRecord {
    fn from_item(item: &Item) -> Self {
        CaptchaRecord {
            code_hash: get_s(item, "code_hash"),
            sent_at: get_n(item, "sent_at"),
            expires_at: get_n(item, "expires_at"),
            attempts: u32::try_from(get_n(item, "attempts")).unwrap_or(u32::MAX),
        }
    }
}

impl Store {
    fn window_counter(&self, id: String, delta: i64, limit: Option<(u32, u64)>) -> Result<TransactWriteItem, ApiError> {
        let mut update = Update::builder()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(id)))
            .expression_attribute_names("#c", "count")
            .expression_attribute_values(":d", aws_sdk_dynamodb::types::AttributeValue::N(delta.to_string()));
        update = match limit {
            Some((limit, window_end)) => update
                .update_expression("ADD #c :d SET expires_at = :exp")
                .condition_expression("attribute_not_exists(#c) OR #c < :limit")
                .expression_attribute_values(":limit", n(u64::from(limit)))
                .expression_attribute_values(":exp", n(window_end)),
            None => update.update_expression("ADD #c :d").condition_expression("attribute_exists(#c)"),
        };
        Ok(TransactWriteItem::builder().update(update.build().map_err(build_err)?).build())
    }

    fn limit_ids(&self, slot: &SendSlot<'_>, cfg: &SmsConfig) -> [(String, u64); 2] {
        let (ip_window, ip_end) = window(slot.now, cfg.ip_window.as_secs());
        let (phone_window, phone_end) = window(slot.now, cfg.phone_window.as_secs());
        [
            (format!("smslimit#ip#{}#{ip_window}", slot.source_ip), ip_end),
            (format!("smslimit#phone#{}#{phone_window}", slot.phone), phone_end),
        ]
    }

    /// Takes one send from both windows and stores the new code, unless a code went to this
    /// phone less than `resend_interval` ago. Refusals name the limit and when it reopens.
    pub async fn reserve_sms(
        &self,
        slot: &SendSlot<'_>,
        record: &CaptchaRecord,
        cfg: &SmsConfig,
    ) -> Result<(), ApiError> {
        let [(ip_id, ip_end), (phone_id, phone_end)] = self.limit_ids(slot, cfg);
        let item = Item::from([
            (KEY.to_owned(), s(captcha_id(slot.phone))),
            ("code_hash".to_owned(), s(record.code_hash.as_str())),
            ("sent_at".to_owned(), n(record.sent_at)),
            ("expires_at".to_owned(), n(record.expires_at)),
            ("attempts".to_owned(), n(0)),
        ]);
        let resend_cutoff = slot.now.saturating_sub(cfg.resend_interval.as_secs());
        let put = Put::builder()
            .table_name(&self.tables.tokens)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id) OR sent_at <= :cutoff")
            .expression_attribute_values(":cutoff", n(resend_cutoff))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(build_err)?;
        let items = vec![
            self.window_counter(ip_id, 1, Some((cfg.ip_limit, ip_end)))?,
            self.window_counter(phone_id, 1, Some((cfg.phone_limit, phone_end)))?,
            TransactWriteItem::builder().put(put).build(),
        ];
        let rejected = match self.transact(items).await? {
            Ok(()) => return Ok(()),
            Err(r) => r,
        };
        let wait = |end: u64| end.saturating_sub(slot.now).max(1);
        Err(match rejected.index {
            0 => ApiError::RateLimited { id: "sms_ip_limit", retry_after: wait(ip_end) },
            1 => ApiError::RateLimited { id: "sms_phone_limit", retry_after: wait(phone_end) },
            _ => {
                let sent_at = rejected.item.as_ref().map(|i| get_n(i, "sent_at")).unwrap_or(slot.now);
                ApiError::RateLimited {
                    id: "sms_resend_too_soon",
                    retry_after: wait(sent_at + cfg.resend_interval.as_secs()),
                }
            }
        })
    }

    /// Gives back a reservation whose SMS never left: the counters go down and the code that
    /// was never delivered is removed, so the phone can ask again at once.
    pub async fn release_sms(
        &self,
        slot: &SendSlot<'_>,
        record: &CaptchaRecord,
        cfg: &SmsConfig,
    ) -> Result<(), ApiError> {
        let [(ip_id, _), (phone_id, _)] = self.limit_ids(slot, cfg);
        let delete = Delete::builder()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(captcha_id(slot.phone))))
            .condition_expression("code_hash = :h")
            .expression_attribute_values(":h", s(record.code_hash.as_str()))
            .build()
            .map_err(build_err)?;
        let items = vec![
            self.window_counter(ip_id, -1, None)?,
            self.window_counter(phone_id, -1, None)?,
            TransactWriteItem::builder().delete(delete).build(),
        ];
        match self.transact(items).await? {
            Ok(()) => Ok(()),
            Err(_) => Err(ApiError::Contended),
        }
    }

    /// Uses the code whose HMAC is `code_hash`, once: the delete succeeds for exactly one caller,
    /// and only while the code is unexpired and has tries left; it returns the used record (for
    /// `restore_captcha`). On refusal, returns what is stored (if anything) so the caller can
    /// count a wrong try.
    pub async fn consume_captcha(
        &self,
        phone: &str,
        code_hash: &str,
        max_attempts: u32,
        now: u64,
    ) -> Result<Result<CaptchaRecord, Option<CaptchaRecord>>, ApiError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(captcha_id(phone))))
            .condition_expression("code_hash = :h AND attempts < :max AND expires_at > :now")
            .expression_attribute_values(":h", s(code_hash))
            .expression_attribute_values(":max", n(u64::from(max_attempts)))
            .expression_attribute_values(":now", n(now))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(out) => Ok(Ok(out
                .attributes()
                .map(CaptchaRecord::from_item)
                .ok_or_else(|| ApiError::Unavailable("consumed captcha returned no record".into()))?)),
            Err(err) => match err.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(e)) => {
                    Ok(Err(e.item().map(CaptchaRecord::from_item)))
                }
                _ => Err(unavailable(err)),
            },
        }
    }

    /// Puts back a code that was used for an operation that then changed nothing (PhoneBind of
    /// a phone another account holds, PasswordReset without an account), so the phone's owner
    /// can still use it. A code sent since wins: the old one stays gone.
    pub async fn restore_captcha(&self, phone: &str, record: &CaptchaRecord) -> Result<(), ApiError> {
        let item = Item::from([
            (KEY.to_owned(), s(captcha_id(phone))),
            ("code_hash".to_owned(), s(record.code_hash.as_str())),
            ("sent_at".to_owned(), n(record.sent_at)),
            ("expires_at".to_owned(), n(record.expires_at)),
            ("attempts".to_owned(), n(u64::from(record.attempts))),
        ]);
        let out = self
            .client
            .put_item()
            .table_name(&self.tables.tokens)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(id)")
            .send()
            .await;
        unless_condition_failed(out).map(drop)
    }

    /// Counts a wrong try against the code that is stored now (not a newer one).
    pub async fn count_captcha_failure(&self, phone: &str, stored_hash: &str) -> Result<(), ApiError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.tokens)
            .set_key(Some(key(captcha_id(phone))))
            .update_expression("ADD attempts :one")
            .condition_expression("code_hash = :h")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":h", s(stored_hash))
            .send()
            .await;
        unless_condition_failed(out).map(drop)
    }
}
